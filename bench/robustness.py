"""Robustness run: feed the front end 100,000 broken inputs; only diagnostics may come out.

    python bench/robustness.py                      # 100,000 cases, seed 0
    python bench/robustness.py --cases 5000 --seed 7 --jobs 2
    python bench/robustness.py --start 41234 --cases 1   # replay one case

The cases come from tests/robustness_cases.py (mutations of the shipped and
example specs; see that file). Every case runs through
`pvdsl.sema.program.check_text` (parse + checks for both arches + rendering
of the diagnostics); every 13th also decoded as Latin-1; every
`--cli-every`-th also through `pvdsl.cli.main.main` (`check`, `check --json`,
`abi`, `fmt` in turn) on a file. Any exception, a case slower than the time
limit, a diagnostic pointing outside its file, or a CLI exit status other
than 0/1 is a finding; so is a worker process that dies (a segfault, a stack
overflow in C, the OOM killer) or stops answering: the cases run in worker
processes, and the case that was running is recorded and the worker
restarted after it. Findings are grouped by kind and innermost pvdsl frame;
the first inputs of each group are saved, the first one minimised as well
(in a child process too).

Prints a progress line every --progress cases, then the count, the findings,
wall time and cases/s, and the rate on the unmodified seed specs measured in
the same run as a baseline. Exit status 1 if an exception (or a dead or hung
worker) was found.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import re
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import wait
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES_PY = HERE.parent / "tests" / "robustness_cases.py"


def load_cases_module():
    if "robustness_cases" in sys.modules:
        return sys.modules["robustness_cases"]
    spec = importlib.util.spec_from_file_location("robustness_cases", CASES_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["robustness_cases"] = mod
    spec.loader.exec_module(mod)
    return mod


def _slug(sig) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", "-".join(sig)).strip("_")[:80]


# ---- child processes ---------------------------------------------------------------

def _runs(rc, case, args, workdir):
    """(how, thunk) for every way this case is run."""
    runs = [("check_text", lambda: rc.run_case(case.data))]
    if args.latin1_every and case.index % args.latin1_every == 0:
        runs.append(("check_text latin-1", lambda: rc.run_case(case.data, latin1=True)))
    if args.cli_every and case.index % args.cli_every == 0:
        cmd = rc.CLI_COMMANDS[(case.index // args.cli_every) % len(rc.CLI_COMMANDS)]
        runs.append(("pvdsl " + " ".join(cmd), lambda: rc.run_cli(case.data, workdir, cmd)))
    return runs


def _cache_setting(args, tmp: str) -> str:
    return "off" if args.parse_cache == "off" else str(Path(tmp) / "cache")


def _worker(args, first: int, stop: int, step: int, conn, inflight, started, fault_path: str):
    import faulthandler

    fault = open(fault_path, "w")
    faulthandler.enable(fault)  # a C-level crash leaves its Python stack here
    rc = load_cases_module()
    seeds = rc.load_seeds()
    with tempfile.TemporaryDirectory(prefix="pvdsl-robust-") as tmp, rc.guarded(
            parse_cache=_cache_setting(args, tmp)):
        workdir = Path(tmp)
        for idx in range(first, stop, step):
            case = rc.make_case(args.seed, idx, seeds)
            inflight.value = idx
            started.value = time.time()
            results = []
            for how, run in _runs(rc, case, args, workdir):
                found = run()
                if found is not None:
                    results.append((how, found))
            conn.send(("done", idx, case.mutator, results, int(args.cli_every and idx % args.cli_every == 0)))
    conn.send(("exit",))
    conn.close()


def _baseline(args, conn):
    rc = load_cases_module()
    seeds = rc.load_seeds()
    with tempfile.TemporaryDirectory(prefix="pvdsl-robust-") as tmp, rc.guarded(
            parse_cache=_cache_setting(args, tmp)):
        t0 = time.perf_counter()
        reps, problems = 0, []
        while time.perf_counter() - t0 < 2.0:
            for name, text in seeds:
                found = rc.run_text(text, name)
                if found is not None and len(problems) < 5:
                    problems.append((name, found))
                reps += 1
        conn.send((reps / (time.perf_counter() - t0), problems))


def _minimize_child(args, data: bytes, how: str, sig, budget: float, conn):
    rc = load_cases_module()
    with tempfile.TemporaryDirectory(prefix="pvdsl-robust-") as tmp, rc.guarded(
            parse_cache=_cache_setting(args, tmp)):
        workdir = Path(tmp)
        if how.startswith("pvdsl"):
            cmd = how.split()[1:]

            def still(blob):
                f = rc.run_cli(blob, workdir, cmd)
                return f is not None and f.signature == sig
        else:
            latin1 = "latin-1" in how

            def still(blob):
                f = rc.run_case(blob, latin1)
                return f is not None and f.signature == sig
        conn.send(rc.minimize(data, still, budget))


def _in_child(ctx, target, *a, timeout: float):
    """Run target(*a, conn) in a child; its one message, or None if it died or took too long."""
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*a, send), daemon=True)
    proc.start()
    send.close()
    result = recv.recv() if recv.poll(timeout) else None
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
    return result


# ---- the run -------------------------------------------------------------------------

class _Worker:
    def __init__(self, ctx, args, k, first, stop, step, fault_dir: Path):
        self.k, self.stop, self.step = k, stop, step
        self.fault_path = str(fault_dir / f"worker{k}.fault")
        self.inflight = ctx.Value("q", -1, lock=False)
        self.started = ctx.Value("d", 0.0, lock=False)
        self.conn, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker, args=(args, first, stop, step, send, self.inflight,
                                                      self.started, self.fault_path), daemon=True)
        self.proc.start()
        send.close()
        self.done = False

    def fault_text(self) -> str:
        try:
            return Path(self.fault_path).read_text()[-4000:]
        except OSError:
            return ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="number of cases (default 100000)")
    ap.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    ap.add_argument("--start", type=int, default=0, help="index of the first case (to replay one)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
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
    ctx = mp.get_context("fork")
    out_dir = args.out or Path(tempfile.gettempdir()) / f"pvdsl-robustness-seed{args.seed}"
    seeds = rc.load_seeds()
    hang_limit = 3 * rc.TIME_LIMIT + 30  # a worker silent this long on one case is killed
    print(f"pvdsl robustness: {args.cases} cases from seed {args.seed} (start {args.start}), "
          f"{len(seeds)} seed specs, {args.jobs} worker(s), findings saved under {out_dir}", flush=True)

    findings: dict[tuple, list] = {}  # signature -> the first few [(case index or None, finding, how)]
    counts: Counter = Counter()  # signature -> occurrences
    indices: dict[tuple, list] = {}  # signature -> case indices
    per_mutator: Counter = Counter()
    cli_runs = restarts = 0

    def record(idx, found, how):
        sig = found.signature
        counts[sig] += 1
        group = findings.setdefault(sig, [])
        if len(group) < max(args.save, 1):  # keep memory flat on long runs
            group.append((idx, found, how))
        indices.setdefault(sig, []).append(idx)
        if counts[sig] == 1:
            what = f"case {idx}" if idx is not None else "a seed spec"
            print(f"  new finding #{len(findings)}: {found.kind} at {found.where}: "
                  f"{found.message[:160]} ({what}, {how})", flush=True)

    base = _in_child(ctx, _baseline, args, timeout=300)
    base_rate = base[0] if base else float("nan")
    for name, found in (base[1] if base else []):
        record(None, found, f"seed spec {name}")

    stop = args.start + args.cases
    with tempfile.TemporaryDirectory(prefix="pvdsl-robust-faults-") as fault_tmp:
        fault_dir = Path(fault_tmp)
        workers = [_Worker(ctx, args, k, args.start + k, stop, args.jobs, fault_dir)
                   for k in range(min(args.jobs, args.cases))]
        start = last = time.perf_counter()
        n = 0
        while not all(w.done for w in workers):
            live = {w.conn: w for w in workers if not w.done}
            for conn in wait(list(live), timeout=1.0):
                w = live[conn]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    msg = None
                if msg is None or msg[0] == "exit":
                    w.done = True
                    if msg is None:  # died: whatever it was running is the culprit
                        w.proc.join(5)
                        idx = w.inflight.value
                        code = w.proc.exitcode
                        reason = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
                        if idx < 0:
                            print(f"worker {w.k} died before its first case ({reason}):\n{w.fault_text()}")
                            return 2
                        record(idx, rc.Finding("worker-died", f"the worker died ({reason}) on this case",
                                               "process", w.fault_text()), "worker")
                        n += 1
                        restarts += 1
                        if idx + w.step < w.stop:
                            workers[w.k] = _Worker(ctx, args, w.k, idx + w.step, w.stop, w.step, fault_dir)
                    continue
                _, idx, mutator, results, cli = msg
                n += 1
                per_mutator[mutator.split("+")[0]] += 1
                cli_runs += cli
                for how, found in results:
                    record(idx, found, how)
                if n % args.progress == 0 or n == args.cases:
                    now = time.perf_counter()
                    print(f"[{n:>7}/{args.cases}] {100 * n / args.cases:5.1f}%  "
                          f"{args.progress / max(now - last, 1e-9) if n % args.progress == 0 else 0:7.0f} "
                          f"cases/s now, {n / (now - start):6.0f} overall, "
                          f"{sum(counts.values())} findings in {len(findings)} kinds, "
                          f"{now - start:7.1f}s", flush=True)
                    last = now
            for w in list(workers):  # a worker stuck on one case (in C code, where SIGALRM cannot reach)
                if not w.done and w.proc.is_alive() and w.started.value and \
                        time.time() - w.started.value > hang_limit:
                    idx = w.inflight.value
                    w.proc.kill()
                    w.proc.join()
                    record(idx, rc.Finding("hang", f"no answer for {hang_limit:.0f}s", "process", ""), "worker")
                    n += 1
                    restarts += 1
                    w.done = True
                    if idx + w.step < w.stop:
                        workers[w.k] = _Worker(ctx, args, w.k, idx + w.step, w.stop, w.step, fault_dir)
        wall = time.perf_counter() - start

    # Save and minimise (in children: a minimisation may crash the way the case did).
    if findings:
        out_dir.mkdir(parents=True, exist_ok=True)
    minimal = {}
    for sig, group in findings.items():
        slug = _slug(sig)
        for idx, found, how in group[: args.save]:
            if idx is not None:
                (out_dir / f"{slug}-case{idx}.pv").write_bytes(rc.make_case(args.seed, idx, seeds).data)
        idx, found, how = group[0]
        (out_dir / f"{slug}.txt").write_text(
            f"{found.kind} at {found.where}\n{found.message}\nvia {how}\n"
            f"{counts[sig]} occurrences; cases: {sorted(set(i for i in indices.get(sig, []) if i is not None))[:200]}"
            f"\n\n{found.traceback}")
        if idx is None or args.minimize <= 0 or how == "worker":
            continue
        small = _in_child(ctx, _minimize_child, args, rc.make_case(args.seed, idx, seeds).data, how, sig,
                          args.minimize, timeout=args.minimize + 3 * rc.TIME_LIMIT + 30)
        if small is not None:
            (out_dir / f"{slug}-min.pv").write_bytes(small)
            minimal[sig] = small

    crashes = {sig: g for sig, g in findings.items() if sig[0] not in rc.NON_CRASH_KINDS}
    others = {sig: g for sig, g in findings.items() if sig[0] in rc.NON_CRASH_KINDS}
    total = sum(counts[sig] for sig in crashes)
    print()
    print(f"cases:        {n} of {args.cases} (seed {args.seed}), plus {cli_runs} CLI runs; "
          f"{restarts} worker restarts")
    print("mutators:     " + ", ".join(f"{k} {v}" for k, v in sorted(per_mutator.items()))
          + " (15% have a second mutation on top)")
    print(f"wall time:    {wall:.1f}s")
    print(f"rate:         {n / wall:.0f} cases/s with {args.jobs} worker(s); unmodified seed specs "
          f"{base_rate:.0f}/s (ratio {n / wall / base_rate:.2f})")
    for title, groups in ((f"exceptions:   {total} in {len(crashes)} kinds", crashes),
                          (f"other findings (not exceptions): {sum(counts[s] for s in others)}", others)):
        print(title)
        for sig, group in sorted(groups.items(), key=lambda kv: -counts[kv[0]]):
            idx, found, how = group[0]
            where = f"case {idx}" if idx is not None else "a seed spec"
            print(f"  {counts[sig]:6} x {found.kind} at {found.where}\n"
                  f"           {found.message[:200]}\n           first: {where}, via {how}")
            if sig in minimal:
                print(f"           minimal input: {rc.describe(minimal[sig], 300)}")
    if findings:
        print(f"inputs saved under {out_dir}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
