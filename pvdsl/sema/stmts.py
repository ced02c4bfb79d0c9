"""Statement checks: locals, assignment, control flow, returns, asserts."""

from __future__ import annotations

from ..diagnostics import Note
from ..syntax import ast
from . import types as T
from .exprs import Ctx, Local


def _is_aggregate(t: T.Type | None) -> bool:
    return isinstance(t, (T.StructType, T.ArrayType))


class StmtChecks:
    """Mixed into Checker."""

    def check_body(self, body: ast.Block, ctx: Ctx, params, what: str) -> None:
        """Check a function-like body whose parameters are `params` [(name, type, span)]."""
        scope = {}
        for name, t, span in params:
            if name in scope:
                self.err("E012", f"parameter '{name}' is already defined", span)
            scope[name] = Local(name, t, span)
        ctx.scopes = [scope]
        self.check_block(body, ctx, new_scope=True)
        if ctx.ret is not None and ctx.ret != T.VOID and not self.always_returns(body):
            end = body.span.source.span(body.span.end - 1, body.span.end) if body.span.source else body.span
            self.err("E038", f"{what} must return a '{ctx.ret}' on every path, "
                     "but can reach its end without 'return'", end)

    def check_block(self, block: ast.Block, ctx: Ctx, new_scope: bool = True) -> None:
        if new_scope:
            ctx.scopes.append({})
        try:
            for stmt in block.stmts:
                self.check_stmt(stmt, ctx)
        finally:
            if new_scope:
                ctx.scopes.pop()

    def check_stmt(self, s: ast.Stmt, ctx: Ctx) -> None:
        getattr(self, "_s_" + type(s).__name__)(s, ctx)

    def _s_Block(self, s, ctx):
        self.check_block(s, ctx)

    def _s_VarStmt(self, s: ast.VarStmt, ctx: Ctx):
        declared = self.resolve_type(ctx.unit, s.type) if s.type is not None else None
        failed = s.type is not None and declared is None  # reported by resolve_type
        if declared == T.VOID:
            self.err("E021", "a variable cannot have type 'void'", s.type.span)
            declared = None
        init_t = self.check_expr(s.init, ctx) if s.init is not None else None
        t = declared
        if s.init is not None and init_t is not None:
            if declared is not None:
                if _is_aggregate(declared):
                    self.err("E037", f"a '{declared}' cannot be initialised from a value; "
                             "declare it and assign its fields", s.init.span)
                else:
                    self.coerce(s.init, init_t, declared, ctx, what="initial value")
            elif failed:
                pass
            elif isinstance(init_t, (T.UntypedInt, T.NullType)):
                self.err("E036", f"cannot infer the type of '{s.name}' from "
                         f"{'an integer literal' if isinstance(init_t, T.UntypedInt) else 'null'}; "
                         f"write 'var {s.name}: TYPE = ...'", s.span)
            elif _is_aggregate(init_t) or init_t == T.VOID:
                self.err("E037", f"cannot initialise '{s.name}' from a value of type '{init_t}'", s.init.span)
            else:
                t = init_t
        elif s.type is None and s.init is None:
            self.err("E036", f"variable '{s.name}' needs a type or an initial value", s.span)
        if t is not None and isinstance(t, T.StructType):
            self.layout_ok(t, s.span)
        scope = ctx.scopes[-1]
        if s.name in scope:
            self.err("E012", f"'{s.name}' is already defined in this block", s.span,
                     Note(scope[s.name].span, "first defined here"))
        # An unknown type stays None: uses of the variable then report nothing more.
        local = Local(s.name, t, s.span)
        scope[s.name] = local
        self.view.refs[id(s)] = local

    def _s_AssignStmt(self, s: ast.AssignStmt, ctx: Ctx):
        tt = self.check_expr(s.target, ctx)
        vt = self.check_expr(s.value, ctx)
        if tt is None or vt is None:
            return
        if not self.is_lvalue(s.target, ctx):
            self.err("E032", "cannot assign to this expression: it is not a variable, field, element "
                     "or dereference", s.target.span)
            return
        if _is_aggregate(tt):
            parts = "elements" if isinstance(tt, T.ArrayType) else "fields"
            self.err("E037", f"cannot assign a whole '{tt}'; assign its {parts} one by one", s.span)
            return
        if s.op == "=":
            self.coerce(s.value, vt, tt, ctx, what="assignment")
            return
        op = s.op[:-1]
        if not T.is_integer(tt) or not T.is_integer(vt):
            self.err("E031", f"'{s.op}' needs integer operands, found '{tt}' and '{vt}'", s.span)
            return
        if op in ("<<", ">>"):
            if isinstance(vt, T.UntypedInt):
                amount = self.value_of(s.value)
                if amount is not None and not 0 <= amount < T.integer_base(tt).width(self.arch):
                    self.err("E040", f"shift by {amount} is out of range for '{tt}'", s.value.span)
                self.view.expr_types[id(s.value)] = T.integer_base(tt)
            return
        if op in ("/", "%") and self.value_of(s.value) == 0:
            self.err("E042", "division by zero", s.value.span)
            return
        # The result of `a op= b` is stored in a, so b must widen to a's type.
        self.coerce(s.value, vt, T.integer_base(tt) if not isinstance(tt, T.EnumType) or not tt.is_flags else tt,
                    ctx, what=f"right side of '{s.op}'")

    def _cond(self, e: ast.Expr, ctx: Ctx, what: str) -> None:
        t = self.check_expr(e, ctx)
        if t is not None and t != T.BOOL:
            self.err("E034", f"the condition of '{what}' must be bool, found '{t}' "
                     "(compare it, as in 'x != 0')", e.span)

    def _s_IfStmt(self, s: ast.IfStmt, ctx: Ctx):
        self._cond(s.cond, ctx, "if")
        self.check_block(s.then, ctx)
        if s.otherwise is not None:
            self.check_stmt(s.otherwise, ctx)

    def _s_WhenStmt(self, s: ast.WhenStmt, ctx: Ctx):
        self.check_when(s.arches, s.span)
        chosen = s.then if self.arch.name in s.arches else s.otherwise
        if chosen is not None:
            self.check_block(chosen, ctx)

    def _s_WhileStmt(self, s: ast.WhileStmt, ctx: Ctx):
        self._cond(s.cond, ctx, "while")
        ctx.loops += 1
        try:
            self.check_block(s.body, ctx)
        finally:
            ctx.loops -= 1

    def _s_ReturnStmt(self, s: ast.ReturnStmt, ctx: Ctx):
        if ctx.in_law:
            self.err("E038", "a law cannot return; it states facts with 'assert'", s.span)
            return
        if s.value is None:
            if ctx.ret != T.VOID:
                self.err("E038", f"'return' needs a value of type '{ctx.ret}' here", s.span)
            return
        t = self.check_expr(s.value, ctx)
        if ctx.ret == T.VOID:
            self.err("E038", "this function returns nothing, but 'return' has a value", s.value.span)
            return
        self.coerce(s.value, t, ctx.ret, ctx, what="return value")

    def _s_AssertStmt(self, s: ast.AssertStmt, ctx: Ctx):
        if not ctx.in_law:
            self.err("E080", "'assert' is only allowed in a law", s.span)
        self._cond(s.cond, ctx, "assert")

    def _s_BreakStmt(self, s, ctx):
        if ctx.loops == 0:
            self.err("E039", "'break' outside a loop", s.span)

    def _s_ContinueStmt(self, s, ctx):
        if ctx.loops == 0:
            self.err("E039", "'continue' outside a loop", s.span)

    def _s_ExprStmt(self, s: ast.ExprStmt, ctx: Ctx):
        self.check_expr(s.expr, ctx)

    # ---- flow ----
    def always_returns(self, s: ast.Stmt) -> bool:
        if isinstance(s, ast.ReturnStmt):
            return True
        if isinstance(s, ast.Block):
            return any(self.always_returns(x) for x in s.stmts)
        if isinstance(s, ast.IfStmt):
            return s.otherwise is not None and self.always_returns(s.then) and self.always_returns(s.otherwise)
        if isinstance(s, ast.WhenStmt):
            chosen = s.then if self.arch.name in s.arches else s.otherwise
            return chosen is not None and self.always_returns(chosen)
        if isinstance(s, ast.WhileStmt):
            forever = isinstance(s.cond, ast.BoolLit) and s.cond.value
            return forever and not any(isinstance(n, ast.BreakStmt) for n in _loop_level(s.body))
        return False


def _loop_level(block: ast.Block):
    """Statements of `block` that belong to this loop (not to nested loops)."""
    for node in block.children():
        if isinstance(node, ast.WhileStmt):
            continue
        yield node
        if isinstance(node, ast.Stmt):
            yield from _loop_level_any(node)


def _loop_level_any(node):
    for child in node.children():
        if isinstance(child, ast.WhileStmt):
            continue
        yield child
        yield from _loop_level_any(child)
