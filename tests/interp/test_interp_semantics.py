"""Each construct's meaning in the interpreter: integer arithmetic and
conversions, statements, locals, memory through variables, structs, arrays
and pointers. Expected values are worked out by hand from the language
reference (docs/language.md, "Run-time semantics", "Conversions", "Casts")."""

from __future__ import annotations

import functools

import pytest

from interp_support import flat_state, views_of
from pvdsl.interp import Interpreter, SparseMemory, State

ARCHES = ["i386", "x86_64"]

ARITH = """\
table t {
    add_u8(a: u8, b: u8) -> u8;
    add_s8(a: s8, b: s8) -> s8;
    mul_u32(a: u32, b: u32) -> u32;
    neg_u16(a: u16) -> u16;
    not_s32(a: s32) -> s32;
    div_s32(a: s32, b: s32) -> s32;
    rem_s32(a: s32, b: s32) -> s32;
    div_u32(a: u32, b: u32) -> u32;
    shr_s8(a: s8, n: u8) -> s8;
    shr_u8(a: u8, n: u8) -> u8;
    shl_u32(a: u32, n: u32) -> u32;
    shl_by_signed(a: u8, n: s8) -> u8;
    shl_u8_compound(a: u8, n: u64) -> u8;
    lt_s16(a: s16, b: s16) -> bool;
    lt_u16(a: u16, b: u16) -> bool;
    widen_cmp(a: u8, b: s32) -> bool;
    word(a: ulong, b: ulong) -> ulong;
    const_div(a: s32) -> s32;
}

backend m for i386, x86_64 roles native {
    impl t.add_u8(a: u8, b: u8) -> u8 { return a + b; }
    impl t.add_s8(a: s8, b: s8) -> s8 { return a + b; }
    impl t.mul_u32(a: u32, b: u32) -> u32 { return a * b; }
    impl t.neg_u16(a: u16) -> u16 { return -a; }
    impl t.not_s32(a: s32) -> s32 { return ~a; }
    impl t.div_s32(a: s32, b: s32) -> s32 { return a / b; }
    impl t.rem_s32(a: s32, b: s32) -> s32 { return a % b; }
    impl t.div_u32(a: u32, b: u32) -> u32 { return a / b; }
    impl t.shr_s8(a: s8, n: u8) -> s8 { return a >> n; }
    impl t.shr_u8(a: u8, n: u8) -> u8 { return a >> n; }
    impl t.shl_u32(a: u32, n: u32) -> u32 { return a << n; }
    impl t.shl_by_signed(a: u8, n: s8) -> u8 { return a << n; }
    impl t.shl_u8_compound(a: u8, n: u64) -> u8 { var x: u8 = a; x <<= n; return x; }
    impl t.lt_s16(a: s16, b: s16) -> bool { return a < b; }
    impl t.lt_u16(a: u16, b: u16) -> bool { return a < b; }
    impl t.widen_cmp(a: u8, b: s32) -> bool { return a > b; }
    impl t.word(a: ulong, b: ulong) -> ulong { return a + b; }
    impl t.const_div(a: s32) -> s32 { return a / -1; }
}
"""


@functools.lru_cache(maxsize=None)
def interp(text: str, arch: str, backend: str) -> Interpreter:
    return Interpreter(views_of(text)[arch], backend)


