"""The VNC server against a real client (vncdotool): what the client
captures equals the guest's framebuffer pixel for pixel on both arches, with
Raw and with ZRLE, in the server's pixel format and in the client's own;
incremental updates carry what the guest drew since; a resize reaches the
client; a malformed client is dropped and the server goes on."""

from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest
from fbsupport import TARGETS, FbGuest
from vncsupport import vnc_connect
from vncdotool import rfb as vrfb
from vncdotool.client import RGB32, VNCDoToolClient, VNCDoToolFactory

from pvdsl.runtime.devices.rfb import PixelFormat, RfbServer, zrle_tiles
from pvdsl.runtime.devices.snapshot import read_png


class ZrleClient(VNCDoToolClient):
    encoding = vrfb.Encoding.ZRLE


class ZrleFactory(VNCDoToolFactory):
    protocol = ZrleClient


class Rgb32ZrleClient(ZrleClient):
    def vncConnectionMade(self) -> None:
        self.setPixelFormat(RGB32)  # red in the low byte: the server translates
        super().vncConnectionMade()


class Rgb32ZrleFactory(VNCDoToolFactory):
    protocol = Rgb32ZrleClient


FACTORIES = {"raw": (VNCDoToolFactory, "rects_raw"), "zrle": (ZrleFactory, "rects_zrle"),
             "zrle-rgb32": (Rgb32ZrleFactory, "rects_zrle")}



def draw(g: FbGuest, seed: int) -> None:
    rng = np.random.default_rng(seed)
    g.fe.fill(0, 0, g.fe.width, g.fe.height, (30, 40, 50))
    for _ in range(12):
        x, y = int(rng.integers(0, g.fe.width)), int(rng.integers(0, g.fe.height))
        g.fe.fill(x, y, int(rng.integers(1, 90)), int(rng.integers(1, 70)), tuple(int(v) for v in rng.integers(0, 256, 3)))
    noise = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)  # tiles that are not solid
    g.fe.blit(100, 80, noise)
    g.fe.text(4, 4, f"pvdsl {g.d.rt.name}", (255, 255, 0))
    g.be.process()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_captured_image_equals_the_guest_framebuffer(tmp_path, target, kind):
    factory, counter = FACTORIES[kind]
    g = FbGuest(target, 200, 150)
    draw(g, 1)
    srv = RfbServer(g.be, port=0)
    client = vnc_connect(srv.address[1], factory)
    try:
        client.captureScreen(str(tmp_path / "full.png"))
        assert np.array_equal(read_png(tmp_path / "full.png"), g.fe.pixels())
        g.fe.fill(60, 40, 33, 21, (0, 0, 255))
        g.fe.blit(7, 120, np.full((5, 9, 3), 200, dtype=np.uint8))
        g.be.process()
        client.captureScreen(str(tmp_path / "incr.png"), incremental=True)
        # The full frame, then at least one incremental one (the client's
        # standing request may be answered before or during this capture).
        assert srv.stats["updates_sent"] >= 2
        assert np.array_equal(read_png(tmp_path / "incr.png"), g.fe.pixels())
        assert srv.stats[counter] >= 2
    finally:
        client.disconnect()
        srv.close()


def test_resize_reaches_the_client(tmp_path):
    g = FbGuest("x86_64-domu", 120, 90)
    draw(g, 2)
    srv = RfbServer(g.be, port=0)
    client = vnc_connect(srv.address[1], VNCDoToolFactory)
    try:
        client.captureScreen(str(tmp_path / "a.png"))
        assert g.fe.resize(80, 60) == "sent"
        g.fe.fill(0, 0, 80, 60, (9, 99, 199))
        g.be.process()
        client.captureScreen(str(tmp_path / "b.png"), incremental=True)
        assert read_png(tmp_path / "b.png")[:60, :80].tolist() == g.fe.pixels().tolist()
    finally:
        client.disconnect()
        srv.close()


