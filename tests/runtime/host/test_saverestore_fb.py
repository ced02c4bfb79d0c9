"""Save and restore of a guest with a framebuffer, both arches: after `vm
restore` the frontend has set up its shared page again in the new domain
(the mode its page held, the new frames) and connected to a new backend
over a new event channel; the backend's image, `vm fb-snapshot` and a real
VNC client (vncdotool) show the saved screen pixel for pixel, the demo goes
on from its saved frame, and nothing of the domain the restore was built
in, or of the saved one, is left behind. A checkpoint (`-c`) keeps the
same channel and backend (the thaw path), and a suspended guest draws
nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vncsupport import free_port, vnc_connect

from pvdsl.runtime.devices.snapshot import read_png
from pvdsl.runtime.devices.vfb_backend import CONNECTED
from pvdsl.runtime.host.guests import run_guest
from pvdsl.runtime.host.savefile import _resume_in_place, suspend_guest
from pvdsl.runtime.host.server import Host

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
MIB = 1 << 20
CASES = [("x86_64-domu", "320x240", (240, 320)), ("i386-domu", "320x240x16", (240, 320))]
TURNS = 5  # demo frames drawn before saving


def make(host: Host, target: str, fb: str):
    out = host.handle({"op": "create", "name": "g", "target": target, "spec": SPEC, "memory": 32 * MIB, "fb": fb})
    assert out["status"] == "ok", out
    vm = host.vms["g"]
    for _ in range(TURNS):
        run_guest(vm)
    assert vm.display.demo.frame == TURNS
    return vm


def save_and_restore(host: Host, tmp_path: Path):
    """`vm save` (the domain goes), then `vm restore` with another domain
    holding the frames the saved one freed: the restored guest gets other
    machine frames, so every frame number it held must be translated."""
    old = set(host.vms["g"].machine.guest.p2m.values())
    host.handle({"op": "save", "name": "g", "path": str(tmp_path / "g.save")})
    # What the host holds with no guest (the first guest's one-time
    # allocations included), to come back to once every guest is gone.
    idle = host.hv.mem.free_frames, set(host.hv.domains[0].evtchns)
    out = host.handle({"op": "create", "name": "filler", "target": "x86_64-domu", "spec": SPEC, "memory": 32 * MIB})
    assert out["status"] == "ok"
    host.handle({"op": "restore", "path": str(tmp_path / "g.save")})
    vm = host.vms["g"]
    assert not old & set(vm.display.frontend.fb.mfns)
    return vm, idle


def destroy_all(host: Host, idle) -> None:
    for name in list(host.vms):
        assert host.handle({"op": "destroy", "name": name})["invariant_violations"] == []
    assert (host.hv.mem.free_frames, set(host.hv.domains[0].evtchns)) == idle


def snap(host: Host, path: Path) -> np.ndarray:
    host.handle({"op": "fb-snapshot", "name": "g", "path": str(path)})
    return read_png(path)


def interdomain(d, port: int):
    ch = d.evtchns.get(port)
    assert ch is not None and ch.state == d.abi.c("EVTCHNSTAT_interdomain"), (port, ch)
    return ch.remote_dom, ch.remote_port


def in_ring(vm) -> tuple[int, int]:
    fe = vm.display.frontend
    abi = vm.machine.guest.abi
    raw = fe.k.read_va(fe.page_va, abi.size("xenfb_page"))
    return abi.get(raw, "xenfb_page", "in_prod"), abi.get(raw, "xenfb_page", "in_cons")


@pytest.mark.parametrize("target,fb,size", CASES)
def test_a_restored_guest_gets_its_screen_back(tmp_path, target, fb, size):
    host = Host(256 * MIB, 32 * MIB)
    host.vnc = ("127.0.0.1", free_port())
    vm = make(host, target, fb)
    saved = snap(host, tmp_path / "saved.png")
    assert saved.shape[:2] == size and len(np.unique(saved.reshape(-1, 3), axis=0)) > 4
    ports, old_domid = set(vm.machine.guest.evtchns), vm.domid
    vm, idle = save_and_restore(host, tmp_path)
    d, disp, dom0 = vm.machine.guest, vm.display, host.hv.domains[0]
    fe, be = disp.frontend, disp.backend
    assert vm.domid != old_domid
    assert be.state == CONNECTED and be.error is None and be.stats["connects"] == 1
    assert (be.width, be.height, be.depth) == (size[1], size[0], fe.depth)
    # Its screen is the saved one, pixel for pixel: backend, PNG and viewer.
    assert np.array_equal(snap(host, tmp_path / "restored.png"), saved)
    client = vnc_connect(host.vnc[1])
    try:
        client.captureScreen(str(tmp_path / "vnc.png"))
    finally:
        client.disconnect()
    assert np.array_equal(read_png(tmp_path / "vnc.png"), saved)
    # A new channel, bound to the new backend's, named in xenstore; the
    # domain has the channels the saved one had, none left from its build.
    assert interdomain(d, fe.port) == (0, be.port) and interdomain(dom0, be.port) == (d.domid, fe.port)
    assert host.xenstore.read(f"/local/domain/{d.domid}/device/vfb/0/event-channel") == str(fe.port).encode()
    assert set(d.evtchns) == ports
    # The demo goes on from the frame it saved, and the new backend's events
    # reach the frontend over the new channel (its REFRESH_PERIOD consumed).
    assert disp.demo.frame == TURNS and disp.row()["frames"] == TURNS
    updates = be.stats["updates"]
    run_guest(vm)
    assert fe.update_wanted and fe.feature_resize and fe.state == CONNECTED
    assert disp.demo.frame == TURNS + 1 and be.stats["updates"] > updates
    prod, cons = in_ring(vm)
    assert prod == cons >= 1
    moved = snap(host, tmp_path / "moved.png")
    assert not np.array_equal(moved, saved) and np.array_equal(moved, fe.pixels())
    assert not host.hv.check_invariants()
    destroy_all(host, idle)


@pytest.mark.parametrize("target", ["x86_64-domu", "i386-domu"])
def test_a_resized_mode_comes_back_from_the_guests_page(tmp_path, target):
    host = Host(256 * MIB, 32 * MIB)
    vm = make(host, target, "320x240")
    assert vm.display.frontend.resize(256, 192) == "sent"
    for _ in range(3):
        run_guest(vm)
    assert (vm.display.backend.width, vm.display.backend.height) == (256, 192)
    saved, frame = snap(host, tmp_path / "saved.png"), vm.display.demo.frame
    vm, idle = save_and_restore(host, tmp_path)
    fe, be = vm.display.frontend, vm.display.backend
    # The restored domain's kernel was built at 320x240; its page says 256x192.
    assert (fe.width, fe.height, fe.line_length) == (256, 192, 256 * 4)
    assert be.state == CONNECTED and (be.width, be.height, be.line_length) == (256, 192, 256 * 4)
    assert np.array_equal(snap(host, tmp_path / "restored.png"), saved)
    run_guest(vm)
    assert vm.display.demo.frame == frame + 1 and not host.hv.check_invariants()
    destroy_all(host, idle)


@pytest.mark.parametrize("target,fb,size", CASES)
def test_a_checkpoint_keeps_the_framebuffer_going(tmp_path, target, fb, size):
    host = Host(256 * MIB, 32 * MIB)
    vm = make(host, target, fb)
    disp = vm.display
    be, port = disp.backend, disp.frontend.port
    saved = snap(host, tmp_path / "saved.png")
    out = host.handle({"op": "save", "name": "g", "path": str(tmp_path / "g.save"), "checkpoint": True})
    assert out["resumed"] == 1
    # Thawed: the same backend, still connected, over the same channel.
    assert disp.backend is be and be.state == CONNECTED and disp.frontend.port == port
    assert interdomain(vm.machine.guest, port) == (0, be.port)
    assert np.array_equal(snap(host, tmp_path / "after.png"), saved) and disp.demo.frame == TURNS
    updates = be.stats["updates"]
    run_guest(vm)
    assert disp.demo.frame == TURNS + 1 and be.stats["updates"] > updates
    assert np.array_equal(snap(host, tmp_path / "moved.png"), disp.frontend.pixels())
    assert not host.hv.check_invariants()


def test_a_suspended_guest_draws_nothing(tmp_path):
    host = Host(256 * MIB, 32 * MIB)
    vm = make(host, "x86_64-domu", "320x240")
    state = suspend_guest(host, vm)
    saved = vm.display.frontend.pixels()
    vm.paused = False  # not paused: only the suspend itself keeps the demo still
    for _ in range(3):
        run_guest(vm)
    assert vm.kernel.frozen() and vm.display.demo.frame == TURNS
    assert np.array_equal(vm.display.frontend.pixels(), saved)
    assert _resume_in_place(vm, state) == 1
    run_guest(vm)
    assert vm.display.demo.frame == TURNS + 1