def call(text: str, arch: str, hook: str, *args: int, backend: str = "m", state: State | None = None):
    return interp(text, arch, backend).call_hook(hook, list(args), state or flat_state())


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("hook, args, want", [
    ("t.add_u8", (200, 100), 44),                        # 300 wraps at 8 bits
    ("t.add_s8", (100, 100), 0xC8),                      # -56, returned as the byte the caller reads
    ("t.mul_u32", (0x10000, 0x10001), 0x10000),
    ("t.neg_u16", (1,), 0xFFFF),                         # - of an unsigned type stays unsigned
    ("t.not_s32", (5,), 0xFFFFFFFA),
    ("t.div_s32", (-7 & 0xFFFFFFFF, 2), -3 & 0xFFFFFFFF),  # truncates toward zero
    ("t.rem_s32", (-7 & 0xFFFFFFFF, 2), -1 & 0xFFFFFFFF),
    ("t.div_u32", (0xFFFFFFF9, 2), 0x7FFFFFFC),          # the same bits, unsigned
    ("t.shr_s8", (0x80, 1), 0xC0),                       # arithmetic shift of a signed type
    ("t.shr_u8", (0x80, 1), 0x40),
    ("t.shl_u32", (1, 33), 2),                           # the count is taken modulo 32
    ("t.shl_by_signed", (1, 0xFF), 0x80),                # count -1 as s8: 7 modulo 8
    ("t.shl_u8_compound", (1, 9), 2),                    # 9 modulo 8
    ("t.lt_s16", (0xFFFF, 1), 1),                        # -1 < 1
    ("t.lt_u16", (0xFFFF, 1), 0),                        # 65535 < 1 is false
    ("t.widen_cmp", (0xFF, 0xFFFFFFFF), 1),              # u8 widens to s32: 255 > -1
    ("t.const_div", (0x80000000,), 0x80000000),          # a constant divisor never faults: it wraps
])
def test_integer_operations(arch, hook, args, want):
    res = call(ARITH, arch, hook, *args)
    assert res.fault is None
    assert res.value == want


def test_word_width_follows_the_arch():
    assert call(ARITH, "i386", "t.word", 0xFFFFFFFF, 2).value == 1
    assert call(ARITH, "x86_64", "t.word", 0xFFFFFFFF, 2).value == 0x100000001


@pytest.mark.parametrize("arch", ARCHES)
def test_arguments_arrive_as_the_callee_reads_them(arch):
    # A register's upper bits are not part of a narrow parameter.
    assert call(ARITH, arch, "t.add_u8", 0xABCD01, 0x1234_0001).value == 2
    assert call(ARITH, arch, "t.add_s8", 0xFF, 0xFF).value == 0xFE


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("hook, args, kind", [
    ("t.div_s32", (1, 0), "#DE"),
    ("t.div_u32", (1, 0), "#DE"),
    ("t.div_s32", (0x80000000, 0xFFFFFFFF), "#DE"),      # idiv overflow faults
    ("t.rem_s32", (0x80000000, 0xFFFFFFFF), "#DE"),
])
def test_divide_errors(arch, hook, args, kind):
    res = call(ARITH, arch, hook, *args)
    assert res.fault is not None and res.fault.kind == kind
    assert res.fault.span is not None and res.fault.span.line == ARITH.splitlines().index(
        next(line for line in ARITH.splitlines() if f"impl {hook}(" in line)) + 1


CONVERSIONS = """\
enum mode: s8 {
    low = -2,
    mid,
    high = 100,
}

flags bits: u16 {
    a,
    b,
    c = 0x8000,
}

table t {
    enums(m: mode, f: bits) -> u32;
    pointers(p: ptr<u8>, q: ptr<void>) -> u8;
    sext(a: s8) -> u32;
    zext(a: u8) -> s32;
    trunc(a: u32) -> u8;
    s_to_u64(a: s16) -> u64;
    bool_to_int(a: u32) -> u8;
    ptr_roundtrip(a: ulong) -> ulong;
    to_long(a: u32) -> long;
    implicit(a: u8, b: u16) -> u32;
}

backend m for i386, x86_64 roles native {
    impl t.enums(m: mode, f: bits) -> u32 {
        var g: bits = f;
        g &= bits.a | bits.c;
        g |= bits.b;
        var wide: s32 = m;                  // an enum widens to what its base widens to
        return (g as u32) << 16 | (wide + mode.mid) as u32 & 0xffff;
    }
    impl t.pointers(p: ptr<u8>, q: ptr<void>) -> u8 {
        var h: handle<u8> = p as handle<u8>;
        var r: ptr<u8> = p == null ? null : p;
        return (h == null ? 1 : 0) + (q == p ? 2 : 0) + (r != null ? 4 : 0);
    }
    impl t.sext(a: s8) -> u32 { return a as u32; }
    impl t.zext(a: u8) -> s32 { return a as s32; }
    impl t.trunc(a: u32) -> u8 { return a as u8; }
    impl t.s_to_u64(a: s16) -> u64 { return a as u64; }
    impl t.bool_to_int(a: u32) -> u8 { return (a != 0) as u8 + (a == 0) as u8 * 10; }
    impl t.ptr_roundtrip(a: ulong) -> ulong { return (a as ptr<u8>) as ulong; }
    impl t.to_long(a: u32) -> long { return (a as long) - 1; }
    impl t.implicit(a: u8, b: u16) -> u32 { var x: u32 = a; return x * 0x10000 + b; }
}
"""


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("hook, arg, want", [
    ("t.sext", 0xFF, 0xFFFFFFFF),
    ("t.zext", 0xFF, 0xFF),
    ("t.trunc", 0x1234, 0x34),
    ("t.s_to_u64", 0x8000, 0xFFFFFFFFFFFF8000),
    ("t.bool_to_int", 7, 1),
    ("t.bool_to_int", 0, 10),
    ("t.ptr_roundtrip", 0xC0001000, 0xC0001000),
])
def test_casts(arch, hook, arg, want):
    assert call(CONVERSIONS, arch, hook, arg).value == want


