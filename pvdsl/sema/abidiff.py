"""Comparing two ABIs (the `pvdsl abi` shape) the way libabigail's abidiff
does: every change, each classified as compatible or incompatible.

"Incompatible" means code built against the old ABI can misbehave against
the new one: a kernel calling through a shifted slot, a backend that does not
preserve the registers a newly callee_save hook must keep, a struct whose
fields moved, a hypercall whose number or arguments changed.
"""

from __future__ import annotations

from dataclasses import dataclass

# Exit status bits, as abidiff(1) uses them.
EXIT_ERROR = 1
EXIT_CHANGES = 4
EXIT_INCOMPATIBLE = 8


@dataclass(frozen=True)
class Change:
    kind: str  # table | hook | struct | field | hypercall | const
    item: str  # what changed, e.g. "pv_irq_ops.restore_fl"
    what: str  # removed | added | slot | signature | callee_save | size | offset | number | ...
    old: object
    new: object
    compatible: bool

    def describe(self) -> str:
        verdict = "compatible" if self.compatible else "INCOMPATIBLE"
        if self.what == "removed":
            text = f"{self.kind} '{self.item}' removed"
        elif self.what == "added":
            text = f"{self.kind} '{self.item}' added"
        else:
            text = f"{self.kind} '{self.item}': {self.what} {self.old} -> {self.new}"
        return f"[{verdict}] {text}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "item": self.item, "what": self.what, "old": self.old, "new": self.new,
                "compatible": self.compatible}


def _sig(args) -> str:
    return "(" + ", ".join(a["type"] for a in args) + ")"


def diff_tables(old: dict, new: dict) -> list[Change]:
    out = []
    for name in old:
        if name not in new:
            out.append(Change("table", name, "removed", len(old[name]), None, False))
    for name in new:
        if name not in old:
            out.append(Change("table", name, "added", None, len(new[name]), True))
            continue
        if name not in old:
            continue
        before = {h["hook"]: h for h in old[name]}
        after = {h["hook"]: h for h in new[name]}
        old_len = len(old[name])
        for hook, h in before.items():
            item = f"{name}.{hook}"
            if hook not in after:
                out.append(Change("hook", item, "removed", h["slot"], None, False))
                continue
            n = after[hook]
            if n["slot"] != h["slot"]:
                out.append(Change("hook", item, "slot", h["slot"], n["slot"], False))
            if _sig(n["args"]) != _sig(h["args"]) or n["ret"] != h["ret"]:
                out.append(Change("hook", item, "signature", f"{_sig(h['args'])} -> {h['ret']}",
                                  f"{_sig(n['args'])} -> {n['ret']}", False))
            if n["callee_save"] != h["callee_save"]:
                # Either way one side breaks: callers that relied on preserved
                # registers, or implementations that do not preserve them.
                out.append(Change("hook", item, "callee_save", h["callee_save"], n["callee_save"], False))
        for hook, n in after.items():
            if hook not in before:
                # Appended after the old last slot, nothing moves.
                out.append(Change("hook", f"{name}.{hook}", "added", None, n["slot"], n["slot"] >= old_len))
    return out


def diff_structs(old: dict, new: dict) -> list[Change]:
    out = []
    for name, s in old.items():
        if name not in new:
            out.append(Change("struct", name, "removed", s["size"], None, False))
            continue
        n = new[name]
        if n["size"] != s["size"]:
            out.append(Change("struct", name, "size", s["size"], n["size"], False))
        if n["align"] != s["align"]:
            out.append(Change("struct", name, "align", s["align"], n["align"], False))
        for fname, f in s["fields"].items():
            item = f"{name}.{fname}"
            nf = n["fields"].get(fname)
            if nf is None:
                out.append(Change("field", item, "removed", f["offset"], None, False))
                continue
            if nf["offset"] != f["offset"]:
                out.append(Change("field", item, "offset", f["offset"], nf["offset"], False))
            if nf["size"] != f["size"] or nf["type"] != f["type"]:
                out.append(Change("field", item, "type", f"{f['type']} ({f['size']} bytes)",
                                  f"{nf['type']} ({nf['size']} bytes)", False))
        for fname, nf in n["fields"].items():
            if fname not in s["fields"]:
                # Into padding (the size did not change): old code never looks there.
                out.append(Change("field", f"{name}.{fname}", "added", None, nf["offset"],
                                  n["size"] == s["size"]))
    for name, n in new.items():
        if name not in old:
            out.append(Change("struct", name, "added", None, n["size"], True))
    return out


def diff_hypercalls(old: dict, new: dict) -> list[Change]:
    out = []
    for name, h in old.items():
        if name not in new:
            out.append(Change("hypercall", name, "removed", h["number"], None, False))
            continue
        n = new[name]
        if n["number"] != h["number"]:
            out.append(Change("hypercall", name, "number", h["number"], n["number"], False))
        if _sig(n["args"]) != _sig(h["args"]) or n["ret"] != h["ret"]:
            out.append(Change("hypercall", name, "signature", f"{_sig(h['args'])} -> {h['ret']}",
                              f"{_sig(n['args'])} -> {n['ret']}", False))
        # An ABI written before `...` existed has no "variadic": nothing was.
        was, now = h.get("variadic", False), n.get("variadic", False)
        if was != now:
            # Calls that passed extra arguments no longer check once it is gone.
            out.append(Change("hypercall", name, "variadic", was, now, now))
        if n["privileged"] != h["privileged"]:
            # Newly privileged: an unprivileged caller now gets -EPERM.
            out.append(Change("hypercall", name, "privileged", h["privileged"], n["privileged"],
                              not n["privileged"]))
    for name, n in new.items():
        if name not in old:
            out.append(Change("hypercall", name, "added", None, n["number"], True))
    return out


def diff_consts(old: dict, new: dict) -> list[Change]:
    out = []
    for name, v in old.items():
        if name not in new:
            out.append(Change("const", name, "removed", v, None, False))
        elif new[name] != v:
            out.append(Change("const", name, "value", v, new[name], False))
    for name, v in new.items():
        if name not in old:
            out.append(Change("const", name, "added", None, v, True))
    return out


def diff_abi(old: dict, new: dict) -> list[Change]:
    return (diff_tables(old["tables"], new["tables"]) + diff_structs(old["structs"], new["structs"])
            + diff_hypercalls(old["hypercalls"], new["hypercalls"]) + diff_consts(old["consts"], new["consts"]))


def exit_status(changes: list[Change]) -> int:
    if not changes:
        return 0
    if any(not c.compatible for c in changes):
        return EXIT_CHANGES | EXIT_INCOMPATIBLE
    return EXIT_CHANGES
