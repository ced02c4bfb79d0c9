"""Goldens of the .ll and .s that `pvdsl build` writes for every example
backend and target, under tests/golden/codegen/<backend>-<target>.{ll,s}.

Compared exactly, with one normalisation: the `unique,N` id LLVM gives the
.pvpatch section in the .s counts up with every module the process has
emitted before (known bug: pvdsl caches its TargetMachine; see
tests/target/test_build.py::test_asm_is_reproducible_within_a_process), so
it is written as `unique,N`. After an intended change, rerun with
`pytest tests/codegen/test_golden.py --update-goldens` and review the diff.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "codegen"
KINDS = ("ll", "s")


def example_objects() -> list[str]:
    out = []
    for f in sorted((REPO / "examples").glob("*.pv")):
        for m in re.finditer(r"^backend\s+(\w+)[^{]*?\bfor\s+([\w\s,]+?)\s+roles\s+([\w\s,]+?)\s*\{",
                             f.read_text(), re.M):
            for a in (a.strip() for a in m.group(2).split(",")):
                for r in (r.strip() for r in m.group(3).split(",")):
                    out.append(f"{m.group(1)}-{a}-{r}")
    return out


OBJECTS = example_objects()


def normalise(text: str, kind: str) -> str:
    return re.sub(r",unique,\d+", ",unique,N", text) if kind == "s" else text


def stale_target_machine_symptoms(asm: str) -> list[str]:
    """The cached-TargetMachine bug as it shows in a .s: data in its own
    `.data.<symbol>` section or an R (retain) flag outside .pvpatch."""
    out = []
    for name, flags in re.findall(r'^\s*\.section\s+"?([^",\s]+)"?,"(\w*)"', asm, re.M):
        if ("R" in flags and name != ".pvpatch") or (name.startswith(".data.") and name != ".data..percpu"):
            out.append(f'{name},"{flags}"')
    return out


def machine_specific(text: str) -> list[str]:
    needles = {str(REPO), str(Path.home()), "/tmp/", "/work/", "pytest-of-"}
    return sorted(n for n in needles if n and n in text)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", OBJECTS)
def test_golden(examples_build, update_goldens, name, kind):
    got = normalise((examples_build / f"{name}.{kind}").read_text(), kind)
    assert not machine_specific(got), f"{name}.{kind} mentions {machine_specific(got)}"
    assert "!dbg" not in got and ".loc\t" not in got and ".debug_" not in got, "debug locations in the output"
    path = GOLDEN / f"{name}.{kind}"
    symptoms = stale_target_machine_symptoms(got) if kind == "s" else []
    if update_goldens:
        assert not symptoms, f"not writing a golden from an output hit by the known bug ({symptoms}); rerun"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
        return
    assert path.exists(), f"no golden {path.relative_to(REPO)}: run pytest --update-goldens and review it"
    want = path.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            f"golden/{name}.{kind}", f"built/{name}.{kind}", n=2))
        lines = diff.splitlines()
        pytest.fail(f"{name}.{kind} differs from its golden ({len(lines)} diff lines; rerun with "
                    f"--update-goldens if intended):\n" + "\n".join(lines[:80]))


def test_goldens_cover_exactly_the_examples(examples_build):
    built = {p.name for p in examples_build.iterdir() if p.suffix in (".ll", ".s")}
    assert built == {f"{n}.{k}" for n in OBJECTS for k in KINDS}
    stored = {p.name for p in GOLDEN.iterdir()} if GOLDEN.exists() else set()
    assert stored == built, f"stale: {sorted(stored - built)}; missing: {sorted(built - stored)}"
