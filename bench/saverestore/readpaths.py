"""`vm restore` of a 1 GiB guest by its two read paths, interleaved in one
process: the O_DIRECT ring past the file's first MiB (the default), and the
page cache to the end; against a plain sequential read of the file. Each
with the file out of the page cache first.

    python3 bench/saverestore/readpaths.py                 # x86_64, 5 rounds
    python3 bench/saverestore/readpaths.py --arch i386 --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import MIB, SPEC, drop_cache, plain_read  # noqa: E402

from pvdsl.runtime.host import readahead  # noqa: E402
from pvdsl.runtime.host.server import Host  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=("x86_64", "i386"), default="x86_64")
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where the save file goes (default: a temporary directory)")
    args = ap.parse_args(argv)
    host = Host((2 * args.mib + 128) * MIB, 32 * MIB, prealloc=True)
    host.handle({"op": "create", "name": "g", "target": f"{args.arch}-domu", "spec": SPEC,
                 "memory": args.mib * MIB})
    switch = readahead._SWITCH_AT
    times: dict[str, list[float]] = {"ring": [], "page cache": [], "plain read": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        path = os.path.join(directory, "g.save")
        host.handle({"op": "save", "name": "g", "path": path})
        try:
            for _ in range(args.rounds):
                for name, at in (("ring", switch), ("page cache", 1 << 62)):
                    readahead._SWITCH_AT = at
                    gc.collect()
                    drop_cache(path)
                    t = time.perf_counter()
                    host.handle({"op": "restore", "path": path})
                    times[name].append(time.perf_counter() - t)
                    host.handle({"op": "destroy", "name": "g"})
                times["plain read"].append(plain_read(path))
                print("  ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
        finally:
            readahead._SWITCH_AT = switch
    for k, v in times.items():
        print(f"{k:10}  min {min(v):.2f} s  median {sorted(v)[len(v) // 2]:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
