"""The machine-readable ABI of a checked program on one arch.

Shape (relied on by `pvdsl abidiff` and by tests; add keys, never rename):
{"arch", "structs": {NAME: {"size", "align", "kind", "fields": {F: {"offset", "size", "type"}}}},
 "hypercalls": {NAME: {"number", "args": [{"name", "type"}], "ret", "privileged", "variadic"}},
 "tables": {NAME: [{"slot", "hook", "callee_save", "args": [{"name", "type"}], "ret"}]},
 "consts": {NAME: N}}
Types are spelled with aliases resolved, as `pvdsl abi` prints them.
"""

from __future__ import annotations

from .model import ArchView


def _args(params) -> list[dict]:
    return [{"name": n, "type": t.spell()} for n, t in params]


def abi_of(view: ArchView, units=None) -> dict:
    """The ABI of everything declared in `units` (default: the whole program)."""
    wanted = None if units is None else {id(d) for u in units for d in u.module.decls}

    def keep(decl) -> bool:
        return wanted is None or id(decl) in wanted

    structs = {}
    for name, st in view.structs.items():
        if keep(st.decl):
            entry = struct_abi(view, name)
            if entry is not None:
                structs[name] = entry
    hypercalls = {
        name: {"number": hc.number, "args": _args(hc.params), "ret": hc.ret.spell(), "privileged": hc.privileged,
               "variadic": hc.variadic}
        for name, hc in view.hypercalls.items() if keep(hc.decl)
    }
    tables = {
        name: [{"slot": h.slot, "hook": h.name, "callee_save": h.callee_save, "args": _args(h.params),
                "ret": h.ret.spell()} for h in table.hooks]
        for name, table in view.tables.items() if keep(table.decl)
    }
    consts = {}
    for unit in (units if units is not None else []):
        for decl in unit.module.decls:
            if type(decl).__name__ == "ConstDecl" and decl.name in view.consts:
                consts[decl.name] = view.consts[decl.name][1]
    if units is None:
        consts = {name: value for name, (_t, value) in view.consts.items()}
    return {"arch": view.arch.name, "structs": structs, "hypercalls": hypercalls, "tables": tables,
            "consts": consts}


def struct_abi(view: ArchView, name: str) -> dict | None:
    """One struct's entry of the ABI shape (None if it has no layout, which
    was reported when it was checked)."""
    try:
        lay = view.layouts.struct(view.structs[name])
    except Exception:
        return None
    return {
        "kind": "union" if lay.is_union else "struct",
        "size": lay.size,
        "align": lay.align,
        "fields": {f.name: {"offset": f.offset, "size": f.size, "type": f.type.spell()} for f in lay.fields},
    }


def format_abi(abi: dict) -> str:
    """A readable rendering of `abi_of`'s result."""
    out = [f"ABI for {abi['arch']}"]
    if abi["structs"]:
        out.append("")
        out.append("structs")
        for name, s in abi["structs"].items():
            out.append(f"  {s['kind']} {name}  size {s['size']}  align {s['align']}")
            for fname, f in s["fields"].items():
                out.append(f"    {f['offset']:>5}  {f['size']:>4}  {fname}: {f['type']}")
    if abi["hypercalls"]:
        out.append("")
        out.append("hypercalls")
        for name, h in sorted(abi["hypercalls"].items(), key=lambda kv: kv[1]["number"]):
            args = ", ".join([f"{a['name']}: {a['type']}" for a in h["args"]] + (["..."] if h["variadic"] else []))
            priv = "  [privileged]" if h["privileged"] else ""
            out.append(f"  {h['number']:>3}  {name}({args}) -> {h['ret']}{priv}")
    if abi["tables"]:
        out.append("")
        out.append("tables")
        for name, hooks in abi["tables"].items():
            out.append(f"  {name}")
            for h in hooks:
                args = ", ".join(f"{a['name']}: {a['type']}" for a in h["args"])
                flag = "  [callee_save]" if h["callee_save"] else ""
                out.append(f"    slot {h['slot']:>2}  {h['hook']}({args}) -> {h['ret']}{flag}")
    if abi["consts"]:
        out.append("")
        out.append("consts")
        for name, value in abi["consts"].items():
            out.append(f"  {name} = {value:#x}" if value >= 16 else f"  {name} = {value}")
    return "\n".join(out)
