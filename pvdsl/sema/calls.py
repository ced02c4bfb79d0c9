"""Call checks: what a call names (a backend's own or inherited function,
a law's table hook, a module's function or hypercall, an intrinsic, a
`table.hook`), its argument count and each argument's conversion to its
parameter. A mixin of sema.checker.Checker, like ExprChecks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..diagnostics import Note
from ..syntax import ast
from .intrinsics import INTRINSICS, Intrinsic
from .model import HookInfo, HypercallInfo, TableInfo
from .scope import KIND_WORDS

if TYPE_CHECKING:  # the context type lives with the expression checks
    from .exprs import Ctx


class CallChecks:
    def _e_Call(self, e: ast.Call, ctx: Ctx):
        if ctx.const_only:
            self.err("E041", "a call is not a constant expression", e.span)
            return None, None
        target = self.resolve_callee(e.callee, ctx)
        if target is None:
            for a in e.args:
                self.check_expr(a, ctx)
            return None, None
        params, ret = target.params, target.ret
        self.view.refs[id(e)] = target
        if ctx.owner is not None:
            self.calls.setdefault(ctx.owner, []).append((target, e))
        name = self.callee_words(target)
        variadic = isinstance(target, HypercallInfo) and target.variadic
        if len(e.args) < len(params) or len(e.args) > len(params) and not variadic:
            at_least = "at least " if variadic else ""
            self.err("E033", f"{name} takes {at_least}{len(params)} argument{'s' if len(params) != 1 else ''}, "
                     f"{len(e.args)} given", e.span)
            for a in e.args:
                self.check_expr(a, ctx)
            return ret, None
        for arg, (pname, ptype) in zip(e.args, params):
            at = self.check_expr(arg, ctx)
            self.coerce(arg, at, ptype, ctx, what=f"argument '{pname}'")
        if len(e.args) > len(params):
            self.check_extra_args(target, e, ctx)
        return ret, None

    @staticmethod
    def callee_words(target) -> str:
        if isinstance(target, HypercallInfo):
            return f"hypercall '{target.name}'"
        if isinstance(target, HookInfo):
            return f"hook '{target.table}.{target.name}'"
        if isinstance(target, Intrinsic):
            return f"intrinsic '{target.name}'"
        return f"function '{target.name}'"

    def resolve_callee(self, callee: ast.Expr, ctx: Ctx):
        if isinstance(callee, ast.Name):
            name = callee.name
            if ctx.find_local(name) is not None or self.find_percpu(ctx, name) is not None:
                self.err("E022", f"'{name}' is a variable, not a function", callee.span)
                return None
            b = ctx.backend
            while b is not None:
                if name in b.fns:
                    return b.fns[name]
                if name in b.failed:
                    return None
                b = self.view.backends.get(b.base) if b.base else None
            if ctx.law_table is not None:
                if ctx.law_table.hook(name) is not None:
                    return ctx.law_table.hook(name)
                if any(h.name == name for h in ctx.law_table.decl.hooks):
                    self.report_missing_hook(ctx.law_table, name, callee.span)
                    return None
            sym = self.lookup(ctx.unit, name, callee.span)
            if sym is not None:
                if sym.kind == "fn":
                    return self.fn_info(sym)
                if sym.kind == "hypercall":
                    return self.hypercall_info(sym)
                self.err("E022", f"'{name}' is a {KIND_WORDS[sym.kind]}, not something to call", callee.span,
                         Note(sym.decl.name_span, f"'{name}' is declared here"))
                return None
            if name in INTRINSICS:
                return INTRINSICS[name]
            if not ctx.unit.broken_imports:
                self.err("E020", f"unknown function '{name}'", callee.span)
            return None
        if isinstance(callee, ast.FieldAccess) and not callee.arrow and isinstance(callee.base, ast.Name):
            sym = self.lookup(ctx.unit, callee.base.name, callee.base.span)
            if sym is not None and sym.kind == "table":
                table = self.table_info(sym)
                hook = table.hook(callee.name) if table else None
                if hook is None and table is not None:
                    self.report_missing_hook(table, callee.name, callee.span)
                return hook
        self.err("E022", "only functions, hypercalls, intrinsics and hooks can be called", callee.span)
        return None

    def report_missing_hook(self, table: TableInfo, name: str, span) -> None:
        absent = [h for h in table.decl.hooks if h.name == name]
        if absent:
            self.err("E061", f"hook '{table.name}.{name}' does not exist on {self.arch.name}", span,
                     Note(absent[0].span, f"declared only when {', '.join(absent[0].when)}"))
        else:
            self.err("E061", f"table '{table.name}' has no hook '{name}'", span,
                     Note(table.decl.name_span, f"'{table.name}' is declared here"))
