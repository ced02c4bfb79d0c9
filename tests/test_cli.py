"""The `pvdsl` command as a user runs it (in-process)."""

import json
from pathlib import Path

import pytest

from pvdsl.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.pv"))


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_check_examples_clean(capsys):
    assert main(["check", *EXAMPLES]) == 0
    out = capsys.readouterr()
    assert out.err == "" and out.out == ""


def test_check_json_lists_diagnostics(tmp_path, capsys):
    bad = tmp_path / "bad.pv"
    bad.write_text("const A: u8 = 300;\nfn f() -> u32 { return true; }\n")
    assert main(["check", "--json", str(bad)]) == 1
    diags = json.loads(capsys.readouterr().out)
    assert [d["code"] for d in diags] == ["E040", "E030"]
    assert diags[0]["location"] == {"path": str(bad), "line": 1, "col": 15, "end_line": 1, "end_col": 18}
    assert diags[1]["message"] == "expected 'u32' for this return value, found 'bool'"


def test_missing_file_is_a_diagnostic(capsys):
    assert main(["check", "no/such/file.pv"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("no/such/file.pv: error[E004]: cannot read 'no/such/file.pv'")


def test_abi_json_shape(capsys):
    assert main(["abi", "examples/irq.pv", "--arch", "x86_64", "--json"]) == 0
    abi = json.loads(capsys.readouterr().out)
    assert set(abi) == {"arch", "structs", "hypercalls", "tables", "consts"}
    assert abi["arch"] == "x86_64"
    vcpu = abi["structs"]["vcpu_info"]
    assert (vcpu["size"], vcpu["align"]) == (64, 8)
    assert vcpu["fields"]["evtchn_upcall_mask"] == {"offset": 1, "size": 1, "type": "u8"}
    assert abi["hypercalls"]["xen_version"] == {
        "number": 17, "args": [{"name": "cmd", "type": "s32"}, {"name": "arg", "type": "handle<void>"}],
        "ret": "long", "privileged": False, "variadic": False}
    assert abi["hypercalls"]["domctl"]["privileged"] is True
    assert abi["hypercalls"]["sched_op"]["variadic"] is True
    irq = abi["tables"]["pv_irq_ops"]
    assert [h["hook"] for h in irq] == ["init_IRQ", "save_fl", "restore_fl", "irq_disable", "irq_enable",
                                        "safe_halt", "halt"]
    assert irq[2] == {"slot": 2, "hook": "restore_fl", "callee_save": True,
                      "args": [{"name": "flags", "type": "ulong"}], "ret": "void"}
    assert abi["consts"]["X86_EFLAGS_IF"] == 0x200


def test_abi_i386_layouts(capsys):
    assert main(["abi", "examples/irq.pv", "--arch", "i386", "--json"]) == 0
    abi = json.loads(capsys.readouterr().out)
    assert abi["structs"]["xen_memory_reservation"]["size"] == 20
    assert abi["structs"]["mmuext_op"]["size"] == 12
    assert abi["structs"]["vcpu_info"]["size"] == 64


def test_abi_text_is_readable(capsys):
    assert main(["abi", "examples/irq.pv", "--arch", "i386"]) == 0
    out = capsys.readouterr().out
    assert "struct vcpu_info  size 64  align 4" in out
    assert " 17  xen_version(cmd: s32, arg: handle<void>) -> long" in out
    assert "slot  1  save_fl() -> ulong  [callee_save]" in out


def test_abi_refuses_a_broken_spec(tmp_path, capsys):
    bad = tmp_path / "bad.pv"
    bad.write_text("struct s { a: nope; }\n")
    assert main(["abi", str(bad), "--json"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "error[E021]: unknown type 'nope'" in out.err


def test_help_teaches(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "pvdsl check examples/irq.pv" in out
    assert main([]) == 2


def test_fmt_check_examples(capsys):
    # Formatting is a fixpoint: formatting the formatted text changes nothing.
    assert main(["fmt", EXAMPLES[0]]) == 0
    once = capsys.readouterr().out
    from pvdsl.syntax.parser import parse_text
    from pvdsl.syntax.printer import format_module
    assert format_module(parse_text(once), once) == once
    assert main(["fmt", "--check", *EXAMPLES]) == 0
