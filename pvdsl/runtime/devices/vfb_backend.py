"""The paravirtual framebuffer's backend in dom0 (QEMU's hw/display/xenfb.c,
reduced): the xenstore handshake of its side, the shared page and the
framebuffer frames mapped by frame number, the out ring consumed, and a
host-side RGB image kept up to date from the dirty rectangles.

Everything the guest wrote is checked before use: the protocol names one of
the arches' layouts; the page, every directory frame and every framebuffer
frame must be the domain's (each held with a reference while mapped, as a
foreign mapping holds it, so the guest cannot give one back under us);
depth is 8, 16, 24 or 32, the rows fit line_length, the screen fits
mem_length, mem_length fits the directory and the backend's limit. A
frontend that fails any of these is refused with the reason in the
backend's `error` node and in `self.error`. Ring indices more than a ring
apart, rectangles that are empty or negative after clipping, resizes
outside the memory and unknown event types are ignored and counted in
`self.stats`; rectangles reaching past the screen are clipped.
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np

from ..archinfo import RT
from ..xen.hypercalls import evtchn as hc_evtchn
from ..xen.memory import PAGE_SIZE
from ..xen.xenabi import xen_abi
from ..xenstore.store import XsError
from .framemem import BYTES, FrameSpan, to_rgb

# XenbusState (io/xenbus.h)
UNKNOWN, INITIALISING, INIT_WAIT, INITIALISED, CONNECTED, CLOSING, CLOSED = range(7)
PROTOCOLS = {rt.io_protocol: name for name, rt in RT.items()}
DEFAULT_MAX_MEM = 64 << 20  # the most framebuffer memory a frontend may offer
DEFAULT_REFRESH_MS = 16  # REFRESH_PERIOD sent while a viewer watches (about 60 Hz)


class Refused(Exception):
    pass


def add_vfb_device(xs, domid: int, devid: int = 0, backend: int = 0) -> tuple[str, str]:
    """What libxl's device add writes for a vfb: the frontend's directory
    (the domain's) and the backend's (dom0's, readable by the domain), both
    Initialising. Returns (frontend path, backend path)."""
    fe = f"/local/domain/{domid}/device/vfb/{devid}"
    be = f"/local/domain/{backend}/backend/vfb/{domid}/{devid}"

    def body(tx: int) -> None:
        xs.remove(fe, tx)
        xs.remove(be, tx)
        xs.mknod(fe, (f"n{domid}", f"r{backend}"), tx)
        xs.mknod(be, (f"n{backend}", f"r{domid}"), tx)
        for key, value in (("backend", be), ("backend-id", backend), ("state", INITIALISING)):
            xs.write(f"{fe}/{key}", str(value), tx)
        for key, value in (("frontend", fe), ("frontend-id", domid), ("online", 1), ("state", INITIALISING),
                           ("vnc", 1)):
            xs.write(f"{be}/{key}", str(value), tx)

    xs.transaction(body)
    return fe, be


class VfbBackend:
    def __init__(self, hv, xs, domid: int, devid: int = 0, backend: int = 0, max_mem: int = DEFAULT_MAX_MEM,
                 refresh_ms: int = DEFAULT_REFRESH_MS):
        self.hv, self.xs, self.domid, self.backend = hv, xs, domid, backend
        self.fe = f"/local/domain/{domid}/device/vfb/{devid}"
        self.be = f"/local/domain/{backend}/backend/vfb/{domid}/{devid}"
        self.max_mem, self.refresh_ms = max_mem, refresh_ms
        self.state = INITIALISING
        self.stats: Counter = Counter()
        self.error: str | None = None
        self.abi = None
        self.page_mfn: int | None = None
        self.held: list[int] = []
        self.fb: FrameSpan | None = None
        self.width = self.height = self.depth = self.line_length = self.offset = 0
        self.image: np.ndarray | None = None  # (height, width, 3) RGB
        self.port: int | None = None  # dom0's end
        self.kicked = False
        self.listeners: list = []  # callback(x, y, w, h) after a rectangle is copied
        self.version = 0  # bumped with every change of the image
        # Held while the image changes; viewers (rfb.py) read it under the same lock.
        self.lock = threading.RLock()

    # ---- xenstore ----
    def _read(self, path: str) -> str | None:
        try:
            return self.xs.read(path).decode(errors="replace")
        except XsError:
            return None

    def _set_state(self, state: int) -> None:
        self.state = state
        self.xs.write(f"{self.be}/state", str(state))

    def start(self) -> None:
        """xenfb's init: the features, then InitWait for the frontend."""
        self.xs.write(f"{self.be}/feature-resize", "1")
        self.xs.write(f"{self.be}/request-update", "1")
        self._set_state(INIT_WAIT)

    def frontend_state(self) -> int:
        raw = self._read(f"{self.fe}/state")
        try:
            return int(raw or "")
        except ValueError:
            return UNKNOWN

    # ---- the main loop's turn ----
    def process(self) -> int:
        """Connect once the frontend is Initialised, then consume the out
        ring when notified; the number of out events handled."""
        if self.state == INIT_WAIT and self.frontend_state() in (INITIALISED, CONNECTED):
            try:
                self._connect()
            except Refused as err:
                self._refuse(str(err))
            return 0
        if self.state != CONNECTED:
            return 0
        if self.frontend_state() in (CLOSING, CLOSED, UNKNOWN):
            self.disconnect()
            return 0
        if not self.kicked:
            return 0
        self.kicked = False
        return self._consume()

    def _kick(self) -> None:
        self.kicked = True  # the guest's EVTCHNOP_send: work for the main loop

    # ---- connect ----
    def _frame(self, mfn: int, what: str) -> int:
        d = self.hv.domains.get(self.domid)
        if d is None or not self.hv.mm.get_page(mfn, d):
            raise Refused(f"{what}: frame {mfn:#x} is not a frame of domain {self.domid}")
        self.held.append(mfn)
        return mfn

    def _int(self, key: str) -> int:
        raw = self._read(f"{self.fe}/{key}")
        try:
            return int(raw or "", 0)
        except ValueError:
            raise Refused(f"frontend node {key} = {raw!r} is not a number") from None

    def _connect(self) -> None:
        proto = self._read(f"{self.fe}/protocol") or RT[self.hv.domains[self.domid].rt.name].io_protocol
        if proto not in PROTOCOLS:
            raise Refused(f"frontend node protocol = {proto!r} names no known ABI")
        self.abi = abi = xen_abi(PROTOCOLS[proto])
        page_mfn = self._int("page-ref")
        fe_port = self._int("event-channel")
        if not 0 <= page_mfn < self.hv.mem.nframes:
            raise Refused(f"page-ref {page_mfn:#x} is no machine frame")
        self.page_mfn = self._frame(page_mfn, "page-ref")
        page = self.hv.mem.read(page_mfn << 12, abi.size("xenfb_page"))
        get = lambda f: abi.get(page, "xenfb_page", f)  # noqa: E731
        width, height, depth = get("width"), get("height"), get("depth")
        line_length, mem_length = get("line_length"), get("mem_length")
        if depth not in BYTES:
            raise Refused(f"xenfb_page.depth {depth} is not 8, 16, 24 or 32")
        if width <= 0 or height <= 0:
            raise Refused(f"xenfb_page: a {width}x{height} screen")
        if mem_length <= 0 or mem_length > self.max_mem:
            raise Refused(f"xenfb_page.mem_length {mem_length} outside 1..{self.max_mem}")
        if line_length < width * BYTES[depth] or line_length * height > mem_length:
            raise Refused(f"xenfb_page: {height} rows of line_length {line_length} do not hold {width} pixels "
                          f"of {depth} bits within mem_length {mem_length}")
        nr = -(-mem_length // PAGE_SIZE)
        per_dir = PAGE_SIZE // abi.word
        pd = abi.field("xenfb_page", "pd")
        n_dirs = -(-nr // per_dir)
        if n_dirs > pd.size // abi.word:
            raise Refused(f"xenfb_page.mem_length {mem_length} needs {n_dirs} directory pages")
        mfns: list[int] = []
        for i in range(n_dirs):
            dmfn = abi.get(page, "xenfb_page", f"pd[{i}]")
            if not 0 <= dmfn < self.hv.mem.nframes:
                raise Refused(f"xenfb_page.pd[{i}] = {dmfn:#x} is no machine frame")
            self._frame(dmfn, f"xenfb_page.pd[{i}]")
            raw = self.hv.mem.read(dmfn << 12, PAGE_SIZE)
            take = min(per_dir, nr - i * per_dir)
            entries = np.frombuffer(raw, dtype=np.uint64 if abi.word == 8 else np.uint32, count=take)
            for j, m in enumerate(entries.tolist()):
                if not 0 <= m < self.hv.mem.nframes:
                    raise Refused(f"framebuffer frame {i * per_dir + j} (pd[{i}] entry {j}) = {m:#x} "
                                  f"is no machine frame")
                mfns.append(self._frame(m, f"framebuffer frame {i * per_dir + j}"))
        dom0, dom = self.hv.domains.get(self.backend), self.hv.domains.get(self.domid)
        lport = hc_evtchn.bind_interdomain(self.hv, dom0, dom, fe_port)
        if lport < 0:
            raise Refused(f"event-channel {fe_port}: bind_interdomain gave {lport}")
        hc_evtchn._clear_pending(self.hv, dom0, lport)  # as xenstore's ring: dom0 keeps nothing pending
        self.port = lport
        self.hv.services[(self.backend, lport)] = self._kick
        self.fb = FrameSpan(self.hv.mem, mfns)
        self.mem_length = mem_length
        self._configure(width, height, depth, line_length, 0)
        self.stats["connects"] += 1
        self._set_state(CONNECTED)
        self.send_refresh_period(self.refresh_ms)
        self.kicked = True  # events queued before we bound

    def _configure(self, width: int, height: int, depth: int, line_length: int, offset: int) -> None:
        self.width, self.height, self.depth, self.line_length, self.offset = width, height, depth, line_length, offset
        with self.lock:
            self.image = np.zeros((height, width, 3), dtype=np.uint8)
        self.copy_rect(0, 0, width, height)

    def _refuse(self, reason: str) -> None:
        self._release()
        self.error = reason
        self.stats["refused"] += 1
        self.xs.write(f"{self.be}/error", reason)

    def _release(self) -> None:
        for mfn in self.held:
            self.hv.mm.put_page(mfn)
        self.held = []
        if self.port is not None:
            self.hv.services.pop((self.backend, self.port), None)
            dom0 = self.hv.domains.get(self.backend)
            if dom0 is not None and self.port in dom0.evtchns:
                hc_evtchn.close_port(self.hv, dom0, self.port)
        self.port = None
        self.fb = None

    def disconnect(self) -> None:
        """The frontend went away (or the domain is being destroyed): unmap,
        unbind, and wait for a new frontend."""
        self._release()
        if self.hv.domains.get(self.domid) is not None:
            try:
                self._set_state(INIT_WAIT)
            except XsError:
                pass

    # ---- the rings ----
    def _page_u32(self, field: str) -> int:
        f = self.abi.field("xenfb_page", field)
        return self.hv.mem.u32((self.page_mfn << 12) + f.offset)

    def _set_page_u32(self, field: str, value: int) -> None:
        f = self.abi.field("xenfb_page", field)
        self.hv.mem.set_u32((self.page_mfn << 12) + f.offset, value & 0xFFFFFFFF)

    def notify(self) -> None:
        dom0 = self.hv.domains.get(self.backend)
        if self.port is not None and dom0 is not None and self.port in dom0.evtchns:
            hc_evtchn.send(self.hv, dom0, self.port)

    def send_refresh_period(self, period_ms: int) -> bool:
        """A REFRESH_PERIOD in event (False when the in ring is full)."""
        abi, c = self.abi, self.abi.c
        prod, cons = self._page_u32("in_prod"), self._page_u32("in_cons")
        if (prod - cons) & 0xFFFFFFFF >= c("XENFB_IN_RING_LEN"):
            return False
        at = c("XENFB_IN_RING_OFFS") + (prod % c("XENFB_IN_RING_LEN")) * c("XENFB_IN_EVENT_SIZE")
        ev = bytearray(c("XENFB_IN_EVENT_SIZE"))
        abi.put(ev, "xenfb_refresh_period", "type", c("XENFB_TYPE_REFRESH_PERIOD"))
        abi.put(ev, "xenfb_refresh_period", "period", period_ms)
        self.hv.mem.write((self.page_mfn << 12) + at, bytes(ev))
        self._set_page_u32("in_prod", prod + 1)
        self.notify()
        return True

    def _consume(self) -> int:
        abi, c = self.abi, self.abi.c
        n_ring, size, offs = c("XENFB_OUT_RING_LEN"), c("XENFB_OUT_EVENT_SIZE"), c("XENFB_OUT_RING_OFFS")
        prod, cons = self._page_u32("out_prod"), self._page_u32("out_cons")
        if (prod - cons) & 0xFFFFFFFF > n_ring:
            self.stats["bad_ring_indices"] += 1  # QEMU's "bogus ring": the whole of it dropped
            self._set_page_u32("out_cons", prod)
            self.notify()
            return 0
        base = self.page_mfn << 12
        done = 0
        while cons != prod:
            raw = self.hv.mem.read(base + offs + (cons % n_ring) * size, size)
            self._event(raw)
            cons = (cons + 1) & 0xFFFFFFFF
            done += 1
        self._set_page_u32("out_cons", cons)
        self.notify()
        self.stats["events"] += done
        return done

    def _event(self, raw: bytes) -> None:
        abi, c = self.abi, self.abi.c
        kind = raw[0]
        if kind == c("XENFB_TYPE_UPDATE"):
            g = lambda f: abi.get(raw, "xenfb_update", f)  # noqa: E731
            x, y, w, h = g("x"), g("y"), g("width"), g("height")
            # The intersection with the screen, in Python's integers: no
            # sum of two s32 fields can wrap into a small rectangle.
            cx, cy = max(x, 0), max(y, 0)
            cw, ch = min(x + w, self.width) - cx, min(y + h, self.height) - cy
            if w <= 0 or h <= 0 or cw <= 0 or ch <= 0:
                self.stats["updates_ignored"] += 1
                return
            if (cx, cy, cw, ch) != (x, y, w, h):
                self.stats["updates_clipped"] += 1
            self.stats["updates"] += 1
            self.copy_rect(cx, cy, cw, ch)
        elif kind == c("XENFB_TYPE_RESIZE"):
            g = lambda f: abi.get(raw, "xenfb_resize", f)  # noqa: E731
            w, h, stride, depth, offset = g("width"), g("height"), g("stride"), g("depth"), g("offset")
            if depth not in BYTES or w <= 0 or h <= 0 or offset < 0 or stride < w * BYTES[depth] \
                    or offset + stride * h > self.mem_length:
                self.stats["resizes_ignored"] += 1
                return
            self.stats["resizes"] += 1
            self._configure(w, h, depth, stride, offset)
        else:
            self.stats["unknown_events"] += 1

    # ---- the image ----
    def copy_rect(self, x: int, y: int, w: int, h: int) -> None:
        """xenfb_guest_copy: the guest's pixels of a clipped rectangle into
        the host image, then the listeners (the VNC server) are told."""
        b = BYTES[self.depth]
        raw = self.fb.rows(self.offset + y * self.line_length + x * b, h, w * b, self.line_length)
        rgb = to_rgb(raw, self.depth, w)
        with self.lock:
            self.image[y:y + h, x:x + w] = rgb
            self.version += 1
            for fn in list(self.listeners):
                fn(x, y, w, h)

    def snapshot(self) -> np.ndarray:
        if self.image is None:
            raise RuntimeError(f"domain {self.domid}'s framebuffer is not connected"
                               + (f": {self.error}" if self.error else ""))
        with self.lock:
            return self.image.copy()
