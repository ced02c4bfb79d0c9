"""The checked program, as later stages see it: one `ArchView` per arch."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arch import Arch
from ..syntax import ast
from . import types as T
from .layout import Layouts, StructLayout


@dataclass(frozen=True, eq=False)
class Symbol:
    kind: str  # const type struct enum hypercall table backend fn law
    name: str
    decl: ast.Decl
    unit: object  # modules.Unit


@dataclass(eq=False)
class HypercallInfo:
    name: str
    number: int
    params: tuple[tuple[str, T.Type], ...]
    ret: T.Type
    privileged: bool
    decl: ast.HypercallDecl
    variadic: bool = False  # declared with `...`: a call may pass more arguments


@dataclass(eq=False)
class HookInfo:
    table: str
    name: str
    slot: int
    params: tuple[tuple[str, T.Type], ...]
    ret: T.Type
    callee_save: bool
    decl: ast.HookDecl

    @property
    def default(self) -> ast.Block | None:
        return self.decl.default


@dataclass(eq=False)
class TableInfo:
    name: str
    hooks: list[HookInfo]
    decl: ast.TableDecl

    def hook(self, name: str) -> HookInfo | None:
        for h in self.hooks:
            if h.name == name:
                return h
        return None


@dataclass(eq=False)
class FnInfo:
    name: str
    params: tuple[tuple[str, T.Type], ...]
    ret: T.Type
    decl: ast.FnDecl
    backend: str | None  # None for a top-level helper


@dataclass(eq=False)
class ImplInfo:
    backend: str
    hook: HookInfo
    decl: ast.ImplDecl


@dataclass(eq=False)
class PercpuInfo:
    """A backend's storage: a percpu variable, or (per_cpu False) a
    kernel-wide `var`."""

    name: str
    type: T.Type
    backend: str
    decl: "ast.PercpuDecl | ast.BackendVarDecl"
    per_cpu: bool = True


@dataclass(eq=False)
class BackendInfo:
    name: str
    decl: ast.BackendDecl
    base: str | None
    arches: tuple[str, ...]
    roles: tuple[str, ...]
    percpu: dict[str, PercpuInfo] = field(default_factory=dict)
    fns: dict[str, FnInfo] = field(default_factory=dict)
    impls: dict[tuple[str, str], ImplInfo] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # helpers whose signature did not check
    incomplete: bool = False  # its base could not be used on this arch
    # Filled after checking: table -> slot-ordered (hook, where it comes from)
    # where "where" is an ImplInfo (own or inherited) or the HookInfo default.
    tables: dict[str, list[tuple[HookInfo, object]]] = field(default_factory=dict)


@dataclass(eq=False)
class LawParamInfo:
    name: str
    type: T.Type
    values: tuple[int, ...] | None  # explicit set
    range: tuple[int, int] | None  # inclusive bounds


@dataclass(eq=False)
class LawInfo:
    name: str
    table: str
    params: tuple[LawParamInfo, ...]
    decl: ast.LawDecl


@dataclass(eq=False)
class ArchView:
    """Everything checked about the program, laid out for one arch."""

    arch: Arch
    layouts: Layouts
    consts: dict[str, tuple[T.Type, int]] = field(default_factory=dict)
    structs: dict[str, T.StructType] = field(default_factory=dict)
    enums: dict[str, T.EnumType] = field(default_factory=dict)
    hypercalls: dict[str, HypercallInfo] = field(default_factory=dict)
    tables: dict[str, TableInfo] = field(default_factory=dict)
    backends: dict[str, BackendInfo] = field(default_factory=dict)
    fns: dict[str, FnInfo] = field(default_factory=dict)
    laws: dict[str, LawInfo] = field(default_factory=dict)
    # Per-expression facts for code generation, keyed by id() of the node.
    expr_types: dict[int, T.Type] = field(default_factory=dict)
    expr_values: dict[int, int] = field(default_factory=dict)
    refs: dict[int, object] = field(default_factory=dict)
    # A call of a variadic hypercall -> (name, type) of each argument after
    # the declared ones, the type each travels as (its own, or the one an
    # untyped literal or null settled on).
    extra_args: dict[int, tuple[tuple[str, T.Type], ...]] = field(default_factory=dict)

    def call_params(self, call: ast.Call) -> tuple[tuple[str, T.Type], ...]:
        """(name, type) of every argument of a checked call, in order: the
        callee's parameters, then a variadic hypercall's extra arguments."""
        return self.refs[id(call)].params + self.extra_args.get(id(call), ())

    def struct_layout(self, name: str) -> StructLayout:
        return self.layouts.struct(self.structs[name])

    def type_of(self, expr: ast.Expr) -> T.Type | None:
        return self.expr_types.get(id(expr))
