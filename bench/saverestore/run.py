"""Save, restore and live migration speed for a 1 GiB guest, on each arch,
against ceilings measured in the same run.

- save: `vm save -c` as the host does it (suspend through the guest's
  driver, write the xl save file, resume; xl's destroy of a plain save is
  not counted) against a plain sequential write of the
  same number of bytes to the same directory (no fsync in either; the
  dirty pages of the step before written back first, so that neither is
  throttled by the other's writeback);
- restore: `vm restore` (read and check the file, build the domain, put
  every page back, resume) against a plain sequential read of the file,
  both with the file out of the page cache (posix_fadvise DONTNEED);
- live migration: `vm migrate` from this process to a second host process
  (`pvdsl host start --listen`) over loopback TCP, until the guest runs
  there (the source's destroy afterwards not counted), against raw
  loopback TCP of the same number of bytes;
  downtime for an idle guest and for a busy one (a program writing 2,000 of
  its pages while each batch goes out).

    python3 bench/saverestore/run.py                  # both arches, 1 GiB
    python3 bench/saverestore/run.py --arch i386 --mib 256 --runs 1

Both hosts are started with --mem-prealloc (their machine memory
committed at start, as a real host's RAM is there), unless --lazy-memory.

Targets: save and restore >= 80 % of the plain write / read; migration
>= 50 % of raw loopback TCP.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pvdsl.runtime.host.server import Host, request  # noqa: E402

MIB = 1 << 20
SPEC = str(ROOT / "examples" / "irq.pv")


def plain_write(path: str, nbytes: int) -> float:
    block = os.urandom(1 << 20)
    t = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(nbytes >> 20):
            f.write(block)
    return time.perf_counter() - t


def drop_cache(path: str) -> None:
    """The file's pages out of the page cache, so that a read reads the disk
    (the restore's and the plain read's alike)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def plain_read(path: str) -> float:
    drop_cache(path)
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(1 << 20)
        while f.readinto(buf):
            pass
    return time.perf_counter() - t


def raw_tcp(nbytes: int) -> float:
    srv = socket.create_server(("127.0.0.1", 0))
    block = bytes(1 << 20)

    def sink():
        c, _ = srv.accept()
        buf = bytearray(1 << 20)
        while c.recv_into(buf):
            pass
        c.close()

    t = threading.Thread(target=sink)
    t.start()
    s = socket.create_connection(srv.getsockname())
    t0 = time.perf_counter()
    for _ in range(nbytes >> 20):
        s.sendall(block)
    s.close()
    t.join()
    dt = time.perf_counter() - t0
    srv.close()
    return dt


def one_arch(arch: str, mib: int, directory: str, prealloc: bool) -> dict:
    target = f"{arch}-domu"
    host = Host((2 * mib + 128) * MIB, 32 * MIB, prealloc=prealloc)
    host.handle({"op": "create", "name": "g", "target": target, "spec": SPEC, "memory": mib * MIB})
    path = os.path.join(directory, f"{arch}.save")
    size = host.handle({"op": "save", "name": "g", "path": path, "checkpoint": True})["bytes"]
    os.unlink(path)
    os.sync()  # no writeback of an earlier file left to throttle the next one
    t_write = plain_write(os.path.join(directory, "plain"), size)
    os.unlink(os.path.join(directory, "plain"))
    os.sync()
    gc.collect()  # before each timed step: no collection of what came before lands in it
    # Saved until the file is complete; xl's destroy afterwards is not counted.
    t = time.perf_counter()
    out = host.handle({"op": "save", "name": "g", "path": path, "checkpoint": True})
    t_save = time.perf_counter() - t
    host.handle({"op": "destroy", "name": "g"})
    drop_cache(path)
    gc.collect()
    t = time.perf_counter()
    host.handle({"op": "restore", "path": path})
    t_restore = time.perf_counter() - t
    t_read = plain_read(path)
    os.unlink(path)
    # live migration to a second host process over loopback
    host.handle({"op": "create", "name": "b", "target": target, "spec": SPEC, "memory": mib * MIB})
    with receiving_host(2 * mib + 128, prealloc) as to:
        gc.collect()
        idle = host.handle({"op": "migrate", "name": "g", "to": to})
        t_mig = idle["seconds"]
        t_tcp = raw_tcp(idle["bytes"])
        # busy: a program writing 2,000 of its pages while each batch goes out
        vm = host.vms["b"]
        k, d = vm.kernel, vm.machine.guest
        pages, turn = k.free_pages(2000), [0]

        def busy(event, _n):
            with host.lock:
                if event == "pages" and not k.frozen():
                    turn[0] += 1
                    for pfn in pages:
                        host.hv.mem.write(d.p2m[pfn] << 12, turn[0].to_bytes(4, "little") * 1024)

        gc.collect()
        busy_report = host.handle({"op": "migrate", "name": "b", "to": to, "_progress": busy})
    # The host and its machine memory go now (a collection's work, which
    # would otherwise land in a timed step of the next run: the unmapping
    # of two GiB took half a second there).
    del host, vm, k, d, busy
    gc.collect()
    return {"arch": arch, "bytes": size, "save": t_save, "write": t_write, "restore": t_restore, "read": t_read,
            "migrate": t_mig, "tcp": t_tcp, "idle": idle, "busy": busy_report}


