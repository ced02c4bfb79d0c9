"""The per-arch checker: type resolution, constants, enums and struct layout.

One `Checker` runs per arch; expression, statement and declaration checks
are mixed in from their own modules. Everything is resolved lazily with
cycle detection, so declaration order does not matter.
"""

from __future__ import annotations

from ..arch import ARCHES, Arch
from ..diagnostics import Diagnostics, Note
from ..source import Span
from ..syntax import ast
from . import types as T
from .decls import DeclChecks
from .exprs import ExprChecks
from .layout import LayoutError, Layouts, LayoutTooDeep
from .model import ArchView, Symbol
from .scope import KIND_WORDS, Scopes
from .stmts import StmtChecks

_STRUCT_ATTRS = {"packed": 0, "align": 1}
# How long a chain of definitions resolving through one another may be
# (struct a holds b holds c ..., const A = sizeof(b) ...). Resolution
# recurses along the chain; a longer one is refused, like deep nesting.
MAX_DEFINITION_CHAIN = 300



class Checker(ExprChecks, StmtChecks, DeclChecks):
    def __init__(self, units, scopes: Scopes, arch: Arch, diags: Diagnostics):
        self.units = units
        self.scopes = scopes
        self.arch = arch
        self.diags = diags
        self.view = ArchView(arch, Layouts(arch, self._fields_of))
        self._resolving: set[int] = set()
        self._type_cache: dict[int, T.Type] = {}
        self._const_cache: dict[int, tuple[T.Type, int | None]] = {}
        self._struct_decls: dict[str, tuple[ast.StructDecl, object]] = {}
        self._layout_failed: set[str] = set()
        self.calls: dict[object, list] = {}  # call graph for the role rule
        self._chain = 0

    def _enter(self, span: Span) -> bool:
        """Step one definition deeper; False (reported) past the limit, and
        the caller gives up as after any reported error."""
        if self._chain >= MAX_DEFINITION_CHAIN:
            self.err("E003", f"definitions depend on one another more than {MAX_DEFINITION_CHAIN} deep", span)
            return False
        self._chain += 1
        return True

    def _leave(self) -> None:
        self._chain -= 1

    # ---- diagnostics helpers ----
    def err(self, code: str, msg: str, span: Span, *notes: Note) -> None:
        self.diags.error(code, msg, span, *notes)

    # ---- names ----
    def lookup(self, unit, name: str, span: Span | None = None, ns: str = "value") -> Symbol | None:
        return self.scopes.lookup(unit, name, span, ns)

    # ---- types ----
    def resolve_type(self, unit, texpr: ast.TypeExpr) -> T.Type | None:
        """The semantic type of a type expression, or None after an error."""
        if isinstance(texpr, ast.NamedType):
            if texpr.name in T.BUILTIN_TYPES:
                return T.BUILTIN_TYPES[texpr.name]
            sym = self.lookup(unit, texpr.name, texpr.span, ns="type")
            if sym is None:
                other = self.lookup(unit, texpr.name)
                if other is not None:
                    self.err("E022", f"'{texpr.name}' is a {KIND_WORDS[other.kind]}, not a type", texpr.span,
                             Note(other.decl.name_span, f"'{texpr.name}' is declared here"))
                    return None
                if not unit.broken_imports:
                    self.err("E021", f"unknown type '{texpr.name}'", texpr.span)
                return None
            return self.symbol_type(sym, texpr.span)
        if isinstance(texpr, ast.PtrType):
            target = self.resolve_type(unit, texpr.target)
            return None if target is None else T.PtrType(target)
        if isinstance(texpr, ast.HandleType):
            target = self.resolve_type(unit, texpr.target)
            return None if target is None else T.HandleType(target)
        if isinstance(texpr, ast.ArrayType):
            elem = self.resolve_type(unit, texpr.elem)
            length = self.const_value(unit, texpr.length)
            if elem is None or length is None:
                return None
            if length <= 0:
                self.err("E044", f"array length must be positive, not {length}", texpr.length.span)
                return None
            if elem == T.VOID:
                self.err("E021", "an array of 'void' has no size", texpr.span)
                return None
            return T.ArrayType(elem, length)
        return None

    def symbol_type(self, sym: Symbol, span: Span) -> T.Type | None:
        decl = sym.decl
        if sym.kind == "struct":
            return self.struct_type(sym)
        if sym.kind == "enum":
            return self.enum_type(sym)
        if sym.kind == "type":
            key = id(decl)
            if key in self._type_cache:
                return self._type_cache[key]
            if key in self._resolving:
                self.err("E043", f"type alias '{decl.name}' refers to itself", decl.name_span)
                return None
            if not self._enter(decl.name_span):
                return None
            self._resolving.add(key)
            try:
                t = self.resolve_type(sym.unit, decl.type)
            finally:
                self._leave()
                self._resolving.discard(key)
            self._type_cache[key] = t
            return t
        self.err("E022", f"'{sym.name}' is a {KIND_WORDS[sym.kind]}, not a type", span,
                 Note(decl.name_span, f"'{sym.name}' is declared here"))
        return None

    def struct_type(self, sym: Symbol) -> T.StructType:
        decl: ast.StructDecl = sym.decl
        existing = self.view.structs.get(decl.name)
        if existing is not None and self._struct_decls[decl.name][0] is decl:
            return existing
        packed, align = False, None
        for attr in decl.attrs:
            if attr.name not in _STRUCT_ATTRS:
                self.err("E025", f"unknown struct attribute '{attr.name}' (expected 'packed' or 'align(N)')", attr.span)
            elif len(attr.args) != _STRUCT_ATTRS[attr.name]:
                want = "no arguments" if attr.name == "packed" else "one argument"
                self.err("E025", f"attribute '{attr.name}' takes {want}", attr.span)
            elif attr.name == "packed":
                packed = True
            else:
                value = self.const_value(sym.unit, attr.args[0])
                if value is not None and (value <= 0 or value & (value - 1)):
                    self.err("E025", f"alignment must be a power of two, not {value}", attr.args[0].span)
                elif value is not None:
                    align = value
        st = T.StructType(decl.name, decl.is_union, decl, packed, align)
        if existing is not None:
            prev = self._struct_decls[decl.name][0]
            self.err("E012", f"struct '{decl.name}' is defined twice in this program", decl.name_span,
                     Note(prev.name_span, "first defined here"))
            return existing
        self.view.structs[decl.name] = st
        self._struct_decls[decl.name] = (decl, sym.unit)
        return st

    def present(self, when: tuple[str, ...]) -> bool:
        """Whether a `when`-guarded member exists on this arch."""
        return not when or self.arch.name in when

    def check_when(self, when: tuple[str, ...], span: Span) -> None:
        for name in when:
            if name not in ARCHES:
                self.err("E024", f"unknown arch '{name}' in 'when' (expected one of: {', '.join(ARCHES)})", span)

    def _fields_of(self, st: T.StructType):
        """(name, type) of the fields present on this arch; used by Layouts."""
        decl, unit = self._struct_decls[st.name]
        if not self._enter(decl.name_span):
            raise LayoutError(None)
        try:
            return self._fields_on_arch(decl, unit)
        finally:
            self._leave()

    def _fields_on_arch(self, decl, unit):
        out = []
        for f in decl.fields:
            if not self.present(f.when):
                continue
            t = self.resolve_type(unit, f.type)
            if t is None or t == T.VOID:
                if t == T.VOID:
                    self.err("E021", "a field cannot have type 'void'", f.type.span)
                raise LayoutError(None)
            out.append((f.name, t))
        return out

    def layout_ok(self, st: T.StructType, span: Span) -> bool:
        """Lay out `st`, reporting a struct that contains itself."""
        if st.name in self._layout_failed:
            return False
        try:
            self.view.layouts.struct(st)
            return True
        except LayoutTooDeep as err:
            self._layout_failed.add(st.name)
            self.err("E003", str(err), span)
            return False
        except LayoutError as err:
            self._layout_failed.add(st.name)
            if err.args and err.args[0]:
                self.err("E043", f"struct '{st.name}' contains itself (use a ptr<> to refer back to it)", span)
            return False

    def size_of(self, t: T.Type, span: Span) -> int | None:
        try:
            return self.view.layouts.size(t)
        except LayoutTooDeep as err:
            self.err("E003", str(err), span)
            return None
        except LayoutError as err:
            if err.args and err.args[0]:
                self.err("E043", str(err.args[0]), span)
            return None

    # ---- enums ----
    def enum_type(self, sym: Symbol) -> T.EnumType | None:
        decl: ast.EnumDecl = sym.decl
        if decl.name in self.view.enums:
            known = self.view.enums[decl.name]
            if known.decl is not decl:
                self.err("E012", f"enum '{decl.name}' is defined twice in this program", decl.name_span,
                         Note(known.decl.name_span, "first defined here"))
            return known
        key = id(decl)
        if key in self._resolving:
            self.err("E043", f"enum '{decl.name}' refers to itself", decl.name_span)
            return None
        self._resolving.add(key)
        try:
            base = self.resolve_type(sym.unit, decl.base)
            if base is not None and not isinstance(base, T.IntType):
                self.err("E030", f"an enum's base type must be an integer type, not '{base}'", decl.base.span)
                base = None
            members, seen = [], {}
            nxt = 1 if decl.is_flags else 0
            for m in decl.members:
                if m.name in seen:
                    self.err("E012", f"enum member '{m.name}' is already defined", m.span,
                             Note(seen[m.name], "first defined here"))
                    continue
                seen[m.name] = m.span
                value = nxt if m.value is None else self.const_value(sym.unit, m.value)
                if value is None:
                    continue
                if base is not None and not self.fits(value, base):
                    lo, hi = base.range(self.arch)
                    self.err("E040", f"enum value {value} of '{m.name}' does not fit '{base}' ({lo}..{hi})", m.span)
                members.append((m.name, value))
                nxt = (1 << value.bit_length()) if decl.is_flags and value > 0 else value + 1
        finally:
            self._resolving.discard(key)
        if base is None:
            return None
        et = T.EnumType(decl.name, base, decl.is_flags, tuple(members), decl)
        self.view.enums[decl.name] = et
        return et

    # ---- constants ----
    def fits(self, value: int, t: T.Type) -> bool:
        base = T.integer_base(t)
        if base is None:
            return True
        lo, hi = base.range(self.arch)
        return lo <= value <= hi

    def global_const(self, sym: Symbol) -> tuple[T.Type, int | None] | None:
        decl: ast.ConstDecl = sym.decl
        key = id(decl)
        if key in self._const_cache:
            return self._const_cache[key]
        if key in self._resolving:
            self.err("E043", f"constant '{decl.name}' is defined in terms of itself", decl.name_span)
            return None
        if not self._enter(decl.name_span):
            return None
        self._resolving.add(key)
        try:
            declared = self.resolve_type(sym.unit, decl.type) if decl.type is not None else None
            ctx = self.const_context(sym.unit)
            before = self.diags.reported
            t, value = self.expr_const(decl.value, ctx)
            if value is None and t is not None and self.diags.reported == before:
                self.err("E041", f"the value of constant '{decl.name}' is not a constant expression", decl.value.span)
            if declared is None and t is not None and not (T.is_integer(t) or t == T.BOOL):
                self.err("E030", f"a constant must be an integer or a bool, not '{t}'", decl.value.span)
                t = None
            if declared is not None and t is not None:
                if not T.is_integer(declared) and declared != T.BOOL:
                    self.err("E030", f"a constant must have an integer or bool type, not '{declared}'", decl.type.span)
                else:
                    self.coerce(decl.value, t, declared, ctx, what="constant")
                    t = declared
            result = (t, value) if t is not None else None
        finally:
            self._leave()
            self._resolving.discard(key)
        self._const_cache[key] = result
        if result is not None and result[1] is not None:
            self.view.consts.setdefault(decl.name, (result[0], result[1]))
        return result

    def const_value(self, unit, expr: ast.Expr) -> int | None:
        """Evaluate an expression that must be constant (array lengths, numbers)."""
        before = self.diags.reported
        t, value = self.expr_const(expr, self.const_context(unit))
        if t is not None and value is None and self.diags.reported == before:
            self.err("E041", "expected a constant expression", expr.span)
        return value
