"""The fuzzer's self-check: each deliberately broken backend in mutants/ is
caught within the default budget by the oracle its header names, and the
replay command printed with the reproducer fails the same way."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pvdsl.fuzz.campaign import Options
from pvdsl.cli.fuzz import add_fuzz_parser  # noqa: F401  (the CLI the replay goes through)
from pvdsl.fuzz.driver import collect, merge

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = sorted((ROOT / "tests/fuzz/mutants").glob("*.[pS]*"))
HEADER = re.compile(r"pvdsl-mutant:(.*)")
DEFAULT_EXAMPLES = 300  # the CLI's default --examples


def header(path: Path) -> dict:
    text = path.read_text()
    m = HEADER.search(text)
    assert m, f"{path.name}: no 'pvdsl-mutant:' header"
    fields = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
    expect = re.search(r'expect="([^"]+)"', text)
    fields["expect"] = expect.group(1) if expect else ""
    return fields


def campaign(path: Path, h: dict):
    if path.suffix == ".pv":
        spec, asm = str(path), ()
    else:
        spec, asm = str(ROOT / h["spec"]), (str(path),)
    opts = Options(targets=h["targets"].split(","), hooks=[h["hooks"]], examples=DEFAULT_EXAMPLES, seed=0,
                   asm=asm, cross_arch=False)
    units = collect([spec], opts)
    return merge(units, opts)


def test_every_mutant_has_a_header():
    assert len(MUTANTS) >= 7
    oracles = {header(p)["oracle"] for p in MUTANTS}
    assert {"convention", "marshalling", "differential", "law", "role"} <= oracles


@pytest.mark.parametrize("path", MUTANTS, ids=lambda p: p.name)
def test_mutant_is_caught_and_replays(path):
    h = header(path)
    results, reports, errors = campaign(path, h)
    assert not errors, errors
    targets = h["targets"].split(",")
    for t in targets:
        failed = [r for r in results if r.target == t and r.status == "fail"]
        assert failed, f"{path.name} not caught on {t}: " + "; ".join(f"{r.hook} {r.status}" for r in results)
        text = "\n".join(reports[r.key] for r in failed)
        assert h["expect"] in text, text
        if h["oracle"] == "law":
            continue  # a law failure names the law; there is no single example to replay
        r = failed[0]
        assert f"{h['oracle']}:" in reports[r.key]
        replay = next(line for line in reports[r.key].splitlines() if line.strip().startswith("replay:"))
        argv = shlex.split(replay.split("replay:", 1)[1])
        assert argv[:2] == ["pvdsl", "fuzz"]
        proc = subprocess.run([sys.executable, "-m", "pvdsl.cli", *argv[1:]], capture_output=True, text=True,
                              cwd=ROOT, timeout=120)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        first = reports[r.key].splitlines()[0]
        assert first in proc.stdout, proc.stdout
