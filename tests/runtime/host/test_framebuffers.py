"""Framebuffers on a long-lived host, as a new user meets them: `host start
--vnc`, `vm create --fb` running the demo, a real VNC client (vncdotool)
watching the guest draw on each arch's port, `vm fb-snapshot` writing the
same screen as a PNG, refusals that name the field, and `vm destroy`
leaving no reference behind."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hostsupport import served_host
from vncsupport import free_port, vnc_connect

from pvdsl.cli.host import main_host
from pvdsl.runtime.devices.snapshot import read_png
from pvdsl.runtime.host.server import Host, RequestError, request

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
MIB = 1 << 20


def still(img: np.ndarray) -> np.ndarray:
    """The parts of the demo's screen that do not move: the title's start and
    the colour swatches (the box and the frame counter change every turn)."""
    title = img.shape[1] - 120  # the frame counter starts 110 pixels from the right edge
    return np.concatenate([img[:18, :title].reshape(-1, 3), img[-30:, :130].reshape(-1, 3)])



def _state(sock: str, name: str) -> str:
    return {r["name"]: r for r in request(sock, {"op": "list"})["domains"]}[name]["state"]


def test_vnc_client_watches_the_guest_draw_and_the_snapshot_agrees(tmp_path, capsys):
    sock, port = str(tmp_path / "h.sock"), free_port()
    with served_host(sock, "512M", "--vnc", f"127.0.0.1:{port}", wait_for=str(tmp_path / "h-xenstore.sock")):
        for name, target, fb in (("web", "x86_64-domu", "640x480"), ("old", "i386-domu", "320x240x16")):
            assert main_host(["vm", "create", SPEC, "--target", target, "--memory", "32M", "--name", name,
                              "--fb", fb, "--socket", sock]) == 0
        out = capsys.readouterr().out
        assert f"framebuffer 640x480x32 connected, VNC at 127.0.0.1:{port}" in out
        assert f"framebuffer 320x240x16 connected, VNC at 127.0.0.1:{port + 1}" in out
        for name, p, size in (("web", port, (480, 640)), ("old", port + 1, (240, 320))):
            client = vnc_connect(p)
            try:
                client.captureScreen(str(tmp_path / f"{name}-1.png"))
                time.sleep(0.2)  # the demo runs on
                client.captureScreen(str(tmp_path / f"{name}-2.png"), incremental=True)
            finally:
                client.disconnect()
            a, b = read_png(tmp_path / f"{name}-1.png"), read_png(tmp_path / f"{name}-2.png")
            assert a.shape[:2] == size and not np.array_equal(a, b)  # the guest drew in between
            assert main_host(["vm", "fb-snapshot", name, str(tmp_path / f"{name}.png"), "--socket", sock]) == 0
            snap = read_png(tmp_path / f"{name}.png")
            assert snap.shape == a.shape and np.array_equal(still(snap), still(b))
            assert len(np.unique(still(snap), axis=0)) > 4  # title text, swatches, background
            # Paused, the guest draws nothing more: the viewer's screen and the
            # snapshot are the same pixel for pixel; unpaused, it moves again.
            assert main_host(["vm", "pause", name, "--socket", sock]) == 0
            assert _state(sock, name) == "--p---"
            time.sleep(0.1)  # an update the backend copied just before may still be on its way
            client = vnc_connect(p)
            try:
                client.captureScreen(str(tmp_path / f"{name}-paused.png"))
            finally:
                client.disconnect()
            assert main_host(["vm", "fb-snapshot", name, str(tmp_path / f"{name}-p.png"), "--socket", sock]) == 0
            assert np.array_equal(read_png(tmp_path / f"{name}-paused.png"), read_png(tmp_path / f"{name}-p.png"))
            assert main_host(["vm", "unpause", name, "--socket", sock]) == 0
            assert _state(sock, name) == "-b----"
        rows = {r["name"]: r for r in request(sock, {"op": "list"})["domains"]}
        assert rows["web"]["fb"]["frames"] > 0 and rows["old"]["fb"]["backend_stats"]["updates"] > 0


def test_refusals_name_the_field(tmp_path):
    host = Host(256 * MIB, 32 * MIB)
    base = {"op": "create", "target": "x86_64-domu", "spec": SPEC, "memory": 16 * MIB}
    for fb in ("huge", "10x10", "100000x100000", "800x600x12"):
        with pytest.raises(RequestError) as info:
            host.handle({**base, "name": f"bad{len(host.vms)}", "fb": fb})
        assert info.value.field == "fb"
    free = host.hv.mem.free_frames
    host.handle({**base, "name": "ok", "fb": "200x100"})
    with pytest.raises(RequestError) as info:
        host.handle({"op": "fb-snapshot", "name": "ok", "path": "relative.png"})
    assert info.value.field == "path"
    out = host.handle({"op": "fb-snapshot", "name": "ok", "path": str(tmp_path / "ok.png")})
    assert (out["width"], out["height"]) == (200, 100)
    out = host.handle({"op": "destroy", "name": "ok"})
    assert out["invariant_violations"] == [] and host.hv.mem.free_frames == free
