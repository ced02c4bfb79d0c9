"""pvdsl.testing: a user's own test suite fuzzes a spec with one call,
through the `pvdsl_fuzz` fixture pvdsl registers as a pytest plugin."""

import subprocess
import sys
from pathlib import Path

import pytest

from pvdsl.testing import fuzz

ROOT = Path(__file__).resolve().parents[2]


def run_user_suite(tmp_path, body: str):
    (tmp_path / "test_backend.py").write_text(body)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_the_fixture_passes_a_good_backend_and_fails_a_broken_one(tmp_path):
    good = run_user_suite(tmp_path, f'''
def test_irq_backend(pvdsl_fuzz):
    pvdsl_fuzz({str(ROOT / "examples/irq.pv")!r}, targets=["x86_64-domu"], examples=30)
''')
    assert good.returncode == 0, good.stdout + good.stderr
    assert "1 passed" in good.stdout
    broken = run_user_suite(tmp_path, f'''
def test_irq_backend(pvdsl_fuzz):
    pvdsl_fuzz({str(ROOT / "tests/fuzz/mutants/breaks_law.pv")!r}, targets=["i386-domu"], examples=30)
''')
    assert broken.returncode == 1
    assert "pvdsl fuzz found ABI violations" in broken.stdout
    assert "law irq_roundtrip fails on the compiled code" in broken.stdout


def test_fuzz_returns_the_report_without_check():
    report = fuzz(ROOT / "examples/irq.pv", targets="x86_64-native", hooks="pv_irq_ops.save_fl", examples=20,
                  laws=False, check=False)
    assert report.ok
    assert [(r.target, r.hook, r.status, r.executions) for r in report.results] == [
        ("x86_64-native", "pv_irq_ops.save_fl", "pass", 20)]
    assert "1 passed, 0 failed" in report.text


def test_unknown_targets_are_refused():
    with pytest.raises(ValueError, match="unknown target"):
        fuzz(ROOT / "examples/irq.pv", targets=["pdp11-native"])
