"""Global names: what each file declares and what its imports bring in.

Types (structs, unions, enums, aliases) and everything else live in two
namespaces, as C's struct tags do: Xen names both a struct and the hypercall
that takes it `mmu_update`.

Imports are not transitive: a file sees its own declarations and those of
the files it imports directly. Its own declarations win over imported ones;
a name two imports both declare is ambiguous where it is used.
"""

from __future__ import annotations

from ..diagnostics import Diagnostics, Note
from ..syntax import ast
from .model import Symbol

_KIND = {
    ast.ConstDecl: "const", ast.TypeDecl: "type", ast.StructDecl: "struct",
    ast.EnumDecl: "enum", ast.HypercallDecl: "hypercall", ast.TableDecl: "table",
    ast.BackendDecl: "backend", ast.FnDecl: "fn", ast.LawDecl: "law",
}

TYPE_KINDS = frozenset({"struct", "enum", "type"})


def namespace(kind: str) -> str:
    return "type" if kind in TYPE_KINDS else "value"


KIND_WORDS = {
    "const": "constant", "type": "type alias", "struct": "struct", "enum": "enum",
    "hypercall": "hypercall", "table": "table", "backend": "backend", "fn": "function",
    "law": "law", "local": "local variable", "percpu": "percpu variable",
    "intrinsic": "intrinsic", "hook": "hook",
}


class Scopes:
    def __init__(self, units, diags: Diagnostics):
        self.diags = diags
        self.own: dict[tuple[object, str], dict[str, Symbol]] = {}
        self.units = units
        for unit in units:
            tables: dict[str, dict[str, Symbol]] = {"type": {}, "value": {}}
            for decl in unit.module.decls:
                sym = Symbol(_KIND[type(decl)], decl.name, decl, unit)
                table = tables[namespace(sym.kind)]
                prev = table.get(decl.name)
                if prev is not None:
                    diags.error("E012", f"'{decl.name}' is already defined in this file", decl.name_span,
                                Note(prev.decl.name_span, "first defined here"))
                    continue
                table[decl.name] = sym
            for ns, table in tables.items():
                self.own[(unit, ns)] = table

    def lookup(self, unit, name: str, span=None, ns: str = "value") -> Symbol | None:
        """The symbol `name` means in `unit` (in namespace `ns`), or None.
        Reports ambiguity."""
        own = self.own.get((unit, ns), {})
        if name in own:
            return own[name]
        found = []
        for dep in unit.imports:
            sym = self.own.get((dep, ns), {}).get(name)
            if sym is not None and all(sym.decl is not f.decl for f in found):
                found.append(sym)
        if len(found) > 1 and span is not None:
            self.diags.error("E013", f"'{name}' is ambiguous: more than one import defines it", span,
                             *(Note(s.decl.name_span, f"defined in {s.unit.name}") for s in found))
        return found[0] if found else None

    def all_symbols(self, kind: str):
        """Every declaration of `kind` in the program, in load order."""
        for unit in self.units:
            for sym in self.own.get((unit, namespace(kind)), {}).values():
                if sym.kind == kind:
                    yield sym