def test_cast_to_long_depends_on_the_word():
    # u32 0 as long is 0 on both; minus 1 is -1 in the word, returned as its bits.
    assert call(CONVERSIONS, "i386", "t.to_long", 0).value == 0xFFFFFFFF
    assert call(CONVERSIONS, "x86_64", "t.to_long", 0).value == 0xFFFFFFFFFFFFFFFF
    # 0xffffffff as long: -1 on i386 (same width), 4294967295 on x86_64.
    assert call(CONVERSIONS, "i386", "t.to_long", 0xFFFFFFFF).value == 0xFFFFFFFE
    assert call(CONVERSIONS, "x86_64", "t.to_long", 0xFFFFFFFF).value == 0xFFFFFFFE


@pytest.mark.parametrize("arch", ARCHES)
def test_enums_and_flags(arch):
    # g = (0x8003 & 0x8001) | 0x2 = 0x8003; m = -2 widened, plus mid (-1): -3.
    assert call(CONVERSIONS, arch, "t.enums", 0xFE, 0x8003).value == 0x8003_0000 | 0xFFFD


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("p, q, want", [(0, 0, 1 + 2), (0x1000, 0x1000, 2 + 4), (0x1000, 0x2000, 4)])
def test_pointers_handles_and_null(arch, p, q, want):
    assert call(CONVERSIONS, arch, "t.pointers", p, q).value == want


@pytest.mark.parametrize("arch", ARCHES)
def test_implicit_widening_keeps_the_value(arch):
    assert call(CONVERSIONS, arch, "t.implicit", 0xAB, 0xCDEF).value == 0xABCDEF


STATEMENTS = """\
table t {
    loop(n: u32) -> u32;
    fresh(n: u32) -> u32;
    lazy_and(p: ulong) -> bool;
    lazy_or(p: ulong) -> bool;
    lazy_select(p: ulong, c: bool) -> u32;
    chain(x: s32) -> u8;
    breaks(n: u32) -> u32;
}

backend m for i386, x86_64 roles native {
    impl t.loop(n: u32) -> u32 {
        var i: u32 = 0;
        var sum: u32 = 0;
        while i < n {
            i += 1;
            sum += i;
        }
        return sum;
    }
    // A local is zero where it is declared, on every iteration.
    impl t.fresh(n: u32) -> u32 {
        var i: u32 = 0;
        var last: u32 = 99;
        while i < n {
            var acc: u32;
            acc += 5;
            last = acc;
            i += 1;
        }
        return last;
    }
    // Dereferencing p faults: the right operand must not run.
    impl t.lazy_and(p: ulong) -> bool { return false && *(p as ptr<u8>) == 0; }
    impl t.lazy_or(p: ulong) -> bool { return true || *(p as ptr<u8>) == 0; }
    impl t.lazy_select(p: ulong, c: bool) -> u32 { return c ? 7 : *(p as ptr<u32>); }
    impl t.chain(x: s32) -> u8 {
        var kind: u8;
        if x < 0 {
            kind = 0;
        } else if x == 0 {
            kind = 1;
        } else if x < 10 {
            kind = 2;
        } else {
            kind = 3;
        }
        kind |= 0x80;
        return kind;
    }
    impl t.breaks(n: u32) -> u32 {
        var i: u32 = 0;
        var odd: u32 = 0;
        while true {
            i += 1;
            if i > n { break; }
            if (i & 1) == 0 { continue; }
            odd += 1;
        }
        return odd;
    }
}
"""

