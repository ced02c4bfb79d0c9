"""Expression checks: types, implicit widening, constant folding (calls:
calls.py).

Every expression gets a type in `view.expr_types`; constants also get their
value in `view.expr_values`; names and calls record what they refer to in
`view.refs`. Integer literals are untyped until they meet a context, where
they must fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diagnostics import Note
from ..syntax import ast
from . import types as T
from .calls import CallChecks
from .intrinsics import INTRINSICS
from .model import PercpuInfo, TableInfo
from .scope import KIND_WORDS

ARITH = {"+", "-", "*", "/", "%", "&", "|", "^"}
UNTYPED_MIN, UNTYPED_MAX = -(1 << 63), (1 << 64) - 1
SHIFT = {"<<", ">>"}
ORDER = {"<", "<=", ">", ">="}
EQUALITY = {"==", "!="}
LOGIC = {"&&", "||"}


@dataclass(eq=False)
class Local:
    name: str
    type: T.Type
    span: object


@dataclass(eq=False)
class Ctx:
    """Where an expression is checked: which file, backend, law, function."""

    unit: object
    backend: object = None  # BackendInfo
    law_table: TableInfo | None = None
    ret: T.Type = T.VOID
    owner: object = None  # key of the enclosing callable, for the call graph
    in_law: bool = False
    const_only: bool = False
    loops: int = 0
    scopes: list = field(default_factory=lambda: [{}])

    def find_local(self, name: str) -> Local | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None


def _wrap(value: int, t: T.IntType, arch) -> int:
    """Two's-complement wrap of `value` into integer type `t`."""
    w = t.width(arch)
    value &= (1 << w) - 1
    if t.signed and value >> (w - 1):
        value -= 1 << w
    return value


def _fold(op: str, a: int, b: int) -> int | None:
    if op == "+": return a + b
    if op == "-": return a - b
    if op == "*": return a * b
    if op in ("/", "%"):
        if b == 0:
            return None
        q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # C truncates toward zero
        return q if op == "/" else a - q * b
    if op == "&": return a & b
    if op == "|": return a | b
    if op == "^": return a ^ b
    if op == "<<": return a << b
    if op == ">>": return a >> b
    raise AssertionError(op)


def _compare(op: str, a: int, b: int) -> bool:
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


