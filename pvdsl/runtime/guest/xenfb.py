"""The kernel side of the paravirtual framebuffer: what Linux's xen-fbfront
does around the shared page (xenfb_probe, xenfb_connect_backend,
xenfb_backend_changed) and the fbdev drawing a console or an X server does
on top.

The ring and page logic is the shipped `drivers.xenfb` module (its header
says what each hook does), run on the domain's vCPU. This module allocates
the framebuffer (pages from the kernel's allocator: pfns outside any
mapping, written through the domain's p2m as the kernel's physical map
would), the directory pages listing their machine frames and the shared
page (kernel memory the driver reaches), and runs the xenstore handshake
over the kernel's own store ring:

    frontend Initialising -> (page-ref, event-channel, protocol,
    feature-update written in one transaction) Initialised -> Connected
    once the backend is InitWait or Connected; on the backend's Connected,
    request-update and feature-resize are read (nothing is sent before the
    backend asks for updates; no resize without feature-resize).

Drawing (`fill`, `blit`, `text`) writes pixels into the framebuffer, then
asks the driver for an UPDATE of the rectangle; events from the backend
(REFRESH_PERIOD, room in the out ring) arrive on the event channel through
the kernel's event loop.

The frontend is one of the kernel's devices (`kernel.devices`), as
xen-fbfront's xenfb_resume makes it one of Linux's: nothing to do before a
suspend or after a cancelled one (a rectangle the ring had no room for
stays in the driver's pending box, in guest memory); in a new domain
(`restore`) the shared page is set up again from what the guest holds (the
mode of its page, the frames its p2m names now) and the handshake runs
again with a new event channel, then a full-screen update gives the new
backend the pixels the restored framebuffer frames hold.
"""

from __future__ import annotations

import numpy as np

from ..devices.framemem import BYTES, FrameSpan, from_rgb
from ..devices.vfb_backend import CONNECTED, INIT_WAIT, INITIALISED, INITIALISING
from ..errors import RuntimeSetupError
from ..xen.memory import PAGE_SIZE
from .kernel import DRIVERS

OPS = "xenfb_front_ops"
XF = {1: "sent", 0: "pending", 2: "refused"}  # drivers.xenfb's XENFB_SENT / _PENDING / _REFUSED


class XenfbError(Exception):
    pass