# The parameter's name in the impl is not the hook's (the checker allows it).
RENAMED = """\
table t {
    renamed(value: u32) -> u32;
}

backend m for i386, x86_64 roles native {
    impl t.renamed(v: u32) -> u32 { return v + 1; }
}
"""

UNMAPPED = 0xDEAD000


@pytest.mark.parametrize("arch", ARCHES)
def test_loops_and_steps(arch):
    res = call(STATEMENTS, arch, "t.loop", 3)
    assert res.value == 6
    # var, var, while, return, plus each iteration's while and its two statements
    assert res.steps == 4 + 3 * 3


@pytest.mark.parametrize("arch", ARCHES)
def test_locals_start_at_zero_each_time(arch):
    assert call(STATEMENTS, arch, "t.fresh", 4).value == 5
    assert call(STATEMENTS, arch, "t.fresh", 0).value == 99


@pytest.mark.parametrize("arch", ARCHES)
def test_logical_operators_and_select_are_lazy(arch):
    assert call(STATEMENTS, arch, "t.lazy_and", UNMAPPED).value == 0
    assert call(STATEMENTS, arch, "t.lazy_or", UNMAPPED).value == 1
    assert call(STATEMENTS, arch, "t.lazy_select", UNMAPPED, 1).value == 7
    res = call(STATEMENTS, arch, "t.lazy_select", UNMAPPED, 0)
    assert res.fault is not None and res.fault.kind == "memory" and res.fault.cause.va == UNMAPPED


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("x, want", [(-5, 0x80), (0, 0x81), (3, 0x82), (50, 0x83)])
def test_else_if_chain(arch, x, want):
    assert call(STATEMENTS, arch, "t.chain", x & 0xFFFFFFFF).value == want


@pytest.mark.parametrize("arch", ARCHES)
def test_break_and_continue(arch):
    assert call(STATEMENTS, arch, "t.breaks", 7).value == 4


@pytest.mark.parametrize("arch", ARCHES)
def test_impl_parameter_names_may_differ_from_the_hook(arch):
    assert call(RENAMED, arch, "t.renamed", 41).value == 42


MEMORY = """\
struct pair {
    small: u8;
    big: u64;
    cells: u16[4];
}

table t {
    set_percpu(v: u64) -> ulong;
    get_var() -> u64;
    index(p: ptr<u32>, i: s32) -> u32;
    through(p: ptr<pair>) -> u16;
    local_struct(v: u16) -> u16;
    address_of_local(v: u32) -> u32;
    address_of_param(v: u32) -> u32;
    load_bool() -> bool;
    store_bool(b: bool) -> u8;
}

backend m for i386, x86_64 roles native {
    percpu here: pair;
    var everywhere: pair;

    impl t.set_percpu(v: u64) -> ulong {
        here.big = v;
        here.small = 0x1ff as u8;
        here.cells[3] = 0xbeef;
        return sizeof(pair);
    }
    impl t.get_var() -> u64 { return everywhere.big + everywhere.cells[1]; }
    impl t.index(p: ptr<u32>, i: s32) -> u32 { return p[i]; }
    impl t.through(p: ptr<pair>) -> u16 { p->cells[2] += 1; return p->cells[2]; }
    impl t.local_struct(v: u16) -> u16 {
        var s: pair;
        s.cells[1] = v;
        s.small = 3;
        var q: ptr<u16> = &s.cells[1];
        *q += s.small;
        return s.cells[1] + s.cells[0];
    }
    impl t.address_of_local(v: u32) -> u32 {
        var x: u32 = v;
        bump(&x);
        return x;
    }
    impl t.address_of_param(v: u32) -> u32 {
        bump(&v);
        bump(&v);
        return v;
    }
    impl t.load_bool() -> bool { var slot: ptr<bool> = &everywhere.cells[0] as ptr<bool>; return *slot; }
    impl t.store_bool(b: bool) -> u8 {
        var slot: ptr<bool> = &everywhere.cells[0] as ptr<bool>;
        *slot = b;
        return everywhere.cells[0] as u8;
    }
    fn bump(p: ptr<u32>) { *p += 100; }
}
"""
HERE, EVERYWHERE, BUF = 0x10000, 0x20000, 0x30000


