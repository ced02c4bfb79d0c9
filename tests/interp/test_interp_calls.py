"""Calls: hypercalls (argument registers, per-arch arguments, results),
helpers, hooks (own, inherited, table defaults, through the kernel's table),
and the interpreter's API around them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interp_support import built_machine, flat_state, predicted_registers, record_hypercalls, views_of
from pvdsl.interp import CpuState, InterpError, Interpreter, SparseMemory, State
from pvdsl.sema import types as T

ARCHES = ["i386", "x86_64"]

# Numbers Xen's model does not implement: it answers -ENOSYS (-38) and leaves
# the argument registers alone, so the test sees exactly what was passed.
HYPERCALLS = """\
hypercall probe = 48 (a: s8, b: u16, c: bool, d: long, e: ptr<void>) -> s8;
hypercall probe_u16 = 49 (a: s32) -> u16;
hypercall probe_bool = 50 (a: ulong) -> bool;
hypercall probe_word = 51 (a: u8) -> ulong;
hypercall probe_split = 52 (va: ulong, lo: u32 when i386, hi: u32 when i386, val: u64 when x86_64, f: s16);
hypercall probe_va = 53 (a: s8, ...);

table t {
    args(a: u64, b: u64, c: bool, d: s32) -> s8;
    results(x: s32) -> u64;
    split(va: ulong, pte: u64, f: s16) -> u32;
    variadic(a: ulong, b: s32) -> long;
}

backend x for i386, x86_64 roles domu {
    impl t.args(a: u64, b: u64, c: bool, d: s32) -> s8 {
        return probe(a as s8, b as u16, c, d, (a as ulong) as ptr<void>);
    }
    impl t.results(x: s32) -> u64 {
        var r: u64 = probe_u16(x);
        if probe_bool(x as ulong) {
            r |= 0x1_0000_0000;
        }
        return r + probe_word(x as u8);
    }
    impl t.split(va: ulong, pte: u64, f: s16) -> u32 {
        when i386 {
            probe_split(va, pte as u32, (pte >> 32) as u32, f);
        } else {
            probe_split(va, pte, f);
        }
        return 1;
    }
    impl t.variadic(a: ulong, b: s32) -> long {
        return probe_va(a as s8, b as s16, a as u8, b < 0, a);
    }
}
"""

REGISTER = st.integers(0, (1 << 64) - 1)


@pytest.fixture(scope="module", params=["i386-domu", "x86_64-domu"])
def xen_rig(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("hypercalls") / "probe.pv"
    path.write_text(HYPERCALLS)
    machine, view = built_machine(path, request.param, "x", count_instructions=False)
    return machine, record_hypercalls(machine), Interpreter(view, "x"), view.arch.word_bits


@settings(max_examples=60, deadline=None, database=None)
@given(hook=st.sampled_from(["t.args", "t.results", "t.split", "t.variadic"]), raw=st.lists(REGISTER, min_size=4, max_size=4))
def test_hypercall_registers_and_results_match_the_compiled_code(xen_rig, hook, raw):
    machine, recorder, interp, word_bits = xen_rig
    params, _ret, _cs = interp.hook_signature(hook)
    args = [value & 1 if t == T.BOOL else value for (_n, t), value in zip(params, raw)]  # a bool is 0 or 1
    recorder.reset()
    compiled = machine.call(hook, *args)
    assert compiled.fault is None, compiled.fault
    answers = [r.rc for r in recorder.records]

    def answer(name, number, values):
        return answers.pop(0)

    res = interp.call_hook(hook, args, flat_state(answer=answer))
    assert res.fault is None
    assert res.value == compiled.value
    assert [n for _name, n, _a in res.hypercalls] == [r.number for r in recorder.records]
    for _number, predicted, registers in predicted_registers(res, recorder, word_bits):
        # The argument registers the interpreter predicts, as unsigned words.
        assert predicted == registers


@pytest.mark.parametrize("arch, mask", [("i386", 0xFFFFFFFF), ("x86_64", 0xFFFFFFFFFFFFFFFF)])
def test_hypercall_arguments_are_register_words(arch, mask):
    interp = Interpreter(views_of(HYPERCALLS)[arch], "x")
    res = interp.call_hook("t.args", [0x1FF, 0x12345, 1, 0xFFFFFFFE], flat_state(answer=lambda *a: -1))
    (name, number, values), = res.hypercalls
    assert (name, number) == ("probe", 48)
    # s8 -1 sign-extended to the word; u16 truncated; a bool as 0 or 1; a
    # long -2 as the word's bits; the pointer's address.
    assert values == (mask, 0x2345, 1, 0xFFFFFFFE if arch == "i386" else mask - 1, 0x1FF & mask)
    assert res.value == 0xFF  # Xen's -1 as s8


@pytest.mark.parametrize("arch, words", [("i386", (0x1000, 0x55667788, 0x11223344, 0xFFFFFFFF)),
                                         ("x86_64", (0x1000, 0x1122334455667788, 0xFFFFFFFFFFFFFFFF))])
def test_per_arch_hypercall_arguments(arch, words):
    interp = Interpreter(views_of(HYPERCALLS)[arch], "x")
    res = interp.call_hook("t.split", [0x1000, 0x1122334455667788, 0xFFFF], flat_state(answer=lambda *a: 0))
    assert res.hypercalls == [("probe_split", 52, words)]


@pytest.mark.parametrize("arch, mask", [("i386", 0xFFFFFFFF), ("x86_64", 0xFFFFFFFFFFFFFFFF)])
def test_variadic_arguments_follow_the_declared_ones(arch, mask):
    # After probe_va's s8: an s16 sign-extended, a u8 and a bool
    # zero-extended, a ulong whole.
    interp = Interpreter(views_of(HYPERCALLS)[arch], "x")
    res = interp.call_hook("t.variadic", [0x1234_56F0, 0xFFFF_8001], flat_state(answer=lambda *a: 0))
    assert res.hypercalls == [("probe_va", 53, (mask - 0xF, mask - 0x7FFE, 0xF0, 1, 0x1234_56F0))]


def test_a_hypercall_without_an_answer_is_a_fault():
    res = Interpreter(views_of(HYPERCALLS)["x86_64"], "x").call_hook("t.split", [1, 2, 3], flat_state())
    assert res.fault.kind == "unsupported"
    assert len(res.hypercalls) == 1


HOOKS = """\
table a_ops {
    first(x: u32) -> u32;
    second(x: u32) -> u32 { return x * 3; }
    third() -> u32;
    only64(x: u64) -> u64 when x86_64;
}