@contextlib.contextmanager
def receiving_host(mib: int, prealloc: bool):
    """`pvdsl host start --listen` in another process; yields its HOST:PORT."""
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "dst.sock")
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        proc = subprocess.Popen([sys.executable, "-m", "pvdsl.cli", "host", "start", "--socket", sock, "--memory",
                                 f"{mib}M", "--listen", f"127.0.0.1:{port}"] + ["--mem-prealloc"] * prealloc, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    request(sock, {"op": "ping"}, timeout=5)
                    break
                except Exception:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the receiving host did not start")
                    time.sleep(0.1)
            yield f"127.0.0.1:{port}"
        finally:
            try:
                request(sock, {"op": "stop"}, timeout=30)
                proc.wait(30)
            except Exception:
                proc.kill()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=("x86_64", "i386"), action="append")
    ap.add_argument("--mib", type=int, default=1024, help="guest size in MiB (default 1024)")
    ap.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--dir", default=None, help="where the save files go (default: a temporary directory)")
    ap.add_argument("--lazy-memory", action="store_true",
                    help="hosts without --mem-prealloc: machine memory committed on first touch, so restore and "
                         "the arriving migration pay a page fault per page they write")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for arch in args.arch or ["x86_64", "i386"]:
            runs = [one_arch(arch, args.mib, directory, not args.lazy_memory) for _ in range(args.runs)]
            best = lambda key: min(runs, key=lambda r: r[key])  # noqa: E731
            s, r, m = best("save"), best("restore"), best("migrate")
            # The ceilings are noisy here (a plain read of the same GiB took
            # 0.4 to 1.5 s within an hour): each ratio against the same run's
            # ceiling, as the issue asks, and against the best of the runs'.
            w, rd, tcp = (min(x[k] for x in runs) for k in ("write", "read", "tcp"))
            mib = s["bytes"] / MIB
            print(f"{arch:6} save    {s['save']:6.2f} s ({mib / s['save']:6.0f} MiB/s)  plain write "
                  f"{s['write']:6.2f} s  ratio {s['write'] / s['save']:.2f} (best write {w:.2f} s: {w / s['save']:.2f})")
            print(f"{arch:6} restore {r['restore']:6.2f} s ({mib / r['restore']:6.0f} MiB/s)  plain read  "
                  f"{r['read']:6.2f} s  ratio {r['read'] / r['restore']:.2f} (best read {rd:.2f} s: "
                  f"{rd / r['restore']:.2f})")
            print(f"{arch:6} migrate {m['migrate']:6.2f} s ({m['idle']['bytes'] / MIB / m['migrate']:6.0f} MiB/s)  "
                  f"raw TCP     {m['tcp']:6.2f} s  ratio {m['tcp'] / m['migrate']:.2f} (best TCP {tcp:.2f} s: "
                  f"{tcp / m['migrate']:.2f})  rounds {m['idle']['pages_per_round']}")
            print(f"{arch:6} downtime idle {1e3 * min(x['idle']['downtime_s'] for x in runs):6.0f} ms, busy "
                  f"{1e3 * min(x['busy']['downtime_s'] for x in runs):6.0f} ms (rounds "
                  f"{runs[0]['busy']['pages_per_round']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
