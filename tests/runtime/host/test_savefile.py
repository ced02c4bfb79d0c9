"""How `vm restore` reads its file: a thread reads it ahead into the page
cache while the domain is built, and the restore's own reads wait for the
thread to be past them, so that one reader alone works the disk; a file
that cannot be read ahead (a pipe) is read by the restore itself."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from pvdsl.runtime.host import savefile
from pvdsl.runtime.host.server import Host

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
MIB = 1 << 20


def test_reads_through_the_read_ahead_are_the_files_and_never_pass_it(tmp_path, monkeypatch):
    path = tmp_path / "data"
    blob = os.urandom(5 * MIB + 123)
    path.write_bytes(blob)
    monkeypatch.setattr(savefile, "_READ_AHEAD_MIB", 1)  # many steps, for the reads to wait on
    preadv = os.preadv

    def slow_disk(fd, buffers, offset):
        time.sleep(0.02)
        return preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", slow_disk)
    seen = []
    with open(path, "rb", buffering=savefile._READ_BUFFER) as f:
        ahead = savefile._ReadAhead(f, len(blob))
        parts, buf = [], bytearray(3 * MIB)
        parts.append(ahead.read(16))
        seen.append((ahead.done, f.tell()))
        n = ahead.readinto(memoryview(buf))
        parts.append(bytes(buf[:n]))
        seen.append((ahead.done, f.tell()))
        while chunk := ahead.read(MIB):
            parts.append(chunk)
            seen.append((ahead.done, f.tell()))
        ahead.stop()
    assert b"".join(parts) == blob
    # Each read returned only once the thread had read past it (or was done: -1).
    assert all(done == -1 or done >= pos for done, pos in seen), seen


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
