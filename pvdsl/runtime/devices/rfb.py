"""A VNC server (RFB 3.8, RFC 6143) for the framebuffer backends: each guest's
screen on a TCP port, as QEMU's VNC server shows a xenfb.

One thread accepts; each client has a thread. Security type None (3.3 and
3.7 clients are served too). Encodings: Raw and ZRLE (one zlib stream per
connection, 64x64 tiles, each solid or raw CPIXELs; zlib level 1 unless
the client asks for another with the CompressLevel pseudo-encodings before
its first ZRLE update), DesktopSize when the guest resizes. Updates are incremental: the backend tells the server each
rectangle it copied from the guest (VfbBackend.listeners), the server keeps
them per client, and a client's FramebufferUpdateRequest is answered with
what changed inside it since its last update, at once if something did,
otherwise as soon as something does. Key and pointer events are read and
counted (there is no xenkbd).

A client that sends something malformed is disconnected; nothing it sends
reaches the guest or stops the server.
"""

from __future__ import annotations

import socket
import struct
import threading
import zlib
from dataclasses import dataclass

import numpy as np

RAW, ZRLE, DESKTOP_SIZE = 0, 16, -223
COMPRESS_LEVEL_0 = -256  # pseudo-encodings -256..-247: the client's zlib level 0..9
DEFAULT_ZLEVEL = 1
TILE = 64
MAX_RECTS = 32  # pending rectangles per client before they merge into their bounding box


