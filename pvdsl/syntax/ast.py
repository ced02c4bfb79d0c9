"""The pvdsl abstract syntax tree: frozen dataclasses, one Span per node.

Spans do not take part in equality, so a tree parsed from `pvdsl fmt` output
compares equal to the tree it was printed from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..source import BUILTIN, Span


def _span():
    return field(default=BUILTIN, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Node:
    def children(self):
        """The direct child nodes, in source order."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, Node):
                        yield item

    def walk(self):
        """This node and all its descendants, depth first."""
        yield self
        for child in self.children():
            yield from child.walk()


# ---- type expressions -----------------------------------------------------

@dataclass(frozen=True)
class TypeExpr(Node):
    pass


@dataclass(frozen=True)
class NamedType(TypeExpr):
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class PtrType(TypeExpr):
    target: TypeExpr
    span: Span = _span()


@dataclass(frozen=True)
class HandleType(TypeExpr):
    target: TypeExpr
    span: Span = _span()


@dataclass(frozen=True)
class ArrayType(TypeExpr):
    elem: TypeExpr
    length: "Expr"
    span: Span = _span()


# ---- expressions ----------------------------------------------------------

@dataclass(frozen=True)
class Expr(Node):
    pass


@dataclass(frozen=True)
class IntLit(Expr):
    value: int
    base: int = 10  # the radix it was written in; `fmt` keeps it
    span: Span = _span()


@dataclass(frozen=True)
class BoolLit(Expr):
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class NullLit(Expr):
    span: Span = _span()


@dataclass(frozen=True)
class Name(Expr):
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # - ! ~ * &
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Ternary(Expr):
    cond: Expr
    then: Expr
    otherwise: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Call(Expr):
    callee: Expr
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class FieldAccess(Expr):
    base: Expr
    name: str
    arrow: bool  # `p->f` (through a pointer) rather than `v.f`
    span: Span = _span()


@dataclass(frozen=True)
class Index(Expr):
    base: Expr
    index: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Cast(Expr):
    expr: Expr
    type: TypeExpr
    span: Span = _span()


@dataclass(frozen=True)
class SizeOf(Expr):
    type: TypeExpr
    span: Span = _span()


# ---- statements -----------------------------------------------------------

@dataclass(frozen=True)
class Stmt(Node):
    pass


@dataclass(frozen=True)
class Block(Stmt):
    stmts: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class VarStmt(Stmt):
    name: str
    type: TypeExpr | None
    init: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class AssignStmt(Stmt):
    target: Expr
    op: str  # "=" or a compound operator such as "+="
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class IfStmt(Stmt):
    cond: Expr
    then: Block
    otherwise: "Block | IfStmt | None"
    span: Span = _span()


@dataclass(frozen=True)
class WhenStmt(Stmt):
    """`when ARCHES { ... } else { ... }`: statements for some arches only."""

    arches: tuple[str, ...]
    then: Block
    otherwise: Block | None
    span: Span = _span()


@dataclass(frozen=True)
class WhileStmt(Stmt):
    cond: Expr
    body: Block
    span: Span = _span()


@dataclass(frozen=True)
class ReturnStmt(Stmt):
    value: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class AssertStmt(Stmt):
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True)
class BreakStmt(Stmt):
    span: Span = _span()


@dataclass(frozen=True)
class ContinueStmt(Stmt):
    span: Span = _span()


@dataclass(frozen=True)
class ExprStmt(Stmt):
    expr: Expr
    span: Span = _span()


# ---- declarations ---------------------------------------------------------

@dataclass(frozen=True)
class Attr(Node):
    name: str
    args: tuple[Expr, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Param(Node):
    name: str
    type: TypeExpr
    when: tuple[str, ...] = ()  # hypercall arguments only: arches it exists on
    span: Span = _span()


@dataclass(frozen=True)
class Decl(Node):
    pass


@dataclass(frozen=True)
class ConstDecl(Decl):
    name: str
    type: TypeExpr | None
    value: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class TypeDecl(Decl):
    name: str
    type: TypeExpr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class FieldDecl(Node):
    name: str
    type: TypeExpr
    when: tuple[str, ...] = ()  # arches the field exists on; () = all
    span: Span = _span()


@dataclass(frozen=True)
class StructDecl(Decl):
    name: str
    is_union: bool
    attrs: tuple[Attr, ...]
    fields: tuple[FieldDecl, ...]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class EnumMember(Node):
    name: str
    value: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class EnumDecl(Decl):
    name: str
    is_flags: bool
    base: TypeExpr
    members: tuple[EnumMember, ...]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class HypercallDecl(Decl):
    name: str
    number: Expr  # an IntLit or the Name of a constant
    params: tuple[Param, ...]
    ret: TypeExpr | None
    attrs: tuple[Attr, ...]
    # `...` after the parameters: a call may pass more arguments, each in the
    # next argument register (Linux's HYPERVISOR_sched_op(cmd, arg, ...)).
    variadic: bool = False
    span: Span = _span()
    name_span: Span = _span()
    variadic_span: Span = _span()  # the `...`, where there is one


@dataclass(frozen=True)
class HookDecl(Node):
    name: str
    params: tuple[Param, ...]
    ret: TypeExpr | None
    attrs: tuple[Attr, ...]
    when: tuple[str, ...]
    default: Block | None  # a body here is the table's default implementation
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class TableDecl(Decl):
    name: str
    hooks: tuple[HookDecl, ...]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class FnDecl(Decl):
    name: str
    params: tuple[Param, ...]
    ret: TypeExpr | None
    body: Block
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class PercpuDecl(Node):
    name: str
    type: TypeExpr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class BackendVarDecl(Node):
    """`var NAME: T;` in a backend: one kernel-wide variable, zero at load."""

    name: str
    type: TypeExpr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class ImplDecl(Node):
    table: str
    hook: str
    params: tuple[Param, ...]
    ret: TypeExpr | None
    body: Block
    span: Span = _span()
    name_span: Span = _span()  # covers `table.hook`


@dataclass(frozen=True)
class BackendDecl(Decl):
    name: str
    extends: str | None
    arches: tuple[str, ...]
    roles: tuple[str, ...]
    members: tuple["PercpuDecl | BackendVarDecl | FnDecl | ImplDecl", ...]
    span: Span = _span()
    name_span: Span = _span()
    extends_span: Span = _span()
    arch_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False, kw_only=True)
    role_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class SetDomain(Node):
    values: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class RangeDomain(Node):
    lo: Expr
    hi: Expr
    inclusive: bool
    span: Span = _span()


@dataclass(frozen=True)
class LawParam(Node):
    name: str
    type: TypeExpr
    domain: SetDomain | RangeDomain | None
    span: Span = _span()


@dataclass(frozen=True)
class LawDecl(Decl):
    name: str
    params: tuple[LawParam, ...]
    table: str
    body: Block
    span: Span = _span()
    name_span: Span = _span()
    table_span: Span = _span()


@dataclass(frozen=True)
class Import(Node):
    path: tuple[str, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Module(Node):
    name: tuple[str, ...] | None
    imports: tuple[Import, ...]
    decls: tuple[Decl, ...]
    span: Span = _span()
