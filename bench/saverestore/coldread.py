"""How fast a GiB file reads out of the page cache right after the cache was
dropped, and a few seconds later; buffered, and with O_DIRECT into one
reused buffer. On a virtual machine that hands freed memory back to its
host (virtio_balloon's free page reporting), memory freed seconds ago is
slow to use again, and a buffered read's page cache lands on it: this is
where a restore's slow runs in run.py come from (docs/performance.md).

    python3 bench/saverestore/coldread.py            # 4 rounds, 5 s late
    python3 bench/saverestore/coldread.py --late 10 --rounds 2
"""

from __future__ import annotations

import argparse
import mmap
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import drop_cache, plain_read  # noqa: E402

MIB = 1 << 20


def direct_read(path: str) -> float | None:
    """O_DIRECT into one reused 32 MiB buffer (page-aligned: an mmap); None
    where the file system refuses O_DIRECT (tmpfs)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return None
    buf = mmap.mmap(-1, 32 * MIB)
    t, at = time.perf_counter(), 0
    try:
        while True:
            n = os.preadv(fd, [buf], at)
            if n < len(buf):
                break
            at += n
    except OSError:
        return None
    finally:
        os.close(fd)
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--late", type=float, default=5.0, help="seconds between dropping the cache and the late read")
    ap.add_argument("--dir", default=None, help="where the file goes (default: a temporary directory)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        path = os.path.join(directory, "data")
        block = os.urandom(MIB)
        with open(path, "wb") as f:
            for _ in range(args.mib):
                f.write(block)
        for _ in range(args.rounds):
            now = plain_read(path)  # drops the cache first
            drop_cache(path)
            time.sleep(args.late)
            t = time.perf_counter()
            with open(path, "rb", buffering=0) as f:
                buf = bytearray(MIB)
                while f.readinto(buf):
                    pass
            late = time.perf_counter() - t
            drop_cache(path)
            d_now = direct_read(path)
            time.sleep(args.late)
            d_late = direct_read(path)
            direct = "O_DIRECT refused here" if d_now is None or d_late is None else \
                f"O_DIRECT at once {d_now:.2f} s, {args.late:g} s late {d_late:.2f} s"
            print(f"buffered read at once {now:.2f} s, {args.late:g} s late {late:.2f} s; {direct}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
