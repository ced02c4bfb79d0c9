"""`pvdsl fuzz` as a user runs it: exit status, table, JSON, replay, errors."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTANT = ROOT / "tests/fuzz/mutants/callee_save_clobber.S"


def fuzz(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "pvdsl.cli", "fuzz", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_a_passing_run_prints_the_table_and_exits_0(tmp_path):
    out = tmp_path / "r.json"
    p = fuzz("examples/irq.pv", "--targets", "x86_64-domu,i386-native", "--hooks", "pv_irq_ops.*",
             "--examples", "50", "--json", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["hook", "i386-native", "x86_64-domu"]
    assert any(line.split()[:4] == ["xen", "pv_irq_ops.save_fl", "-", "pass"] for line in lines)
    assert any(line.split()[:4] == ["native", "pv_irq_ops.save_fl", "pass", "-"] for line in lines)
    assert "failed" in lines[-1] and " 0 failed" in lines[-1]
    assert "\r" not in p.stderr  # no progress bar when stderr is not a terminal
    data = json.loads(out.read_text())
    assert data["seed"] == 0
    rows = {(r["backend"], r["target"], r["hook"]): r for r in data["results"]}
    assert rows[("xen", "x86_64-domu", "pv_irq_ops.save_fl")]["status"] == "pass"
    assert rows[("xen", "x86_64-domu", "pv_irq_ops.save_fl")]["executions"] == 50
    assert rows[("xen", "x86_64-domu", "law irq_roundtrip")]["status"] == "pass"


def test_examples_the_differential_cannot_decide_are_counted_and_marked(tmp_path):
    """A pass is not silent about examples only the other oracles judged:
    write_cr3 natively loads generated roots the machine cannot run on."""
    out = tmp_path / "r.json"
    p = fuzz("pvdsl/specs/backends/native.pv", "--targets", "x86_64-native", "--hooks", "write_cr3,save_fl",
             "--examples", "20", "--no-laws", "--json", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert any(line.split()[:3] == ["native", "pv_mmu_ops.write_cr3", "pass*"] for line in lines)
    assert any(line.split()[:3] == ["native", "pv_irq_ops.save_fl", "pass"] for line in lines)
    assert "  * pv_mmu_ops.write_cr3 on x86_64-native: differential inconclusive in 20 of 20 examples " \
           "(20 the hook wrote a control register value the machine cannot run on)" in lines
    assert lines[-1].endswith("; the differential was inconclusive in 20 examples of 1 checks (marked *)")
    rows = {r["hook"]: r for r in json.loads(out.read_text())["results"]}
    assert rows["pv_mmu_ops.write_cr3"]["inconclusive"] == {
        "the hook wrote a control register value the machine cannot run on": 20}
    assert rows["pv_irq_ops.save_fl"]["inconclusive"] == {}


def test_the_same_seed_gives_the_same_report():
    def run(seed):
        p = fuzz("examples/irq.pv", "--targets", "x86_64-domu", "--hooks", "halt", "--examples", "50",
                 "--seed", str(seed), "--asm", str(ROOT / "tests/fuzz/mutants/swapped_hypercall_args.S"),
                 "--no-laws", "--no-shrink")
        assert p.returncode == 1, p.stdout + p.stderr
        return [line for line in p.stdout.splitlines() if "executions in" not in line]

    first, again, other = run(0), run(0), run(1)
    assert first == again
    replay = next(line for line in first if "replay:" in line)
    assert replay != next(line for line in other if "replay:" in line)  # other junk registers


def test_an_asm_file_without_hook_symbols_is_a_load_error():
    p = fuzz("examples/mmu.pv", "--targets", "x86_64-domu", "--examples", "5",
             "--asm", str(ROOT / "tests/fuzz/mutants/swapped_hypercall_args.S"))
    assert p.returncode == 1
    assert "swapped_hypercall_args.S: defines no hook symbol of backend 'xen_mmu'" in p.stdout


def test_a_failure_prints_a_reproducer_whose_replay_fails_the_same_way():
    p = fuzz("examples/irq.pv", "--targets", "i386-domu", "--hooks", "irq_disable", "--asm", str(MUTANT),
             "--examples", "50", "--json", "-")
    assert p.returncode == 1, p.stdout + p.stderr
    first = p.stdout.splitlines()[0]
    assert first == "FAIL pv_irq_ops.irq_disable on i386-domu (backend xen): convention: ecx not preserved"
    assert ">>" in p.stdout  # the instruction that writes ecx is marked in the listing
    data = json.loads(p.stdout[p.stdout.index('{\n  "seed"'):])
    row = next(r for r in data["results"] if r["status"] == "fail")
    assert row["violations"][0]["oracle"] == "convention"
    replay = subprocess.run(row["replay"], shell=True, capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**__import__("os").environ, "PATH": f"{Path(sys.executable).parent}:"
                                                                      f"{__import__('os').environ['PATH']}"})
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert replay.stdout.splitlines()[0] == first


def test_command_line_errors_exit_2():
    p = fuzz("examples/irq.pv", "--targets", "sparc-domu")
    assert p.returncode == 2 and "unknown target 'sparc-domu'" in p.stderr
    p = fuzz("examples/irq.pv", "--targets", "all", "--replay", "{}")
    assert p.returncode == 2 and "--replay needs one SPEC, one target (--targets) and one hook (--hooks)" in p.stderr
    p = fuzz("examples/irq.pv", "--targets", "x86_64-domu", "--hooks", "save_fl", "--replay", "[]")
    assert p.returncode == 2 and "an example is a JSON object with an 'args' list" in p.stderr
    p = fuzz("examples/irq.pv", "--examples", "0")
    assert p.returncode == 2 and "must be at least 1" in p.stderr


def test_a_spec_that_does_not_check_is_reported_with_its_diagnostics(tmp_path):
    bad = tmp_path / "bad.pv"
    bad.write_text("module bad;\nconst X = ;\n")
    p = fuzz(str(bad), "--targets", "x86_64-domu")
    assert p.returncode == 1
    assert f"{bad}:2:11: error" in p.stdout
