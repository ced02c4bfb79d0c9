"""Expressions to Python source, with the code generator's semantics.

Each method mirrors its counterpart in pvdsl/codegen/function.py: the same
operand conversions, the same signedness, the same evaluation order (left
operand first, arguments left to right, a store's address before its
value). Names of the generated code: `_rd`/`_wr` read and write memory,
`_fb` is int.from_bytes, `_S` maps a backend variable to its address, `_R`
is the call in progress (pvdsl.interp.run.Run).
"""

from __future__ import annotations

from ..sema import types as T
from ..sema.exprs import Local
from ..sema.intrinsics import Intrinsic
from ..sema.model import HookInfo, HypercallInfo, PercpuInfo
from ..syntax import ast
from .values import MAX_BRANCH_NESTING, MAX_DEPTH, V

_CMP = {"==", "!=", "<", "<=", ">", ">="}
_WRAPPING = {"+", "-", "*"}
_BITWISE = {"&", "|", "^"}


class DivideOverflow(ArithmeticError):
    """The most negative value divided by -1: x86's idiv raises #DE."""


def tdiv(a: int, b: int) -> int:
    """Division truncating toward zero, as C and x86 divide."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def sdiv(a: int, b: int, half: int) -> int:
    q = tdiv(a, b)  # b == 0 raises ZeroDivisionError: #DE
    if q == half:
        raise DivideOverflow()
    return q


def trem(a: int, b: int) -> int:
    return a - b * tdiv(a, b)


def srem(a: int, b: int, half: int) -> int:
    if b == -1 and a == -half:
        raise DivideOverflow()  # idiv computes the overflowing quotient too
    return a - b * tdiv(a, b)


class ExprCompiler:
    """Mixed into BodyCompiler, which provides view, ty, owner, slots,
    temp(), frame_address() and param_slot()."""

    def type_of(self, e: ast.Expr) -> T.Type | None:
        return self.view.expr_types.get(id(e))

    # ---- composition ----
    def combine(self, parts: list[V], build, extra: int = 1) -> V:
        """`build(*codes)` over `parts` evaluated in order. A part with
        statements to run first forces the parts before it into temporaries,
        so nothing is evaluated out of order."""
        pre: list[str] = []
        codes: list[str] = []
        for i, part in enumerate(parts):
            if part.pre:
                for j in range(i):
                    if not parts[j].simple and not codes[j].isidentifier():
                        t = self.temp()
                        pre.append(f"{t} = {codes[j]}")
                        codes[j] = t
                pre.extend(part.pre)
            codes.append(part.code)
        depth = max((p.depth for p in parts), default=0) + extra
        v = V(build(*codes), pre, depth)
        return self.materialize(v) if depth > MAX_DEPTH else v

    def materialize(self, v: V) -> V:
        t = self.temp()
        return V(t, v.pre + [f"{t} = {v.code}"], 0)

    # ---- values ----
    def value(self, e: ast.Expr) -> V:
        t = self.type_of(e)
        const = self.view.expr_values.get(id(e))
        if const is not None and t is not None and not isinstance(e, ast.Call):
            return V.lit(self.ty.wrap_value(const, T.LONG if isinstance(t, T.UntypedInt) else t))
        v = getattr(self, "x_" + type(e).__name__)(e)
        # Conversions and loads nest without `combine`: check here too.
        return self.materialize(v) if v.depth > MAX_DEPTH else v

    def rvalue(self, e: ast.Expr, want: T.Type) -> V:
        return self.ty.convert(self.value(e), self.type_of(e) or want, want)

    def value_type(self, e: ast.Expr) -> T.Type:
        t = self.type_of(e)
        return T.LONG if isinstance(t, T.UntypedInt) else t

    def x_IntLit(self, e: ast.IntLit) -> V:
        return V.lit(self.ty.wrap_value(e.value, self.value_type(e)))

    def x_BoolLit(self, e: ast.BoolLit) -> V:
        return V.lit(int(e.value))

    def x_NullLit(self, e) -> V:
        return V.lit(0)

    def x_Name(self, e: ast.Name) -> V:
        ref = self.view.refs[id(e)]
        t = self.value_type(e)
        if isinstance(ref, PercpuInfo):
            return self.ty.load(V(f"_S[{ref.name!r}]", depth=1), t)
        slot = self.slot(ref)
        if slot.in_memory:
            return self.ty.load(self.frame_address(slot), t)
        return V(slot.name)

    def x_FieldAccess(self, e: ast.FieldAccess) -> V:
        return self.ty.load(self.address(e), self.value_type(e))

    def x_Index(self, e: ast.Index) -> V:
        return self.ty.load(self.address(e), self.value_type(e))

    def x_Unary(self, e: ast.Unary) -> V:
        t = self.value_type(e)
        if e.op == "&":
            return self.address(e.operand)
        if e.op == "*":
            return self.ty.load(self.value(e.operand), t)
        v = self.rvalue(e.operand, t)
        if e.op == "!":
            return self.combine([v], lambda c: f"(not {c})")
        if e.op == "-":
            return self.ty.wrap(self.combine([v], lambda c: f"(-{c})"), t)
        flipped = self.combine([v], lambda c: f"(~{c})")  # "~"
        return flipped if self.ty.signed(t) else self.ty.wrap(flipped, t)

    def x_Cast(self, e: ast.Cast) -> V:
        return self.ty.convert(self.value(e.expr), self.type_of(e.expr), self.type_of(e))

    def x_Binary(self, e: ast.Binary) -> V:
        op, t = e.op, self.value_type(e)
        if op in ("&&", "||"):
            return self.lazy("and" if op == "&&" else "or", self.value(e.left), e.right)
        if op in ("<<", ">>"):
            return self.shift(op, self.rvalue(e.left, t), self.value(e.right), t)
        if op in _CMP:
            common = T.comparison_type(self.type_of(e.left), self.type_of(e.right), self.ty.arch)
            left, right = self.rvalue(e.left, common), self.rvalue(e.right, common)
            return self.combine([left, right], lambda a, b: f"({a} {op} {b})")
        return self.arith(op, self.rvalue(e.left, t), self.rvalue(e.right, t), t)

    def arith(self, op: str, a: V, b: V, t: T.Type) -> V:
        if op in _WRAPPING:
            return self.ty.wrap(self.combine([a, b], lambda x, y: f"({x} {op} {y})"), t)
        if op in _BITWISE:
            # On values held in range, & | ^ stay in range: no wrap.
            return self.combine([a, b], lambda x, y: f"({x} {op} {y})")
        signed = self.ty.signed(t)
        if not signed:
            # A zero divisor raises ZeroDivisionError: the #DE of `div`.
            return self.combine([a, b], lambda x, y: f"({x} {'//' if op == '/' else '%'} {y})")
        if b.const is not None:
            # A constant divisor never reaches idiv (LLVM multiplies or
            # negates instead), so nothing faults: -MIN / -1 wraps.
            if op == "/":
                return self.ty.wrap(self.combine([a, b], lambda x, y: f"_tdiv({x}, {y})"), t)
            return self.combine([a, b], lambda x, y: f"_trem({x}, {y})")
        half = 1 << (self.ty.int_of(t)[0] - 1)
        fn = "_sdiv" if op == "/" else "_srem"
        return self.combine([a, b], lambda x, y: f"{fn}({x}, {y}, {half:#x})")

    def shift(self, op: str, a: V, count: V, t: T.Type) -> V:
        """The count is taken modulo the width of the shifted type; `>>` of
        a signed type is arithmetic (Python's >> on a negative value)."""
        width = self.ty.int_of(t)[0]
        if count.const is not None:
            count = V.lit(count.const & (width - 1))
        else:
            count = self.combine([count], lambda c: f"({c} & {width - 1})")
        if op == "<<":
            return self.ty.wrap(self.combine([a, count], lambda x, y: f"({x} << {y})"), t)
        return self.combine([a, count], lambda x, y: f"({x} >> {y})")

    def branch(self, v: V) -> V:
        """`v` for a branch of && || ?:, whose statements run only when it
        is taken (an `if` block). Branches within branches nest those blocks;
        past MAX_BRANCH_NESTING a branch becomes a function of its own, as
        Python refuses 100 levels of indentation."""
        if not v.pre or max(len(line) - len(line.lstrip(" ")) for line in v.pre) < 4 * MAX_BRANCH_NESTING:
            return v
        return self.hoist(v)

    def lazy(self, word: str, left: V, right_expr: ast.Expr) -> V:
        right = self.branch(self.value(right_expr))
        if not right.pre:
            return self.combine([left, right], lambda a, b: f"({a} {word} {b})")
        t = self.temp()
        test = t if word == "and" else f"not {t}"
        pre = left.pre + [f"{t} = {left.code}", f"if {test}:"]
        pre += ["    " + line for line in right.pre + [f"{t} = {right.code}"]]
        return V(t, pre)

    def x_Ternary(self, e: ast.Ternary) -> V:
        t = self.value_type(e)
        cond = self.value(e.cond)
        a, b = self.branch(self.rvalue(e.then, t)), self.branch(self.rvalue(e.otherwise, t))
        if not a.pre and not b.pre:
            return self.combine([cond, a, b], lambda c, x, y: f"({x} if {c} else {y})")
        tmp = self.temp()
        pre = cond.pre + [f"if {cond.code}:"]
        pre += ["    " + line for line in a.pre + [f"{tmp} = {a.code}"]]
        pre += ["else:"] + ["    " + line for line in b.pre + [f"{tmp} = {b.code}"]]
        return V(tmp, pre)

    def x_Call(self, e: ast.Call) -> V:
        target = self.view.refs[id(e)]
        params = self.view.call_params(e)  # a variadic hypercall's extra arguments too
        args = [self.rvalue(a, pt) for a, (_n, pt) in zip(e.args, params)]
        if isinstance(target, HypercallInfo):
            regs = [self.ty.to_register(a, pt) for a, (_n, pt) in zip(args, params)]
            call = self.combine(regs, lambda *c: f"_R.hypercall({target.name!r}, {target.number}, {_tuple(c)})")
            if target.ret == T.VOID:
                return call
            if self.ty.signed(target.ret):
                return self.ty.convert(self.ty.wrap(call, T.LONG), T.LONG, target.ret)
            return self.ty.convert(call, T.ULONG, target.ret)
        if isinstance(target, Intrinsic):
            return self.combine(args, lambda *c: f"_R.i_{target.name}({', '.join(c)})")
        if isinstance(target, HookInfo):
            fn = self.owner.hook_function(target)
            if fn is None:
                key = f"{target.table}.{target.name}"
                return self.combine(args, lambda *c: f"_R.external({key!r}, {_tuple(c)})")
        else:
            fn = self.owner.helper_function(target)
        self.callees.add(fn)
        return self.combine(args, lambda *c: f"{fn}({', '.join(c)})")

    # ---- addresses ----
    def address(self, e: ast.Expr) -> V:
        if isinstance(e, ast.Name):
            ref = self.view.refs[id(e)]
            if isinstance(ref, PercpuInfo):
                return V(f"_S[{ref.name!r}]", depth=1)
            return self.frame_address(self.slot(ref))
        if isinstance(e, ast.Unary) and e.op == "*":
            return self.value(e.operand)
        if isinstance(e, ast.FieldAccess):
            offset = self.view.refs[id(e)].offset
            base = self.value(e.base) if e.arrow else self.address(e.base)
            return self.offset(base, offset)
        if isinstance(e, ast.Index):
            bt = self.type_of(e.base)
            base = self.address(e.base) if isinstance(bt, T.ArrayType) else self.value(e.base)
            elem = bt.elem if isinstance(bt, T.ArrayType) else bt.target
            index = self.rvalue(e.index, T.LONG if self.ty.signed(self.type_of(e.index)) else T.ULONG)
            size = self.ty.size(elem)
            if index.const is not None:
                return self.offset(base, index.const * size)
            scaled = (lambda x: x) if size == 1 else (lambda x: f"{x} * {size}")
            mask = self.ty.word_mask
            return self.combine([base, index], lambda b, i: f"({b} + {scaled(i)} & {mask:#x})")
        raise TypeError(f"not an lvalue: {type(e).__name__}")

    def offset(self, base: V, offset: int) -> V:
        """Address arithmetic wraps at the word, as LLVM's GEP does."""
        if offset == 0:
            return base
        mask = self.ty.word_mask
        return self.combine([base], lambda b: f"({b} + {offset} & {mask:#x})")

    def slot(self, ref):
        if isinstance(ref, Local):
            return self.slots[id(ref)]
        raise TypeError(f"no storage for {ref!r}")


def _tuple(codes) -> str:
    if len(codes) == 1:
        return f"({codes[0]},)"
    return f"({', '.join(codes)})"
