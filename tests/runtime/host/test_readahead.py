"""How `vm restore` reads its file (host/readahead.py): through a thread
that reads ahead into the page cache, then (past the first MiB, where the
file system takes O_DIRECT) into a ring; whatever the read sizes, the
bytes are the file's; the restore's reads never pass the thread's; a file
system without O_DIRECT (tmpfs) is served from the page cache, a pipe is
read by the restore itself."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from pvdsl.runtime.host import readahead
from pvdsl.runtime.host.readahead import READ_BUFFER, ReadAhead
from pvdsl.runtime.host.server import Host

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
MIB = 1 << 20


def read_all(path: Path, sizes, size: int | None = None) -> tuple[bytes, ReadAhead]:
    with open(path, "rb", buffering=READ_BUFFER) as f:
        ahead = ReadAhead(f, os.path.getsize(path) if size is None else size)
        parts = []
        try:
            for n in sizes:
                if n < 0:
                    buf = bytearray(-n)
                    got = ahead.readinto(memoryview(buf))
                    parts.append(bytes(buf[:got]))
                else:
                    got = len(chunk := ahead.read(n))
                    parts.append(chunk)
                if not got:
                    break
        finally:
            ahead.stop()
    return b"".join(parts), ahead


@pytest.fixture
def small_ring(monkeypatch):
    """A ring of small slots, so that a few MiB go through it many times,
    and a page-cache phase a MiB a call, slow enough (as a disk is, beside
    a domain's build) for the restore to catch up and the ring to take
    over before the file is all in."""
    monkeypatch.setattr(readahead, "RING_SLOT", 256 << 10)
    monkeypatch.setattr(readahead, "AHEAD_MIB", 1)
    preadv = os.preadv

    def page_cache_phase_slow(fd, buffers, offset):
        if isinstance(buffers[0], bytearray):  # the scratch of the page-cache phase, not a ring slot
            time.sleep(0.01)
        return preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", page_cache_phase_slow)


@pytest.mark.parametrize("readers", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_whatever_the_read_sizes_the_bytes_are_the_files(tmp_path, small_ring, monkeypatch, seed, readers):
    monkeypatch.setattr(readahead, "RING_READERS", readers)
    rng = random.Random(seed)
    blob = rng.randbytes(24 * MIB + rng.randrange(1, 9000))
    path = tmp_path / "data"
    path.write_bytes(blob)
    # headers first (small reads), then page-data sized ones, either kind of call
    sizes = [rng.choice([8, 16, 24, 4096]) for _ in range(20)]
    sizes += [rng.choice([1, 8, 8208, 4 * MIB, 3 * MIB + 17]) * rng.choice([1, -1]) for _ in range(400)]
    got, ahead = read_all(path, sizes)
    assert got == blob[:len(got)] and len(got) == len(blob)
    if os.path.realpath(tmp_path).startswith("/dev/shm"):
        return
    assert ahead.ring_from is not None, "the ring took over past the first MiB"


def test_reads_never_pass_the_read_ahead(tmp_path, monkeypatch, small_ring):
    """While the thread is in its page-cache phase, a read returns only once
    the thread is past it (or gone)."""
    blob = os.urandom(5 * MIB + 123)
    path = tmp_path / "data"
    path.write_bytes(blob)
    preadv = os.preadv

    def slow_disk(fd, buffers, offset):
        time.sleep(0.02)
        return preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", slow_disk)
    monkeypatch.setattr(readahead, "_SWITCH_AT", 1 << 40)  # the page cache to the end
    seen = []
    with open(path, "rb", buffering=READ_BUFFER) as f:
        ahead = ReadAhead(f, len(blob))
        parts = [ahead.read(16)]
        seen.append((ahead.done, f.tell()))
        while chunk := ahead.read(MIB):
            parts.append(chunk)
            seen.append((ahead.done, f.tell()))
        ahead.stop()
    assert b"".join(parts) == blob
    assert all(done == -1 or done >= pos for done, pos in seen), seen


def test_without_o_direct_the_page_cache_serves_to_the_end(tmp_path, monkeypatch, small_ring):
    blob = os.urandom(4 * MIB + 5)
    path = tmp_path / "data"
    path.write_bytes(blob)
    real_open = os.open

    def no_direct(p, flags, *a):
        if flags & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_open(p, flags, *a)

    monkeypatch.setattr(os, "open", no_direct)
    got, ahead = read_all(path, [16] * 4 + [-MIB] * 10)
    assert got == blob and ahead.ring_from is None


def test_a_disk_error_in_the_ring_reaches_the_restore(tmp_path, monkeypatch, small_ring):
    path = tmp_path / "data"
    path.write_bytes(os.urandom(24 * MIB))
    preadv = os.preadv
    calls = []

    def failing(fd, buffers, offset):
        calls.append(offset)
        if offset >= 12 * MIB and not isinstance(buffers[0], bytearray):  # a ring slot's read
            raise OSError(5, "Input/output error")
        return preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", failing)
    with pytest.raises(OSError) as err:
        read_all(path, [16] * 4 + [-MIB] * 30)
    assert err.value.errno == 5


def test_a_save_file_restores_from_a_pipe(tmp_path):
    host = Host(256 * MIB, 32 * MIB)
    out = host.handle({"op": "create", "name": "g", "target": "i386-domu", "spec": SPEC, "memory": 16 * MIB})
    assert out["status"] == "ok"
    saved = tmp_path / "g.save"
    host.handle({"op": "save", "name": "g", "path": str(saved)})
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as w:
            w.write(saved.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    out = host.handle({"op": "restore", "path": str(fifo)})
    writer.join()
    assert out["name"] == "g" and host.vms["g"].kernel.suspend.resumes == 1
    assert not host.hv.check_invariants()
