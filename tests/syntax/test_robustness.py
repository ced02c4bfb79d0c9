"""No input, however broken, produces a Python exception: only diagnostics.

Runs a few thousand deterministic mutations of the seed specs (see
tests/robustness_cases.py, shared with bench/robustness.py, which runs
100,000) through the whole front end -- parse, checks for both arches,
rendering of the diagnostics -- and a sample of them through `pvdsl.cli.main.main`.
On failure it prints, for each kind of exception, the case number and a
minimised input. PVDSL_ROBUSTNESS_CASES and PVDSL_ROBUSTNESS_SEED change the
run.

Below that, reproducers of crashes the generator found, one per bug.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

_CASES_PY = Path(__file__).resolve().parent.parent / "robustness_cases.py"


def _load():
    spec = importlib.util.spec_from_file_location("robustness_cases", _CASES_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("robustness_cases", mod)
    spec.loader.exec_module(mod)
    return mod


rc = _load()

CASES = int(os.environ.get("PVDSL_ROBUSTNESS_CASES", "2000"))
SEED = int(os.environ.get("PVDSL_ROBUSTNESS_SEED", "0"))
CLI_EVERY = 10
LATIN1_EVERY = 13
MINIMIZE_SECONDS = 4.0
MAX_REPORTED_KINDS = 8


# Mutating the 30-60 KB library files themselves is left to bench/robustness.py:
# checking each mutant costs 50-100 ms. Smaller specs import them all the same.
MAX_SEED_CHARS = int(os.environ.get("PVDSL_ROBUSTNESS_MAX_SEED", "20000"))


@pytest.fixture(scope="module")
def seeds():
    found = rc.load_seeds(max_chars=MAX_SEED_CHARS or None)
    assert len(found) >= 3, "the seed specs were not found"
    return found


def _report(findings) -> str:
    lines = []
    for (kind, where), group in list(findings.items())[:MAX_REPORTED_KINDS]:
        case, finding, how, still = group[0]
        # (a timeout is not worth re-running over and over)
        small = case.data if kind == "timeout" else rc.minimize(case.data, still, MINIMIZE_SECONDS)
        lines += [f"{len(group)} x {kind} at {where}: {finding.message[:200]}",
                  f"    first: case {case.index} ({case.mutator}) via {how}; "
                  f"all: {[c.index for c, *_ in group][:20]}",
                  f"    minimal input: {rc.describe(small, 500)}",
                  "    " + finding.traceback.strip().splitlines()[-1][:300] if finding.traceback else ""]
    if len(findings) > MAX_REPORTED_KINDS:
        lines.append(f"... and {len(findings) - MAX_REPORTED_KINDS} more kinds")
    lines.append(f"replay one case: python bench/robustness.py --seed {SEED} --start N --cases 1")
    return "\n".join(lines)


def test_generated_inputs_only_produce_diagnostics(seeds, tmp_path):
    findings: dict[tuple, list] = {}
    count = 0
    # A private parse cache: the imported library is parsed once, not per case
    # (a quarter of the time), and the cache's own paths are exercised too.
    cache = tmp_path / "parse-cache"
    with rc.guarded(parse_cache=str(cache)):
        for case in rc.cases(SEED, CASES, 0, seeds):
            count += 1
            runs = [("check_text", lambda b: rc.run_case(b))]
            if case.index % LATIN1_EVERY == 0:
                runs.append(("check_text latin-1", lambda b: rc.run_case(b, latin1=True)))
            if case.index % CLI_EVERY == 0:
                cmd = rc.CLI_COMMANDS[(case.index // CLI_EVERY) % len(rc.CLI_COMMANDS)]
                runs.append(("pvdsl " + " ".join(cmd), lambda b, cmd=cmd: rc.run_cli(b, tmp_path, cmd)))
            for how, run in runs:
                found = run(case.data)
                if found is None or found.kind in rc.NON_CRASH_KINDS:
                    continue

                def still(blob, run=run, sig=found.signature):
                    again = run(blob)
                    return again is not None and again.signature == sig

                findings.setdefault(found.signature, []).append((case, found, how, still))
        report = _report(findings) if findings else ""
    shutil.rmtree(cache, ignore_errors=True)
    assert count == CASES
    if findings:
        total = sum(len(g) for g in findings.values())
        pytest.fail(f"{total} of {CASES} inputs raised an exception ({len(findings)} kinds):\n{report}",
                    pytrace=False)


def test_seed_specs_only_produce_diagnostics(seeds):
    with rc.guarded():
        for name, text in seeds:
            found = rc.run_text(text, name)
            assert found is None, f"{name}: {found.kind} at {found.where}: {found.message}"


def test_cases_are_deterministic_and_cover_every_mutator(seeds):
    first = [rc.make_case(SEED, i, seeds) for i in range(300)]
    again = [rc.make_case(SEED, i, seeds) for i in range(300)]
    assert first == again
    used = {name for c in rc.cases(SEED, min(CASES, 1000), 0, seeds) for name in c.mutator.split("+")}
    assert used == set(rc.MUTATORS)


# ---- reproducers of crashes found by the generator ------------------------------------
# Each must give diagnostics (or nothing), not an exception. They are small on
# purpose; the generator finds the same bugs at other sizes.

CRASHERS = {
    # int() refuses decimal strings of more than 4300 digits (Python >= 3.11)
    "decimal literal of 4301 digits": "const X = 1" + "0" * 4300 + ";",
    # ... and str() refuses to print such values: diagnostics that quote them crash
    "out-of-range constant with 6000 digits": "const X: u8 = 1 << 20000;",
    "enum member value with 30000 digits": "flags F: u32 { a = 1 << 100000 }",
    "align() with 6000 digits": "struct S [align(0x" + "f" * 5000 + ")] { a: u8; }",
    "shift amount with 6000 digits": "fn f(x: u64) -> u64 { return x << (1 << 20000); }",
    # constant folding of `<<` by a huge amount tries to build the number
    "shift by 99999999999": "const X = 1 << 99999999999;",
    "shift by 2**100": "const X = 1 << (1 << 100);",
    # recursion in the checker: long chains the parser accepts
    "400-term binary chain": "const X = " + " + ".join(["1"] * 400) + ";",
    "300 unary derefs": "fn f(p: ptr<ulong>) -> ulong { return " + "*" * 300 + "p; }",
    "300 negations": "const X = " + "-" * 300 + "1;",
    "300 index operations": "fn f(p: ptr<ulong>) -> ulong { return p" + "[0]" * 300 + "; }",
    "300 chained ternaries": "const X = " + "true ? 1 : " * 300 + "0;",
    "200 nested ifs": "fn f() { " + "if true { " * 200 + "}" * 200 + " }",
    "300 else-ifs": "fn f(x: ulong) { if x > 0 { } " + "else if x > 1 { } " * 300 + "}",
    "400 casts": "const X = 1" + " as u64" * 400 + ";",
    "300 nested calls": "fn f(x: ulong) -> ulong { return " + "f(" * 300 + "1" + ")" * 300 + "; }",
    "ptr<> nested 300 deep": "type T = " + "ptr<" * 300 + "u8" + ">" * 300 + ";",
    # recursion across declarations
    "1000 chained type aliases": "".join(f"type T{i} = T{i + 1};\n" for i in range(1000)) + "type T1000 = u8;",
    "10000 chained type aliases": "".join(f"type T{i} = T{i + 1};\n" for i in range(10000)) + "type T10000 = u8;",
    "10000 structs nested by value": "".join(f"struct S{i} {{ a: S{i + 1}; }}\n" for i in range(10000))
                                     + "struct S10000 { b: u8; }",
    "1000 chained constants": "".join(f"const C{i} = C{i + 1};\n" for i in range(1000)) + "const C1000 = 0;",
    "1000 structs nested by value": "".join(f"struct S{i} {{ a: S{i + 1}; }}\n" for i in range(1000))
                                    + "struct S1000 { b: u8; }",
    "1000 backends extending each other": "table t { h(); }\n" + "".join(
        f"backend b{i} extends b{i + 1} for i386 roles native {{ }}\n" for i in range(1000))
        + "backend b1000 for i386 roles native { impl t.h() { } }",
    "2000 structs sized by constants": "".join(
        f"const C{i}: u64 = sizeof(S{i});\nstruct S{i} {{ a: u8[C{i + 1}]; }}\n" for i in range(2000)),
    "3000 constants, each the next plus one": "".join(
        f"const C{i} = C{i + 1} + 1;\n" for i in range(3000)) + "const C3000 = 0;",
    # Path.is_file() raises ENAMETOOLONG instead of returning False
    "import of a 300-character name": "import " + "a" * 300 + ";",
}


@pytest.mark.parametrize("text", list(CRASHERS.values()), ids=list(CRASHERS))
def test_reported_crashers(text):
    with rc.guarded():
        found = rc.run_text(text)
    if found is not None and found.kind not in rc.NON_CRASH_KINDS:
        pytest.fail(f"{found.kind} at {found.where}: {found.message[:300]}\n{found.traceback[-1500:]}",
                    pytrace=False)


def test_diagnostics_of_one_long_line_stay_linear():
    # 1000 redefinitions on one 15 KB line: each diagnostic quotes the whole line
    # (and a caret line as long), so the output grows with the square of the input.
    text = "fn f() { " + "var y: u8 = 0; " * 1000 + "}"
    with rc.guarded():
        found = rc.run_text(text)
    if found is not None:
        pytest.fail(f"{found.kind}: {found.message}", pytrace=False)
