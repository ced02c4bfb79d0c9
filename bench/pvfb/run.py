"""Framebuffer speed: full-screen 1024x768x32 frames per second from the
guest's write to a VNC client's received frame, and the cost of a small
dirty rectangle, on each arch.

One frame is the whole path a guest's screen takes: the guest draws a full
screen into its framebuffer (guest memory, the frames its directory lists)
and asks drivers.xenfb, on its vCPU, for an UPDATE; dom0's backend consumes
the out ring and copies the rectangle into the host image; the VNC server
encodes it for the client's standing FramebufferUpdateRequest; the client
has received every byte of the update. The client is a minimal RFB 3.8
reader on a plain socket (it keeps an incremental request outstanding, as
viewers do), so what is measured is pvdsl's side, not a client's PNG writer.

Baselines measured in the same run: the same bytes sent over loopback TCP
to the same kind of reader (the transport's ceiling), and a plain numpy copy
of the frame (what any guest write of a full screen costs at least).

    python3 bench/pvfb/run.py                         # both arches, every case
    python3 bench/pvfb/run.py --arch i386 --frames 60 --case raw

Target: >= 60 full-screen frames per second.
"""

from __future__ import annotations

import argparse
import queue
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "runtime"))

from fbsupport import FbGuest  # noqa: E402

from pvdsl.runtime.devices.rfb import COMPRESS_LEVEL_0, RAW, ZRLE, RfbServer  # noqa: E402

W, H = 1024, 768


class Reader:
    """A minimal RFB 3.8 client: security None, the server's pixel format,
    one encoding, and an incremental request re-sent as soon as an update
    has been read in full."""

    def __init__(self, port: int, encoding: int, zlevel: int | None = None):
        s = self.sock = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.buf = bytearray(W * H * 4 + 4096)
        self.exact(12)
        s.sendall(b"RFB 003.008\n")
        n = self.exact(1)[0]
        self.exact(n)
        s.sendall(b"\x01")
        self.exact(4)
        s.sendall(b"\x01")
        w, h = struct.unpack("!HH", self.exact(4))
        self.exact(16)
        self.exact(struct.unpack("!I", self.exact(4))[0])
        self.size = (w, h)
        encs = [encoding] + ([COMPRESS_LEVEL_0 + zlevel] if zlevel is not None else [])
        s.sendall(struct.pack(f"!BxH{len(encs)}i", 2, len(encs), *encs))
        self.frames = 0

    def exact(self, n: int) -> bytes:
        view = memoryview(self.buf)[:n]
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if not k:
                raise EOFError("server closed")
            got += k
        return bytes(view[:min(n, 64)]) if n <= 64 else b""

    def request(self, incremental: bool) -> None:
        w, h = self.size
        self.sock.sendall(struct.pack("!BBHHHH", 3, int(incremental), 0, 0, w, h))

    def read_update(self) -> int:
        """One FramebufferUpdate, every rectangle read; the bytes it held."""
        kind, nrects = struct.unpack("!BxH", self.exact(4))
        assert kind == 0, kind
        total = 4
        for _ in range(nrects):
            x, y, w, h, enc = struct.unpack("!HHHHi", self.exact(12))
            if enc == RAW:
                n = w * h * 4
            elif enc == ZRLE:
                n = struct.unpack("!I", self.exact(4))[0]
                total += 4
            else:
                n = 0
            self.exact(n)
            total += 12 + n
        self.frames += 1
        return total


