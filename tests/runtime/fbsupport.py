"""A domU with a paravirtual framebuffer: the host's xenstored, the vfb
device as the toolstack adds it, dom0's backend and the guest kernel's
frontend (drivers.xenfb on the domU's vCPU)."""

from __future__ import annotations

from rtsupport import machine

from pvdsl.runtime.devices.vfb_backend import VfbBackend, add_vfb_device
from pvdsl.runtime.guest.kernel import GuestKernel
from pvdsl.runtime.guest.xenfb import XenfbFrontend
from pvdsl.runtime.xenstore.host import HostXenstore

TARGETS = ["x86_64-domu", "i386-domu"]


class FbGuest:
    def __init__(self, target: str, width: int = 64, height: int = 48, depth: int = 32, connect: bool = True,
                 **backend_kw):
        self.m = machine("examples/irq.pv", target)
        self.hv, self.d = self.m.hv, self.m.domu
        self.xs = HostXenstore(self.hv)
        self.xs.domain_created(self.d, "fbguest", 16 << 20, 1)
        self.fe_path, self.be_path = add_vfb_device(self.xs, self.d.domid)
        self.be = VfbBackend(self.hv, self.xs, self.d.domid, **backend_kw)
        self.be.start()
        self.k = GuestKernel(self.m)
        self.fe = XenfbFrontend(self.k, width, height, depth)
        if connect:
            self.fe.start()
            self.settle()

    def settle(self, rounds: int = 4) -> None:
        """Both sides take turns until nothing moves."""
        for _ in range(rounds):
            self.be.process()
            self.k.poll()

    def fe_state(self) -> int:
        return int(self.xs.read(f"{self.fe_path}/state"))

    def be_state(self) -> int:
        return int(self.xs.read(f"{self.be_path}/state"))

    def page_field(self, field: str) -> int:
        abi = self.d.abi
        return abi.get(self.k.read_va(self.fe.page_va, abi.size("xenfb_page")), "xenfb_page", field)

    def set_page_field(self, field: str, value: int) -> None:
        abi = self.d.abi
        f = abi.field("xenfb_page", field)
        self.k.write_va(self.fe.page_va + f.offset, (value & ((1 << (8 * f.size)) - 1)).to_bytes(f.size, "little"))
