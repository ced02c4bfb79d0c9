"""Running a campaign from the command line or from Python: units of work
(one spec on one target), optional worker processes, progress, reports."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from .campaign import Campaign, HookResult, Options, cross_arch_results, view_of
from .report import reproducer, summary, table, to_json


@dataclass
class UnitResult:
    spec: str
    target: str
    results: list[HookResult] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)  # result key -> reproducer text
    samples: dict = field(default_factory=dict)
    error: str = ""


def fuzz_unit(spec: str, target: str, opts: Options, progress=None) -> UnitResult:
    """Every backend of `spec` on `target` (what one worker does)."""
    from ..arch import TARGETS
    from ..runtime.errors import LoadError
    from ..runtime.session.machine import SpecError, build_backends
    from .harness import Rig

    unit = UnitResult(spec, target)
    camp = Campaign([spec], opts, progress)
    try:
        builds = build_backends(spec, TARGETS[target], opts.includes)
    except SpecError as err:
        unit.error = str(err).rstrip()
        return unit
    for built in builds:
        try:
            rig = Rig(built, view_of(built.program, built.target), asm=opts.asm)
        except LoadError as err:
            unit.error = f"{spec}: {built.name} on {target}: {err}"
            return unit
        results = camp.run_target_on(rig, spec)
        for r in results:
            if r.status == "fail":
                unit.reports[r.key] = reproducer(r, rig, opts.seed, opts.includes, opts.asm)
        unit.results.extend(results)
    unit.samples = camp.samples
    return unit


def _unit_worker(job):
    spec, target, opts = job
    return fuzz_unit(spec, target, opts)


class Progress:
    """One line on a terminal's stderr, redrawn per hook; silent otherwise."""

    def __init__(self, total_units: int, stream=None):
        self.stream = stream or sys.stderr
        self.on = self.stream.isatty()
        self.units, self.total = 0, total_units
        self.hooks = self.execs = 0

    def hook(self, r: HookResult) -> None:
        self.hooks += 1
        self.execs += r.executions
        self._draw(f"{r.target} {r.hook}")

    def unit(self, u: UnitResult) -> None:
        self.units += 1
        self.hooks += len(u.results)
        self.execs += sum(r.executions for r in u.results)
        self._draw(f"{u.target} {u.spec}")

    def _draw(self, what: str) -> None:
        if not self.on:
            return
        width = 24
        done = int(width * self.units / max(self.total, 1))
        line = (f"\r[{'#' * done}{'.' * (width - done)}] {self.units}/{self.total} targets, {self.hooks} hooks, "
                f"{self.execs:,} executions  {what}")
        self.stream.write(line[:160].ljust(160))
        self.stream.flush()

    def close(self) -> None:
        if self.on:
            self.stream.write("\r" + " " * 160 + "\r")
            self.stream.flush()


def collect(specs: list[str], opts: Options, jobs: int = 1, progress: Progress | None = None) -> list[UnitResult]:
    jobs_list = [(spec, t, opts) for spec in specs for t in opts.targets]
    units: list[UnitResult] = []
    if jobs > 1 and len(jobs_list) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for u in pool.map(_unit_worker, jobs_list):
                units.append(u)
                if progress:
                    progress.unit(u)
    else:
        for spec, t, o in jobs_list:
            u = fuzz_unit(spec, t, o, progress.hook if progress else None)
            if progress:
                progress.units += 1
            units.append(u)
    return units


def merge(units: list[UnitResult], opts: Options) -> tuple[list[HookResult], dict[str, str], list[str]]:
    results, reports, errors = [], {}, []
    samples: dict = {}
    for u in units:
        results.extend(u.results)
        reports.update(u.reports)
        if u.error:
            errors.append(u.error)
        for key, rows in u.samples.items():
            samples.setdefault(key, []).extend(rows)
    if opts.cross_arch:
        for r in cross_arch_results(samples):
            results.append(r)
            if r.status == "fail":
                reports[r.key] = f"FAIL {r.hook} ({r.backend}, {r.target}): {r.reason}"
    return results, reports, errors


def run_campaign(specs: list[str], opts: Options, jobs: int = 1, json_path: str | None = None,
                 t0: float | None = None, out=None) -> int:
    out = out or sys.stdout
    t0 = t0 if t0 is not None else time.perf_counter()
    progress = Progress(len(specs) * len(opts.targets))
    try:
        units = collect(specs, opts, jobs, progress)
    finally:
        progress.close()
    results, reports, errors = merge(units, opts)
    seconds = time.perf_counter() - t0
    for err in dict.fromkeys(errors):
        print(f"error: {err}", file=out)
    for r in results:
        if r.status == "fail":
            print(reports.get(r.key, f"FAIL {r.hook} on {r.target}: {r.reason}"), file=out)
            print(file=out)
    if results:
        print(table(results), file=out)
    print(summary(results, seconds), file=out)
    if json_path:
        text = to_json(results, seconds, opts.seed, opts.includes, opts.asm)
        if json_path == "-":
            print(text, file=out)
        else:
            with open(json_path, "w") as fh:
                fh.write(text + "\n")
    failed = errors or any(r.status == "fail" for r in results)
    return 1 if failed else 0


def replay(specs: list[str], opts: Options, example_json: str, out=None) -> int:
    from ..arch import TARGETS
    from ..runtime.errors import LoadError
    from ..runtime.session.machine import SpecError, build_backends
    from .harness import Rig
    from .values import Example

    out = out or sys.stdout
    if len(specs) != 1 or len(opts.targets) != 1 or len(opts.hooks) != 1 or "*" in opts.hooks[0]:
        print("pvdsl fuzz: error: --replay needs one SPEC, one target (--targets) and one hook (--hooks)",
              file=sys.stderr)
        return 2
    try:
        ex = Example.from_json(example_json)
    except (ValueError, TypeError) as err:
        print(f"pvdsl fuzz: error: --replay: {err}", file=sys.stderr)
        return 2
    try:
        builds = build_backends(specs[0], TARGETS[opts.targets[0]], opts.includes)
    except SpecError as err:
        print(f"error: {str(err).rstrip()}", file=out)
        return 1
    for built in builds:
        try:
            rig = Rig(built, view_of(built.program, built.target), asm=opts.asm)
        except LoadError as err:
            print(f"error: {err}", file=out)
            return 1
        hook = opts.hooks[0]
        if hook not in rig.loaded.hooks:
            continue
        outcome = rig.execute(hook, ex)
        r = HookResult(specs[0], built.name, built.target.name, hook, "pass" if outcome.ok else "fail",
                       executions=1, failure=None if outcome.ok else outcome)
        if outcome.ok:
            print(f"pass: {hook} on {r.target} ({built.name}): the example passes every oracle", file=out)
            return 0
        print(reproducer(r, rig, opts.seed, opts.includes, opts.asm), file=out)
        return 1
    print(f"pvdsl fuzz: error: no backend of {specs[0]} on {opts.targets[0]} has hook {opts.hooks[0]}",
          file=sys.stderr)
    return 2