def frames_for(kind: str) -> list[np.ndarray]:
    """Two different full screens, so every frame changes everywhere.
    'noise': random pixels, the worst case for any compression; 'desktop':
    what a screen mostly is (flat background, windows, text, one picture)."""
    rng = np.random.default_rng(1)
    if kind == "noise":
        a = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        return [a, 255 - a]
    from PIL import Image, ImageDraw

    out = []
    for shift in (0, 40):
        img = Image.new("RGB", (W, H), (30, 60, 90))
        d = ImageDraw.Draw(img)
        for i in range(4):
            x, y = 60 + i * 200 + shift, 60 + i * 120
            d.rectangle((x, y, x + 420, y + 300), fill=(235, 235, 235), outline=(0, 0, 0))
            d.rectangle((x, y, x + 420, y + 20), fill=(40, 80, 160))
            for line in range(14):
                d.text((x + 8, y + 28 + line * 18), f"line {line}: the quick brown fox {shift + i}", fill=(0, 0, 0))
        gy, gx = np.mgrid[0:256, 0:256]
        photo = np.stack([gx, gy, (gx + gy + shift) // 2], axis=-1).astype(np.uint8)
        a = np.array(img)
        a[480:736, 700 + shift // 2:956 + shift // 2] = photo
        out.append(a)
    return out


def pipeline(target: str, encoding: int, nframes: int, screen: str, zlevel: int | None) -> dict:
    g = FbGuest(target, W, H, 32)
    srv = RfbServer(g.be, port=0)
    rd = Reader(srv.address[1], encoding, zlevel)
    received: queue.Queue = queue.Queue()

    def viewer() -> None:
        """Keeps one incremental request outstanding, as a viewer does."""
        try:
            while True:
                rd.request(True)
                received.put(rd.read_update())
        except (OSError, EOFError):
            received.put(None)

    try:
        rd.request(False)
        rd.read_update()  # the first full frame
        threading.Thread(target=viewer, daemon=True).start()
        imgs = frames_for(screen)
        t0 = time.perf_counter()
        for i in range(nframes):
            assert g.fe.blit(0, 0, imgs[i & 1]) == "sent"
            g.be.process()
            nbytes = received.get(timeout=30)
        full = time.perf_counter() - t0
        # A small dirty rectangle: a 16x16, cursor-sized change.
        small = np.full((16, 16, 3), 200, dtype=np.uint8)
        reps = max(nframes * 4, 200)
        t0 = time.perf_counter()
        for i in range(reps):
            small[:] = i & 0xFF
            assert g.fe.blit((i * 16) % (W - 16), (i * 7) % (H - 16), small) == "sent"
            g.be.process()
            g.k.poll()  # the events the backend raised (room in the ring)
            received.get(timeout=30)
        rect = (time.perf_counter() - t0) / reps
        assert np.array_equal(g.be.snapshot(), g.fe.pixels())
        return {"fps": nframes / full, "frame_ms": 1e3 * full / nframes, "bytes": nbytes, "rect_us": 1e6 * rect}
    finally:
        rd.sock.close()
        srv.close()


def loopback_ceiling(nbytes: int, nframes: int) -> float:
    """Frames per second of the same update size over loopback TCP, sent by
    a thread and read by the same reader code: the transport's ceiling."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    payload = struct.pack("!BxH", 0, 1) + struct.pack("!HHHHi", 0, 0, W, H, RAW) + bytes(nbytes - 16)
    go = threading.Semaphore(0)

    def serve() -> None:
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(nframes):
            go.acquire()
            c.sendall(payload)
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    rd = Reader.__new__(Reader)
    rd.sock = socket.create_connection(("127.0.0.1", port))
    rd.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rd.buf, rd.frames = bytearray(nbytes + 4096), 0
    t0 = time.perf_counter()
    for _ in range(nframes):
        go.release()
        rd.read_update()
    dt = time.perf_counter() - t0
    rd.sock.close()
    srv.close()
    return nframes / dt


def copy_ceiling(nframes: int) -> float:
    imgs = frames_for("noise")
    dst = np.zeros((H, W, 4), dtype=np.uint8)
    t0 = time.perf_counter()
    for i in range(nframes):
        dst[:, :, :3] = imgs[i & 1]
    return nframes / (time.perf_counter() - t0)


CASES = {  # name: (encoding, screen, zlib level the client asks for)
    "raw": (RAW, "noise", None),
    "zrle-desktop": (ZRLE, "desktop", None),
    "zrle-noise": (ZRLE, "noise", None),
    "zrle-noise-z0": (ZRLE, "noise", 0),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=("x86_64", "i386"), action="append")
    ap.add_argument("--case", choices=sorted(CASES), action="append",
                    help="encoding and screen (default: all): raw, zrle-desktop, zrle-noise, zrle-noise-z0 "
                         "(the client asks for zlib level 0)")
    ap.add_argument("--frames", type=int, default=120, help="full-screen frames per measurement (default 120)")
    ap.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    args = ap.parse_args(argv)
    print(f"frame: {W}x{H}x32, {args.frames} frames, best of {args.runs}")
    print(f"ceiling: numpy copy of the frame              {copy_ceiling(args.frames):7.0f} frames/s")
    raw_size = 16 + W * H * 4
    print(f"ceiling: loopback TCP, {raw_size} B updates  {loopback_ceiling(raw_size, args.frames):7.0f} frames/s")
    for arch in args.arch or ["x86_64", "i386"]:
        for name in args.case or list(CASES):
            enc, screen, zlevel = CASES[name]
            best = max((pipeline(f"{arch}-domu", enc, args.frames, screen, zlevel) for _ in range(args.runs)),
                       key=lambda r: r["fps"])
            print(f"{arch:6} {name:13}: {best['fps']:6.1f} full frames/s ({best['frame_ms']:5.1f} ms, "
                  f"{best['bytes']:7d} B each)  small 16x16 rect {best['rect_us']:4.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