table b_ops {
    other(x: u32) -> u32;
}

fn double(x: u32) -> u32 { return x * 2; }

backend base for i386, x86_64 roles native {
    impl a_ops.first(x: u32) -> u32 { return double(x) + a_ops.second(x); }
    impl a_ops.third() -> u32 { return twice(a_ops.first(1)); }
    impl a_ops.only64(x: u64) -> u64 { return x >> 32; }
    fn twice(x: u32) -> u32 { return x + x; }
}

backend derived extends base for i386, x86_64 roles native {
    // Replaces the base's: the base's third now calls this one.
    impl a_ops.first(x: u32) -> u32 { return x + 1000; }
    impl b_ops.other(x: u32) -> u32 { return x; }
}

backend outside for i386, x86_64 roles native {
    impl b_ops.other(x: u32) -> u32 { return a_ops.first(x); }
}
"""


@pytest.mark.parametrize("arch", ARCHES)
def test_hooks_in_slot_order_with_defaults(arch):
    interp = Interpreter(views_of(HOOKS)[arch], "base")
    expected = ["a_ops.first", "a_ops.second", "a_ops.third"] + (["a_ops.only64"] if arch == "x86_64" else [])
    assert interp.hooks() == expected
    params, ret, callee_save = interp.hook_signature("a_ops.second")
    assert [(n, t.spell()) for n, t in params] == [("x", "u32")] and ret.spell() == "u32" and not callee_save


@pytest.mark.parametrize("arch", ARCHES)
def test_helpers_defaults_and_hook_calls(arch):
    interp = Interpreter(views_of(HOOKS)[arch], "base")
    state = flat_state()
    assert interp.call_hook("a_ops.second", [5], state).value == 15          # the table's default
    assert interp.call_hook("a_ops.first", [5], state).value == 10 + 15      # a top-level fn and a hook
    assert interp.call_hook("a_ops.third", [], state).value == 2 * (2 + 3)   # the backend's own fn


@pytest.mark.parametrize("arch", ARCHES)
def test_inherited_impls_call_the_derived_backends_hooks(arch):
    interp = Interpreter(views_of(HOOKS)[arch], "derived")
    state = flat_state()
    assert interp.call_hook("a_ops.first", [5], state).value == 1005
    assert interp.call_hook("a_ops.third", [], state).value == 2 * 1001
    assert "b_ops.other" in interp.hooks()


@pytest.mark.parametrize("arch", ARCHES)
def test_a_hook_of_a_table_the_backend_does_not_fill_is_not_followed(arch):
    interp = Interpreter(views_of(HOOKS)[arch], "outside")
    res = interp.call_hook("b_ops.other", [1], flat_state())
    assert res.fault.kind == "unsupported" and "a_ops.first" in res.fault.message


def test_api_errors():
    views = views_of(HOOKS)
    with pytest.raises(InterpError, match="no backend 'nope'"):
        Interpreter(views["i386"], "nope")
    interp = Interpreter(views["i386"], "base")
    with pytest.raises(KeyError, match="only64"):
        interp.call_hook("a_ops.only64", [1], flat_state())  # not on i386
    with pytest.raises(TypeError, match="takes 1 arguments, 2 given"):
        interp.call_hook("a_ops.first", [1, 2], flat_state())


LOOPS = """\
table t {
    spin() -> u32;
    recurse(n: u32) -> u32;
    deep(x: u32) -> u32;
}

