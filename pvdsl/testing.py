"""Fuzz a spec's backends from a test suite.

    # test_backend.py
    def test_my_backend_keeps_its_abi(pvdsl_fuzz):
        pvdsl_fuzz("my_backend.pv", targets=["x86_64-domu", "i386-domu"])

`pvdsl_fuzz` is a pytest fixture (pvdsl registers this module as a pytest
plugin); outside pytest, call `fuzz(...)` directly. Either runs the same
campaign as `pvdsl fuzz` and, when anything fails, raises AssertionError
whose message holds each failure's reproducer and replay command.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FuzzReport:
    results: list
    reports: dict
    errors: list
    text: str

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.status != "fail" for r in self.results)


def fuzz(specs, targets="all", hooks="*", examples: int = 200, seed: int = 0, includes=(), jobs: int = 1,
         laws: bool = True, shrink: bool = True, check: bool = True) -> FuzzReport:
    """Fuzz every backend of `specs` (a path or a list of paths). `targets`:
    'all' or a list of target names; `hooks`: a glob or a list of globs.
    With `check`, raise AssertionError if anything fails."""
    import io

    from .arch import TARGETS
    from .fuzz.campaign import Options
    from .fuzz.driver import collect, merge
    from .fuzz.report import summary, table

    specs = [str(specs)] if isinstance(specs, (str, bytes)) or hasattr(specs, "__fspath__") else [str(s) for s in specs]
    targets = list(TARGETS) if targets == "all" else ([targets] if isinstance(targets, str) else list(targets))
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ValueError(f"unknown target(s): {', '.join(unknown)}")
    opts = Options(targets=targets, hooks=[hooks] if isinstance(hooks, str) else list(hooks), examples=examples,
                   seed=seed, includes=tuple(str(i) for i in includes), shrink=shrink, laws=laws)
    units = collect(specs, opts, jobs)
    results, reports, errors = merge(units, opts)
    buf = io.StringIO()
    for err in errors:
        print(f"error: {err}", file=buf)
    for r in results:
        if r.status == "fail":
            print(reports.get(r.key, f"FAIL {r.hook} on {r.target}: {r.reason}"), file=buf)
    if results:
        print(table(results), file=buf)
    print(summary(results, 0.0), file=buf)
    report = FuzzReport(results, reports, errors, buf.getvalue())
    if check and not report.ok:
        raise AssertionError("pvdsl fuzz found ABI violations:\n" + report.text)
    return report


try:
    import pytest
except ImportError:  # pvdsl.testing is usable without pytest
    pytest = None

if pytest is not None:
    @pytest.fixture
    def pvdsl_fuzz():
        """Call it like `pvdsl.testing.fuzz`; fails the test on any violation."""
        return fuzz
