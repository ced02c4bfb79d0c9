"""What the fuzzer prints: a reproducer per failure, the replay command,
the final hook x target table, and the --json document."""

from __future__ import annotations

import json
import re
import shlex

import capstone

from .campaign import HookResult
from .harness import Rig

MAX_LISTING = 48


def replay_command(r: HookResult, seed: int, includes=(), asm=()) -> str:
    parts = ["pvdsl", "fuzz", r.spec, "--targets", r.target, "--hooks", r.hook, "--seed", str(seed)]
    for inc in includes:
        parts += ["-I", str(inc)]
    for source in asm:
        parts += ["--asm", str(source)]
    parts += ["--replay", r.failure.example.to_json()]
    return " ".join(shlex.quote(p) for p in parts)


def _listing(rig: Rig, hook: str, marks: set[int], regs: set[str]) -> list[str]:
    """The hook's code up to its last ret (at most MAX_LISTING instructions),
    marking the offending instruction, or those that write `regs`."""
    h = rig.loaded.hook(hook)
    code = rig.cpu.read_virtual(h.address, 512)
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if rig.arch.word_bytes == 8 else capstone.CS_MODE_32)
    cs.detail = True
    lines = []
    furthest = h.address  # the furthest jump target seen: code goes on past a ret before it
    for insn in cs.disasm(code, h.address):
        if insn.group(capstone.CS_GRP_JUMP) and insn.operands and insn.operands[0].type == capstone.x86.X86_OP_IMM:
            furthest = max(furthest, insn.operands[0].imm)
        written = set()
        try:
            written = {insn.reg_name(r) for r in insn.regs_access()[1]}
        except capstone.CsError:
            pass
        hit = insn.address in marks or bool(written & regs)
        text = f"{insn.mnemonic} {insn.op_str}".strip()
        lines.append(f"  {'>>' if hit else '  '} {insn.address:#x}: {insn.bytes.hex(' '):<24} {text}")
        if len(lines) >= MAX_LISTING or (insn.mnemonic == "ret" and insn.address >= furthest):
            break
    return lines


def _regs_named(violations) -> set[str]:
    out = set()
    for v in violations:
        m = re.match(r"(\w+) not preserved", v.message)
        if m:
            out.add(m.group(1))
        m = re.search(r" in (\w+):", v.message)
        if m:
            out.add(m.group(1))
    return out


def reproducer(r: HookResult, rig: Rig | None, seed: int, includes=(), asm=()) -> str:
    if r.failure is None:
        return f"FAIL {r.hook} on {r.target} ({r.backend}): {r.reason}"
    out = r.failure
    ex = out.example
    first = out.violations[0] if out.violations else None
    lines = [f"FAIL {r.hook} on {r.target} (backend {r.backend}): "
             f"{first.oracle}: {first.message}" if first else f"FAIL {r.hook} on {r.target}: {r.reason}"]
    lines.append(f"  spec:        {r.spec}")
    if rig is not None:
        params, _ret, _cs = rig.interp.hook_signature(r.hook)
        args = rig.resolve_args(r.hook, ex)
        shown = ", ".join(f"{n}={a:#x}" + (" (buffer)" if n in ex.pointers else "") for (n, _t), a in
                          zip(params, args))
        lines.append(f"  arguments:   {shown or '(none)'}")
    if rig is None or not rig.native:
        lines.append(f"  vcpu_info:   evtchn_upcall_mask={ex.mask} evtchn_upcall_pending={ex.pending}")
    else:
        lines.append(f"  flags:       IF={ex.flags_if}")
    entry = " ".join(f"{k}={v:#x}" for k, v in out.entry_registers.items())
    lines.append(f"  registers at entry: {entry}")
    if out.fault is not None:
        lines.append(f"  compiled code faulted: {out.fault.message}")
    for v in out.violations:
        lines.append(f"  violated:    {v.oracle}: {v.message}")
        if v.expected or v.actual:
            lines.append(f"               expected {v.expected}, got {v.actual}")
    if out.hypercalls:
        hc = "; ".join(f"{n}({', '.join(hex(a) for a in raw)}) -> {rc}" for n, raw, rc in out.hypercalls)
        lines.append(f"  hypercalls:  {hc}")
    if rig is not None:
        marks = {v.pc for v in out.violations if v.pc is not None}
        lines.append("  code (>> marks the offending instruction or those writing the named register):")
        lines.extend(_listing(rig, r.hook, marks, _regs_named(out.violations)))
    lines.append(f"  shrunk:      {'yes (Hypothesis)' if r.shrunk else 'no (the first failing example)'}")
    lines.append(f"  replay:      {replay_command(r, seed, includes, asm)}")
    return "\n".join(lines)


