"""`pvdsl fmt` on the hand-written corpus: round trips and is a fixed point."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvdsl.diagnostics import Diagnostics
from pvdsl.syntax import ast
from pvdsl.syntax.parser import parse_text
from pvdsl.syntax.printer import UnprintableError, format_module, format_node

TESTS = Path(__file__).resolve().parents[1]
SOURCES = sorted((TESTS / "syntax" / "cases").glob("*.pv")) + sorted(
    (TESTS.parent / "examples").glob("*.pv"))


def _parse(text: str, path: str = "<fmt>") -> ast.Module:
    diags = Diagnostics()
    module = parse_text(text, path, diags)
    assert module is not None, text + "\n" + diags.render()
    return module


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_format_roundtrips(path: Path):
    original = _parse(path.read_text(), str(path))
    assert _parse(format_module(original)) == original


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_format_is_idempotent(path: Path):
    once = format_module(_parse(path.read_text(), str(path)))
    assert format_module(_parse(once)) == once


def _expr(text: str) -> ast.Expr:
    module = _parse(f"const X = {text};")
    return module.decls[0].value


# Source -> canonical form: minimal parentheses, radix kept, spacing normalised.
CANONICAL = [
    ("(a + b) * c", "(a + b) * c"),
    ("a + (b * c)", "a + b * c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a ? b : (c ? d : e)", "a ? b : c ? d : e"),
    ("(a ? b : c) ? d : e", "(a ? b : c) ? d : e"),
    ("a ? (b ? c : d) : e", "a ? b ? c : d : e"),
    ("(-x) as u8", "-x as u8"),
    ("-(x as u8)", "-(x as u8)"),
    ("(x as u8) as u16", "x as u8 as u16"),
    ("(x as u8)[1]", "(x as u8)[1]"),
    ("&(&x)", "& &x"),
    ("-(-x)", "- -x"),
    ("(*p).f", "(*p).f"),
    ("*(p.f)", "*p.f"),
    ("(p->q)->r", "p->q->r"),
    ("(a || b) && c", "(a || b) && c"),
    ("(a < b) == (c < d)", "a < b == c < d"),
    ("(a == b) == c", "a == b == c"),
    ("a << (b + 1)", "a << b + 1"),
    ("0XAB_cd", "0xabcd"),
    ("0B1_0", "0b10"),
    ("0O7_7", "0o77"),
    ("1_000", "1000"),
    ("sizeof( ptr< ptr<u8> > )", "sizeof(ptr<ptr<u8>>)"),
    ("x as ptr<ptr<u8>> >> 2", "x as ptr<ptr<u8>> >> 2"),
    ("f ( a , b ) [ 0 ]", "f(a, b)[0]"),
]


@pytest.mark.parametrize("source,expected", CANONICAL)
def test_expression_canonical_form(source: str, expected: str):
    tree = _expr(source)
    assert format_node(tree) == expected
    assert _expr(expected) == tree


def test_comments_are_dropped_and_layout_is_canonical():
    text = "module  m ;import a.b;// c\nconst X:u8=1;/* d */type t=u8[2];"
    assert format_module(_parse(text)) == (
        "module m;\n\nimport a.b;\n\nconst X: u8 = 1;\n\ntype t = u8[2];\n")


def test_empty_module_prints_as_empty_text():
    assert format_module(_parse("")) == ""


def test_format_node_on_statements_and_types():
    fn = _parse("fn f() { if a { b(); } else { return; } }").decls[0]
    assert format_node(fn.body.stmts[0]) == "if a {\n    b();\n} else {\n    return;\n}"
    assert format_node(ast.ArrayType(ast.PtrType(ast.NamedType("u8")), ast.IntLit(4))) == "ptr<u8>[4]"


@pytest.mark.parametrize("node", [
    ast.Cast(ast.Name("x"), ast.ArrayType(ast.NamedType("u8"), ast.IntLit(2))),
    ast.IntLit(-1),
    ast.IntLit(1, base=3),
    ast.Binary("**", ast.Name("a"), ast.Name("b")),
    ast.Unary("+", ast.Name("x")),
    ast.Param("x", ast.NamedType("u8"), ("i386", "x86_64")),
    ast.FnDecl("f", (ast.Param("x", ast.NamedType("u8"), ("i386",)),), None, ast.Block(())),
    ast.Module(None, (), (ast.FnDecl("f", (), ast.ArrayType(ast.NamedType("u8"), ast.IntLit(2)),
                                     ast.Block(())),)),
])
def test_unprintable_trees_are_rejected(node):
    # A tree the grammar cannot produce must not silently print as other source.
    with pytest.raises(UnprintableError):
        format_node(node)


def test_hypercall_argument_when():
    text = "hypercall h = 1 (a: u64 when x86_64, lo: u32 when i386) -> long;\n"
    assert format_module(_parse(text)) == text


@pytest.mark.parametrize("text", [
    "hypercall sched_op = 29 (cmd: s32, arg: handle<void>, ...);\n",
    "hypercall h = 1 (a: u64 when x86_64, lo: u32 when i386, ...) -> long [privileged];\n",
    "hypercall h = 1 (...);\n",
])
def test_hypercall_ellipsis(text):
    module = _parse(text)
    assert module.decls[0].variadic
    assert format_module(module) == text


def test_hypercall_ellipsis_spacing_is_normalised():
    module = _parse("hypercall h = 1 (a: u32 ,  ... );")
    assert format_module(module) == "hypercall h = 1 (a: u32, ...);\n"
    assert not _parse("hypercall h = 1 (a: u32);").decls[0].variadic
