"""Entry points of semantic analysis: load, check every arch, return the views."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..arch import ARCHES
from ..diagnostics import Diagnostics
from . import types as T
from .checker import Checker
from .decls import _Member
from .exprs import Ctx
from .modules import Loader, Unit
from .model import ArchView
from .roles import RoleChecks
from .scope import Scopes


@dataclass
class Program:
    units: list[Unit]
    roots: list[Unit]
    views: dict[str, ArchView] = field(default_factory=dict)

    def view(self, arch: str) -> ArchView:
        return self.views[arch]

    def units_of_backend(self, name: str) -> list[Unit]:
        """The files a backend can see: its own and its imports, and those of
        its base backends. What is generated for it depends on these alone,
        not on what else was checked in the same run."""
        units, todo = [], [name]
        while todo:
            want = todo.pop()
            for unit in self.units:
                for d in unit.module.decls:
                    if type(d).__name__ == "BackendDecl" and d.name == want:
                        units += [u for u in (unit, *unit.imports) if u not in units]
                        if d.extends:
                            todo.append(d.extends)
        return units


def check_paths(paths, diags: Diagnostics, search: list[Path] | None = None) -> Program:
    loader = Loader(diags, search)
    roots = [u for u in (loader.load_file(p) for p in paths) if u is not None]
    return _check(loader, roots, diags)


def check_each(paths, diags: Diagnostics, search: list[Path] | None = None) -> list[Program]:
    """Each file as a program of its own (with what it imports), the way a C
    compiler takes each file as a translation unit. Files are parsed once."""
    loader = Loader(diags, search)
    roots = []
    for p in paths:
        unit = loader.load_file(p)
        if unit is not None and unit not in roots:
            roots.append(unit)
    return [_check(loader, [root], diags, _closure(root, loader.order)) for root in roots]


def _closure(root: Unit, order: list[Unit]) -> list[Unit]:
    """`root` and everything it imports, directly or not, in load order."""
    seen, todo = set(), [root]
    while todo:
        u = todo.pop()
        if id(u) not in seen:
            seen.add(id(u))
            todo += u.imports
    return [u for u in order if id(u) in seen]


def check_text(text: str, diags: Diagnostics, path: str = "<string>",
               search: list[Path] | None = None) -> Program:
    loader = Loader(diags, search)
    root = loader.load_text(path, text)
    return _check(loader, [root] if root else [], diags)


def _check(loader: Loader, roots, diags: Diagnostics, units: list[Unit] | None = None) -> Program:
    # The parser refuses nesting deeper than MAX_NESTING; checking a tree
    # that deep recurses a few frames per level.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    units = list(loader.order) if units is None else units
    program = Program(units, roots)
    scopes = Scopes(units, diags)
    for arch in ARCHES.values():
        checker = Checker(units, scopes, arch, diags)
        check_arch(checker)
        program.views[arch.name] = checker.view
    return program


def check_arch(c: Checker) -> None:
    s = c.scopes
    # Declarations first, so bodies can refer to anything in any order.
    for sym in s.all_symbols("struct"):
        st = c.struct_type(sym)
        seen = {}
        for f in sym.decl.fields:
            c.check_when(f.when, f.span)
            if c.present(f.when):
                c.resolve_type(sym.unit, f.type)  # every bad field, not just the first
            if f.name in seen and c.present(f.when) and c.present(seen[f.name].when):
                from ..diagnostics import Note
                c.err("E012", f"field '{f.name}' is already defined in '{sym.name}'", f.span,
                      Note(seen[f.name].span, "first defined here"))
            seen.setdefault(f.name, f)
        c.layout_ok(st, sym.decl.name_span)
    for kind, fn in (("enum", c.enum_type), ("type", lambda sym: c.symbol_type(sym, sym.decl.name_span)),
                     ("const", c.global_const), ("table", c.table_info), ("fn", c.fn_info)):
        for sym in s.all_symbols(kind):
            fn(sym)
    c.check_hypercall_numbers()
    backends = []
    for sym in s.all_symbols("backend"):
        if c.arch.name in sym.decl.arches:
            info = c.backend_info(sym)
            if info is not None:
                backends.append((sym, info))
        else:
            c.check_backend_header(sym.decl)
    laws = [(sym, c.law_info(sym)) for sym in s.all_symbols("law")]

    # Bodies.
    for sym in s.all_symbols("fn"):
        info = c.fn_info(sym)
        if info is not None:
            c.check_body(sym.decl.body, Ctx(sym.unit, ret=info.ret, owner=info),
                         [(n, t, p.span) for (n, t), p in zip(info.params, sym.decl.params)],
                         f"function '{info.name}'")
    for sym in s.all_symbols("table"):
        table = c.table_info(sym)
        for hook in table.hooks:
            if hook.default is not None:
                c.check_body(hook.default, Ctx(sym.unit, ret=hook.ret, owner=hook),
                             [(n, t, p.span) for (n, t), p in zip(hook.params, hook.decl.params)],
                             f"the default of '{table.name}.{hook.name}'")
    for sym, info in backends:
        for fn in info.fns.values():
            c.check_body(fn.decl.body, Ctx(sym.unit, backend=info, ret=fn.ret, owner=fn),
                         [(n, t, p.span) for (n, t), p in zip(fn.params, fn.decl.params)],
                         f"function '{fn.name}'")
        for impl in info.impls.values():
            hook = impl.hook
            c.check_body(impl.decl.body, Ctx(sym.unit, backend=info, ret=hook.ret, owner=impl),
                         [(p.name, t, p.span) for (_, t), p in zip(hook.params, impl.decl.params)],
                         f"'{hook.table}.{hook.name}'")
    for sym, law in laws:
        if law is not None:
            ctx = c.law_ctx(sym, law)
            c.check_body(sym.decl.body, ctx, [(p.name, p.type, d.span) for p, d in zip(law.params, sym.decl.params)],
                         f"law '{law.name}'")
    # Whole-backend rules.
    roles = RoleChecks(c)
    for _sym, info in backends:
        c.complete_backend(info)
    for _sym, info in backends:
        roles.check(info)


__all__ = ["Program", "check_paths", "check_text", "T", "_Member"]
