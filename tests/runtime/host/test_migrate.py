"""Live migration: two host processes on 127.0.0.1, an x86_64 and an i386
guest of 256 MiB each moved while they run, as `xl migrate` does it; in
one process, a busy guest's dirtied pages go in later rounds and arrive
with their last contents; a receiver that refuses leaves the guest
running at the source, nothing built at the destination."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from pathlib import Path

import pytest
from hostsupport import served_host

from pvdsl.cli.host import main_host
from pvdsl.runtime.host.migrate import MAX_ROUNDS, STOP_DIRTY, Receiver
from pvdsl.runtime.host.server import Host, RequestError, request

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
MIB = 1 << 20


def free_port() -> int:
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 30000)
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise AssertionError("no free port")


def wait_up(sock: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            request(sock, {"op": "ping"}, timeout=5)
            return
        except Exception:
            assert time.monotonic() < deadline, "host did not answer"
            time.sleep(0.1)


def rows(sock: str) -> dict:
    return {r["name"]: r for r in request(sock, {"op": "list"})["domains"]}


def test_two_hosts_migrate_a_guest_of_each_arch(tmp_path, capsys):
    a, b, port = str(tmp_path / "a.sock"), str(tmp_path / "b.sock"), free_port()
    with served_host(a, "768M"), served_host(b, "768M", "--listen", f"127.0.0.1:{port}", "--mem-prealloc"):
        wait_up(a)
        wait_up(b)
        for name, target in (("web", "x86_64-domu"), ("old", "i386-domu")):
            assert main_host(["vm", "create", SPEC, "--target", target, "--memory", "256M", "--name", name,
                              "--socket", a]) == 0
        assert main_host(["vm", "mem-set", "old", "200M", "--socket", a]) == 0
        capsys.readouterr()
        for name in ("web", "old"):
            assert main_host(["vm", "migrate", name, f"127.0.0.1:{port}", "--socket", a]) == 0
            out = capsys.readouterr().out
            assert f"{name}: migrated to 127.0.0.1:{port} as domain" in out and "downtime" in out
            assert out.rstrip().endswith("dirty pages by log-dirty"), out
        assert set(rows(a)) == {"Domain-0"}
        there = rows(b)
        assert there["web"]["mem"] == 256 and there["old"]["mem"] == 200  # the balloon's target came along
        assert there["web"]["state"] == there["old"]["state"] == "-b----"
        # the guests go on at the destination: their balloon follows a new target
        assert main_host(["vm", "mem-set", "old", "220M", "--socket", b]) == 0
        assert rows(b)["old"]["mem"] == 220
        assert main_host(["vm", "migrate", "web", f"127.0.0.1:{port}", "--json", "--socket", b]) == 1  # no listener on b's own


@pytest.fixture(params=["log-dirty", "compare"])
def tracking(request, monkeypatch):
    """Dirty pages from log-dirty mode, or (as where the host kernel has
    none) by comparison with a copy of what was sent."""
    if request.param == "compare":
        from pvdsl.runtime.xen import logdirty

        def unavailable(mem):
            raise logdirty.LogDirtyUnavailable("userfaultfd: Function not implemented")

        monkeypatch.setattr(logdirty, "LogDirty", unavailable)
    return request.param


def test_a_busy_guest_sends_what_it_dirtied_and_arrives_with_its_last_writes(tracking):
    """The guest's program writes 60 of its pages while each batch goes out
    (the progress callback runs it, so that it runs in every round): no
    round ends with fewer than 50 dirty pages, so the migration stops after
    5 rounds; an idle guest stops after round 2."""
    src, dst = Host(256 * MIB, 32 * MIB), Host(256 * MIB, 32 * MIB)
    rx = Receiver(dst, ("127.0.0.1", 0))
    try:
        for name in ("busy", "idle"):
            src.handle({"op": "create", "name": name, "target": "i386-domu", "spec": SPEC, "memory": 64 * MIB})
        vm = src.vms["busy"]
        k, d = vm.kernel, vm.machine.guest
        pages = k.free_pages(60)  # the program's memory: frames of the guest's own
        written, turns = {}, [0]

        def workload(event: str, n: int) -> None:
            with src.lock:
                if event == "pages" and not k.frozen():
                    turns[0] += 1
                    for pfn in pages:
                        data = (turns[0] << 20 | pfn).to_bytes(4, "little") * 1024
                        src.hv.mem.write(d.p2m[pfn] << 12, data)
                        written[pfn] = data

        to = f"127.0.0.1:{rx.address[1]}"
        report = src.handle({"op": "migrate", "name": "busy", "to": to, "_progress": workload})
        rounds = report["pages_per_round"]
        assert report["dirty_tracking"] == tracking
        assert rounds[0] == 64 * 256 and len(rounds) == MAX_ROUNDS + 1, rounds
        assert all(n >= 60 for n in rounds[1:]), rounds  # what it dirtied meanwhile, then the rest
        assert report["downtime_s"] > 0 and report["bytes"] > 64 * MIB
        assert "busy" not in src.vms and not src.hv.check_invariants()
        new = dst.vms["busy"].machine.guest
        for pfn, data in written.items():
            assert dst.hv.mem.read(new.p2m[pfn] << 12, 4096) == data, f"pfn {pfn:#x}"
        assert dst.vms["busy"].kernel.suspend.resumes == 1 and not dst.hv.check_invariants()
        idle = src.handle({"op": "migrate", "name": "idle", "to": to})["pages_per_round"]
        assert len(idle) == 2 and idle[1] < STOP_DIRTY, idle
    finally:
        rx.close()


def test_a_refusing_receiver_leaves_the_guest_running_here():
    src, dst = Host(256 * MIB, 32 * MIB), Host(64 * MIB, 32 * MIB)  # no room for it there
    rx = Receiver(dst, ("127.0.0.1", 0))
    try:
        src.handle({"op": "create", "name": "g", "target": "x86_64-domu", "spec": SPEC, "memory": 48 * MIB})
        free = dst.hv.mem.free_frames
        with pytest.raises(RequestError) as info:
            src.handle({"op": "migrate", "name": "g", "to": f"127.0.0.1:{rx.address[1]}"})
        assert "the receiver refused 'g'" in str(info.value) and "not enough free host memory" in str(info.value)
        assert "it runs on here (never suspended)" in str(info.value)
        assert info.value.field == "to"
        vm = src.vms["g"]
        assert vm.row()["state"] == "-b----" and vm.machine.guest.shutdown_reason is None
        assert src.handle({"op": "mem-set", "name": "g", "memory": 40 * MIB})["mem"] == 40  # it goes on
        assert dst.vms == {} and dst.hv.mem.free_frames == free
        with pytest.raises(RequestError) as info:
            src.handle({"op": "migrate", "name": "g", "to": "127.0.0.1:1"})
        assert info.value.field == "to" and "cannot connect to 127.0.0.1:1" in str(info.value)
    finally:
        rx.close()


def test_the_send_thread_keeps_the_order_and_reports_a_broken_connection():
    """_SendAhead: small writes gathered, large ones passed on uncopied, all
    in order; a peer gone shows as the OSError at the next write or flush."""
    from pvdsl.runtime.host.migrate import _SendAhead

    a, b = socket.socketpair()
    rng = random.Random(7)
    pieces = [os.urandom(rng.choice([1, 9, 4096, _SendAhead.GATHER - 1, _SendAhead.GATHER, 1 << 20]))
              for _ in range(60)]
    out = _SendAhead(a)
    got = bytearray()
    reader = threading.Thread(target=lambda: [got.extend(c) for c in iter(lambda: b.recv(1 << 20), b"")])
    reader.start()
    for p in pieces:
        assert out.write(memoryview(p)) == len(p)
    out.flush()
    a.shutdown(socket.SHUT_WR)
    reader.join()
    assert bytes(got) == b"".join(pieces)
    out.close()
    a.close()
    b.close()
    c, d = socket.socketpair()
    d.close()  # the peer is gone before the first piece
    out = _SendAhead(c)
    with pytest.raises(OSError):
        for _ in range(8):
            out.write(bytes(1 << 20))
        out.flush()
    out.close()
    c.close()
