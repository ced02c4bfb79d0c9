"""What a hook's body reaches, read from the checked program: the
intrinsics it (or a helper it calls) uses. The oracles need it where the
machine gives more than the spec can predict (pushf also returns the
arithmetic flags; rdtsc reads a clock)."""

from __future__ import annotations

import dataclasses

from ..syntax import ast

NONDETERMINISTIC = ("rdtsc",)


def _children(node):
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, ast.Node):
                yield item


def body_of(view, backend: str, hook: str):
    table, name = hook.split(".", 1)
    for info, where in view.backends[backend].tables.get(table, []):
        if info.name == name:
            decl = getattr(where, "decl", None)
            if isinstance(decl, ast.ImplDecl):
                return decl.body
            return info.default
    return None


def reached_nodes(view, backend: str, hook: str):
    """Every node of the hook's body and, transitively, of the helpers it calls."""
    chain = []  # the backend and those it extends: helpers are looked up along it
    b = view.backends.get(backend)
    while b is not None:
        chain.append(b)
        b = view.backends.get(b.base) if b.base else None
    stack = [body_of(view, backend, hook)]
    visited_fns: set[str] = set()
    while stack:
        node = stack.pop()
        if node is None:
            continue
        yield node
        if isinstance(node, ast.Call) and isinstance(node.callee, ast.Name):
            name = node.callee.name
            fn = next((c.fns[name] for c in chain if name in c.fns), None) or view.fns.get(name)
            if fn is not None and name not in visited_fns:
                visited_fns.add(name)
                stack.append(fn.decl.body)
        stack.extend(_children(node))


def called_names(view, backend: str, hook: str) -> set[str]:
    """Every name called from the hook's body and the helpers it calls."""
    return {n.callee.name for n in reached_nodes(view, backend, hook)
            if isinstance(n, ast.Call) and isinstance(n.callee, ast.Name)}


def width_independent(view, backend: str, hook: str) -> bool:
    """Nothing the hook computes depends on the word size: every expression
    it (or a helper it calls) evaluates has a fixed-width type, it branches
    on no arch (`when`), makes no hypercall (their registers differ) and
    uses no intrinsic (they read word-sized machine state)."""
    from ..sema import types as T
    from ..sema.intrinsics import INTRINSICS

    for node in reached_nodes(view, backend, hook):
        if isinstance(node, ast.WhenStmt):
            return False
        if isinstance(node, ast.Call) and isinstance(node.callee, ast.Name):
            if node.callee.name in view.hypercalls or node.callee.name in INTRINSICS:
                return False
        if isinstance(node, ast.Expr):
            t = view.type_of(node)
            if isinstance(t, (T.PtrType, T.HandleType)) or (isinstance(t, T.IntType) and t.bits is None):
                return False
    return True


def uses(view, backend: str, hook: str, intrinsic: str) -> bool:
    return intrinsic in called_names(view, backend, hook)


def constant_signature(view, backend: str, hook: str) -> tuple:
    """The folded constants the hook evaluates, in a fixed order: two arches
    with equal signatures compute with the same constants."""
    return tuple(view.expr_values.get(id(n)) for n in reached_nodes(view, backend, hook) if isinstance(n, ast.Expr))
