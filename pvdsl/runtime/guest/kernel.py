"""The guest kernel around its drivers: what a PV Linux kernel does between
the hooks of its backend.

The kernel itself is Python here (as everywhere in the runtime); its drivers
are shipped `.pv` modules (pvdsl/specs/drivers/) compiled for the domain's
target and loaded into its kernel region next to the backend, their hooks
run on the domain's vCPU 0. The kernel provides what Linux would around
them: its xenstore client (xenbus.py) over the store ring, its event loop
(`poll`: pending event channels, watch callbacks, delayed work), a page
allocator for the frames outside the boot mapping, and the drivers it starts
(the balloon, balloon.py).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from ...arch import TARGETS
from ..archinfo import RT
from ..cpu.calls import CallResult, HookCaller
from ..errors import LoadError, RuntimeSetupError
from ..xen.memory import PAGE_SHIFT, PAGE_SIZE
from ..xen.paging import GuestMemory
from .loader import LoadedBackend, load_object

DRIVERS = Path(__file__).resolve().parents[2] / "specs" / "drivers"
# Frames just past the boot mapping and at the top of memory stay the
# kernel's own: the workloads' `$mfn` lies a few frames past the mapping, and
# an i386 vCPU's GDT frame is the domain's last frames minus the vCPU number.
KEEP_AFTER_MAPPING = 16
KEEP_AT_TOP = 16
DRIVER_BUDGET = 400_000_000  # instructions: a balloon run over a few GiB in one call
DRIVER_TIMEOUT = 120.0


@functools.lru_cache(maxsize=None)
def build_driver(spec: str, target: str, backend: str | None = None):
    """A shipped driver compiled for one target (once per process)."""
    from ..session.machine import SpecError, build_backends

    try:
        out = build_backends(Path(spec), TARGETS[target], backend=backend)
    except SpecError as err:
        raise LoadError(f"driver {spec} did not build for {target}:\n{err}") from None
    if not out:
        raise LoadError(f"driver {spec} declares no backend for {target}")
    return out[0]


def warm_drivers() -> None:
    """Compile every shipped driver for every domU target now, into
    build_driver's cache: a host that receives migrations does it at start
    (about 2 s), so the first guest to arrive does not wait about a second
    for its drivers (a real guest brings them compiled, in its kernel)."""
    for target in (t.name for t in TARGETS.values() if t.role == "domu"):
        for spec in sorted(DRIVERS.glob("*.pv")):
            try:
                build_driver(str(spec), target, None)  # as load_driver calls it: the same cache key
            except LoadError:
                pass  # the first domain that needs it reports the error


class Driver:
    """One driver object loaded into the kernel, called on vCPU 0."""

    def __init__(self, kernel: "GuestKernel", built):
        self.built = built
        m = kernel.machine
        self.loaded: LoadedBackend = load_object(kernel.hv, kernel.domain, built.obj, built.manifest,
                                                 built.signatures, m.cpus, name=f"{built.name}-{built.target.name}.o")
        self.caller = HookCaller(m.cpus[0], self.loaded, DRIVER_BUDGET, DRIVER_TIMEOUT)
        self.consts = built.consts

    def call(self, hook: str, *args: int) -> CallResult:
        return self.caller.call(hook, *args)

    def symbol(self, name: str) -> int:
        if name not in self.loaded.symbols:
            raise KeyError(f"{self.built.name} has no symbol '{name}'")
        return self.loaded.symbols[name]


class GuestKernel:
    """The kernel of one PV domain whose backend a Machine has loaded."""

    def __init__(self, machine, clock=time.monotonic):
        d = machine.guest
        if d.native:
            raise RuntimeSetupError("a bare-metal machine has no Xen drivers")
        if d.kernel.store_pfn is None:
            raise RuntimeSetupError(f"{d.name} has no xenstore ring (only a domU gets one from the builder)")
        self.machine, self.hv, self.domain = machine, machine.hv, d
        self.target = machine.built.target.name
        self.clock = clock
        self.consts: dict[str, dict[str, int]] = {}
        self.handlers: dict[int, object] = {}
        self._gmem = GuestMemory(d.mem, d.rt, d.kernel.root_mfn)
        mapped = (d.kernel.v_end - d.kernel.virt_base) >> PAGE_SHIFT
        # The page allocator: frames no mapping and no boot structure uses,
        # handed out from the top (Linux's free lists, reduced to a stack).
        self._free = list(range(mapped + KEEP_AFTER_MAPPING, d.kernel.nr_pages - KEEP_AT_TOP))
        from .xenbus import XenbusClient

        self.xenbus = XenbusClient(self, self.load_driver(DRIVERS / "xenbus.pv"))
        self.balloon = None
        self.suspend = None
        # Frontends and the like: freeze() before a suspend, thaw() after a
        # cancelled one, restore() in a new domain (Linux's dev_pm_ops).
        self.devices: list = []

    # ---- what drivers use ----
    def load_driver(self, spec: str | Path, backend: str | None = None) -> Driver:
        built = build_driver(str(spec), self.target, backend)
        drv = Driver(self, built)
        module = Path(spec).stem
        self.consts[f"drivers.{module}"] = built.consts
        return drv

    def start_info(self, field: str) -> int:
        d = self.domain
        raw = self.hv.mem.read(d.p2m[d.kernel.pfn_of(d.start_info_va)] << PAGE_SHIFT, d.abi.size("start_info"))
        return d.abi.get(raw, "start_info", field)

    def read_va(self, va: int, n: int) -> bytes:
        return self._gmem.read(va, n)

    def write_va(self, va: int, data: bytes) -> None:
        self._gmem.write(va, data)

    def pfn_to_mfn(self, pfns: list[int]) -> list[int]:
        """The machine frames the kernel's own p2m list (start_info.mfn_list)
        names for `pfns`, as Linux's pfn_to_mfn reads it: after a restore
        the toolstack has rewritten the list with the new domain's frames."""
        if not pfns:
            return []
        w, lo = self.domain.rt.word, min(pfns)
        raw = self.read_va(self.domain.kernel.p2m_va + lo * w, (max(pfns) - lo + 1) * w)
        return [int.from_bytes(raw[(p - lo) * w:(p - lo + 1) * w], "little") for p in pfns]

    def free_pages(self, n: int) -> list[int]:
        """`n` frames (pfns) of the domain nothing else uses; mapped nowhere."""
        if self.balloon is not None:
            return self.balloon.take_from_pool(n)
        if n > len(self._free):
            raise RuntimeSetupError(f"{self.domain.name}: {n} free pages asked, {len(self._free)} left")
        out = self._free[-n:] if n else []
        del self._free[len(self._free) - n:]
        return out

    def take_free_list(self) -> list[int]:
        """All free pfns, for the balloon driver, which keeps them from then on."""
        out, self._free = self._free, []
        return out

    def on_event(self, port: int, handler) -> None:
        """`handler()` runs from `poll` when `port` has an event."""
        self.handlers[port] = handler

    # ---- the event loop ----
    def start_balloon(self):
        from .balloon import Balloon

        if self.balloon is None:
            self.balloon = Balloon(self)
        return self.balloon

    def start_suspend(self):
        from .suspend import Suspend

        if self.suspend is None:
            self.suspend = Suspend(self)
        return self.suspend

    def frozen(self) -> bool:
        """Suspended: vCPU 0 is inside its suspend hypercall, its stack holds
        that call's frames, and no other guest code may run until it resumes."""
        return self.suspend is not None and self.suspend.suspended

    def quiesce(self) -> None:
        """dpm_suspend_start: every device frozen before the domain suspends."""
        for dev in self.devices:
            dev.freeze()

    def resumed(self, new_domain: bool) -> None:
        """After the suspend hypercall returned: in a new domain no channel
        of the old one exists (xen_irq_resume), xenstore comes back with its
        watches (xs_resume), then the devices (dpm_resume_end(PMSG_RESTORE));
        after a cancelled suspend they only thaw."""
        if new_domain:
            self.handlers.clear()
            self.xenbus.resume()
            if self.balloon is not None:
                self.balloon.resumed()
            for dev in self.devices:
                dev.restore()
        else:
            for dev in self.devices:
                dev.thaw()

    def unmask(self, port: int) -> None:
        """unmask_evtchn: clear the port's mask bit in shared_info; a pending
        event is then delivered by the next poll."""
        d = self.domain
        bits = 8 * d.rt.word
        word, bit = divmod(port, bits)
        f = d.abi.field("shared_info", f"evtchn_mask[{word}]")
        at = (d.shared_info_mfn << PAGE_SHIFT) + f.offset
        self.hv.mem.set_uint(at, f.size, self.hv.mem.uint(at, f.size) & ~(1 << bit))

    def poll(self) -> int:
        """One pass of the kernel's event loop: the pending event channels
        (the store port first: replies and watch events), watch callbacks,
        then due delayed work. The number of things handled."""
        if self.frozen():
            return 0
        ports = self.machine.deliver_events()
        done = 0
        if self.xenbus.port in ports or self.xenbus.events:
            done += self.xenbus.dispatch()
        for port in ports:
            handler = self.handlers.get(port)
            if handler is not None and not self.frozen():
                handler()
                done += 1
        if self.balloon is not None and not self.frozen():
            done += self.balloon.run_due(self.clock())
        return done

    @staticmethod
    def kernel_bytes_for(memory: int, arch: str) -> int:
        """The kernel region a domain of `memory` bytes needs for its drivers'
        arrays (the balloon keeps two pfn lists of the domain's size) on top
        of the 1 MiB the backend and its call sites use."""
        word = RT[arch].word
        pages = memory >> PAGE_SHIFT
        need = 1 << 20
        need += 2 * pages * word + 4 * PAGE_SIZE
        return -(-need // (1 << 20)) << 20
