"""`pvdsl abidiff`: every kind of change, its classification and the exit bits."""

import json

import pytest

from pvdsl.cli.main import main

OLD = """
table t { a(); b(x: ulong) -> ulong [callee_save]; c(); }
table gone { x(); }
struct s { x: u32; y: u16; }
struct grows { a: u32; }
hypercall h = 3 (a: ulong);
hypercall k = 5 (a: ulong) [privileged];
hypercall va = 7 (a: ulong);
hypercall vb = 8 (...);
const K = 1;
"""

NEW = """
table t { a(); c(); b(x: ulong) -> u32; d(); }
struct s { x: u32; y: u16; z: u16; }
struct grows { a: u32; b: u32; }
hypercall h = 4 (a: ulong) [privileged];
hypercall k = 5 (a: ulong);
hypercall fresh = 6 ();
hypercall va = 7 (a: ulong, ...);
hypercall vb = 8 ();
const K = 2;
const L = 3;
"""


@pytest.fixture
def specs(tmp_path):
    (tmp_path / "old.pv").write_text(OLD)
    (tmp_path / "new.pv").write_text(NEW)
    return str(tmp_path / "old.pv"), str(tmp_path / "new.pv")


def changes(specs, capsys, arch="x86_64"):
    status = main(["abidiff", *specs, "--arch", arch, "--json"])
    return status, {(c["item"], c["what"]): c for c in json.loads(capsys.readouterr().out)["changes"]}


def test_every_kind_of_change(specs, capsys):
    status, got = changes(specs, capsys)
    assert status == 4 | 8
    expect = {
        ("gone", "removed"): False,
        ("t.b", "slot"): False,
        ("t.b", "signature"): False,
        ("t.b", "callee_save"): False,
        ("t.c", "slot"): False,
        ("t.d", "added"): True,          # appended after the old last slot
        ("s.z", "added"): True,          # into padding: the size did not change
        ("grows", "size"): False,
        ("grows.b", "added"): False,
        ("h", "number"): False,
        ("h", "privileged"): False,      # newly privileged: unprivileged callers get -EPERM
        ("k", "privileged"): True,
        ("fresh", "added"): True,
        ("va", "variadic"): True,        # old calls still check; new ones may pass more
        ("vb", "variadic"): False,       # calls passing extra arguments no longer check
        ("K", "value"): False,
        ("L", "added"): True,
    }
    assert {k: v["compatible"] for k, v in got.items()} == expect
    assert got[("t.b", "signature")]["old"] == "(ulong) -> ulong"
    assert got[("t.b", "signature")]["new"] == "(ulong) -> u32"


def test_no_change_and_compatible_only(specs, capsys, tmp_path):
    assert main(["abidiff", specs[0], specs[0], "--arch", "i386"]) == 0
    assert capsys.readouterr().out.startswith("0 changes")
    more = tmp_path / "more.pv"
    more.write_text(OLD + "\nconst EXTRA = 9;\n")
    assert main(["abidiff", specs[0], str(more), "--arch", "i386"]) == 4
    assert "[compatible] const 'EXTRA' added" in capsys.readouterr().out


def test_a_broken_spec_is_an_error(specs, capsys, tmp_path):
    bad = tmp_path / "bad.pv"
    bad.write_text("table t { a() }\n")
    assert main(["abidiff", specs[0], str(bad), "--arch", "x86_64"]) == 1
    assert "error[E001]" in capsys.readouterr().err


def test_text_output_names_both_sides(specs, capsys):
    main(["abidiff", *specs, "--arch", "x86_64"])
    out = capsys.readouterr().out
    assert "[INCOMPATIBLE] hook 't.c': slot 2 -> 1" in out
    assert "[INCOMPATIBLE] hypercall 'h': number 3 -> 4" in out
    assert out.rstrip().endswith("incompatible (" + specs[0] + " -> " + specs[1] + ", x86_64)")


def test_linux_2_6_24_to_6_1(capsys):
    """The worked example of docs/specs.md: what changed between the F9-era
    tables and Linux 6.1, on x86_64."""
    status = main(["abidiff", "linux/pvops_2_6_24.pv", "linux/pvops_6_1.pv", "--arch", "x86_64", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == 12 and report["exit_status"] == 12
    got = {(c["item"], c["what"]): c["compatible"] for c in report["changes"]}
    assert got[("pv_irq_ops.restore_fl", "removed")] is False
    for table in ("pv_time_ops", "pv_apic_ops", "pv_init_ops"):
        assert got[(table, "removed")] is False
    assert got[("pv_lock_ops", "added")] is True
