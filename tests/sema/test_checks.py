"""Checker behaviour that the error corpus does not pin: what is accepted,
and the facts recorded for later stages."""

from pvdsl.diagnostics import Diagnostics
from pvdsl.sema import types as T
from pvdsl.sema.program import check_text

BASE = """
import xen.abi;
import linux.pvops_2_6_24;
"""


def check(src: str):
    diags = Diagnostics()
    program = check_text(src, diags, "t.pv")
    return program, diags


def codes(src: str) -> list[str]:
    return [d.code for d in check(src)[1].sorted()]


def test_example_is_clean():
    diags = Diagnostics()
    from pvdsl.sema.program import check_paths
    check_paths(["examples/irq.pv"], diags)
    assert diags.render() == ""


def test_constant_folding_and_typed_overflow():
    program, diags = check("const A: u8 = 200; const B = A + 55; const C = 1 << 40;")
    assert not diags.items
    view = program.view("i386")
    assert view.consts["B"] == (T.INTS["u8"], 255)
    assert view.consts["C"][1] == 1 << 40
    assert codes("const A: u8 = 200; const B = A + 56;") == ["E040"]
    assert codes("const A: u8 = 256;") == ["E040"]
    assert codes("const A = 1 / 0;") == ["E042"]


def test_ulong_literal_fits_per_arch():
    # 2^32 fits a ulong on x86_64 only: reported once, for i386.
    _, diags = check("fn f() -> ulong { return 0x1_0000_0000; }")
    [d] = diags.items
    assert d.code == "E040" and "'ulong' (0..4294967295)" in d.message


def test_struct_field_present_per_arch():
    src = """
    struct s { a: u32; hi: u32 when i386; }
    fn f(p: ptr<s>) -> u32 { return p->hi; }
    """
    _, diags = check(src)
    [d] = diags.items
    assert d.code == "E023" and "does not exist on x86_64" in d.message


def test_table_slots_skip_other_arch_hooks():
    src = """
    table t { a(); pae(x: u64) when i386; b(); }
    """
    program, diags = check(src)
    assert not diags.items
    slots = lambda arch: [(h.slot, h.name) for h in program.view(arch).tables["t"].hooks]  # noqa: E731
    assert slots("i386") == [(0, "a"), (1, "pae"), (2, "b")]
    assert slots("x86_64") == [(0, "a"), (1, "b")]


def test_backend_inherits_and_defaults():
    src = BASE + """
    table t { a() { } b() -> ulong; c(); }
    backend base for i386, x86_64 roles native { impl t.b() -> ulong { return 1; } impl t.c() { } }
    backend derived extends base for x86_64 roles native { impl t.c() { cli(); } }
    """
    program, diags = check(src)
    assert diags.render() == ""
    derived = program.view("x86_64").backends["derived"]
    sources = [(h.name, getattr(src, "backend", "default")) for h, src in derived.tables["t"]]
    assert sources == [("a", "default"), ("b", "base"), ("c", "derived")]


def test_privileged_reach_through_hooks_and_helpers():
    src = BASE + """
    table t { a(); b(); }
    fn helper() { domctl(null); }
    backend x for x86_64 roles domu {
        impl t.a() { t.b(); }
        impl t.b() { helper(); }
    }
    """
    _, diags = check(src)
    msgs = sorted(d.message for d in diags.items if d.code == "E070")
    assert len(msgs) == 2
    assert "through t.b -> helper -> domctl" in msgs[0] or "through t.b -> helper -> domctl" in msgs[1]


def test_expression_types_recorded_for_codegen():
    src = "fn f(a: u16, b: u32) -> u32 { return a + b; }"
    program, diags = check(src)
    assert not diags.items
    view = program.view("x86_64")
    ret = program.roots[0].module.decls[0].body.stmts[0].value
    assert view.type_of(ret) == T.U32
    assert view.type_of(ret.left) == T.INTS["u16"]


def test_no_traceback_on_self_referential_declarations():
    src = """
    struct a { b: b; }
    struct b { a: a; }
    type x = y; type y = x;
    const P = Q; const Q = P;
    backend m extends m for i386 roles native { }
    """
    got = codes(src)
    assert "E043" in got and "E066" in got


def test_when_statement_is_checked_per_arch():
    src = BASE + """
    struct s { hi: u32 when i386; }
    table t { set(va: ulong, pte: u64) -> long; }
    backend b for i386, x86_64 roles domu {
        impl t.set(va: ulong, pte: u64) -> long {
            var x: s;
            when i386 {
                x.hi = 1;   // exists on i386 only: fine here
                return update_va_mapping(va, pte as u32, (pte >> 32) as u32, 0);
            } else {
                return update_va_mapping(va, pte, 0);
            }
        }
    }
    """
    _, diags = check(src)
    assert diags.render() == ""
    bad = src.replace("x.hi = 1;", "x.hi = 1; x.lo = 2;").replace("return update_va_mapping(va, pte, 0);",
                                                                  "return update_va_mapping(va, pte as u32, 0, 0);")
    _, diags = check(bad)
    assert sorted(d.code for d in diags.items) == ["E023", "E033"]