def handshake(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert s.recv(12) == b"RFB 003.008\n"
    s.sendall(b"RFB 003.008\n")
    assert s.recv(2) == b"\x01\x01"
    s.sendall(b"\x01")
    assert s.recv(4) == b"\0\0\0\0"
    s.sendall(b"\x01")
    head = s.recv(24)
    w, h = struct.unpack("!HH", head[:4])
    s.recv(struct.unpack("!I", head[20:24])[0])
    return s, w, h


@pytest.mark.parametrize("junk", [b"\x09", b"\x00\0\0\0" + bytes([12, 8, 0, 1]) + bytes(12), b"\x06\0\0\0\xff\xff\xff\xff"])
def test_malformed_client_is_dropped(junk):
    g = FbGuest("i386-domu", 32, 32)
    srv = RfbServer(g.be, port=0)
    try:
        s, w, h = handshake(srv.address[1])
        assert (w, h) == (32, 32)
        s.sendall(junk)
        s.settimeout(5)
        assert s.recv(1) == b""  # closed by the server
        s2, _, _ = handshake(srv.address[1])  # still serving
        s2.sendall(struct.pack("!BBHHHH", 3, 0, 0, 0, 32, 32))
        head = s2.recv(4)
        assert head[0] == 0 and struct.unpack("!H", head[2:4])[0] == 1
        s.close(), s2.close()
        deadline = time.time() + 5
        while srv.clients and time.time() < deadline:
            time.sleep(0.01)
    finally:
        srv.close()


def reference_encode(fmt, rgb: np.ndarray) -> bytes:
    """RFC 6143's pixel value, channel by channel, in the client's byte order."""
    out = bytearray()
    for r, g, b in rgb.reshape(-1, 3).tolist():
        v = (r * fmt.red_max // 255) << fmt.red_shift | (g * fmt.green_max // 255) << fmt.green_shift | \
            (b * fmt.blue_max // 255) << fmt.blue_shift
        out += v.to_bytes(fmt.bpp // 8, "big" if fmt.big_endian else "little")
    return bytes(out)


@pytest.mark.parametrize("fmt", [
    PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0),  # the server's
    PixelFormat(32, 24, False, True, 255, 255, 255, 0, 8, 16),  # red in the low byte
    PixelFormat(32, 24, True, True, 255, 255, 255, 16, 8, 0),  # big-endian
    PixelFormat(32, 32, True, True, 255, 255, 255, 24, 16, 8),  # big-endian, red at the top
    PixelFormat(16, 16, False, True, 31, 63, 31, 11, 5, 0),  # RGB565
    PixelFormat(8, 8, False, True, 7, 7, 3, 5, 2, 0),  # RGB332
])
def test_pixel_formats_encode_as_the_rfc_says(fmt):
    rgb = np.random.default_rng(3).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    assert fmt.encode(rgb).tobytes() == reference_encode(fmt, rgb)


@pytest.mark.parametrize("shape", [(64, 64), (150, 200), (63, 130), (1, 1)])
def test_zrle_tiles_are_in_order_with_solid_and_raw_tiles(shape):
    h, w = shape
    px = np.zeros((h, w, 4), dtype=np.uint8)
    px[: h // 2, : w // 3, :3] = np.random.default_rng(4).integers(0, 256, (h // 2, w // 3, 3), dtype=np.uint8)
    px[h // 2:, :, 1] = 77  # solid tiles below
    expect = b""
    for ty in range(0, h, 64):
        for tx in range(0, w, 64):
            tile = px[ty:ty + 64, tx:tx + 64, :3]
            if (tile == tile[0, 0]).all():
                expect += b"\x01" + tile[0, 0].tobytes()
            else:
                expect += b"\x00" + tile.tobytes()
    got = b"".join(bytes(memoryview(p)) for p in zrle_tiles(px, slice(0, 3)))
    assert got == expect
