"""The balloon end to end on a long-lived host: `vm mem-set` / `mem-max` /
`list` as xl has them, the guest's driver answering memory/target over its
own store ring, and Xen's own xenstore tools and PyPI's pyxs writing the
target from outside, as a second shell would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import pyxs
from hostsupport import served_host

from pvdsl.cli.host import main_host
from pvdsl.runtime.host.server import Host, RequestError, request

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
MIB = 1 << 20
ARCHES = ["x86_64", "i386"]


def _create(host: Host, name: str, arch: str, mib: int):
    out = host.handle({"op": "create", "name": name, "target": f"{arch}-domu", "spec": SPEC,
                       "memory": mib * MIB})
    assert out["status"] == "ok"
    return host.vms[name]


def _row(host: Host, name: str) -> dict:
    return next(r for r in host.list()["domains"] if r["name"] == name)


@pytest.mark.parametrize("arch", ARCHES)
def test_mem_set_down_and_back_up(arch):
    host = Host(memory=256 * MIB, dom0_memory=32 * MIB)
    vm = _create(host, "g", arch, 64)
    free0 = host.hv.mem.free_frames
    assert _row(host, "g")["mem"] == 64 and _row(host, "g")["mem_target"] == 64

    out = host.handle({"op": "mem-set", "name": "g", "memory": 40 * MIB})
    assert out["target_kib"] == 40 << 10 and out["mem"] == 40
    assert vm.machine.guest.tot_pages == 40 * 256
    assert host.hv.mem.free_frames == free0 + 24 * 256  # the released frames are the host's again
    assert out["balloon"]["state"] == "done" and out["balloon"]["current_kb"] == 40 << 10
    assert out["max_pages"] == (40 << 8) + 256  # libxl: the target plus LIBXL_MAXMEM_CONSTANT
    home = f"/local/domain/{vm.domid}"
    assert host.xenstore.read(f"{home}/data/balloon/current_kb") == str(40 << 10).encode()
    assert host.xenstore.read(f"{home}/memory/target") == str(40 << 10).encode()

    out = host.handle({"op": "mem-set", "name": str(vm.domid), "memory": 64 * MIB})  # by id, as xl
    assert out["mem"] == 64 and vm.machine.guest.tot_pages == 64 * 256
    assert host.hv.mem.free_frames == free0
    assert not host.hv.check_invariants()


def test_refusals_name_the_field():
    host = Host(memory=192 * MIB, dom0_memory=32 * MIB)
    _create(host, "g", "x86_64", 48)
    with pytest.raises(RequestError) as info:
        host.handle({"op": "mem-set", "name": "g", "memory": 64 * MIB})
    assert info.value.field == "memory" and "memory_static_max" in str(info.value)
    with pytest.raises(RequestError) as info:
        host.handle({"op": "mem-max", "name": "g", "memory": 32 * MIB})
    assert info.value.field == "memory" and "memory_dynamic_max" in str(info.value)
    with pytest.raises(RequestError) as info:
        host.handle({"op": "mem-set", "name": "nope", "memory": 32 * MIB})
    assert info.value.field == "name"
    with pytest.raises(RequestError) as info:
        host.handle({"op": "mem-set", "name": "g", "memory": "lots"})
    assert info.value.field == "memory"


def test_the_floor_holds_and_xen_refusing_backs_off():
    """A target under Linux's minimum_target stops at the floor; a target
    Xen will not grant (over max_pages) leaves the driver retrying with a
    doubling delay until mem-max lets it through."""
    host = Host(memory=256 * MIB, dom0_memory=32 * MIB)
    vm = _create(host, "g", "x86_64", 64)
    out = host.handle({"op": "mem-set", "name": "g", "memory": 4 * MIB})
    floor_pages = (8 * MIB >> 12) + (64 * MIB >> 12) // 2  # under 128 MiB: 8 MiB + max_pfn / 2
    assert vm.machine.guest.tot_pages == floor_pages and out["balloon"]["state"] == "done"

    home = f"/local/domain/{vm.domid}"
    host.xenstore.write(f"{home}/memory/target", str(64 << 10))  # max_pages is still 4M + 1M
    balloon = vm.kernel.balloon
    clock = [1000.0]
    vm.kernel.clock = lambda: clock[0]
    vm.kernel.poll()
    delays = []
    for _ in range(6):
        assert balloon.state == "eagain"
        delays.append(balloon.stats()["schedule_delay"])
        clock[0] = balloon.due
        vm.kernel.poll()
    assert delays == [2, 4, 8, 16, 32, 32]
    host.handle({"op": "mem-max", "name": "g", "memory": 64 * MIB})
    clock[0] = balloon.due
    vm.kernel.poll()
    assert balloon.state == "done" and vm.machine.guest.tot_pages == 64 * 256


# ---- from another shell: the CLI, Xen's xenstore tools, pyxs ----
@pytest.fixture
def served(tmp_path):
    sock, xs_sock = str(tmp_path / "h.sock"), str(tmp_path / "h-xenstore.sock")
    with served_host(sock, "768M", wait_for=xs_sock):
        yield sock, xs_sock


def _cli(capsys, *argv):
    rc = main_host(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _wait_mem(sock: str, name: str, mib: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = next(r for r in request(sock, {"op": "list"})["domains"] if r["name"] == name)
        if row["mem"] == mib or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


def test_two_shells_cli_and_xenstore_tools(served, capsys):
    sock, xs_sock = served
    for name, arch in (("web", "x86_64"), ("old", "i386")):
        rc, out, err = _cli(capsys, "vm", "create", SPEC, "--target", f"{arch}-domu", "--memory", "256M",
                            "--name", name, "--socket", sock)
        assert rc == 0, err
    rc, out, err = _cli(capsys, "vm", "mem-set", "web", "128M", "--socket", sock)
    assert rc == 0, err
    assert "web: target 128M, holds 128M now (balloon: done)" in out
    rc, out, _ = _cli(capsys, "vm", "list", "--socket", sock)
    lines = {ln.split()[0]: ln.split() for ln in out.splitlines()[1:]}
    assert lines["web"][2:4] == ["128", "128"] and lines["old"][2:4] == ["256", "256"]
    rc, out, _ = _cli(capsys, "vm", "list", "--json", "--socket", sock)
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["web"]["balloon"]["current_kb"] == 128 << 10 and rows["web"]["mem_target"] == 128

    # Xen's own tools, from "another shell": the guest balloons with no pvdsl command.
    env = dict(os.environ, XENSTORED_PATH=xs_sock)
    domid = rows["old"]["id"]
    tool = shutil.which("xenstore-write")
    assert tool, "tools/bootstrap installs Debian's xenstore-utils"
    r = subprocess.run([tool, f"/local/domain/{domid}/memory/target", str(160 << 10)], env=env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert _wait_mem(sock, "old", 160)["mem"] == 160
    r = subprocess.run([shutil.which("xenstore-ls"), f"/local/domain/{domid}/data/balloon"], env=env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and f'current_kb = "{160 << 10}"' in r.stdout, r.stdout + r.stderr


def test_pyxs_client_sets_the_target(served, capsys):
    sock, xs_sock = served
    rc, _out, err = _cli(capsys, "vm", "create", SPEC, "--target", "x86_64-domu", "--memory", "96M",
                         "--name", "py", "--socket", sock)
    assert rc == 0, err
    domid = next(r["id"] for r in request(sock, {"op": "list"})["domains"] if r["name"] == "py")
    with pyxs.Client(unix_socket_path=xs_sock) as c:
        c[f"/local/domain/{domid}/memory/target".encode()] = str(64 << 10).encode()
        assert _wait_mem(sock, "py", 64)["mem"] == 64
        assert c[f"/local/domain/{domid}/data/balloon/current_kb".encode()] == str(64 << 10).encode()


def test_a_broken_guest_crashes_alone():
    """A guest whose store ring is corrupt (its own doing) crashes with the
    reason; the other guest and the host go on."""
    host = Host(memory=256 * MIB, dom0_memory=32 * MIB)
    bad, good = _create(host, "bad", "x86_64", 64), _create(host, "good", "i386", 64)
    k = bad.kernel
    off = k.domain.abi.field("xenstore_domain_interface", "rsp_prod").offset
    k.write_va(k.xenbus.intf + off, (0x4000_0000).to_bytes(4, "little"))
    out = host.handle({"op": "mem-set", "name": "bad", "memory": 48 * MIB})
    assert out["status"] == "crashed" and "indices" in out["crash_reason"]
    assert _row(host, "bad")["state"] == "--c---"
    out = host.handle({"op": "mem-set", "name": "good", "memory": 48 * MIB})
    assert out["status"] == "ok" and out["mem"] == 48
    assert not host.hv.check_invariants()


def test_a_target_that_is_not_a_number_is_ignored():
    host = Host(memory=192 * MIB, dom0_memory=32 * MIB)
    vm = _create(host, "g", "x86_64", 64)
    home = f"/local/domain/{vm.domid}"
    vm.kernel.poll()  # the watch's first event (the target as created)
    for junk in ("lots", "-4096", "12k", ""):
        host.xenstore.write(f"{home}/memory/target", junk)
        vm.kernel.poll()
    assert vm.kernel.balloon.bad_targets == 4
    assert vm.machine.guest.tot_pages == 64 * 256 and vm.status == "ok"