class XenfbFrontend:
    def __init__(self, kernel, width: int = 800, height: int = 600, depth: int = 32, mem_bytes: int | None = None,
                 devid: int = 0):
        if depth not in BYTES:
            raise XenfbError(f"depth {depth}: the framebuffer takes 8, 16, 24 or 32 bits per pixel")
        self.k = kernel
        d = kernel.domain
        self.word = d.rt.word
        self.drv = kernel.load_driver(DRIVERS / "xenfb.pv")
        self.width, self.height, self.depth = width, height, depth
        self.line_length = width * BYTES[depth]
        self.mem_bytes = max(mem_bytes or 0, self.line_length * height)
        self.nodes = f"device/vfb/{devid}"
        self.state = INITIALISING
        self.port: int | None = None
        self.results: dict[str, int] = {name: 0 for name in XF.values()}
        self.update_wanted = self.feature_resize = False
        self.backend_connected = False  # the backend's Connected seen since the last handshake
        self.backend: str | None = None
        self.watch: str | None = None
        nr = -(-self.mem_bytes // PAGE_SIZE)
        self.pfns = kernel.free_pages(nr)
        self.nr_dirs = nr_dirs = -(-nr * self.word // PAGE_SIZE)
        abi = d.abi
        try:
            self.page_va = d.kernel.alloc(PAGE_SIZE, PAGE_SIZE, "xenfb shared page")
            self.dirs_va = d.kernel.alloc(nr_dirs * PAGE_SIZE, PAGE_SIZE, "xenfb directory pages")
            self.pd_va = d.kernel.alloc(nr_dirs * self.word, 16, "xenfb directory frames")
            # Placed at probe and reused by restore: a restored domain's
            # kernel-region allocator is the one of its boot, and could hand
            # out room the saved guest has used since.
            self.evtchn_va = d.kernel.alloc(abi.size("evtchn_alloc_unbound"), 8, "xenfb evtchn_alloc_unbound")
        except RuntimeSetupError as err:
            raise RuntimeSetupError(f"{err} (a framebuffer needs XenfbFrontend.kernel_bytes_for)") from None
        kernel.write_va(self.page_va, bytes(PAGE_SIZE))
        self._init_shared_page()
        self.fb.write_rows(0, np.zeros((height, self.line_length), dtype=np.uint8), self.line_length)
        kernel.devices.append(self)

    def _init_shared_page(self) -> None:
        """xenfb_init_shared_page: the directory pages list the framebuffer's
        frames as the guest's p2m names them now, pd[] lists theirs, and the
        driver fills the page with the current mode (rings empty)."""
        k, d = self.k, self.k.domain
        nr = len(self.pfns)
        mfns = k.pfn_to_mfn(self.pfns)
        k.write_va(self.dirs_va, d.abi.pack_words(mfns))
        dirs = k.pfn_to_mfn([d.kernel.pfn_of(self.dirs_va + i * PAGE_SIZE) for i in range(self.nr_dirs)])
        k.write_va(self.pd_va, d.abi.pack_words(dirs))
        rc = self._signed(self._call("init_page", self.page_va, self.width, self.height, self.depth,
                                     self.line_length, nr * PAGE_SIZE, self.pd_va, self.nr_dirs))
        if rc != 0:
            raise XenfbError(f"xenfb_front_ops.init_page refused a {self.width}x{self.height}x{self.depth} "
                             f"framebuffer of {nr} frames ({rc})")
        self.fb = FrameSpan(k.hv.mem, mfns)

    @staticmethod
    def kernel_bytes_for(width: int, height: int, depth: int, arch_word: int) -> int:
        """Kernel memory the frontend places: the shared page, the directory
        pages and pd[]'s list, with room for alignment."""
        nr = -(-width * height * BYTES[depth] // PAGE_SIZE)
        return 4 * PAGE_SIZE + -(-nr * arch_word // PAGE_SIZE) * PAGE_SIZE

    def _call(self, hook: str, *args: int) -> int:
        r = self.drv.call(f"{OPS}.{hook}", *args)
        if r.fault is not None:
            raise XenfbError(f"{OPS}.{hook} faulted: {r.fault.describe()}")
        return r.value

    def _signed(self, v: int) -> int:
        bits = 8 * self.word
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v

    # ---- the handshake ----
    def _switch(self, state: int) -> None:
        self.state = state
        self.k.xenbus.write(f"{self.nodes}/state", str(state))

    def start(self) -> None:
        """The probe's connect, then a watch on the backend's state."""
        self._connect_backend()
        self._watch_backend()

    def _watch_backend(self) -> None:
        """watch_otherend: the backend's state node; after a restore the
        watch xs_resume registered again stays, unless the backend moved."""
        xb, path = self.k.xenbus, f"{self.backend}/state"
        if self.watch is not None and xb.watches.get(self.watch, (None,))[0] == path:
            return
        if self.watch is not None:
            xb.unwatch(self.watch)
        self.watch = xb.watch(path, self._backend_changed)

    def _connect_backend(self) -> None:
        """xenfb_connect_backend: an event channel for the backend (unmasked,
        as bind_evtchn_to_irqhandler leaves it), the nodes in one
        transaction (run again when xenstored says EAGAIN), then
        Initialised."""
        xb = self.k.xenbus
        backend = xb.read(f"{self.nodes}/backend")
        backend_id = xb.read(f"{self.nodes}/backend-id")
        if backend is None or backend_id is None or not backend_id.isdigit():
            raise XenfbError(f"{self.nodes}: no backend or backend-id written by the toolstack")
        self.backend = backend
        abi = self.k.domain.abi
        rc = self._signed(self._call("alloc_evtchn", self.evtchn_va, int(backend_id)))
        if rc < 0:
            raise XenfbError(f"EVTCHNOP_alloc_unbound for domain {backend_id} failed ({rc})")
        raw = self.k.read_va(self.evtchn_va, abi.size("evtchn_alloc_unbound"))
        self.port = port = abi.get(raw, "evtchn_alloc_unbound", "port")
        self.k.on_event(port, self.handle_events)
        self.k.unmask(port)
        d = self.k.domain
        page_mfn = self.k.pfn_to_mfn([d.kernel.pfn_of(self.page_va)])[0]
        while True:
            tx = xb.transaction_start()
            xb.write(f"{self.nodes}/page-ref", str(page_mfn), tx=tx)
            xb.write(f"{self.nodes}/event-channel", str(port), tx=tx)
            xb.write(f"{self.nodes}/protocol", d.rt.io_protocol, tx=tx)
            xb.write(f"{self.nodes}/feature-update", "1", tx=tx)
            if xb.transaction_end(tx):
                break
        self._switch(INITIALISED)

    # ---- the kernel's device (dev_pm_ops) ----
    def freeze(self) -> None:
        """Before a suspend: nothing is in flight outside guest memory (the
        rings and the pending box are the guest's pages)."""

    def thaw(self) -> None:
        """After a cancelled suspend: the same domain, channel and backend."""

    def restore(self) -> None:
        """xenfb_resume in a new domain: the mode the guest's page holds
        (after any resize), the shared page set up again with the frames of
        the guest's p2m, then the handshake from Initialising with a new
        channel; what the new backend offers is read when it connects."""
        k, abi = self.k, self.k.domain.abi
        raw = k.read_va(self.page_va, abi.size("xenfb_page"))
        width, height, depth, line = (abi.get(raw, "xenfb_page", f) for f in ("width", "height", "depth",
                                                                                "line_length"))
        if depth not in BYTES or width <= 0 or height <= 0 or line < width * BYTES[depth] \
                or line * height > len(self.pfns) * PAGE_SIZE:
            raise XenfbError(f"the restored xenfb_page holds a {width}x{height}x{depth} mode with line_length "
                             f"{line}, which its {len(self.pfns)} frames cannot hold")
        self.width, self.height, self.depth, self.line_length = width, height, depth, line
        self._init_shared_page()
        self.port = None
        self.state = INITIALISING  # the toolstack's node for the new domain says so too
        self.update_wanted = self.feature_resize = self.backend_connected = False
        self._connect_backend()
        self._watch_backend()

    def _backend_changed(self, _path: str) -> None:
        """xenfb_backend_changed."""
        raw = self.k.xenbus.read(f"{self.backend}/state") or ""
        state = int(raw) if raw.isdigit() else 0
        if state == INIT_WAIT and self.state == INITIALISED:
            self._switch(CONNECTED)
        elif state == CONNECTED:
            if self.state != CONNECTED:
                self._switch(CONNECTED)
            self.update_wanted = self.k.xenbus.read(f"{self.backend}/request-update") == "1"
            self.feature_resize = self.k.xenbus.read(f"{self.backend}/feature-resize") == "1"
            self.backend_connected = True
            # The whole screen: after a restore, the new backend's image is
            # the pixels the restored frames hold.
            self.update(0, 0, self.width, self.height)

    def handle_events(self) -> None:
        """xenfb_event_handler: the in ring, then what is pending, now that
        the backend may have made room."""
        self._call("in_events", self.page_va, self.port)
        if self.update_wanted:
            self._call("flush", self.page_va, self.port)

    # ---- what the driver says ----
    def update(self, x: int, y: int, w: int, h: int) -> str:
        """xenfb_refresh of a drawn rectangle: 'sent', 'pending' (the ring is
        full: kept in the driver's bounding box), 'refused', or 'unwanted'
        (the backend has not asked for updates: nothing is sent)."""
        if not self.update_wanted or self.port is None:
            what = "unwanted"
        else:
            what = XF.get(self._call("update", self.page_va, x, y, w, h, self.port) & 0xFFFFFFFF, "bad")
        self.results[what] = self.results.get(what, 0) + 1
        return what

    def resize(self, width: int, height: int) -> str:
        """A new mode within the memory of init (feature-resize only)."""
        if not self.feature_resize:
            return "unsupported"
        line = width * BYTES[self.depth]
        what = XF.get(self._call("resize", self.page_va, width, height, line, self.depth, self.port) & 0xFFFFFFFF,
                      "bad")
        if what == "sent":
            self.width, self.height, self.line_length = width, height, line
        return what

    def _var(self, name: str) -> int:
        return int.from_bytes(self.k.read_va(self.drv.symbol(name), self.word), "little")

    def refresh_period(self) -> int:
        return self._var("xenfb_refresh_period")

    def out_pending(self) -> int:
        raw = self.k.read_va(self.page_va, self.k.domain.abi.size("xenfb_page"))
        abi = self.k.domain.abi
        return (abi.get(raw, "xenfb_page", "out_prod") - abi.get(raw, "xenfb_page", "out_cons")) & 0xFFFFFFFF

    # ---- drawing ----
    def _clip(self, x: int, y: int, w: int, h: int):
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None

    def blit(self, x: int, y: int, rgb: np.ndarray, notify: bool = True) -> str | None:
        """An (h, w, 3) RGB block at (x, y), clipped to the screen."""
        h, w = rgb.shape[:2]
        box = self._clip(x, y, w, h)
        if box is None:
            return None
        cx, cy, cw, ch = box
        part = rgb[cy - y:cy - y + ch, cx - x:cx - x + cw]
        b = BYTES[self.depth]
        self.fb.write_rows(cy * self.line_length + cx * b, from_rgb(part, self.depth), self.line_length)
        return self.update(cx, cy, cw, ch) if notify else None

    def fill(self, x: int, y: int, w: int, h: int, color: tuple[int, int, int], notify: bool = True) -> str | None:
        box = self._clip(x, y, w, h)
        if box is None:
            return None
        cx, cy, cw, ch = box
        return self.blit(cx, cy, np.broadcast_to(np.array(color, dtype=np.uint8), (ch, cw, 3)), notify)

    def text(self, x: int, y: int, s: str, color: tuple[int, int, int], background=(0, 0, 0)) -> str | None:
        """A line of text in Pillow's built-in bitmap font."""
        from PIL import Image, ImageDraw, ImageFont

        font = ImageFont.load_default()
        left, top, right, bottom = font.getbbox(s)
        img = Image.new("RGB", (max(right, 1), max(bottom, 1)), background)
        ImageDraw.Draw(img).text((0, 0), s, fill=color, font=font)
        return self.blit(x, y, np.asarray(img))

    def pixels(self) -> np.ndarray:
        """The screen as the guest holds it, (height, width, 3) RGB."""
        from ..devices.framemem import to_rgb

        raw = self.fb.rows(0, self.height, self.width * BYTES[self.depth], self.line_length)
        return to_rgb(raw, self.depth, self.width)
