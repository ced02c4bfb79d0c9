"""Declaration checks: hypercalls, tables, helpers, backends, laws."""

from __future__ import annotations

from ..arch import ARCHES, HYPERCALL_ENTRY_BYTES, HYPERCALL_MAX_ARGS, ROLES

HYPERCALL_PAGE_ENTRIES = 4096 // HYPERCALL_ENTRY_BYTES
from ..diagnostics import Note
from ..syntax import ast
from . import types as T
from .exprs import Ctx
from .model import (BackendInfo, FnInfo, HookInfo, HypercallInfo, ImplInfo, LawInfo, LawParamInfo,
                    PercpuInfo, TableInfo)


def _is_passable(t: T.Type) -> bool:
    return T.is_scalar(t) and not isinstance(t, (T.UntypedInt, T.NullType))


PASSABLE = "only integers, bool, pointers and handles are passed in registers"


class DeclChecks:
    """Mixed into Checker."""

    # ---- signatures ----
    def _params(self, unit, params, what: str):
        """(name, type) of each parameter; None if any is wrong (all are reported)."""
        out, seen, ok = [], {}, True
        for p in params:
            if p.name in seen:
                self.err("E012", f"parameter '{p.name}' is already defined", p.span,
                         Note(seen[p.name], "first defined here"))
            seen.setdefault(p.name, p.span)
            t = self.resolve_type(unit, p.type)
            if t is None:
                ok = False
                continue
            if not _is_passable(t):
                self.err("E037", f"{what} parameter '{p.name}' has type '{t}': {PASSABLE}", p.type.span)
                ok = False
                continue
            out.append((p.name, t))
        return tuple(out) if ok else None

    def _ret(self, unit, texpr, what: str, default=T.VOID):
        if texpr is None:
            return default
        t = self.resolve_type(unit, texpr)
        if t is not None and t != T.VOID and not _is_passable(t):
            self.err("E037", f"{what} cannot return a '{t}': only integers, bool, pointers and handles",
                     texpr.span)
            return None
        return t

    def _attrs(self, attrs, allowed: tuple[str, ...], what: str) -> set[str]:
        names = set()
        for a in attrs:
            if a.name not in allowed:
                want = " or ".join(f"'{x}'" for x in allowed) if allowed else "none"
                self.err("E025", f"unknown {what} attribute '{a.name}' (allowed: {want})", a.span)
            elif a.args:
                self.err("E025", f"attribute '{a.name}' takes no arguments", a.span)
            elif a.name in names:
                self.err("E025", f"attribute '{a.name}' is given twice", a.span)
            names.add(a.name)
        return names

    # ---- hypercalls ----
    def hypercall_info(self, sym) -> HypercallInfo | None:
        decl: ast.HypercallDecl = sym.decl
        cache = self.__dict__.setdefault("_hc_cache", {})
        if id(decl) in cache:
            return cache[id(decl)]
        cache[id(decl)] = None
        number = self.const_value(sym.unit, decl.number)
        if number is not None and self.view.expr_types.get(id(decl.number)) == T.BOOL:
            self.err("E030", "a hypercall number must be an integer, not a bool", decl.number.span)
            number = None
        if number is not None and not 0 <= number < HYPERCALL_PAGE_ENTRIES:
            self.err("E040", f"hypercall number {number} is outside the hypercall page "
                     f"(0..{HYPERCALL_PAGE_ENTRIES - 1})", decl.number.span)
            number = None
        for p in decl.params:
            self.check_when(p.when, p.span)
        present = tuple(p for p in decl.params if self.present(p.when))
        if len(present) > HYPERCALL_MAX_ARGS:
            self._too_many_arguments(f"hypercall '{decl.name}' has", len(present), present[HYPERCALL_MAX_ARGS].span)
        params = self._params(sym.unit, present, "hypercall")
        ret = self._ret(sym.unit, decl.ret, "a hypercall", default=T.LONG)
        attrs = self._attrs(decl.attrs, ("privileged",), "hypercall")
        if params is not None:
            for (pname, ptype), p in zip(params, present):
                self._fits_register(ptype, f"argument '{pname}' of hypercall '{decl.name}'", p.type.span)
        if number is None or params is None or ret is None:
            return None
        info = HypercallInfo(decl.name, number, params, ret, "privileged" in attrs, decl, decl.variadic)
        cache[id(decl)] = info
        return info

    def _too_many_arguments(self, subject: str, count: int, span, *notes) -> None:
        self.err("E051", f"{subject} {count} arguments on {self.arch.name}; Xen passes at most "
                 f"{HYPERCALL_MAX_ARGS} in registers", span, *notes)

    def _fits_register(self, t: T.Type, what: str, span) -> bool:
        size = self.size_of(t, span)
        if size is not None and size > self.arch.hypercall_max_arg_bytes:
            self.err("E052", f"{what} is {size * 8} bits wide; a hypercall argument register on "
                     f"{self.arch.name} holds {self.arch.hypercall_max_arg_bytes * 8} (split it in two)", span)
            return False
        return size is not None

    def check_extra_args(self, hc: HypercallInfo, e: ast.Call, ctx: Ctx) -> None:
        """The arguments a call passes after a variadic hypercall's declared
        ones. Each goes in the next argument register as Linux's _hypercallN
        puts it there, converted to unsigned long: a narrower value zero- or
        sign-extended as its own type says. So each must be a scalar no
        wider than a register, and all must fit the five registers."""
        if len(e.args) > HYPERCALL_MAX_ARGS:
            n = len(hc.params)
            self._too_many_arguments(f"hypercall '{hc.name}' is called with", len(e.args),
                                     e.args[HYPERCALL_MAX_ARGS].span,
                                     Note(hc.decl.variadic_span, f"'{hc.name}' declares {n} argument"
                                          f"{'s' if n != 1 else ''} before '...', leaving room for "
                                          f"{HYPERCALL_MAX_ARGS - n} more"))
        extras, ok = [], True
        for i, arg in enumerate(e.args[len(hc.params):], start=len(hc.params) + 1):
            t = self.check_expr(arg, ctx)
            what = f"variadic argument {i} of hypercall '{hc.name}'"
            if isinstance(t, T.UntypedInt):
                # As a C integer constant: `long` unless only `ulong` holds it.
                value = self.value_of(arg)
                t = T.ULONG if value is not None and value > T.LONG.range(self.arch)[1] else T.LONG
                ok = self.coerce(arg, T.UNTYPED, t, ctx, what) and ok
            elif isinstance(t, T.NullType):
                t = T.PtrType(T.VOID)
                self.coerce(arg, T.NULL, t, ctx, what)
            if t is None:
                ok = False
            elif not _is_passable(t):
                self.err("E037", f"{what} has type '{t}': {PASSABLE}", arg.span)
                ok = False
            else:
                ok = self._fits_register(t, what, arg.span) and ok
            extras.append((f"arg{i}", t))
        if ok and len(e.args) <= HYPERCALL_MAX_ARGS:
            self.view.extra_args[id(e)] = tuple(extras)

    def check_hypercall_numbers(self) -> None:
        by_number: dict[int, HypercallInfo] = {}
        for sym in self.scopes.all_symbols("hypercall"):
            info = self.hypercall_info(sym)
            if info is None:
                continue
            prev = by_number.get(info.number)
            if prev is not None and prev.decl is not info.decl:
                self.err("E050", f"hypercall '{info.name}' reuses number {info.number}", info.decl.number.span,
                         Note(prev.decl.name_span, f"'{prev.name}' already has number {info.number}"))
                continue
            by_number[info.number] = info
            same = self.view.hypercalls.get(info.name)
            if same is not None and same.decl is not info.decl:
                self.err("E012", f"hypercall '{info.name}' is defined twice in this program", info.decl.name_span,
                         Note(same.decl.name_span, "first defined here"))
                continue
            self.view.hypercalls[info.name] = info

    # ---- tables ----
    def table_info(self, sym) -> TableInfo | None:
        decl: ast.TableDecl = sym.decl
        cache = self.__dict__.setdefault("_table_cache", {})
        if id(decl) in cache:
            return cache[id(decl)]
        table = TableInfo(decl.name, [], decl)
        cache[id(decl)] = table
        seen = {}
        for h in decl.hooks:
            self.check_when(h.when, h.span)
            key = (h.name, h.when)
            if h.name in seen and (not h.when or not seen[h.name].when or set(h.when) & set(seen[h.name].when)):
                self.err("E060", f"hook '{h.name}' is declared twice in table '{decl.name}'", h.name_span,
                         Note(seen[h.name].name_span, "first declared here"))
                continue
            seen[h.name] = h
            if not self.present(h.when):
                continue
            attrs = self._attrs(h.attrs, ("callee_save",), "hook")
            params = self._params(sym.unit, h.params, "hook")
            ret = self._ret(sym.unit, h.ret, "a hook")
            if params is None or ret is None:
                params, ret = params or (), ret or T.VOID
            callee_save = "callee_save" in attrs
            if callee_save:
                self._check_callee_save(h, params, ret)
            table.hooks.append(HookInfo(decl.name, h.name, len(table.hooks), params, ret, callee_save, h))
            del key
        if decl.name in self.view.tables and self.view.tables[decl.name].decl is not decl:
            prev = self.view.tables[decl.name].decl
            self.err("E012", f"table '{decl.name}' is defined twice in this program", decl.name_span,
                     Note(prev.name_span, "first defined here"))
        else:
            self.view.tables[decl.name] = table
        return table

    def _check_callee_save(self, h: ast.HookDecl, params, ret) -> None:
        word = self.arch.word_bytes
        for (pname, ptype), p in zip(params, h.params):
            size = self.size_of(ptype, p.span)
            if size is not None and size > word:
                self.err("E064", f"callee_save hook '{h.name}' takes '{pname}: {ptype}', wider than the "
                         f"{word * 8}-bit word on {self.arch.name}; callee_save hooks pass words only", p.type.span)
        if ret != T.VOID:
            size = self.size_of(ret, h.ret.span)
            if size is not None and size > word:
                self.err("E064", f"callee_save hook '{h.name}' returns '{ret}', wider than the {word * 8}-bit "
                         f"word on {self.arch.name}; callee_save hooks return a word at most", h.ret.span)

    # ---- helpers ----
    def fn_info(self, sym, backend: str | None = None) -> FnInfo | None:
        decl: ast.FnDecl = sym.decl if hasattr(sym, "decl") else sym
        cache = self.__dict__.setdefault("_fn_cache", {})
        if id(decl) in cache:
            return cache[id(decl)]
        unit = sym.unit
        params = self._params(unit, decl.params, "function")
        ret = self._ret(unit, decl.ret, "a function")
        info = None if params is None or ret is None else FnInfo(decl.name, params, ret, decl, backend)
        cache[id(decl)] = info
        if info is not None and backend is None:
            self.view.fns.setdefault(decl.name, info)
        return info

    # ---- backends ----
    def backend_info(self, sym) -> BackendInfo | None:
        decl: ast.BackendDecl = sym.decl
        existing = self.view.backends.get(decl.name)
        if existing is not None:
            if existing.decl is not decl:
                self.err("E012", f"backend '{decl.name}' is defined twice in this program", decl.name_span,
                         Note(existing.decl.name_span, "first defined here"))
                return None
            return existing
        info = BackendInfo(decl.name, decl, decl.extends, decl.arches, decl.roles)
        self.view.backends[decl.name] = info
        self.check_backend_header(decl)
        return self._backend_rest(sym, info)

    def check_backend_header(self, decl: ast.BackendDecl) -> None:
        """Arch and role names (checked on every arch, built or not)."""
        seen = set()
        for name, span in zip(decl.arches, decl.arch_spans):
            if name in seen:
                self.err("E024", f"arch '{name}' is listed twice", span)
            seen.add(name)
            if name not in ARCHES:
                self.err("E024", f"unknown arch '{name}' (expected one of: {', '.join(ARCHES)})", span)
        seen = set()
        for name, span in zip(decl.roles, decl.role_spans):
            if name not in ROLES:
                self.err("E024", f"unknown role '{name}' (expected one of: {', '.join(ROLES)})", span)
            elif name in seen:
                self.err("E024", f"role '{name}' is listed twice", span)
            seen.add(name)
        if not any(a in ARCHES for a in decl.arches):
            self.err("E024", f"backend '{decl.name}' is not built for any known arch", decl.name_span)

    def _backend_rest(self, sym, info: BackendInfo) -> BackendInfo:
        decl = info.decl
        if decl.extends:
            base_sym = self.lookup(sym.unit, decl.extends, decl.extends_span)
            base = None
            if base_sym is None or base_sym.kind != "backend":
                self.err("E066", f"'{decl.name}' extends unknown backend '{decl.extends}'", decl.extends_span)
            elif self._extends_cycle(base_sym, decl):
                self.err("E066", f"backend '{decl.name}' extends itself through '{decl.extends}'",
                         decl.extends_span)
            elif self.arch.name not in base_sym.decl.arches:
                self.err("E066", f"'{decl.name}' is built for {self.arch.name}, but the backend it extends, "
                         f"'{decl.extends}', is not", decl.extends_span,
                         Note(base_sym.decl.name_span, f"'{decl.extends}' is declared here"))
            else:
                base = self.backend_info(base_sym)
            if base is None:
                info.base = None
                info.incomplete = True  # its hooks may come from the base: don't guess
        for member in decl.members:
            self._backend_member(sym.unit, info, member)
        return info

    def _extends_cycle(self, base_sym, decl) -> bool:
        seen = {id(decl)}
        cur = base_sym
        while cur is not None and cur.kind == "backend":
            if id(cur.decl) in seen:
                return True
            seen.add(id(cur.decl))
            if not cur.decl.extends:
                return False
            cur = self.lookup(cur.unit, cur.decl.extends)
        return False

    def _backend_member(self, unit, info: BackendInfo, m) -> None:
        if isinstance(m, (ast.PercpuDecl, ast.BackendVarDecl)):
            per_cpu = isinstance(m, ast.PercpuDecl)
            what = "percpu variable" if per_cpu else "variable"
            if m.name in info.percpu:
                self.err("E012", f"{what} '{m.name}' is already defined", m.name_span,
                         Note(info.percpu[m.name].decl.name_span, "first defined here"))
                return
            t = self.resolve_type(unit, m.type)
            if t == T.VOID:
                self.err("E021", f"a {what} cannot have type 'void'", m.type.span)
            elif t is not None:
                if isinstance(t, T.StructType):
                    self.layout_ok(t, m.type.span)
                info.percpu[m.name] = PercpuInfo(m.name, t, info.name, m, per_cpu)
        elif isinstance(m, ast.FnDecl):
            if m.name in info.fns:
                self.err("E012", f"function '{m.name}' is already defined in backend '{info.name}'", m.name_span,
                         Note(info.fns[m.name].decl.name_span, "first defined here"))
                return
            fn = self.fn_info(_Member(m, unit), backend=info.name)
            if fn is not None:
                info.fns[m.name] = fn
            else:
                info.failed.add(m.name)  # already reported: calls of it stay quiet
        elif isinstance(m, ast.ImplDecl):
            self._impl(unit, info, m)

    def _impl(self, unit, info: BackendInfo, m: ast.ImplDecl) -> None:
        sym = self.lookup(unit, m.table, m.name_span)
        if sym is None or sym.kind != "table":
            self.err("E061", f"unknown table '{m.table}'", m.name_span)
            return
        table = self.table_info(sym)
        hook = table.hook(m.hook)
        if hook is None:
            if not any(h.name == m.hook for h in table.decl.hooks):
                self.report_missing_hook(table, m.hook, m.name_span)
            return  # a hook of another arch: nothing to build here
        key = (m.table, m.hook)
        params = self._params(unit, m.params, "hook")
        ret = self._ret(unit, m.ret, "a hook")
        if params is None or ret is None:
            return
        if [t for _, t in params] != [t for _, t in hook.params] or ret != hook.ret:
            if self._implements_other_arch(unit, table, m, params, ret):
                return  # the implementation of this hook's other-arch signature
            want = ", ".join(f"{n}: {t}" for n, t in hook.params)
            got = ", ".join(f"{n}: {t}" for n, t in params)
            self.err("E062", f"'{m.table}.{m.hook}' is declared ({want}) -> {hook.ret} but implemented "
                     f"({got}) -> {ret}", m.name_span, Note(hook.decl.span, "the table declares it here"))
            info.impls.setdefault(key, ImplInfo(info.name, hook, m))  # implemented, if wrongly: no E063 too
            return
        if key in info.impls:
            self.err("E065", f"'{m.table}.{m.hook}' is implemented twice in backend '{info.name}'", m.name_span,
                     Note(info.impls[key].decl.name_span, "first implemented here"))
            return
        info.impls[key] = ImplInfo(info.name, hook, m)

    def _implements_other_arch(self, unit, table, m: ast.ImplDecl, params, ret) -> bool:
        """Whether `m` matches a declaration of its hook that exists only on
        other arches (Linux declares some hooks differently per arch)."""
        for h in table.decl.hooks:
            if h.name != m.hook or not h.when or self.arch.name in h.when:
                continue
            theirs = self._params(unit, h.params, "hook")
            their_ret = self._ret(unit, h.ret, "a hook")
            if theirs is not None and [t for _, t in theirs] == [t for _, t in params] and their_ret == ret:
                return True
        return False

    def complete_backend(self, info: BackendInfo) -> None:
        """Fill info.tables and report hooks nobody implements."""
        report = not info.incomplete
        chain, b = [], info
        while b is not None:
            chain.append(b)
            b = self.view.backends.get(b.base) if b.base else None
        touched = []
        for b in reversed(chain):
            for (table, _hook) in b.impls:
                if table not in touched:
                    touched.append(table)
        for table_name in touched:
            table = self.view.tables[table_name]
            slots, missing = [], []
            for hook in table.hooks:
                source = next((b.impls[(table_name, hook.name)] for b in chain
                               if (table_name, hook.name) in b.impls), None)
                if source is None and hook.default is not None:
                    source = hook
                if source is None:
                    missing.append(hook)
                slots.append((hook, source))
            for hook in missing if report else ():
                only = f" (which exists only on {', '.join(hook.decl.when)})" if hook.decl.when else ""
                self.err("E063", f"backend '{info.name}' does not implement '{table_name}.{hook.name}'{only}",
                         info.decl.name_span, Note(hook.decl.span, "the table declares it here, without a default"))
            info.tables[table_name] = slots

    # ---- laws ----
    def law_info(self, sym) -> LawInfo | None:
        decl: ast.LawDecl = sym.decl
        tsym = self.lookup(sym.unit, decl.table, decl.table_span)
        if tsym is None or tsym.kind != "table":
            self.err("E081", f"law '{decl.name}' is stated for unknown table '{decl.table}'", decl.table_span)
            return None
        table = self.table_info(tsym)
        params, ok = [], True
        ctx = self.const_context(sym.unit)
        for p in decl.params:
            t = self.resolve_type(sym.unit, p.type)
            if t is None:
                ok = False
                continue
            if not (T.is_integer(t) or t == T.BOOL):
                self.err("E081", f"law parameter '{p.name}' must be an integer or bool, not '{t}'", p.type.span)
                ok = False
                continue
            values, bounds = None, None
            if isinstance(p.domain, ast.SetDomain):
                values = []
                for v in p.domain.values:
                    vt, vv = self.expr_const(v, ctx)
                    if vt is not None and vv is None:
                        self.err("E041", "a law domain value must be a constant", v.span)
                    elif vv is not None and self.coerce(v, vt, t, ctx, what="domain value"):
                        values.append(vv)
                values = tuple(values)
            elif isinstance(p.domain, ast.RangeDomain):
                lo = self.const_value(sym.unit, p.domain.lo)
                hi = self.const_value(sym.unit, p.domain.hi)
                if lo is not None and hi is not None:
                    hi = hi if p.domain.inclusive else hi - 1
                    if lo > hi:
                        self.err("E081", f"the range of '{p.name}' is empty", p.domain.span)
                    elif not (self.fits(lo, t) and self.fits(hi, t)):
                        self.err("E040", f"the range {lo}..={hi} does not fit '{t}'", p.domain.span)
                    else:
                        bounds = (lo, hi)
            params.append(LawParamInfo(p.name, t, values, bounds))
        if not ok:
            return None
        info = LawInfo(decl.name, table.name, tuple(params), decl)
        self.view.laws.setdefault(decl.name, info)
        return info

    def law_ctx(self, sym, info: LawInfo) -> Ctx:
        return Ctx(sym.unit, law_table=self.view.tables[info.table], in_law=True, owner=info)


class _Member:
    """A backend's fn with the unit it was written in (what fn_info expects of a Symbol)."""

    def __init__(self, decl, unit):
        self.decl = decl
        self.unit = unit
