"""Framebuffers on the long-lived host: `vm create --fb` gives a domain a
vfb device (what libxl adds), dom0's backend (devices/vfb_backend.py), the
guest kernel's frontend (guest/xenfb.py) running the demo (guest/fbdemo.py)
and, with `host start --vnc ADDR:PORT`, a VNC server for it (devices/rfb.py)
on PORT for the first such domain, PORT + 1 for the next, and so on.
`vm fb-snapshot` writes what the backend shows as a PNG.

Each turn of the host's guest loop (host/guests.py) runs the guest
kernel's events, the demo's frame, then the backend's ring. The demo draws
only while its guest runs and its screen is up: not while the guest is
suspended (its vCPU is inside the suspend hypercall), nor between a
restore and the new backend's Connected, so what a restored guest shows
first is exactly what it saved.
"""

from __future__ import annotations

import re

from ..devices.rfb import RfbServer
from ..devices.snapshot import write_png
from ..devices.vfb_backend import CONNECTED, VfbBackend, add_vfb_device
from ..guest.fbdemo import FbDemo
from ..guest.xenfb import XenfbFrontend
from ..xen.hypercalls import evtchn as hc_evtchn

FB_RE = re.compile(r"^(\d{2,5})x(\d{2,5})(?:x(8|16|24|32))?$")
MAX_PIXELS = 4096 * 4096


class FbConfigError(ValueError):
    pass


def parse_fb(spec: str) -> tuple[int, int, int]:
    """'WxH' or 'WxHxDEPTH' (default depth 32)."""
    m = FB_RE.match(spec.strip())
    if not m:
        raise FbConfigError(f"framebuffer '{spec}': expected WIDTHxHEIGHT[xDEPTH], e.g. 800x600 or 1024x768x32")
    w, h, depth = int(m[1]), int(m[2]), int(m[3] or 32)
    if w < 64 or h < 64 or w * h > MAX_PIXELS:
        raise FbConfigError(f"framebuffer '{spec}': between 64x64 and {MAX_PIXELS} pixels")
    return w, h, depth


def parse_vnc(spec: str) -> tuple[str, int]:
    """'ADDR:PORT' (IPv4 or a name), or ':PORT' for 127.0.0.1."""
    addr, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise FbConfigError(f"--vnc '{spec}': expected ADDRESS:PORT, e.g. 127.0.0.1:5900")
    return addr or "127.0.0.1", int(port)


class Display:
    """One domain's framebuffer: device, both ends, the demo, the viewer."""

    def __init__(self, host, kernel, title: str, spec: str):
        width, height, depth = parse_fb(spec)
        xs, d = host.xenstore, kernel.domain
        add_vfb_device(xs, d.domid)
        self.backend = VfbBackend(host.hv, xs, d.domid)
        self.backend.start()
        self.vnc: RfbServer | None = None
        try:
            self.frontend = XenfbFrontend(kernel, width, height, depth)
            self.frontend.start()
            for _ in range(4):
                self.backend.process()
                kernel.poll()
            if self.backend.state != CONNECTED:
                raise FbConfigError(f"the framebuffer did not connect: {self.backend.error or 'no handshake'}")
            self.demo = FbDemo(self.frontend, f"pvdsl {title} {width}x{height}x{depth}")
            self.backend.process()
            vnc = getattr(host, "vnc", None)
            if vnc is not None:
                used = {disp.vnc.address[1] for disp in displays(host) if disp.vnc is not None}
                port = vnc[1]
                while port in used:
                    port += 1
                self.vnc = RfbServer(self.backend, vnc[0], port, name=f"pvdsl {title}")
        except BaseException:
            self.backend.disconnect()  # no reference left on the frames of a domain about to go
            raise

    def turn(self) -> int:
        fe = self.frontend
        if not fe.k.frozen() and fe.backend_connected:
            self.demo.step()
        return self.backend.process()

    def close(self) -> None:
        if self.vnc is not None:
            self.vnc.close()
        self.backend.disconnect()

    def row(self) -> dict:
        b = self.backend
        return {"width": b.width, "height": b.height, "depth": b.depth, "frames": self.demo.frame,
                "vnc": f"{self.vnc.address[0]}:{self.vnc.address[1]}" if self.vnc else None,
                "backend_stats": dict(b.stats)}


def displays(host) -> list[Display]:
    return [vm.display for vm in host.vms.values() if getattr(vm, "display", None) is not None]


def detach(vm) -> None:
    disp = getattr(vm, "display", None)
    if disp is not None:
        disp.close()
        vm.display = None


def reconnect(host, vm) -> None:
    """After a restore: what libxl's device add does for the new domain (a
    vfb device, dom0's backend waiting for the frontend), the VNC server
    moved to it; the guest's frontend reconnects when it resumes.

    The domain was built by `vm create`, whose frontend connected to a
    backend before the saved pages replaced everything: that backend goes,
    and so does the guest's end of its channel, which a domain built for a
    restore would never have had (the restored frontend allocates its own)."""
    disp = getattr(vm, "display", None)
    if disp is None:
        return
    d = vm.machine.guest
    old = disp.backend
    dom0 = host.hv.domains.get(old.backend)
    ch = dom0.evtchns.get(old.port) if dom0 is not None and old.port is not None else None
    old.disconnect()
    if ch is not None and ch.remote_dom == d.domid and ch.remote_port in d.evtchns:
        hc_evtchn.close_port(host.hv, d, ch.remote_port)
    add_vfb_device(host.xenstore, d.domid)
    disp.backend = VfbBackend(host.hv, host.xenstore, d.domid)
    disp.backend.start()
    if disp.vnc is not None:
        addr = disp.vnc.address
        disp.vnc.close()
        disp.vnc = RfbServer(disp.backend, addr[0], addr[1], name=disp.vnc.name)


def turn(vm) -> int:
    disp = getattr(vm, "display", None)
    return disp.turn() if disp is not None else 0


def snapshot(vm, path: str) -> dict:
    disp = getattr(vm, "display", None)
    if disp is None:
        raise FbConfigError(f"domain '{vm.name}' has no framebuffer (create it with --fb)")
    w, h = write_png(disp.backend.snapshot(), path)
    return {"name": vm.name, "path": path, "width": w, "height": h, "frames": disp.demo.frame}
