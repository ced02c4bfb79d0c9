"""Random well-typed pvdsl bodies (hypothesis strategies) for the
differential tests: expressions and statements over every integer type,
built so the checker accepts them on both arches.

What the checker would reject is avoided by construction: constant
subexpressions never overflow (every operator has a non-constant operand),
constant shift counts are below the narrowest width of their type, divisors
are never the constant 0, and 64-bit division only appears in hooks that
exist on x86_64 alone (an i386 kernel has no __udivdi3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from pvdsl.arch import ARCHES
from pvdsl.sema import types as T

INTS = ["u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "ulong", "long"]
BITS = {t: (T.INTS[t].width(ARCHES["i386"]), T.INTS[t].width(ARCHES["x86_64"])) for t in INTS}
SIGNED = {t: T.INTS[t].signed for t in INTS}
NARROW_DIVISION = [t for t in INTS if BITS[t][0] <= 32]  # 32-bit at most on i386


def widens_everywhere(src: str, dst: str) -> bool:
    return all(T.widens_to(T.INTS[src], T.INTS[dst], a) for a in ARCHES.values())


def literal_range(t: str) -> tuple[int, int]:
    """Values of `t` on both arches."""
    w = min(BITS[t])
    return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if SIGNED[t] else (0, (1 << w) - 1)


RECORD = "\n".join(["struct rec {"] + [f"    f_{t}: {t};" for t in INTS]
                   + ["    flag: bool;", "    arr: u32[4];", "    wide: s16[3];", "}"])


@dataclass
class Scope:
    ints: dict[str, str] = field(default_factory=dict)  # name -> type
    bools: list[str] = field(default_factory=list)
    helpers: list[tuple[str, list[str], str]] = field(default_factory=list)  # name, param types, result
    hooks: list[tuple[str, list[str], str]] = field(default_factory=list)
    records: list[str] = field(default_factory=list)  # struct-valued lvalues: pc, a local rec, p->
    counters: set[str] = field(default_factory=set)  # loop counters: never assigned but by their loop
    wide_division: bool = False
    fresh: int = 0

    def name(self, stem: str) -> str:
        self.fresh += 1
        return f"{stem}{self.fresh}"

    def child(self) -> "Scope":
        return Scope(dict(self.ints), list(self.bools), self.helpers, self.hooks, list(self.records),
                     set(self.counters), self.wide_division, self.fresh)

    def callables(self) -> list[tuple[str, list[str], str]]:
        return [c for c in self.helpers + self.hooks if c[2] is not None]


# ---- expressions: (text, is_constant) ----

def _lvalues(sc: Scope, t: str) -> list[str]:
    out = [n for n, vt in sc.ints.items() if vt == t]
    out += [f"{r}.f_{t}" if not r.endswith("->") else f"{r}f_{t}" for r in sc.records]
    return out


def _field(record: str, name: str) -> str:
    return f"{record}{name}" if record.endswith("->") else f"{record}.{name}"


@st.composite
def nonconstant(draw, sc: Scope, t: str) -> str:
    """A leaf of type `t` that is not a constant."""
    options = _lvalues(sc, t)
    ints = list(sc.ints.items())
    if ints:
        name, vt = draw(st.sampled_from(ints))
        options.append(name if vt == t else f"({name} as {t})")
    if sc.records:
        r = draw(st.sampled_from(sc.records))
        options.append(f"({_field(r, 'arr')}[({draw(nonconstant(sc, 'u8'))}) & 3] as {t})"
                       if t != "u8" else f"({_field(r, 'arr')}[({_field(r, 'f_u8')}) & 3] as u8)")
        options.append(f"({_field(r, 'wide')}[{_field(r, 'f_u8')} % 3] as {t})")
    return draw(st.sampled_from(options))


@st.composite
def leaf(draw, sc: Scope, t: str):
    if draw(st.integers(0, 3)) == 0:
        value = draw(st.one_of(st.integers(0, 300), st.integers(0, (1 << 64) - 1), st.integers(-300, -1)))
        text = f"({value:#x} as {t})" if value >= 0 else f"(({value}) as {t})"
        return text, True
    return draw(nonconstant(sc, t)), False


@st.composite
def expr(draw, sc: Scope, t: str, depth: int):
    if depth <= 0:
        return draw(leaf(sc, t))
    kinds = ["leaf", "unary", "arith", "arith", "arith", "shift", "cast", "ternary", "mixed", "literal_operand"]
    if t in NARROW_DIVISION or sc.wide_division:
        kinds += ["div", "div"]
    if sc.callables():
        kinds.append("call")
    kind = draw(st.sampled_from(kinds))
    sub = depth - 1
    if kind == "leaf":
        return draw(leaf(sc, t))
    if kind == "unary":
        text, _c = draw(nonconstant_expr(sc, t, sub))
        return f"({draw(st.sampled_from(['-', '~']))}{text})", False
    if kind in ("arith", "div"):
        a, b = draw(expr(sc, t, sub)), draw(expr(sc, t, sub))
        if a[1] and b[1]:
            a = (draw(nonconstant(sc, t)), False)
        if kind == "div":
            op = draw(st.sampled_from(["/", "%"]))
            return f"({a[0]} {op} ({b[0]} | (1 as {t})))", False
        op = draw(st.sampled_from(["+", "-", "*", "&", "|", "^"]))
        return f"({a[0]} {op} {b[0]})", False
    if kind == "literal_operand":
        a, _c = draw(nonconstant_expr(sc, t, sub))
        op = draw(st.sampled_from(["+", "-", "*", "&", "|", "^"]))
        return f"({a} {op} {draw(st.integers(0, 127))})", False
    if kind == "shift":
        a, _c = draw(nonconstant_expr(sc, t, sub))
        op = draw(st.sampled_from(["<<", ">>"]))
        if draw(st.booleans()):
            return f"({a} {op} {draw(st.integers(0, min(BITS[t]) - 1))})", False
        count, _c = draw(nonconstant_expr(sc, draw(st.sampled_from(INTS)), sub))  # a constant must be in range
        return f"({a} {op} {count})", False
    if kind == "cast":
        src = draw(st.sampled_from(INTS))
        text, const = draw(expr(sc, src, sub))
        if draw(st.integers(0, 5)) == 0:
            cond, _c = draw(boolean(sc, sub))
            return f"({cond} as {t})", False  # bool -> integer: 1 or 0
        return f"({text} as {t})", const
    if kind == "ternary":
        cond, _c = draw(boolean(sc, sub))
        a, b = draw(expr(sc, t, sub)), draw(expr(sc, t, sub))
        return f"({cond} ? {a[0]} : {b[0]})", False
    if kind == "mixed":
        narrower = [s for s in INTS if s != t and widens_everywhere(s, t)]
        if not narrower:
            return draw(expr(sc, t, sub))
        a, _c = draw(nonconstant_expr(sc, t, sub))
        b, _c = draw(expr(sc, draw(st.sampled_from(narrower)), sub))
        op = draw(st.sampled_from(["+", "-", "*", "&", "|", "^"]))
        return (f"({a} {op} {b})" if draw(st.booleans()) else f"({b} {op} {a})"), False
    # a call of a helper or an earlier hook, converted to `t`
    return f"({draw(call(sc, st.sampled_from(sc.callables()), sub))} as {t})", False


@st.composite
def call(draw, sc: Scope, callee, depth: int) -> str:
    name, params, _ret = draw(callee)
    args = [draw(boolean(sc, 0))[0] if p == "bool" else draw(expr(sc, p, max(0, depth - 1)))[0] for p in params]
    return f"{name}({', '.join(args)})"


@st.composite
def nonconstant_expr(draw, sc: Scope, t: str, depth: int):
    text, const = draw(expr(sc, t, depth))
    return (draw(nonconstant(sc, t)), False) if const else (text, False)


@st.composite
def boolean(draw, sc: Scope, depth: int):
    kinds = ["compare", "compare", "compare"]
    if sc.bools:
        kinds.append("var")
    if sc.records:
        kinds.append("flag")
    if depth > 0:
        kinds += ["and", "or", "not"]
    kind = draw(st.sampled_from(kinds))
    if kind == "var":
        return draw(st.sampled_from(sc.bools)), False
    if kind == "flag":
        return _field(draw(st.sampled_from(sc.records)), "flag"), False
    if kind in ("and", "or"):
        a, b = draw(boolean(sc, depth - 1)), draw(boolean(sc, depth - 1))
        return f"({a[0]} {'&&' if kind == 'and' else '||'} {b[0]})", False
    if kind == "not":
        return f"!({draw(boolean(sc, depth - 1))[0]})", False
    t = draw(st.sampled_from(INTS))
    a, _c = draw(nonconstant_expr(sc, t, max(0, depth - 1)))
    other = draw(st.sampled_from([t] + [s for s in INTS if s != t and widens_everywhere(s, t)]))
    b, _c = draw(expr(sc, other, max(0, depth - 1)))
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
    return f"({a} {op} {b})", False


# ---- statements ----

@st.composite
def statements(draw, sc: Scope, depth: int, count: int, in_loop: bool = False) -> list[str]:
    out: list[str] = []
    for _ in range(count):
        out.extend(draw(statement(sc, depth, in_loop)))
    return out


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


@st.composite
def statement(draw, sc: Scope, depth: int, in_loop: bool) -> list[str]:
    kinds = ["var", "var", "assign", "assign", "compound", "store", "record", "address"]
    if depth > 0:
        kinds += ["if", "while"]
    if in_loop:
        kinds += ["break", "continue"]
    if sc.helpers or sc.hooks:
        kinds.append("call")
    kind = draw(st.sampled_from(kinds))
    edepth = draw(st.integers(0, 3))
    if kind == "call":
        return [draw(call(sc, st.sampled_from(sc.helpers + sc.hooks), edepth)) + ";"]
    if kind == "record":
        name = sc.name("r")
        sc.records.append(name)
        return [f"var {name}: rec;"]  # every field starts at zero
    if kind == "address":
        # The local (or parameter) pointed to lives in memory from now on.
        owned = [(n, t) for n, t in sc.ints.items() if n not in sc.counters]
        if not owned:
            return []
        target, t = draw(st.sampled_from(owned))
        ptr = sc.name("q")
        value, _c = draw(expr(sc, t, edepth))
        op = draw(st.sampled_from(["+", "^", "|", "-"]))
        return [f"var {ptr}: ptr<{t}> = &{target};", f"*{ptr} = *{ptr} {op} {value};"]
    if kind == "var":
        if draw(st.integers(0, 4)) == 0:
            name = sc.name("b")
            cond, _c = draw(boolean(sc, 2))
            sc.bools.append(name)
            return [f"var {name}: bool = {cond};"]
        t = draw(st.sampled_from(INTS))
        name = sc.name("x")
        if draw(st.integers(0, 5)) == 0:
            sc.ints[name] = t
            return [f"var {name}: {t};"]  # starts at zero
        text, _c = draw(expr(sc, t, edepth))
        sc.ints[name] = t
        return [f"var {name}: {t} = {text};"]
    if kind in ("assign", "store", "compound"):
        targets = [(n, t) for n, t in sc.ints.items() if n not in sc.counters] if kind != "store" else []
        for r in sc.records:
            targets += [(_field(r, f"f_{t}"), t) for t in INTS]
        if not targets:
            return []
        target, t = draw(st.sampled_from(targets))
        if kind == "compound":
            op = draw(st.sampled_from(["+", "-", "*", "&", "|", "^", "<<", ">>", "/", "%"]))
            if op in ("/", "%") and not (t in NARROW_DIVISION or sc.wide_division):
                op = "+"
            if op in ("<<", ">>"):
                count, _c = draw(expr(sc, draw(st.sampled_from(INTS)), edepth))
                return [f"{target} {op}= {count};"]
            value, _c = draw(expr(sc, t, edepth))
            if op in ("/", "%"):
                value = f"({value} | (1 as {t}))"
            return [f"{target} {op}= {value};"]
        if draw(st.integers(0, 6)) == 0 and sc.bools and kind == "assign":
            cond, _c = draw(boolean(sc, 2))
            return [f"{draw(st.sampled_from(sc.bools))} = {cond};"]
        value, _c = draw(expr(sc, t, edepth))
        return [f"{target} = {value};"]
    if kind == "if":
        cond, _c = draw(boolean(sc, 2))
        lines = [f"if {cond} {{"] + _indent(draw(statements(sc.child(), depth - 1, draw(st.integers(0, 3)),
                                                            in_loop)))
        while draw(st.booleans()):
            cond, _c = draw(boolean(sc, 1))
            lines += [f"}} else if {cond} {{"] + _indent(draw(statements(sc.child(), depth - 1, 1, in_loop)))
        if draw(st.booleans()):
            lines += ["} else {"] + _indent(draw(statements(sc.child(), depth - 1, draw(st.integers(0, 3)), in_loop)))
        return lines + ["}"]
    if kind == "while":
        counter = sc.name("i")
        body_scope = sc.child()
        body_scope.ints[counter] = "u32"
        body_scope.counters.add(counter)
        bound = draw(st.integers(0, 5))
        body = draw(statements(body_scope, depth - 1, draw(st.integers(1, 4)), in_loop=True))
        return [f"var {counter}: u32 = 0;", f"while {counter} < {bound} {{", f"    {counter} += 1;"] \
            + _indent(body) + ["}"]
    cond, _c = draw(boolean(sc, 1))
    return [f"if {cond} {{", f"    {kind};", "}"]


@st.composite
def body(draw, sc: Scope, ret: str | None) -> list[str]:
    sc = sc.child()  # drawing declares locals: keep the caller's scope as it was
    lines = draw(statements(sc, 2, draw(st.integers(1, 6))))
    if ret == "bool":
        lines.append(f"return {draw(boolean(sc, 3))[0]};")
    elif ret is not None:
        text, _c = draw(expr(sc, ret, draw(st.integers(1, 4))))
        lines.append(f"return {text};")
    return lines


@st.composite
def signature(draw) -> tuple[list[str], str | None]:
    params = draw(st.lists(st.sampled_from(INTS + ["bool"]), min_size=1, max_size=4))
    if draw(st.integers(0, 4)) == 0:
        params.insert(0, "ptr<rec>")  # the caller passes the address of a scratch `rec`
    ret = draw(st.sampled_from(INTS + [None, "bool"]))
    return params, ret


def draw_once(strategy, at_seed: int):
    """One value of `strategy`, the same for the same seed."""
    found = []

    @seed(at_seed)
    @settings(max_examples=3, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def capture(value):
        found.append(value)

    capture()
    return found[-1]  # the first examples hypothesis tries are the simplest


@dataclass
class Fn:
    name: str  # how it is called: g3, t_ops.h7
    params: list[str]
    ret: str | None
    wide: bool = False  # x86_64 only (it divides in 64 bits)
    body: list[str] = field(default_factory=list)

    def header(self) -> str:
        params = ", ".join(f"a{i}: {t}" for i, t in enumerate(self.params))
        return f"({params})" + (f" -> {self.ret}" if self.ret else "")


def _scope(fn: Fn, helpers: list[Fn], hooks: list[Fn]) -> Scope:
    sc = Scope(records=["pc", "kv"], wide_division=fn.wide)
    for i, t in enumerate(fn.params):
        if t == "bool":
            sc.bools.append(f"a{i}")
        elif t == "ptr<rec>":
            sc.records.append(f"a{i}->")
        else:
            sc.ints[f"a{i}"] = t
    sc.helpers = [(h.name, h.params, h.ret) for h in helpers if "ptr<rec>" not in h.params]
    if fn.wide:
        # Hook-to-hook calls only where the table has x86_64 alone: the
        # runtime's i386 loader cannot relocate R_386_PLT32, which LLVM uses
        # for a call of another (global) hook function.
        sc.hooks = [(h.name, h.params, h.ret) for h in hooks if not h.wide and "ptr<rec>" not in h.params]
    return sc


TABLE = "t_ops"
BACKEND = "t"


def generate_spec(base_seed: int, helpers: int, hooks: int, wide: int) -> tuple[str, list[Fn]]:
    """A spec of `hooks` random hooks (and `wide` x86_64-only ones) of table
    t_ops, with `helpers` helpers, filled by backend `t` (native). Each
    function is drawn from its own seed."""
    made_helpers: list[Fn] = []
    made_hooks: list[Fn] = []
    for k in range(helpers + hooks + wide):
        params, ret = draw_once(signature(), base_seed * 1000 + 2 * k)
        if k < helpers:
            fn = Fn(f"g{k}", params, ret)
        else:
            n = k - helpers
            fn = Fn(f"{TABLE}.h{n}", params, ret) if n < hooks else Fn(f"{TABLE}.w{n - hooks}", params, ret, True)
        fn.body = draw_once(body(_scope(fn, made_helpers, made_hooks), ret), base_seed * 1000 + 2 * k + 1)
        (made_helpers if k < helpers else made_hooks).append(fn)
    table = [f"table {TABLE} {{"]
    for h in made_hooks:
        table.append(f"    {h.name.split('.')[1]}{h.header()}{' when x86_64' if h.wide else ''};")
    table.append("}")
    backend = [f"backend {BACKEND} for i386, x86_64 roles native {{", "    percpu pc: rec;", "    var kv: rec;"]
    for fn in made_helpers:
        backend += [f"    fn {fn.name}{fn.header()} {{"] + ["        " + line for line in fn.body] + ["    }"]
    for fn in made_hooks:
        backend += [f"    impl {fn.name}{fn.header()} {{"] + ["        " + line for line in fn.body] + ["    }"]
    backend.append("}")
    text = "\n".join(["module interp_fuzz;", "", RECORD, ""] + table + [""] + backend) + "\n"
    return text, made_hooks