@dataclass(frozen=True)
class PixelFormat:
    bpp: int
    depth: int
    big_endian: bool
    true_colour: bool
    red_max: int
    green_max: int
    blue_max: int
    red_shift: int
    green_shift: int
    blue_shift: int

    STRUCT = struct.Struct("!BBBBHHHBBB3x")

    def pack(self) -> bytes:
        return self.STRUCT.pack(self.bpp, self.depth, self.big_endian, self.true_colour, self.red_max,
                                self.green_max, self.blue_max, self.red_shift, self.green_shift, self.blue_shift)

    @classmethod
    def unpack(cls, raw: bytes) -> "PixelFormat":
        v = cls.STRUCT.unpack(raw)
        return cls(v[0], v[1], bool(v[2]), bool(v[3]), *v[4:])

    def problem(self) -> str | None:
        if self.bpp not in (8, 16, 32) or not self.true_colour:
            return f"pixel format of {self.bpp} bits{'' if self.true_colour else ', colour map'} not served"
        for m, s in ((self.red_max, self.red_shift), (self.green_max, self.green_shift),
                     (self.blue_max, self.blue_shift)):
            if m == 0 or m & (m + 1) or s + m.bit_length() > self.bpp:
                return f"channel max {m} at shift {s} does not fit {self.bpp} bits"
        return None

    def byte_lanes(self) -> tuple[int, int, int] | None:
        """Where red, green and blue bytes sit in a 32-bit pixel whose
        channels are whole bytes (the common formats), else None."""
        chans = ((self.red_max, self.red_shift), (self.green_max, self.green_shift),
                 (self.blue_max, self.blue_shift))
        if self.bpp != 32 or any(m != 255 or s % 8 for m, s in chans):
            return None
        lanes = tuple((3 - s // 8) if self.big_endian else s // 8 for _, s in chans)
        return lanes if len(set(lanes)) == 3 else None

    def encode(self, rgb: np.ndarray) -> np.ndarray:
        """(h, w, 3) RGB -> (h, w, bpp / 8) bytes in this format."""
        lanes = self.byte_lanes()
        if lanes is not None:  # a byte per channel: placed, not computed
            out = np.zeros(rgb.shape[:2] + (4,), dtype=np.uint8)
            for i, lane in enumerate(lanes):
                out[:, :, lane] = rgb[:, :, i]
            return out
        v = np.zeros(rgb.shape[:2], dtype=np.uint32)
        for i, (m, s) in enumerate(((self.red_max, self.red_shift), (self.green_max, self.green_shift),
                                    (self.blue_max, self.blue_shift))):
            c = rgb[:, :, i].astype(np.uint32)
            v |= (c if m == 255 else c * m // 255) << s
        b = self.bpp // 8
        dt = {1: np.uint8, 2: np.uint16, 4: np.uint32}[b]
        out = v.astype(np.dtype(dt).newbyteorder(">" if self.big_endian else "<"))
        return out.view(np.uint8).reshape(rgb.shape[0], rgb.shape[1], b)

    def cpixel_bytes(self) -> slice:
        """ZRLE's CPIXEL: 3 bytes of a 32-bit pixel whose colour fits in 24 bits."""
        if self.bpp == 32 and self.depth <= 24:
            used = (self.red_max << self.red_shift) | (self.green_max << self.green_shift) | \
                (self.blue_max << self.blue_shift)
            low = used < 1 << 24
            high = used & 0xFF == 0
            if low or high:
                first = (0 if low else 1) if not self.big_endian else (1 if low else 0)
                return slice(first, first + 3)
        return slice(0, self.bpp // 8)


SERVER_FORMAT = PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0)  # xenfb's own 32-bit layout


def send_parts(sock: socket.socket, parts) -> None:
    """sendall of the parts' concatenation without building it: a full
    screen is megabytes, and joining them costs as much as encoding them."""
    views = [memoryview(p).cast("B") for p in parts if len(memoryview(p).cast("B"))]
    while views:
        sent = sock.sendmsg(views[:64])
        while sent:
            if sent >= len(views[0]):
                sent -= len(views.pop(0))
            else:
                views[0], sent = views[0][sent:], 0


def zrle_tiles(px: np.ndarray, cpixel: slice):
    """ZRLE's tiles of an (h, w, bytes per pixel) array before zlib, in order
    (left to right, top to bottom): each solid (subencoding 1, one CPIXEL)
    or raw (subencoding 0, the tile's CPIXELs row by row). The full 64x64
    tiles are cut and tested all at once on whole pixels (one integer each),
    which a tile-by-tile loop over bytes is several times slower at; only
    the raw tiles' CPIXEL bytes are gathered, and the partial tiles at the
    right and bottom edges are done one by one."""
    h, w, b = px.shape
    fh, fw = h // TILE, w // TILE
    whole = np.ascontiguousarray(px).view({1: np.uint8, 2: np.uint16, 4: np.uint32}[b]).reshape(h, w)
    full = np.ascontiguousarray(whole[:fh * TILE, :fw * TILE].reshape(fh, TILE, fw, TILE).transpose(0, 2, 1, 3))
    solid = (full == full[:, :, :1, :1]).all(axis=(2, 3))
    full_bytes = full.view(np.uint8).reshape(fh, fw, TILE, TILE, b)
    for ty in range(-(-h // TILE)):
        for tx in range(-(-w // TILE)):
            if ty < fh and tx < fw:
                tile, is_solid = full_bytes[ty, tx], solid[ty, tx]
            else:
                tile = px[ty * TILE:(ty + 1) * TILE, tx * TILE:(tx + 1) * TILE]
                is_solid = (tile == tile[:1, :1]).all()
            if is_solid:
                yield b"\x01" + tile[0, 0, cpixel].tobytes()
            else:
                yield b"\x00"
                yield np.ascontiguousarray(tile[:, :, cpixel])


class ClientGone(Exception):
    pass


class RfbClient:
    def __init__(self, server: "RfbServer", sock: socket.socket):
        self.server, self.sock = server, sock
        self.fmt = SERVER_FORMAT
        self.encodings: list[int] = [RAW]
        self.zstream = zlib.compressobj(DEFAULT_ZLEVEL)
        self.zstarted = False
        self.dirty: list[tuple[int, int, int, int]] = []
        self.request: tuple[bool, int, int, int, int] | None = None
        self.size = (0, 0)
        self.updates_sent = 0

    # ---- the socket ----
    def recv(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ClientGone()
            buf += chunk
        return buf

    def handshake(self) -> None:
        self.sock.sendall(b"RFB 003.008\n")
        ver = self.recv(12)
        if not ver.startswith(b"RFB 003.") or not ver[8:11].isdigit():
            raise ClientGone()
        minor = int(ver[8:11])
        if minor >= 7:
            self.sock.sendall(bytes([1, 1]))  # one security type: None
            if self.recv(1) != b"\x01":
                raise ClientGone()
            if minor >= 8:
                self.sock.sendall(struct.pack("!I", 0))
        else:
            self.sock.sendall(struct.pack("!I", 1))
        self.recv(1)  # ClientInit: shared or not, every client shares
        with self.server.cond:
            img = self.server.source.image
            h, w = img.shape[:2] if img is not None else (1, 1)
        self.size = (w, h)
        name = self.server.name.encode()
        self.sock.sendall(struct.pack("!HH", w, h) + SERVER_FORMAT.pack() + struct.pack("!I", len(name)) + name)

    # ---- messages ----
    def read_message(self) -> None:
        kind = self.recv(1)[0]
        if kind == 0:
            fmt = PixelFormat.unpack(self.recv(19)[3:])
            problem = fmt.problem()
            if problem:
                raise ClientGone(problem)
            self.fmt = fmt
        elif kind == 2:
            n = struct.unpack("!xH", self.recv(3))[0]
            self.encodings = list(struct.unpack(f"!{n}i", self.recv(4 * n)))
            levels = [e - COMPRESS_LEVEL_0 for e in self.encodings if COMPRESS_LEVEL_0 <= e <= COMPRESS_LEVEL_0 + 9]
            if levels and not self.zstarted:  # a zlib stream keeps the level it began with
                self.zstream = zlib.compressobj(levels[0])
        elif kind == 3:
            incr, x, y, w, h = struct.unpack("!BHHHH", self.recv(9))
            with self.server.cond:
                self.request = (bool(incr), x, y, w, h)
                self.server.cond.notify_all()
        elif kind == 4:
            self.recv(7)
            self.server.stats["key_events"] += 1
        elif kind == 5:
            self.recv(5)
            self.server.stats["pointer_events"] += 1
        elif kind == 6:
            n = struct.unpack("!3xI", self.recv(7))[0]
            if n > 1 << 20:
                raise ClientGone("cut text over 1 MiB")
            self.recv(n)
        else:
            raise ClientGone(f"message type {kind}")

    def mark(self, x: int, y: int, w: int, h: int) -> None:
        """A rectangle the backend copied (under the server's lock)."""
        self.dirty.append((x, y, w, h))
        if len(self.dirty) > MAX_RECTS:
            x0 = min(r[0] for r in self.dirty)
            y0 = min(r[1] for r in self.dirty)
            x1 = max(r[0] + r[2] for r in self.dirty)
            y1 = max(r[1] + r[3] for r in self.dirty)
            self.dirty = [(x0, y0, x1 - x0, y1 - y0)]

    def take_update(self):
        """Under the lock: the rectangles to send for the pending request
        (with their pixels), or None when there is nothing yet."""
        if self.request is None:
            return None
        img = self.server.source.image
        if img is None:
            return None
        incr, rx, ry, rw, rh = self.request
        h, w = img.shape[:2]
        resized = (w, h) != self.size
        if resized:
            self.size = (w, h)
            self.dirty = []
            rects = [(0, 0, w, h)]
        elif not incr:
            self.dirty = []
            rects = [(rx, ry, rw, rh)]
        elif self.dirty:
            rects, self.dirty = self.dirty, []
        else:
            return None
        self.request = None
        out = []
        for x, y, rw_, rh_ in rects:
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + rw_, w), min(y + rh_, h)
            if not resized and incr:
                x0, y0, x1, y1 = max(x0, rx), max(y0, ry), min(x1, rx + rw), min(y1, ry + rh)
            if x1 > x0 and y1 > y0:
                out.append((x0, y0, x1 - x0, y1 - y0, img[y0:y1, x0:x1].copy()))
        return resized, (w, h), out

    # ---- encodings ----
    def send_update(self, resized: bool, size, rects) -> None:
        parts: list = []
        if resized and DESKTOP_SIZE in self.encodings:
            parts.append(struct.pack("!HHHHi", 0, 0, size[0], size[1], DESKTOP_SIZE))
        nrects = len(parts) + len(rects)
        use_zrle = ZRLE in self.encodings and (self.encodings.index(ZRLE) < self.encodings.index(RAW)
                                               if RAW in self.encodings else True)
        for x, y, w, h, rgb in rects:
            px = self.fmt.encode(rgb)
            if use_zrle:
                data = self.zrle(px)
                parts += [struct.pack("!HHHHiI", x, y, w, h, ZRLE, len(data)), data]
            else:
                parts += [struct.pack("!HHHHi", x, y, w, h, RAW), px]
            self.server.stats["rects_zrle" if use_zrle else "rects_raw"] += 1
        # Counted before sending: a client may act on the update before this
        # thread runs again.
        self.updates_sent += 1
        self.server.stats["updates_sent"] += 1
        send_parts(self.sock, [struct.pack("!BxH", 0, nrects)] + parts)

    def zrle(self, px: np.ndarray) -> bytes:
        z, self.zstarted = self.zstream, True
        return b"".join(z.compress(p) for p in zrle_tiles(px, self.fmt.cpixel_bytes())) + \
            z.flush(zlib.Z_SYNC_FLUSH)

    # ---- the client's thread ----
    def run(self) -> None:
        try:
            self.handshake()
            reader = threading.Thread(target=self._reader, daemon=True)
            reader.start()
            cond = self.server.cond
            while not self.server.stopping:
                with cond:
                    upd = self.take_update()
                    while upd is None and not self.server.stopping and reader.is_alive():
                        cond.wait(0.5)
                        upd = self.take_update()
                if upd is None:
                    break
                self.send_update(*upd)
        except (ClientGone, OSError):
            pass
        finally:
            self.server.drop(self)

    def _reader(self) -> None:
        try:
            while True:
                self.read_message()
        except (ClientGone, OSError, struct.error):
            pass
        finally:
            with self.server.cond:
                self.server.cond.notify_all()
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class RfbServer:
    """One guest's screen on (host, port). `source` is a VfbBackend (its
    `image`, `lock` and `listeners`): clients read the image under the
    backend's lock, so never a half-copied rectangle."""

    def __init__(self, source, host: str = "127.0.0.1", port: int = 5900, name: str = "pvdsl guest", lock=None):
        from collections import Counter

        self.source, self.name = source, name
        self.cond = threading.Condition(lock or source.lock)
        self.clients: list[RfbClient] = []
        self.stats: Counter = Counter()
        self.stopping = False
        self.sock = socket.create_server((host, port))
        self.address = self.sock.getsockname()[:2]
        source.listeners.append(self._changed)
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"rfb-{self.address[1]}")
        self._thread.start()

    def _changed(self, x: int, y: int, w: int, h: int) -> None:
        with self.cond:
            for c in self.clients:
                c.mark(x, y, w, h)
            self.cond.notify_all()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = RfbClient(self, conn)
            with self.cond:
                self.clients.append(client)
            self.stats["connections"] += 1
            threading.Thread(target=client.run, daemon=True).start()

    def drop(self, client: RfbClient) -> None:
        with self.cond:
            if client in self.clients:
                self.clients.remove(client)
        try:
            client.sock.close()
        except OSError:
            pass

    def close(self) -> None:
        self.stopping = True
        if self._changed in self.source.listeners:
            self.source.listeners.remove(self._changed)
        try:
            # Wakes the accept thread: a socket closed under a blocked
            # accept() stays listening, and the port stays taken, until
            # that call returns.
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        with self.cond:
            for c in list(self.clients):
                try:
                    c.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.cond.notify_all()