backend m for i386, x86_64 roles native {
    var stop: bool;
    impl t.spin() -> u32 {
        while !stop {
        }
        return 1;
    }
    impl t.recurse(n: u32) -> u32 { return down(n); }
    fn down(n: u32) -> u32 {
        if n == 0 { return 0; }
        return down(n - 1) + 1;
    }
    impl t.deep(x: u32) -> u32 {
        return DEEP;
    }
}
"""
# 150 nested operators, some of them lazy with calls inside: more than
# Python's parser takes in one expression, so the interpreter must split it.
DEEP = "x"
for _i in range(150):
    DEEP = f"({DEEP} + 1)" if _i % 3 else f"(x > 7 && down(x) > 2 ? {DEEP} * 3 : x)"
LOOPS = LOOPS.replace("DEEP", DEEP)


def test_the_step_budget_stops_a_loop_that_does_not_end():
    interp = Interpreter(views_of(LOOPS)["x86_64"], "m")
    state = State(SparseMemory(zero_fill=True), CpuState(), {"stop": 0x5000}.__getitem__)
    res = interp.call_hook("t.spin", [], state, budget=10_000)
    assert res.fault.kind == "budget" and res.steps > 10_000
    state.memory.write(0x5000, b"\x01")
    assert interp.call_hook("t.spin", [], state).value == 1


def test_recursion_and_very_deep_expressions():
    views = views_of(LOOPS)
    for arch in ARCHES:
        interp = Interpreter(views[arch], "m")
        assert interp.call_hook("t.recurse", [200], flat_state()).value == 200
        x, want = 9, 9
        for i in range(150):
            want = want + 1 if i % 3 else (want * 3 if x > 7 and x > 2 else x)
        assert interp.call_hook("t.deep", [x], flat_state()).value == want & 0xFFFFFFFF
    # The expression was split into temporaries, each well inside the parser's
    # limits, and its nested branches into functions.
    lines = interp.source.splitlines()
    assert "_t1 = " in interp.source and "def h_t_deep_part1(a0_x):" in lines
    assert max(_nesting(line) for line in lines) <= 100
    assert max(len(line) - len(line.lstrip(" ")) for line in lines) <= 4 * 20


def test_recursion_and_deep_expressions_in_the_compiled_code(tmp_path):
    path = tmp_path / "loops.pv"
    path.write_text(LOOPS)
    for target in ("i386-native", "x86_64-native"):
        machine, view = built_machine(path, target, "m", count_instructions=False)
        interp = Interpreter(view, "m")
        for hook, args in (("t.recurse", [200]), ("t.deep", [9]), ("t.deep", [5]), ("t.deep", [8])):
            compiled = machine.call(hook, *args)
            assert compiled.fault is None
            assert interp.call_hook(hook, args, flat_state()).value == compiled.value, (target, hook, args)


def _nesting(line: str) -> int:
    depth = deepest = 0
    for ch in line:
        depth += (ch == "(") - (ch == ")")
        deepest = max(deepest, depth)
    return deepest


def test_loops_nested_past_pythons_limit_are_refused_up_front():
    body = "".join(f"var i{n}: u32 = 0; while i{n} < 1 {{ i{n} += 1; " for n in range(25)) + "}" * 25
    text = f"table t {{ f(); }}\nbackend m for x86_64 roles native {{ impl t.f() {{ {body} }} }}\n"
    with pytest.raises(InterpError, match="nested too deeply"):
        Interpreter(views_of(text)["x86_64"], "m")


def test_long_chains_of_casts():
    e = "x"
    for i in range(200):  # 29 additions of 1 among 200 casts
        e = f"(({e} as u16) + 1)" if i % 7 == 0 else f"({e} as {['u8', 's16', 'u32', 's64'][i % 4]})"
    text = ("table t { f(x: u32) -> u64; }\n"
            f"backend m for x86_64 roles native {{ impl t.f(x: u32) -> u64 {{ return {e} as u64; }} }}\n")
    assert Interpreter(views_of(text)["x86_64"], "m").call_hook("t.f", [5], flat_state()).value == 5 + 29
