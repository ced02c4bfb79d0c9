"""The long hypercall fuzz run: random hypercalls with random arguments from a
domU (both arches), checking the hypervisor model's invariants as it goes.

    python3 bench/runtime/fuzz_hypercalls.py --count 1000000
    python3 bench/runtime/fuzz_hypercalls.py --count 100000 --seed 7 --arch i386

The test suite runs the same generator under hypothesis for ~10,000 calls
(tests/runtime/test_fuzz_hypercalls.py). Exit status 1 on the first crash or
broken invariant, with the seed and call count to reproduce it.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pvdsl.runtime.errors import errno_name  # noqa: E402
from pvdsl.runtime.probe.hypercall_fuzz import fuzz  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1_000_000, help="hypercalls in all (default 1000000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--arch", choices=["x86_64", "i386", "both"], default="both")
    a = p.parse_args(argv)
    arches = ["x86_64", "i386"] if a.arch == "both" else [a.arch]
    share = a.count // len(arches)
    total, t0 = 0, time.perf_counter()
    for i, arch in enumerate(arches):
        n = share if i < len(arches) - 1 else a.count - share * (len(arches) - 1)
        last = [time.perf_counter()]

        def progress(done, arch=arch):
            if time.perf_counter() - last[0] > 10:
                last[0] = time.perf_counter()
                print(f"  {arch}: {done:,} hypercalls ...", flush=True)

        start = time.perf_counter()
        try:
            res = fuzz(n, seed=a.seed + i, arch=arch, progress=progress)
        except AssertionError as err:
            print(f"FAIL {arch} (seed {a.seed + i}): {err}")
            return 1
        except Exception:  # a crash of the model: that is what this run looks for
            print(f"CRASH {arch} (seed {a.seed + i}):")
            traceback.print_exc()
            return 1
        dt = time.perf_counter() - start
        total += res["hypercalls"]
        top = sorted(res["results"].items(), key=lambda kv: -kv[1])[:8]
        print(f"{arch}: {res['hypercalls']:,} hypercalls in {dt:.1f} s ({res['hypercalls'] / dt:,.0f}/s), "
              f"no crash, invariants held; most frequent results: "
              + ", ".join(f"{errno_name(rc)} x{k:,}" for rc, k in top))
    print(f"total: {total:,} hypercalls in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
