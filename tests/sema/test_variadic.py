"""Calls of a hypercall declared with `...`: what is accepted, the type each
extra argument travels as, and the full diagnostics for the rest."""

from pvdsl.diagnostics import Diagnostics
from pvdsl.sema import types as T
from pvdsl.sema.program import check_text
from pvdsl.syntax import ast


def check(src: str):
    diags = Diagnostics()
    program = check_text(src, diags, "t.pv")
    return program, diags


def calls(program, arch: str, name: str) -> list[ast.Call]:
    view = program.view(arch)
    return [n for u in program.units for d in u.module.decls for n in d.walk()
            if isinstance(n, ast.Call) and isinstance(n.callee, ast.Name) and n.callee.name == name
            and id(n) in view.refs]


SUSPEND = """
import xen.abi;

fn suspend(mfn: ulong) -> long {
    var r: sched_shutdown;
    r.reason = SHUTDOWN_suspend;
    return sched_op(SCHEDOP_shutdown, &r as handle<void>, mfn);
}
"""


def test_the_shipped_sched_op_takes_start_info_after_its_arguments():
    program, diags = check(SUSPEND)
    assert diags.render() == ""
    for arch in ("i386", "x86_64"):
        view = program.view(arch)
        assert view.hypercalls["sched_op"].variadic
        (call,) = calls(program, arch, "sched_op")
        assert view.extra_args[id(call)] == (("arg3", T.ULONG),)
        assert [n for n, _t in view.call_params(call)] == ["cmd", "arg", "arg3"]


def test_extra_arguments_keep_their_own_types():
    program, diags = check("""
        enum mode: u8 { a = 1 }
        hypercall h = 1 (cmd: s32, ...);
        fn f(x: s16, b: bool, p: ptr<u32>) {
            h(0, x, b, mode.a, p);
            h(0, 7, -1, null);
            h(0, 0xffffffff);
        }
    """)
    assert diags.render() == ""
    view = program.view("i386")
    first, second, third = calls(program, "i386", "h")
    assert [t for _n, t in view.extra_args[id(first)]] == [T.INTS["s16"], T.BOOL, view.enums["mode"],
                                                           T.PtrType(T.INTS["u32"])]
    # Untyped: a `long`, a `ulong` where only that holds the value; null a ptr<void>.
    assert [t for _n, t in view.extra_args[id(second)]] == [T.LONG, T.LONG, T.PtrType(T.VOID)]
    assert view.extra_args[id(third)] == (("arg2", T.ULONG),)
    assert program.view("x86_64").extra_args[id(third)] == (("arg2", T.LONG),)


def test_a_call_without_extra_arguments_records_none():
    program, diags = check("hypercall h = 1 (cmd: s32, ...); fn f() { h(0); }")
    assert diags.render() == ""
    (call,) = calls(program, "x86_64", "h")
    assert id(call) not in program.view("x86_64").extra_args


def test_ellipsis_alone_and_after_arch_specific_arguments():
    _, diags = check("""
        hypercall any = 1 (...);
        hypercall split = 2 (lo: u32 when i386, hi: u32 when i386, v: u64 when x86_64, ...);
        fn f(v: u64) {
            any();
            any(1, 2, 3, 4, 5);
            when i386 {
                split(v as u32, (v >> 32) as u32, 1, 2, 3);
            } else {
                split(v, 1, 2, 3, 4);
            }
        }
    """)
    assert diags.render() == ""


def test_too_few_arguments():
    _, diags = check("hypercall h = 1 (cmd: s32, arg: ulong, ...);\nfn f() { h(0); }")
    assert diags.render() == (
        "t.pv:2:10: error[E033]: hypercall 'h' takes at least 2 arguments, 1 given\n"
        "   2 | fn f() { h(0); }\n"
        "     |          ^^^^")


def test_too_many_arguments_are_counted_per_arch():
    # The declaration has 3 arguments on i386 and 2 on x86_64: a call with two
    # more fits on x86_64 only.
    _, diags = check("hypercall h = 1 (a: u32, b: u32 when i386, c: ulong, ...);\n"
                     "fn f() {\n"
                     "    when i386 { h(1, 2, 3, 4, 5, 6); } else { h(1, 2, 3, 4, 5); }\n"
                     "}\n")
    assert diags.render() == (
        "t.pv:3:34: error[E051]: hypercall 'h' is called with 6 arguments on i386; Xen passes at most 5 in "
        "registers\n"
        "   3 |     when i386 { h(1, 2, 3, 4, 5, 6); } else { h(1, 2, 3, 4, 5); }\n"
        "     |                                  ^\n"
        "t.pv:1:54: note: 'h' declares 3 arguments before '...', leaving room for 2 more\n"
        "   1 | hypercall h = 1 (a: u32, b: u32 when i386, c: ulong, ...);\n"
        "     |                                                      ^^^")


def test_too_wide_extra_argument_on_i386():
    _, diags = check("hypercall h = 1 (cmd: s32, ...);\nfn f(v: u64) { h(0, v); h(0, v as ulong); }")
    assert diags.render() == (
        "t.pv:2:21: error[E052]: variadic argument 2 of hypercall 'h' is 64 bits wide; a hypercall argument "
        "register on i386 holds 32 (split it in two)\n"
        "   2 | fn f(v: u64) { h(0, v); h(0, v as ulong); }\n"
        "     |                     ^")


def test_extra_argument_that_no_register_holds():
    _, diags = check("struct s { a: u32; }\nhypercall h = 1 (...);\n"
                     "fn f() { var x: s; h(x); h(0x1_0000_0000); h(f()); }")
    assert [(d.code, d.message) for d in diags.sorted()] == [
        ("E037", "variadic argument 1 of hypercall 'h' has type 's': only integers, bool, pointers and handles "
                 "are passed in registers"),
        ("E040", "4294967296 does not fit in 'ulong' (0..4294967295)"),
        ("E037", "variadic argument 1 of hypercall 'h' has type 'void': only integers, bool, pointers and "
                 "handles are passed in registers"),
    ]


def test_only_hypercalls_are_variadic():
    _, diags = check("fn g(a: u32) { }\nfn f() { g(1, 2); }")
    assert [d.message for d in diags.items] == ["function 'g' takes 1 argument, 2 given"]
    _, diags = check("hypercall h = 1 (a: u32);\nfn f() { h(1, 2); }")
    assert [d.message for d in diags.items] == ["hypercall 'h' takes 1 argument, 2 given"]
