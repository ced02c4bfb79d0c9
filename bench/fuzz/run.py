"""Fuzzer benchmark: checked hook executions per second, against the
bare-unicorn ceiling of the runtime benchmark measured in the same run.

    python3 bench/fuzz/run.py                    # 3,000 executions per hook, best of 3
    python3 bench/fuzz/run.py --examples 20000 --json /tmp/fuzz.json

Per hook (the hooks of examples/irq.pv, as in bench/runtime/run.py, on each
arch's domU and natively):

  ceiling   pvdsl.runtime.cpu.baseline.Bare: uc.emu_start over the hook's call
            site in a loop, nothing else (the most unicorn can do per call
            from Python).
  fuzz      what `pvdsl fuzz` does per example: generation, the compiled
            run (through the batch driver, up to 256 examples per emulator
            entry, where the hook allows it; else Rig.execute, one entry
            each) with a hostile register file, the hypercall recorder and
            the write watch, the reference interpreter on the same inputs,
            every oracle; suspicious examples are re-run alone.

ratio = fuzz / ceiling. Then a whole campaign (`pvdsl fuzz` on
examples/irq.pv, every target) on one core and with --jobs 2, in
executions per second of wall time. A measurement, not a test: it exits 0
whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pvdsl.arch import TARGETS  # noqa: E402
from pvdsl.fuzz.campaign import Options, stable_seed, view_of  # noqa: E402
from pvdsl.fuzz.driver import collect, merge  # noqa: E402
from pvdsl.fuzz.batch import batchable, run_batch  # noqa: E402
from pvdsl.fuzz.harness import Rig  # noqa: E402
from pvdsl.runtime.probe.batch import MAX_BATCH  # noqa: E402
from pvdsl.runtime.cpu.baseline import Bare  # noqa: E402  (only pvdsl/runtime touches unicorn)
from pvdsl.runtime.session.machine import build_backends  # noqa: E402

SPEC = "examples/irq.pv"
TARGET_NAMES = ["x86_64-domu", "i386-domu", "x86_64-native", "i386-native"]


def best(fn, runs: int) -> float:
    return min(fn() for _ in range(runs))


def per_hook(examples: int, runs: int) -> list[dict]:
    rows = []
    for tname in TARGET_NAMES:
        built = build_backends(ROOT / SPEC, TARGETS[tname])[0]
        rig = Rig(built, view_of(built.program, built.target))
        bare = Bare(rig.machine)
        for hook in rig.hooks():
            gen = rig.generator(hook, stable_seed(0, built.name, hook))
            exs = [gen.next() for _ in range(examples)]  # generation is timed in the campaign rows
            failures = 0

            fast = batchable(rig, hook)

            def fuzz():
                nonlocal failures
                t0 = time.perf_counter()
                if fast:
                    for i in range(0, len(exs), MAX_BATCH):
                        failures += sum(not o.ok for o in run_batch(rig, hook, exs[i:i + MAX_BATCH]))
                else:
                    for ex in exs:
                        failures += not rig.execute(hook, ex).ok
                return time.perf_counter() - t0

            h = rig.loaded.hook(hook)
            # The ceiling calls with the first example's arguments (as the
            # runtime benchmark does: fixed arguments).
            entry, until = bare.prepare(hook, rig.resolve_args(hook, exs[0]), False)
            t_fuzz = best(fuzz, runs)
            t_bare = best(lambda: bare.loop(entry, until, examples), runs)
            rows.append({"target": tname, "hook": hook, "examples": examples, "batched": fast,
                         "fuzz_per_s": examples / t_fuzz, "ceiling_per_s": examples / t_bare,
                         "ratio": t_bare / t_fuzz, "failures": failures, "callee_save": h.callee_save})
    return rows


def campaign(examples: int, jobs: int) -> dict:
    opts = Options(targets=list(TARGETS), examples=examples, seed=0, laws=False, cross_arch=False)
    t0 = time.perf_counter()
    results, _reports, errors = merge(collect([str(ROOT / SPEC)], opts, jobs), opts)
    wall = time.perf_counter() - t0
    execs = sum(r.executions for r in results)
    return {"jobs": jobs, "executions": execs, "wall_s": wall, "per_s": execs / wall,
            "failed": sum(r.status == "fail" for r in results), "errors": errors}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--campaign-examples", type=int, default=2000)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    rows = per_hook(args.examples, args.runs)
    print(f"{'target':<15} {'hook':<26} {'fuzz/s':>9} {'ceiling/s':>10} {'ratio':>6}")
    for r in rows:
        print(f"{r['target']:<15} {r['hook']:<26} {r['fuzz_per_s']:>9,.0f} {r['ceiling_per_s']:>10,.0f} "
              f"{r['ratio']:>6.2f}" + (f"  ({r['failures']} failing examples)" if r["failures"] else ""))
    total_ex = sum(r["examples"] for r in rows)
    t_f = sum(r["examples"] / r["fuzz_per_s"] for r in rows)
    t_c = sum(r["examples"] / r["ceiling_per_s"] for r in rows)
    print(f"all hooks: {total_ex / t_f:,.0f} executions/s on one core, ceiling {total_ex / t_c:,.0f}/s, "
          f"ratio {t_c / t_f:.2f}")
    camps = [campaign(args.campaign_examples, 1), campaign(args.campaign_examples, 2)]
    for c in camps:
        print(f"campaign {SPEC} --targets all --jobs {c['jobs']}: {c['executions']:,} executions in "
              f"{c['wall_s']:.1f} s wall = {c['per_s']:,.0f}/s ({c['failed']} failed)")
    if args.json:
        Path(args.json).write_text(json.dumps({"hooks": rows, "campaigns": camps}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
