"""Save and restore on the long-lived host, both arches: the guest
suspends through drivers.suspend with start_info's frame in its third
argument register; Xen's own verify-stream-v2 accepts what `vm save` writes
in each format; a restored guest (new machine frames) has every page by
pfn, its vCPU context and its start_info as saved, translated; its
hypercall returns 0 and it goes on (xenstore watches, the balloon's
target); a checkpoint resumes in place with 1; a stream of the other arch
and a broken stream are refused, naming the field or the record and
offset, with nothing left behind."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from pvdsl.runtime.host.saverestore import _context, apply, capture
from pvdsl.runtime.host.savefile import suspend_guest
from pvdsl.runtime.host.server import Host, RequestError
from pvdsl.runtime.migration import layout as L
from pvdsl.runtime.migration.savefile import read_save_file, write_save_file

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
MIB = 1 << 20
TARGETS = ["x86_64-domu", "i386-domu"]
VERIFY = "/usr/lib/xen-4.17/bin/verify-stream-v2"


def verify(path: Path, fmt: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", VERIFY, "-f", fmt, "-i", str(path)], capture_output=True, text=True,
                          env={"PYTHONPATH": "/usr/lib/xen-4.17/lib/python", "PATH": os.environ["PATH"]}, timeout=120)


def make(host: Host, name: str, target: str, memory: int = 32 * MIB):
    out = host.handle({"op": "create", "name": name, "target": target, "spec": SPEC, "memory": memory})
    assert out["status"] == "ok", out
    return host.vms[name]


@pytest.mark.parametrize("target", TARGETS)
def test_the_guest_suspends_with_start_info_in_its_third_register(target):
    host = Host(128 * MIB, 32 * MIB)
    vm = make(host, "g", target)
    state = suspend_guest(host, vm)
    d = vm.machine.guest
    third = d.rt.arch.hypercall_arg_regs[2]  # edx / rdx: HYPERVISOR_suspend's start_info frame
    assert state[third] == d.p2m[d.kernel.pfn_of(d.start_info_va)]
    assert d.shutdown_reason == d.abi.c("SHUTDOWN_suspend") and vm.row()["state"] == "---s--" and vm.paused
    assert host.xenstore.read(f"/local/domain/{d.domid}/control/shutdown") == b""  # acknowledged
    # start_info names the store and console frames by pfn while suspended
    assert vm.kernel.start_info("store_mfn") == d.kernel.store_pfn


@pytest.mark.parametrize("target", TARGETS)
def test_verify_stream_v2_accepts_every_format_and_a_checkpoint_resumes(tmp_path, target):
    host = Host(128 * MIB, 32 * MIB)
    make(host, "g", target)
    for fmt in ("libxc", "libxl", "xl"):
        path = tmp_path / f"g.{fmt}"
        out = host.handle({"op": "save", "name": "g", "path": str(path), "format": fmt, "checkpoint": True})
        assert out["resumed"] == 1 and out["format"] == fmt  # xc_domain_resume: the hypercall returns 1
        assert out["suspend_record"] == "register"
        v = verify(path, fmt)
        assert v.returncode == 0, v.stdout + v.stderr
        assert host.vms["g"].row()["state"] == "-b----"
    assert read_save_file(open(tmp_path / "g.xl", "rb")).fmt == "xl"
    assert not host.hv.check_invariants()


@pytest.mark.parametrize("target", TARGETS)
def test_restore_puts_back_every_page_and_the_vcpu_in_new_frames(tmp_path, target):
    host = Host(640 * MIB, 32 * MIB)
    vm = make(host, "g", target, 256 * MIB)
    host.handle({"op": "mem-set", "name": "g", "memory": 200 * MIB})  # holes in the p2m: ballooned pfns
    state = suspend_guest(host, vm)
    saved = capture(vm, state)
    old_p2m = dict(vm.machine.guest.p2m)
    path = tmp_path / "g.save"
    with open(path, "wb") as f:
        write_save_file(f, saved, json.dumps({**vm.config, "name": "g"}).encode(), "xl")
    # The new domain is built while the old one still holds its frames.
    new = host.create({"op": "create", "name": "h", **{k: v for k, v in vm.config.items() if v is not None}})
    vm2 = host.vms["h"]
    vm2.paused = True
    d2 = vm2.machine.guest
    image = read_save_file(open(path, "rb")).image
    regs = apply(host.hv, d2, image)
    assert new["status"] == "ok"
    assert all(d2.p2m[p] != m for p, m in old_p2m.items() if p in d2.p2m), "restored into the same frames"
    assert set(d2.p2m) == set(old_p2m)  # the ballooned pfns have no frame here either
    again = capture(vm2, regs)
    si_pfn = d2.kernel.pfn_of(d2.start_info_va)
    changed = {si_pfn, *image.p2m_frames}  # start_info and the p2m list name the new frames
    for a, b in zip(saved.pages, again.pages):
        assert (a.pfn, a.type) == (b.pfn, b.type)
        if a.pfn not in changed:
            assert a.data == b.data, f"pfn {a.pfn:#x} ({L.page_type_name(a.type)}) differs"
    assert [d2.pfn_of.get(m, -1) if m != again.layout.invalid_mfn else -1 for m in again.p2m] == \
        [p if m != saved.layout.invalid_mfn else -1 for p, m in enumerate(saved.p2m)]
    assert again.vcpus[0].basic == saved.vcpus[0].basic  # registers, cr3, GDT frames, start_info: as pfns
    assert _context(host.hv, d2, d2.vcpus[0], regs) == saved.vcpus[0].basic


@pytest.mark.parametrize("target", TARGETS)
def test_a_restored_guest_goes_on(tmp_path, target):
    host = Host(256 * MIB, 32 * MIB)
    make(host, "g", target, 48 * MIB)
    host.handle({"op": "mem-set", "name": "g", "memory": 40 * MIB})
    path = tmp_path / "g.save"
    out = host.handle({"op": "save", "name": "g", "path": str(path)})
    assert out["destroyed"] and "g" not in host.vms  # as xl save does
    out = host.handle({"op": "restore", "path": str(path)})
    vm = host.vms["g"]
    d = vm.machine.guest
    assert vm.kernel.suspend.resumes == 1 and d.shutdown_reason is None and vm.row()["state"] == "-b----"
    assert d.tot_pages == 40 * 256  # the balloon's target kept
    assert host.xenstore.read(f"/local/domain/{d.domid}/data/balloon/target_kb") == b"40960"
    # its watches are registered again: the balloon follows a new target
    out = host.handle({"op": "mem-set", "name": "g", "memory": 44 * MIB})
    assert out["mem"] == 44 and out["status"] == "ok"
    # and it can suspend again
    out = host.handle({"op": "save", "name": "g", "path": str(tmp_path / "again.save"), "checkpoint": True})
    assert out["resumed"] == 1
    assert not host.hv.check_invariants()


def test_a_stream_of_the_other_arch_is_refused(tmp_path):
    host = Host(256 * MIB, 32 * MIB)
    make(host, "g", "i386-domu")
    path = tmp_path / "g.save"
    host.handle({"op": "save", "name": "g", "path": str(path)})
    sf = read_save_file(open(path, "rb"))
    config = json.loads(sf.config)
    bad = tmp_path / "as64.save"
    with open(bad, "wb") as f:
        write_save_file(f, sf.image, json.dumps({**config, "target": "x86_64-domu"}).encode(), "xl")
    free = host.hv.mem.free_frames
    with pytest.raises(RequestError) as info:
        host.handle({"op": "restore", "path": str(bad)})
    assert info.value.field == "target"
    assert str(info.value).endswith("the stream holds a 32-bit guest with 3-level page tables (i386); "
                                    "the domain is x86_64")
    assert host.vms == {} and host.hv.mem.free_frames == free and not host.hv.check_invariants()
    assert host.xenstore.daemon.tree.read("/local/domain/2") is None


def test_broken_streams_are_refused_with_the_record_and_offset_and_leave_nothing(tmp_path):
    host = Host(128 * MIB, 32 * MIB)
    make(host, "g", "x86_64-domu", 16 * MIB)
    path = tmp_path / "g.save"
    host.handle({"op": "save", "name": "g", "path": str(path)})
    good = path.read_bytes()
    free = host.hv.mem.free_frames
    rng = random.Random(7)
    for i in range(12):
        data = bytearray(good)
        if i % 3 == 0:
            data = data[:rng.randrange(len(data))]  # truncated
        else:
            at = rng.randrange(0, 4096)  # a header or the first records' framing
            data[at] ^= 1 << rng.randrange(8)
        broken = tmp_path / f"b{i}.save"
        broken.write_bytes(bytes(data))
        try:
            host.handle({"op": "restore", "path": str(broken), "name": f"r{i}"})
        except RequestError as err:
            if err.field == "stream":
                assert str(err).startswith(f"cannot read {broken}: stream:0x") or f"{broken}: stream:0x" in str(err)
        else:
            host.handle({"op": "destroy", "name": f"r{i}"})  # a flip inside page contents: no reader can see it
        assert not [n for n in host.vms if n.startswith("r")]
        assert host.hv.mem.free_frames == free and not host.hv.check_invariants()


VOLATILE = ("/vm", "/domid", "/store/", "/console/", "/device/vfb/0/page-ref", "/device/vfb/0/event-channel")


def xenstore_home(host, domid: int) -> dict:
    """The domain's home in xenstore, by path relative to it, without what
    names this domain's id, frames or channels (a new domain has new ones)."""
    tree = host.xenstore.daemon.tree
    home = f"/local/domain/{domid}"
    out = {}
    for path, node in tree.nodes.items():
        if path == home or path.startswith(home + "/"):
            rel = path[len(home):]
            if not any(rel == v or rel.startswith(v) for v in VOLATILE):
                out[rel] = (node.value, tuple((p.domid == domid, p.bits) for p in node.perms))
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_xenstore_nodes_and_channels_come_back(tmp_path, target):
    host = Host(256 * MIB, 32 * MIB)
    vm = make(host, "g", target, 48 * MIB)
    host.handle({"op": "mem-set", "name": "g", "memory": 40 * MIB})
    before = xenstore_home(host, vm.domid)
    kinds = sorted((c.state, c.remote_dom) for c in vm.machine.guest.evtchns.values())
    path = tmp_path / "g.save"
    host.handle({"op": "save", "name": "g", "path": str(path)})
    host.handle({"op": "create", "name": "spacer", "target": target, "spec": SPEC, "memory": 16 * MIB})
    host.handle({"op": "restore", "path": str(path)})
    vm2 = host.vms["g"]
    assert vm2.domid != vm.domid
    assert xenstore_home(host, vm2.domid) == before
    assert sorted((c.state, c.remote_dom) for c in vm2.machine.guest.evtchns.values()) == kinds


