"""Robustness run: feed the front end 100,000 broken inputs; only diagnostics may come out.

    python bench/robustness.py                      # 100,000 cases, seed 0
    python bench/robustness.py --cases 5000 --seed 7
    python bench/robustness.py --start 41234 --cases 1   # replay one case

The cases come from tests/robustness_cases.py (mutations of the shipped and
example specs; see that file). Every case runs through
`pvdsl.sema.program.check_text` (parse + checks for both arches + rendering
of the diagnostics); every `--cli-every`-th also through `pvdsl.cli.main`
(`check`, `check --json`, `abi`, `fmt` in turn) on a file. Any exception, a
case slower than the time limit, a diagnostic pointing outside its file, or a
CLI exit status other than 0/1 is a finding. Findings are grouped by
exception type and innermost pvdsl frame; the first inputs of each group are
saved, the first one minimised as well.

Prints a progress line every --progress cases, then the count, the findings,
wall time and cases/s, and the rate on the unmodified seed specs measured in
the same run as a baseline. Exit status 1 if anything was found.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES_PY = HERE.parent / "tests" / "robustness_cases.py"


def load_cases_module():
    spec = importlib.util.spec_from_file_location("robustness_cases", CASES_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["robustness_cases"] = mod
    spec.loader.exec_module(mod)
    return mod


def _slug(sig) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", "-".join(sig)).strip("_")[:80]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="number of cases (default 100000)")
    ap.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    ap.add_argument("--start", type=int, default=0, help="index of the first case (to replay one)")
    ap.add_argument("--cli-every", type=int, default=10, help="run every Nth case through the CLI too")
    ap.add_argument("--latin1-every", type=int, default=13,
                    help="also check every Nth case decoded as Latin-1 (every byte a character)")
    ap.add_argument("--save", type=int, default=5, help="inputs saved per kind of finding")
    ap.add_argument("--out", type=Path, default=None, help="directory for saved inputs")
    ap.add_argument("--minimize", type=float, default=30.0, help="seconds spent minimising each kind")
    ap.add_argument("--progress", type=int, default=5000, help="cases between progress lines")
    ap.add_argument("--parse-cache", choices=("off", "tmp"), default="off",
                    help="PVDSL_CACHE_DIR during the run: off (default), or a fresh temporary directory "
                         "so that the parse cache is exercised too")
    args = ap.parse_args(argv)

    rc = load_cases_module()
    out_dir = args.out or Path(tempfile.gettempdir()) / f"pvdsl-robustness-seed{args.seed}"
    seeds = rc.load_seeds()
    print(f"pvdsl robustness: {args.cases} cases from seed {args.seed} (start {args.start}), "
          f"{len(seeds)} seed specs, findings saved under {out_dir}", flush=True)

    findings: dict[tuple, list] = {}  # signature -> the first few [(case, finding, how)]
    counts: Counter = Counter()  # signature -> occurrences
    other_cases: dict[tuple, list] = {}  # signature -> case indices
    per_mutator = Counter()
    cli_runs = 0
    with tempfile.TemporaryDirectory(prefix="pvdsl-robust-") as tmp, \
            rc.guarded(parse_cache="off" if args.parse_cache == "off" else str(Path(tmp) / "cache")):
        workdir = Path(tmp)

        # Baseline: the unmodified seeds, timed in this run.
        t0 = time.perf_counter()
        reps = 0
        while time.perf_counter() - t0 < 2.0:
            for _, text in seeds:
                found = rc.run_text(text)
                if found is not None and counts[found.signature] < 1:
                    findings.setdefault(found.signature, []).append((None, found, "seed spec"))
                    counts[found.signature] += 1
                reps += 1
        base_rate = reps / (time.perf_counter() - t0)

        start = time.perf_counter()
        last = start
        for n, case in enumerate(rc.cases(args.seed, args.cases, args.start, seeds), 1):
            per_mutator[case.mutator.split("+")[0]] += 1
            runs = [("check_text", lambda c=case: rc.run_case(c.data))]
            if args.latin1_every and case.index % args.latin1_every == 0:
                runs.append(("check_text latin-1", lambda c=case: rc.run_case(c.data, latin1=True)))
            if args.cli_every and case.index % args.cli_every == 0:
                cmd = rc.CLI_COMMANDS[(case.index // args.cli_every) % len(rc.CLI_COMMANDS)]
                runs.append(("pvdsl " + " ".join(cmd), lambda c=case, cmd=cmd: rc.run_cli(c.data, workdir, cmd)))
                cli_runs += 1
            for how, run in runs:
                found = run()
                if found is not None:
                    group = findings.setdefault(found.signature, [])
                    counts[found.signature] += 1
                    if len(group) < max(args.save, 1):  # keep memory flat on long runs
                        group.append((case, found, how))
                    other_cases.setdefault(found.signature, []).append(case.index)
                    if counts[found.signature] == 1:
                        print(f"  new finding #{len(findings)}: {found.kind} at {found.where}: "
                              f"{found.message[:160]} (case {case.index}, {case.mutator}, {how})", flush=True)
            if n % args.progress == 0 or n == args.cases:
                now = time.perf_counter()
                print(f"[{n:>7}/{args.cases}] {100 * n / args.cases:5.1f}%  "
                      f"{args.progress / max(now - last, 1e-9) if n % args.progress == 0 else 0:7.0f} cases/s now, "
                      f"{n / (now - start):6.0f} overall, "
                      f"{sum(counts.values())} findings in {len(findings)} kinds, "
                      f"{now - start:7.1f}s", flush=True)
                last = now
        wall = time.perf_counter() - start

        # Save and minimise.
        if findings:
            out_dir.mkdir(parents=True, exist_ok=True)
        for sig, group in findings.items():
            slug = _slug(sig)
            for case, found, how in group[: args.save]:
                if case is None:
                    continue
                (out_dir / f"{slug}-case{case.index}.pv").write_bytes(case.data)
            (out_dir / f"{slug}.txt").write_text(
                f"{found.kind} at {found.where}\n{found.message}\nvia {how}\n"
                f"{counts[sig]} occurrences; cases: {sorted(set(other_cases.get(sig, [])))[:200]}\n\n"
                f"{group[0][1].traceback}")
            first_case, first, first_how = group[0]
            if first_case is None or args.minimize <= 0:
                continue
            latin1 = "latin-1" in first_how
            if first_how.startswith("pvdsl"):
                cmd = first_how.split()[1:]

                def still(blob, sig=sig, cmd=cmd):
                    f = rc.run_cli(blob, workdir, cmd)
                    return f is not None and f.signature == sig
            else:
                def still(blob, sig=sig, latin1=latin1):
                    f = rc.run_case(blob, latin1)
                    return f is not None and f.signature == sig
            small = rc.minimize(first_case.data, still, args.minimize)
            (out_dir / f"{slug}-min.pv").write_bytes(small)
            group[0] = (first_case, first, first_how + f"; minimal input: {rc.describe(small, 300)}")

    crashes = {sig: g for sig, g in findings.items() if sig[0] not in rc.NON_CRASH_KINDS}
    others = {sig: g for sig, g in findings.items() if sig[0] in rc.NON_CRASH_KINDS}
    total = sum(counts[sig] for sig in crashes)
    print()
    print(f"cases:        {args.cases} (seed {args.seed}), plus {cli_runs} CLI runs")
    print("mutators:     " + ", ".join(f"{k} {v}" for k, v in sorted(per_mutator.items()))
          + " (15% have a second mutation on top)")
    print(f"wall time:    {wall:.1f}s")
    print(f"rate:         {args.cases / wall:.0f} cases/s; unmodified seed specs {base_rate:.0f}/s "
          f"(ratio {args.cases / wall / base_rate:.2f})")
    for title, groups in ((f"exceptions:   {total} in {len(crashes)} kinds", crashes),
                          (f"other findings (not exceptions): {sum(counts[sig] for sig in others)}", others)):
        print(title)
        for sig, group in sorted(groups.items(), key=lambda kv: -counts[kv[0]]):
            case, found, how = group[0]
            where = f"case {case.index} ({case.mutator})" if case else "a seed spec"
            print(f"  {counts[sig]:6} x {found.kind} at {found.where}\n"
                  f"           {found.message[:200]}\n           first: {where}, via {how}")
    if findings:
        print(f"inputs saved under {out_dir}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
