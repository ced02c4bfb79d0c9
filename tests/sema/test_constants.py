"""Folding typed constants: unary minus and casts wrap (docs/language.md,
Constants); other typed operations that overflow are E040."""

from pathlib import Path

from pvdsl.diagnostics import Diagnostics
from pvdsl.sema.program import check_each


def consts(tmp_path: Path, text: str):
    path = tmp_path / "c.pv"
    path.write_text("module c;\n" + text)
    diags = Diagnostics()
    programs = check_each([path], diags, [])
    return programs, diags


def test_unary_minus_and_casts_wrap(tmp_path):
    programs, diags = consts(tmp_path, "const A = -(1 as u8);\nconst B = 0x1ff as u8;\nconst C = -(-128 as s8);\n")
    assert not diags.has_errors, diags.render()
    for arch in ("i386", "x86_64"):
        view = programs[0].view(arch)
        assert view.consts["A"][1] == 0xFF
        assert view.consts["B"][1] == 0xFF
        assert view.consts["C"][1] == -128


def test_other_overflows_are_errors(tmp_path):
    _programs, diags = consts(tmp_path, "const MASK: u8 = 0xf0;\nconst TWICE = MASK * 2;\n")
    assert diags.has_errors
    assert "E040" in diags.render() and "overflows 'u8' (value 480)" in diags.render()