def test_progress_lines_reach_the_client(tmp_path):
    from hostsupport import served_host

    sock = str(tmp_path / "h.sock")
    with served_host(sock, "256M"):
        from pvdsl.runtime.host.server import request

        request(sock, {"op": "create", "name": "g", "target": "i386-domu", "spec": SPEC, "memory": 16 * MIB})
        seen = []
        out = request(sock, {"op": "save", "name": "g", "path": str(tmp_path / "g.save")},
                      progress=lambda event, n: seen.append((event, n)))
        assert out["ok"] and seen[0] == ("total", 16 * 256)
        assert sum(n for e, n in seen if e == "pages") == 16 * 256
        seen.clear()
        out = request(sock, {"op": "restore", "path": str(tmp_path / "g.save")},
                      progress=lambda event, n: seen.append((event, n)))
        assert out["ok"] and seen[0] == ("total", 16 * 256)
        assert sum(n for e, n in seen if e == "pages") == 16 * 256


@pytest.mark.parametrize("target", TARGETS)
def test_pages_read_straight_into_the_frames_are_the_streams(tmp_path, target, monkeypatch):
    """`vm restore` reads a batch of plain pages into the new domain's
    frames themselves (Incoming.place): when the stream is in, before the
    guest resumes, every normal page holds what the stream carries, as when
    each batch is copied in from the reader's buffer."""
    from pvdsl.runtime.host import savefile
    from pvdsl.runtime.host.saverestore import Incoming

    host = Host(512 * MIB, 32 * MIB)
    vm = make(host, "g", target, 64 * MIB)
    rng = random.Random(7)
    for pfn in vm.kernel.free_pages(300):  # pages that hold something, not just the boot's
        host.hv.mem.write(vm.machine.guest.p2m[pfn] << 12, rng.randbytes(4096))
    path = tmp_path / "g.save"
    host.handle({"op": "save", "name": "g", "path": str(path), "checkpoint": True})
    image = read_save_file(open(path, "rb")).image
    si_pfn = vm.machine.guest.kernel.pfn_of(vm.machine.guest.start_info_va)
    plain = [p for p in image.pages if p.type == L.NOTAB and p.pfn not in {si_pfn, *image.p2m_frames}]
    assert len(plain) > 60 * 256
    snapshot, finish = {}, savefile.finish_restore

    def pages_in(host, vm, config, state, origin):
        d = vm.machine.guest
        snapshot[vm.name] = {p.pfn: host.hv.mem.read(d.p2m[p.pfn] << 12, 4096) for p in plain}
        return finish(host, vm, config, state, origin)

    monkeypatch.setattr(savefile, "finish_restore", pages_in)
    placed, place = [], Incoming.place
    monkeypatch.setattr(Incoming, "place", lambda self, p, t: placed.append(place(self, p, t)) or placed[-1])
    host.handle({"op": "restore", "path": str(path), "name": "a"})
    assert sum(v is not None for v in placed) >= 14, "most of the 16 batches go straight into frames"
    monkeypatch.setattr(Incoming, "place", lambda self, p, t: None)
    host.handle({"op": "restore", "path": str(path), "name": "b"})
    for name in ("a", "b"):
        wrong = [p.pfn for p in plain if snapshot[name][p.pfn] != p.data]
        assert not wrong, f"{name}: pfns {[hex(p) for p in wrong[:8]]} differ from the stream"
    assert not host.hv.check_invariants()


def test_a_domain_being_restored_takes_no_requests(tmp_path):
    """Its frames are written without the host's lock: destroying it (or
    anything else) meanwhile is refused, and works once the restore ends."""
    host = Host(256 * MIB, 32 * MIB)
    make(host, "g", "i386-domu", 16 * MIB)
    path = tmp_path / "g.save"
    host.handle({"op": "save", "name": "g", "path": str(path)})
    refused = []

    def meanwhile(event, _n):
        if event == "pages" and not refused:
            with pytest.raises(RequestError) as err:
                host.handle({"op": "destroy", "name": "g"})
            refused.append(str(err.value))

    host.handle({"op": "restore", "path": str(path), "_progress": meanwhile})
    assert refused == ["domain 'g' is being restored (or migrated here); it can be managed once that ends"]
    assert host.handle({"op": "destroy", "name": "g"})["frames_freed"] > 16 * 256