def table(results: list[HookResult]) -> str:
    """hook x target: pass / FAIL / skipped (reason); pass* where the
    differential could not decide some examples (the note says why)."""
    targets = sorted({r.target for r in results}, key=lambda t: (t.startswith("cross-arch"), t))
    rows: dict[str, dict[str, HookResult]] = {}
    for r in results:
        rows.setdefault(f"{r.backend}  {r.hook}", {})[r.target] = r
    w = max([len(k) for k in rows] + [4])
    cols = [max(len(t), 7) for t in targets]
    head = f"{'hook':<{w}}  " + "  ".join(f"{t:<{c}}" for t, c in zip(targets, cols))
    out = [head, "-" * len(head)]
    notes = []
    for key in rows:
        cells = []
        for t, c in zip(targets, cols):
            r = rows[key].get(t)
            cell = "-" if r is None else {"pass": "pass", "fail": "FAIL", "skipped": "skipped"}[r.status]
            if r is not None and r.status == "skipped":
                notes.append(f"  skipped {key.split()[-1]} on {t}: {r.reason}")
            if r is not None and r.inconclusive and r.status == "pass":
                cell += "*"
                why = "; ".join(f"{n} {reason}" for reason, n in sorted(r.inconclusive.items()))
                notes.append(f"  * {key.split()[-1]} on {t}: differential inconclusive in "
                             f"{sum(r.inconclusive.values())} of {r.executions} examples ({why})")
            cells.append(f"{cell:<{c}}")
        out.append(f"{key:<{w}}  " + "  ".join(cells))
    return "\n".join(out + notes)


def summary(results: list[HookResult], seconds: float) -> str:
    n = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "skipped")}
    execs = sum(r.executions for r in results)
    rate = f", {execs / seconds:,.0f} executions/s" if seconds > 0 else ""
    drifted = sum(r.drifted for r in results)
    note = (f"; {drifted} failure(s) did not reproduce on a fresh host (state left by earlier examples) and "
            "were not counted") if drifted else ""
    undecided = sum(sum(r.inconclusive.values()) for r in results)
    if undecided:
        note += (f"; the differential was inconclusive in {undecided:,} examples of "
                 f"{sum(1 for r in results if r.inconclusive)} checks (marked *)")
    return (f"{len(results)} checks: {n['pass']} passed, {n['fail']} failed, {n['skipped']} skipped; "
            f"{execs:,} executions in {seconds:.1f} s{rate}{note}")


def to_json(results: list[HookResult], seconds: float, seed: int, includes=(), asm=()) -> str:
    rows = []
    for r in results:
        row = {"spec": r.spec, "backend": r.backend, "target": r.target, "hook": r.hook, "status": r.status,
               "reason": r.reason, "executions": r.executions, "seconds": round(r.seconds, 4),
               "drifted": r.drifted, "inconclusive": dict(r.inconclusive)}
        if r.failure is not None:
            row["violations"] = [{"oracle": v.oracle, "message": v.message, "expected": v.expected,
                                  "actual": v.actual} for v in r.failure.violations]
            row["example"] = json.loads(r.failure.example.to_json())
            row["shrunk"] = r.shrunk
            if r.spec:
                row["replay"] = replay_command(r, seed, includes, asm)
        rows.append(row)
    return json.dumps({"seed": seed, "seconds": round(seconds, 3), "results": rows}, indent=2)