def memory_state():
    memory = SparseMemory()
    for va in (HERE, EVERYWHERE, BUF):
        memory.map(va, 4096)
    return State(memory, symbol_address={"here": HERE, "everywhere": EVERYWHERE}.__getitem__)


@pytest.mark.parametrize("arch, big_at, cells_at, size", [("i386", 4, 12, 20), ("x86_64", 8, 16, 24)])
def test_percpu_fields_follow_the_arch_layout(arch, big_at, cells_at, size):
    state = memory_state()
    res = call(MEMORY, arch, "t.set_percpu", 0x1122334455667788, state=state)
    assert res.value == size
    m = state.memory
    assert m.read(HERE + big_at, 8) == bytes.fromhex("8877665544332211")
    assert m.read(HERE, 1) == b"\xff"
    assert m.read(HERE + cells_at + 6, 2) == b"\xef\xbe"


@pytest.mark.parametrize("arch, big_at, cells_at", [("i386", 4, 12), ("x86_64", 8, 16)])
def test_backend_variables(arch, big_at, cells_at):
    state = memory_state()
    state.memory.write(EVERYWHERE + big_at, (5).to_bytes(8, "little"))
    state.memory.write(EVERYWHERE + cells_at + 2, (7).to_bytes(2, "little"))
    assert call(MEMORY, arch, "t.get_var", state=state).value == 12


@pytest.mark.parametrize("arch", ARCHES)
def test_pointer_index_is_signed_and_scaled(arch):
    state = memory_state()
    state.memory.write(BUF + 0x100 - 4, (0xCAFE).to_bytes(4, "little"))
    assert call(MEMORY, arch, "t.index", BUF + 0x100, 0xFFFFFFFF, state=state).value == 0xCAFE


@pytest.mark.parametrize("arch, cells_at", [("i386", 12), ("x86_64", 16)])
def test_fields_through_pointers(arch, cells_at):
    state = memory_state()
    state.memory.write(BUF + cells_at + 4, (0xFFFF).to_bytes(2, "little"))
    res = call(MEMORY, arch, "t.through", BUF, state=state)
    assert res.value == 0
    assert state.memory.read(BUF + cells_at + 4, 2) == b"\x00\x00"


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("stack_top", [None, BUF + 4096])
def test_locals_in_memory(arch, stack_top):
    state = memory_state()
    state.stack_top = stack_top
    assert call(MEMORY, arch, "t.local_struct", 40, state=state).value == 43
    assert call(MEMORY, arch, "t.address_of_local", 1, state=state).value == 101
    assert call(MEMORY, arch, "t.address_of_param", 1, state=state).value == 201
    if stack_top is not None:
        # The frames were in the state's memory, just below the top.
        assert any(state.memory.read(BUF + 4096 - 64, 64))


@pytest.mark.parametrize("arch, cells_at", [("i386", 12), ("x86_64", 16)])
def test_a_bool_is_one_byte_read_by_its_lowest_bit(arch, cells_at):
    state = memory_state()
    for byte, want in ((0xFE, 0), (0x03, 1), (0x01, 1)):
        state.memory.write(EVERYWHERE + cells_at, bytes([byte, 0x77]))
        assert call(MEMORY, arch, "t.load_bool", state=state).value == want
    assert call(MEMORY, arch, "t.store_bool", 1, state=state).value == 1  # one byte: 0x77 stays
    assert state.memory.read(EVERYWHERE + cells_at, 2) == b"\x01\x77"


# ---- the same expectations, met by the compiled code ----