class ExprChecks(CallChecks):
    """Mixed into Checker."""

    def const_context(self, unit) -> Ctx:
        return Ctx(unit, const_only=True)

    def expr_const(self, e: ast.Expr, ctx: Ctx) -> tuple[T.Type | None, int | None]:
        t, v = self._expr(e, ctx)
        if t is not None:
            self.view.expr_types[id(e)] = t
            if v is not None:
                self.view.expr_values[id(e)] = v
        return t, v

    def check_expr(self, e: ast.Expr, ctx: Ctx) -> T.Type | None:
        return self.expr_const(e, ctx)[0]

    def value_of(self, e: ast.Expr) -> int | None:
        return self.view.expr_values.get(id(e))

    # ---- conversions ----
    def coerce(self, e: ast.Expr, src: T.Type | None, dst: T.Type | None, ctx: Ctx, what: str = "value") -> bool:
        """Check that `e` (of type src) converts implicitly to dst."""
        if src is None or dst is None:
            return False
        if isinstance(src, T.UntypedInt):
            base = T.integer_base(dst)
            if base is None:
                self.err("E030", f"expected '{dst}' for this {what}, found an integer", e.span)
                return False
            return self._settle(e, dst, base)
        if T.widens_to(src, dst, self.arch):
            if isinstance(src, T.NullType):
                self.view.expr_types[id(e)] = dst
            return True
        hint = ""
        if T.is_integer(src) and T.is_integer(dst):
            hint = f" (only widening is implicit: convert with 'as {dst}')"
        self.err("E030", f"expected '{dst}' for this {what}, found '{src}'{hint}", e.span)
        return False

    def _settle(self, e: ast.Expr, dst: T.Type, base: T.IntType) -> bool:
        """Give an untyped integer expression its contextual type. Where its
        value is known it must fit; where it is not (`c ? 1000 : 0`), each
        untyped part is settled in turn, so every literal is checked."""
        value = self.value_of(e)
        if value is not None:
            if not self.fits(value, base):
                lo, hi = base.range(self.arch)
                self.err("E040", f"{value} does not fit in '{dst}' ({lo}..{hi})", e.span)
                return False
            self.view.expr_types[id(e)] = dst
            return True
        parts = []
        if isinstance(e, ast.Ternary):
            parts = [e.then, e.otherwise]
        elif isinstance(e, ast.Binary) and e.op not in SHIFT:
            parts = [e.left, e.right]
        elif isinstance(e, ast.Binary):
            parts = [e.left]
        elif isinstance(e, ast.Unary):
            parts = [e.operand]
        ok = all([self._settle(p, dst, base) for p in parts
                  if isinstance(self.view.expr_types.get(id(p)), T.UntypedInt)])
        self.view.expr_types[id(e)] = dst
        return ok

    def _unify_ints(self, op: str, e: ast.Binary, lt, rt) -> T.Type | None:
        if isinstance(lt, T.UntypedInt) and isinstance(rt, T.UntypedInt):
            return T.UNTYPED
        if isinstance(lt, T.UntypedInt):
            return rt if self.coerce(e.left, lt, rt, None, "operand") else None
        if isinstance(rt, T.UntypedInt):
            return lt if self.coerce(e.right, rt, lt, None, "operand") else None
        if isinstance(lt, T.EnumType) and isinstance(rt, T.EnumType) and lt != rt:
            self.err("E030", f"mismatched enum types '{lt}' and '{rt}' in '{op}'", e.span)
            return None
        common = T.common_int_type(lt, rt, self.arch)
        if common is not None:
            return common
        self.err("E030", f"mismatched types '{lt}' and '{rt}' in '{op}': neither widens to the other, "
                 "convert one with 'as'", e.span)
        return None

    def _check_fits(self, e: ast.Expr, value: int | None, t: T.Type) -> int | None:
        if value is None:
            return value
        if isinstance(t, T.UntypedInt):
            # Untyped constants are still machine integers: at most 64 bits.
            if not UNTYPED_MIN <= value <= UNTYPED_MAX:
                self.err("E040", "constant expression does not fit in 64 bits", e.span)
                return None
            return value
        base = T.integer_base(t)
        if base is not None and not self.fits(value, base):
            self.err("E040", f"constant expression overflows '{t}' (value {value})", e.span)
            return None
        return value

    # ---- the dispatcher ----
    def _expr(self, e: ast.Expr, ctx: Ctx):
        method = getattr(self, "_e_" + type(e).__name__)
        return method(e, ctx)

    def _e_IntLit(self, e, ctx):
        return T.UNTYPED, e.value

    def _e_BoolLit(self, e, ctx):
        return T.BOOL, int(e.value)

    def _e_NullLit(self, e, ctx):
        return T.NULL, 0

    def _e_SizeOf(self, e, ctx):
        t = self.resolve_type(ctx.unit, e.type)
        if t is None:
            return None, None
        if t == T.VOID:
            self.err("E021", "'void' has no size", e.type.span)
            return None, None
        if isinstance(t, T.StructType) and not self.layout_ok(t, e.type.span):
            return None, None
        size = self.size_of(t, e.type.span)
        return (T.UNTYPED, size) if size is not None else (None, None)

    def _e_Name(self, e: ast.Name, ctx: Ctx):
        local = ctx.find_local(e.name)
        if local is not None:
            if ctx.const_only:
                self.err("E041", f"'{e.name}' is a variable, not a constant", e.span)
                return None, None
            self.view.refs[id(e)] = local
            return local.type, None
        pc = self.find_percpu(ctx, e.name)
        if pc is not None:
            if ctx.const_only:
                self.err("E041", f"variable '{e.name}' is not a constant", e.span)
                return None, None
            self.view.refs[id(e)] = pc
            return pc.type, None
        sym = self.lookup(ctx.unit, e.name, e.span)
        if sym is None:
            tsym = self.lookup(ctx.unit, e.name, ns="type")
            if tsym is not None:
                self.err("E022", f"'{e.name}' is a {KIND_WORDS[tsym.kind]}, not a value", e.span,
                         Note(tsym.decl.name_span, f"'{e.name}' is declared here"))
            elif e.name in INTRINSICS:
                self.err("E022", f"intrinsic '{e.name}' can only be called", e.span)
            elif not ctx.unit.broken_imports:
                self.err("E020", f"unknown name '{e.name}'", e.span)
            return None, None
        if sym.kind == "const":
            got = self.global_const(sym)
            if got is None:
                return None, None
            self.view.refs[id(e)] = sym
            return got
        word = KIND_WORDS[sym.kind]
        self.err("E022", f"'{e.name}' is a {word}, not a value", e.span,
                 Note(sym.decl.name_span, f"'{e.name}' is declared here"))
        return None, None

    def find_percpu(self, ctx: Ctx, name: str) -> PercpuInfo | None:
        b = ctx.backend
        while b is not None:
            if name in b.percpu:
                return b.percpu[name]
            b = self.view.backends.get(b.base) if b.base else None
        return None

    def _e_Unary(self, e: ast.Unary, ctx: Ctx):
        if e.op == "&":
            return self._address_of(e, ctx)
        t, v = self.expr_const(e.operand, ctx)
        if t is None:
            return None, None
        if e.op == "*":
            if ctx.const_only:
                self.err("E041", "a dereference is not a constant", e.span)
                return None, None
            if not isinstance(t, T.PtrType):
                self.err("E031", f"cannot dereference a value of type '{t}'", e.span)
                return None, None
            if t.target == T.VOID:
                self.err("E031", "cannot dereference 'ptr<void>'; cast it to a typed pointer first", e.span)
                return None, None
            return t.target, None
        if e.op == "!":
            if t != T.BOOL:
                self.err("E034", f"'!' needs a bool operand, found '{t}' (compare with '== 0')", e.span)
                return None, None
            return T.BOOL, (None if v is None else int(not v))
        if not T.is_integer(t):
            self.err("E031", f"'{e.op}' needs an integer operand, found '{t}'", e.span)
            return None, None
        if e.op == "-":
            value = None if v is None else -v
            if isinstance(t, T.UntypedInt):
                return t, value
            base = T.integer_base(t)
            # Unary minus of a typed value wraps, folded or not (docs/language.md,
            # Constants), so `-(1 as u8)` is 0xff as the generated code computes it.
            return base, (None if value is None else _wrap(value, base, self.arch))
        # "~"
        if isinstance(t, T.UntypedInt):
            self.err("E036", "'~' of an untyped constant has no width; give it one first, "
                     "as in '~(0 as ulong)'", e.span)
            return None, None
        base = T.integer_base(t)
        return base, (None if v is None else _wrap(~v, base, self.arch))

    def _address_of(self, e: ast.Unary, ctx: Ctx):
        if ctx.const_only:
            self.err("E041", "an address is not a constant", e.span)
            return None, None
        t, _ = self.expr_const(e.operand, ctx)
        if t is None:
            return None, None
        if not self.is_lvalue(e.operand, ctx):
            self.err("E032", "cannot take the address of a value that is not stored in memory", e.span)
            return None, None
        root = e.operand
        while isinstance(root, (ast.FieldAccess, ast.Index)) and not getattr(root, "arrow", False):
            if isinstance(root, ast.Index) and isinstance(self.view.expr_types.get(id(root.base)), T.PtrType):
                break  # indexing through a pointer leaves the percpu variable
            root = root.base
        ref = self.view.refs.get(id(root)) if isinstance(root, ast.Name) else None
        if isinstance(ref, PercpuInfo) and ref.per_cpu:
            self.err("E045", f"cannot take the address of percpu variable '{root.name}': "
                     "it lives at a different address on every CPU", e.span)
            return None, None
        return T.PtrType(t), None

    def is_lvalue(self, e: ast.Expr, ctx: Ctx) -> bool:
        if isinstance(e, ast.Name):
            ref = self.view.refs.get(id(e))
            return isinstance(ref, (Local, PercpuInfo))
        if isinstance(e, ast.Unary):
            return e.op == "*"
        if isinstance(e, ast.FieldAccess):
            return e.arrow or self.is_lvalue(e.base, ctx)
        if isinstance(e, ast.Index):
            bt = self.view.expr_types.get(id(e.base))
            return isinstance(bt, T.PtrType) or self.is_lvalue(e.base, ctx)
        return False

    def _e_Binary(self, e: ast.Binary, ctx: Ctx):
        op = e.op
        lt, lv = self.expr_const(e.left, ctx)
        rt, rv = self.expr_const(e.right, ctx)
        if lt is None or rt is None:
            return None, None
        if op in LOGIC:
            for side, t in ((e.left, lt), (e.right, rt)):
                if t != T.BOOL:
                    self.err("E034", f"'{op}' needs bool operands, found '{t}'", side.span)
                    return None, None
            if lv is None or rv is None:
                return T.BOOL, None
            return T.BOOL, int(bool(lv and rv) if op == "&&" else bool(lv or rv))
        if op in EQUALITY and not (T.is_integer(lt) and T.is_integer(rt)):
            return self._equality(e, lt, lv, rt, rv)
        for side, t in ((e.left, lt), (e.right, rt)):
            if not T.is_integer(t):
                self.err("E031", f"'{op}' needs integer operands, found '{t}'", side.span)
                return None, None
        if op in SHIFT:
            if rv is not None:
                width = T.integer_base(lt).width(self.arch) if not isinstance(lt, T.UntypedInt) else 64
                if rv < 0 or rv >= width:
                    self.err("E040", f"shift by {rv} is out of range for '{lt}'", e.right.span)
                    return None, None
            if isinstance(lt, T.UntypedInt) and lv is not None and rv is None:
                self.err("E036", f"the width of '{lv} {op} ...' is unknown: give the constant a type, as in "
                         f"'({lv} as u32) {op} ...'", e.left.span)
                return None, None
            if lv is None or rv is None:
                return (T.integer_base(lt) or lt), None
            return lt, self._check_fits(e, _fold(op, lv, rv), lt)
        t = self._unify_ints(op, e, lt, rt)
        if t is None:
            return None, None
        if op in ORDER or op in EQUALITY:
            return T.BOOL, (None if lv is None or rv is None else int(_compare(op, lv, rv)))
        if op in ("/", "%") and rv == 0:
            self.err("E042", "division by zero", e.right.span)
            return None, None
        if isinstance(t, T.EnumType) and not (t.is_flags and op in ("&", "|", "^")):
            t = t.base
        if lv is None or rv is None:
            return t, None
        return t, self._check_fits(e, _fold(op, lv, rv), t)

    def _equality(self, e, lt, lv, rt, rv):
        ok = lt == rt and T.is_scalar(lt)
        ok = ok or (isinstance(lt, T.NullType) and isinstance(rt, (T.PtrType, T.HandleType)))
        ok = ok or (isinstance(rt, T.NullType) and isinstance(lt, (T.PtrType, T.HandleType)))
        ok = ok or (isinstance(lt, T.PtrType) and isinstance(rt, T.PtrType)
                    and T.VOID in (lt.target, rt.target))
        if not ok:
            self.err("E031", f"cannot compare '{lt}' with '{rt}'", e.span)
            return None, None
        for side, t in ((e.left, lt), (e.right, rt)):
            if isinstance(t, T.NullType):
                self.view.expr_types[id(side)] = rt if side is e.left else lt
        if lv is None or rv is None:
            return T.BOOL, None
        return T.BOOL, int(_compare(e.op, lv, rv))

    def _e_Ternary(self, e: ast.Ternary, ctx: Ctx):
        ct, cv = self.expr_const(e.cond, ctx)
        at, av = self.expr_const(e.then, ctx)
        bt, bv = self.expr_const(e.otherwise, ctx)
        if ct is None or at is None or bt is None:
            return None, None
        if ct != T.BOOL:
            self.err("E034", f"the condition of '?:' must be bool, found '{ct}'", e.cond.span)
            return None, None
        if T.is_integer(at) and T.is_integer(bt):
            t = self._unify_ints("?:", ast.Binary("?:", e.then, e.otherwise, span=e.span), at, bt)
        elif at == bt and T.is_scalar(at):
            t = at
        elif isinstance(at, T.NullType) and isinstance(bt, (T.PtrType, T.HandleType)):
            t = bt
            self.view.expr_types[id(e.then)] = bt
        elif isinstance(bt, T.NullType) and isinstance(at, (T.PtrType, T.HandleType)):
            t = at
            self.view.expr_types[id(e.otherwise)] = at
        else:
            self.err("E030", f"the branches of '?:' have different types '{at}' and '{bt}'", e.span)
            return None, None
        if t is None:
            return None, None
        if cv is None:
            return t, None
        return t, (av if cv else bv)

    def _e_Cast(self, e: ast.Cast, ctx: Ctx):
        st, sv = self.expr_const(e.expr, ctx)
        dt = self.resolve_type(ctx.unit, e.type)
        if st is None or dt is None:
            return None, None
        word = self.arch.word_bits
        src_int, dst_int = T.is_integer(st), T.is_integer(dt)
        pointerish = (T.PtrType, T.HandleType)
        if dst_int and (src_int or st == T.BOOL):
            if isinstance(st, T.UntypedInt):
                self.view.expr_types[id(e.expr)] = T.integer_base(dt)
            return dt, (None if sv is None else _wrap(sv, T.integer_base(dt), self.arch))
        if isinstance(dt, pointerish) and (isinstance(st, pointerish + (T.NullType,))):
            return dt, None
        if isinstance(dt, pointerish) and src_int:
            if isinstance(st, T.UntypedInt):
                self.view.expr_types[id(e.expr)] = T.ULONG
                if sv is not None and not self.fits(sv, T.ULONG):
                    self.err("E040", f"address {sv:#x} does not fit in a {word}-bit pointer", e.expr.span)
                    return None, None
                return dt, sv
            if T.integer_base(st).width(self.arch) != word:
                self.err("E035", f"cannot cast '{st}' to '{dt}': only a {word}-bit integer converts to a "
                         f"pointer on {self.arch.name} (cast to ulong first)", e.span)
                return None, None
            return dt, None
        if dst_int and isinstance(st, pointerish):
            if T.integer_base(dt).width(self.arch) != word:
                self.err("E035", f"cannot cast '{st}' to '{dt}': a pointer converts only to a {word}-bit "
                         f"integer on {self.arch.name} (use ulong)", e.span)
                return None, None
            return dt, None
        hint = " (compare with '!= 0' instead)" if dt == T.BOOL and src_int else ""
        self.err("E035", f"cannot cast '{st}' to '{dt}'{hint}", e.span)
        return None, None

    def _e_Index(self, e: ast.Index, ctx: Ctx):
        bt, _ = self.expr_const(e.base, ctx)
        it, iv = self.expr_const(e.index, ctx)
        if bt is None or it is None:
            return None, None
        if ctx.const_only:
            self.err("E041", "indexing is not a constant expression", e.span)
            return None, None
        if not T.is_integer(it):
            self.err("E031", f"an index must be an integer, found '{it}'", e.index.span)
            return None, None
        if isinstance(it, T.UntypedInt):
            self.view.expr_types[id(e.index)] = T.ULONG
        if isinstance(bt, T.ArrayType):
            if iv is not None and not 0 <= iv < bt.length:
                self.err("E040", f"index {iv} is out of bounds for '{bt}'", e.index.span)
                return None, None
            return bt.elem, None
        if isinstance(bt, T.PtrType) and bt.target != T.VOID:
            return bt.target, None
        self.err("E031", f"cannot index a value of type '{bt}'", e.base.span)
        return None, None

    def _e_FieldAccess(self, e: ast.FieldAccess, ctx: Ctx):
        if not e.arrow and isinstance(e.base, ast.Name) and ctx.find_local(e.base.name) is None \
                and self.find_percpu(ctx, e.base.name) is None:
            sym = self.lookup(ctx.unit, e.base.name, e.base.span, ns="type")
            if sym is not None and sym.kind == "enum":
                et = self.enum_type(sym)
                if et is None:
                    return None, None
                for name, value in et.members:
                    if name == e.name:
                        self.view.refs[id(e)] = (et, name)
                        return et, value
                self.err("E023", f"enum '{et.name}' has no member '{e.name}'", e.span)
                return None, None
            sym = self.lookup(ctx.unit, e.base.name, e.base.span)
            if sym is not None and sym.kind == "table":
                self.err("E022", f"hook '{e.base.name}.{e.name}' can only be called", e.span)
                return None, None
        bt, _ = self.expr_const(e.base, ctx)
        if bt is None:
            return None, None
        if ctx.const_only:
            self.err("E041", "a field access is not a constant expression", e.span)
            return None, None
        st = bt
        if e.arrow:
            if not isinstance(bt, T.PtrType):
                self.err("E031", f"'->' needs a pointer to a struct, found '{bt}'", e.base.span)
                return None, None
            st = bt.target
        if not isinstance(st, T.StructType):
            how = "'->'" if e.arrow else "'.'"
            extra = " (use '->' through a pointer)" if isinstance(st, T.PtrType) else ""
            self.err("E031", f"{how} needs a struct, found '{st}'{extra}", e.base.span)
            return None, None
        if not self.layout_ok(st, e.span):
            return None, None
        layout = self.view.layouts.struct(st)
        f = layout.field(e.name)
        if f is None:
            decl = self._struct_decls[st.name][0]
            elsewhere = [fd for fd in decl.fields if fd.name == e.name]
            if elsewhere:
                self.err("E023", f"field '{e.name}' of '{st.name}' does not exist on {self.arch.name}", e.span,
                         Note(elsewhere[0].span, f"declared only when {', '.join(elsewhere[0].when)}"))
            else:
                self.err("E023", f"'{st.name}' has no field '{e.name}'", e.span,
                         Note(decl.name_span, f"'{st.name}' is declared here"))
            return None, None
        self.view.refs[id(e)] = f
        return f.type, None