COMPILED_CASES = [
    (ARITH, "t.add_u8", (200, 100)), (ARITH, "t.add_s8", (100, 100)), (ARITH, "t.mul_u32", (0x10000, 0x10001)),
    (ARITH, "t.neg_u16", (1,)), (ARITH, "t.not_s32", (5,)), (ARITH, "t.div_s32", (0xFFFFFFF9, 2)),
    (ARITH, "t.rem_s32", (0xFFFFFFF9, 2)), (ARITH, "t.div_u32", (0xFFFFFFF9, 2)), (ARITH, "t.shr_s8", (0x80, 1)),
    (ARITH, "t.shr_u8", (0x80, 1)), (ARITH, "t.shl_u32", (1, 33)), (ARITH, "t.shl_by_signed", (1, 0xFF)),
    (ARITH, "t.shl_u8_compound", (1, 9)), (ARITH, "t.lt_s16", (0xFFFF, 1)), (ARITH, "t.lt_u16", (0xFFFF, 1)),
    (ARITH, "t.widen_cmp", (0xFF, 0xFFFFFFFF)), (ARITH, "t.word", (0xFFFFFFFF, 2)),
    (ARITH, "t.const_div", (0x80000000,)), (ARITH, "t.add_u8", (0xABCD01, 0x1234_0001)),
    (ARITH, "t.div_s32", (1, 0)), (ARITH, "t.div_u32", (1, 0)), (ARITH, "t.div_s32", (0x80000000, 0xFFFFFFFF)),
    (ARITH, "t.rem_s32", (0x80000000, 0xFFFFFFFF)),
    (CONVERSIONS, "t.enums", (0xFE, 0x8003)), (CONVERSIONS, "t.enums", (0x64, 0xFFFF)),
    (CONVERSIONS, "t.pointers", (0, 0)), (CONVERSIONS, "t.pointers", (0x1000, 0x1000)),
    (CONVERSIONS, "t.pointers", (0x1000, 0x2000)), (CONVERSIONS, "t.sext", (0xFF,)),
    (CONVERSIONS, "t.zext", (0xFF,)), (CONVERSIONS, "t.trunc", (0x1234,)),
    (CONVERSIONS, "t.s_to_u64", (0x8000,)), (CONVERSIONS, "t.bool_to_int", (7,)), (CONVERSIONS, "t.bool_to_int", (0,)),
    (CONVERSIONS, "t.ptr_roundtrip", (0xC0001000,)), (CONVERSIONS, "t.to_long", (0,)),
    (CONVERSIONS, "t.to_long", (0xFFFFFFFF,)), (CONVERSIONS, "t.implicit", (0xAB, 0xCDEF)),
    (STATEMENTS, "t.loop", (3,)), (STATEMENTS, "t.fresh", (4,)), (STATEMENTS, "t.fresh", (0,)),
    (STATEMENTS, "t.lazy_and", (UNMAPPED,)), (STATEMENTS, "t.lazy_or", (UNMAPPED,)),
    (STATEMENTS, "t.lazy_select", (UNMAPPED, 1)), (STATEMENTS, "t.lazy_select", (UNMAPPED, 0)),
    (STATEMENTS, "t.chain", (0xFFFFFFFB,)), (STATEMENTS, "t.chain", (0,)), (STATEMENTS, "t.chain", (3,)),
    (STATEMENTS, "t.chain", (50,)), (STATEMENTS, "t.breaks", (7,)),
]


@pytest.fixture(scope="module", params=["i386-native", "x86_64-native"])
def machines(request, tmp_path_factory):
    from interp_support import built_machine

    out = {}
    for n, text in enumerate((ARITH, CONVERSIONS, STATEMENTS)):
        path = tmp_path_factory.mktemp("semantics") / f"spec{n}.pv"
        path.write_text(text)
        out[text] = built_machine(path, request.param, "m", count_instructions=False)[0]
    return request.param.split("-")[0], out


def test_the_compiled_code_agrees(machines):
    arch, by_spec = machines
    for text, hook, args in COMPILED_CASES:
        compiled = by_spec[text].call(hook, *args)
        interpreted = call(text, arch, hook, *args)
        assert (compiled.fault is None) == (interpreted.fault is None), (arch, hook, args, compiled.fault)
        if compiled.fault is None:
            assert compiled.value == interpreted.value, (arch, hook, args)
