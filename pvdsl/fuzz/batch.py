"""The fast path: many examples of one hook per emulator entry.

`run_batch(rig, hook, examples)` runs the examples back to back through
the runtime's batch driver (pvdsl.runtime.probe.batch), then replays the same
sequence on the reference interpreter, with one memory that carries over
from example to example as the machine's does. Every oracle that can be
decided per example is (registers, stack pointer, DF, result, fault,
hypercalls and their arguments, role, stores outside the allowed memory);
the watched pages are compared once, at the end.

It is a filter, not a judge: any example the batch finds suspicious (and
every example of a batch whose final memory differs) is run again on its
own, from the boot state, by `Rig.execute`, and that outcome is the one
reported. So a report is always about one example, replayable alone.
"""

from __future__ import annotations

import dataclasses

from ..interp import CpuState, State
from ..runtime.cpu.calls import marshal, result_of
from .harness import ARITH_FLAGS, DF, IF, INTERP_BUDGET, RESERVED_FLAG, TF, Rig
from .records import MEMO_LIMIT, InterpRun, Outcome, Replay, Violation
from .memory import OverlayMemory
from .values import Example


# Natively, intrinsics that change machine state the batch does not record
# per example (control registers, MSRs, TLB): those hooks run one by one.
MACHINE_WRITERS = {"write_cr0", "write_cr2", "write_cr3", "write_cr4", "wrmsr", "invlpg", "wbinvd"}


def batchable(rig: Rig, hook: str) -> bool:
    """Hooks whose arguments all travel in registers (the driver sets no
    stack arguments), with vcpu_info in a watched page (Xen), and natively
    none that writes control registers or MSRs."""
    plan = rig.plan(hook)
    _regs, stack = marshal(rig.arch, plan.hook.arg_sizes, [0] * len(plan.params))
    if stack or rig.mask_at is None or rig.pending_at is None:
        return False
    return not (rig.native and plan.called & MACHINE_WRITERS)


def run_batch(rig: Rig, hook: str, examples: list[Example]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    pos, size = 0, rig.driver.max
    while pos < len(examples):
        chunk = examples[pos:pos + size]
        outs = _one_run(rig, hook, chunk)
        outcomes.extend(outs)
        pos += len(outs)
        # A hook that faults often stops runs early: size the next run by how
        # far this one got, so the records written stay proportional to the
        # examples run.
        size = rig.driver.max if len(outs) == len(chunk) else max(4, min(rig.driver.max, 2 * len(outs)))
    return outcomes


def _one_run(rig: Rig, hook: str, examples: list[Example]) -> list[Outcome]:
    """Run `examples` until the first fault; outcomes for those that ran
    (a faulting example is re-run alone and its outcome included)."""
    plan = rig.plan(hook)
    h = plan.hook
    rt, names, index = rig.rt, rig.names, rig.index
    rig.pages.restore(rig.boot_pages)
    rig._prepare_state(examples[0], plan.pointers)
    for ex in examples:
        ex.buffer_seed = examples[0].buffer_seed  # one buffer content per run
    records, argss = [], []
    n, sp_index, junk_mask = len(names), index[rt.sp], rig.word_mask.__and__
    for ex in examples:
        values = list(map(junk_mask, ex.junk[:n]))
        if len(values) < n:
            values += [0] * (n - len(values))
        if plan.params:
            args = rig.resolve_args(hook, ex)
            regs, _stack = marshal(rig.arch, h.arg_sizes, [a & ((1 << (8 * s)) - 1) for a, s in zip(args, plan.sizes)])
            for r, v in regs.items():
                values[index[r]] = v
        else:
            args = []
        values[sp_index] = rig.entry_sp
        records.append((ex.mask, ex.pending, RESERVED_FLAG | (IF if ex.flags_if else 0), values))
        argss.append(args)
    before = rig.pages.snapshot()
    rig.recorder.reset()
    rig.recorder.pages = rig.pages if plan.pointers else rig.storage_pages
    rig.watch.reset()
    rig.recorder.tag = rig.watch.tag = rig.driver.current
    try:
        run = rig.driver.run(h.address, rig.mask_at, rig.pending_at, records, rig.stack[1] - 64,
                             budget=rig.budget, timeout=rig.timeout, label=hook)
    finally:
        rig.recorder.tag = rig.watch.tag = None
    after = rig.pages.snapshot()
    recs = rig.recorder.records
    hits = list(rig.watch.hits)
    by_example: dict[int, list] = {}
    for r in recs:
        by_example.setdefault(r.tag, []).append(r)
    dirty_before = rig.dirty
    if not rig.dirty:
        rig.dirty = any(r.rc >= 0 and not rig._restorable(r) for r in recs)
    rig.watch.rollback()
    if not rig.native and (recs or run.fault is not None):
        rig.guard.restore()
    if rig.native:
        rig.cpu._reset_after_fault()

    overlay = OverlayMemory(rig.pages.as_dict(before), rig._translate, rig._live_read)
    cpu = rig._cpu_state(RESERVED_FLAG | IF) if rig.native else CpuState(flags=RESERVED_FLAG | IF, cr0=0, cr2=0,
                                                                          cr3=0, cr4=0, msrs={}, tsc=0, cpuid=rig.cpuid)
    outcomes, suspicious = [], []
    hit = {t for (_pc, _ma, _n, _v, t) in hits}
    for k, (ex, (regs_out, flags_out)) in enumerate(zip(examples, run.results)):
        krecs = by_example.get(k, [])
        if k in run.stops:
            out, judged = _stopped(rig, hook, ex, argss[k], records[k], run.stops[k], krecs, overlay, cpu)
            outcomes.append(out)
            if not judged or k in hit:
                suspicious.append(k)
            continue
        out = Outcome(hook, ex, args=argss[k], entry_values=records[k][3], register_names=names)
        out.registers = dict(zip(names, regs_out))
        out.registers[rt.flags] = flags_out
        out.value = result_of(rig.arch, h.ret_size, out.registers)
        out.hypercalls = [(rig._hc_name(r.number), r.raw, r.rc) for r in krecs]
        rig._check_convention(hook, out, records[k][3], rig.entry_sp)
        rig._check_role(out, krecs)
        if k in hit:
            suspicious.append(k)
        if not _interpret_in_sequence(rig, plan, out, ex, overlay, cpu, records[k][2], krecs):
            suspicious.append(k)
        if out.violations:
            suspicious.append(k)
        outcomes.append(out)
    memory_ok = all(overlay.final(page) == snap for page, snap in zip(rig.pages.pages, after))
    if run.fault is not None and run.done < len(examples):
        k = run.done
        out, judged = _stopped(rig, hook, examples[k], argss[k], records[k], run.fault, by_example.get(k, []),
                               overlay, cpu)
        outcomes.append(out)
        if not judged:
            suspicious.append(k)
    if not memory_ok:
        suspicious = list(range(len(outcomes)))
    rig.dirty = rig.dirty or dirty_before
    for k in sorted(set(suspicious)):
        outcomes[k] = rig.execute(hook, examples[k])
    return outcomes


def _stopped(rig: Rig, hook: str, ex: Example, args, record, fault, krecs, overlay: OverlayMemory,
             cpu: CpuState) -> tuple[Outcome, bool]:
    """The outcome of an example that ended in `fault`, and whether the
    batch could judge it (else it is re-run alone): only a fault the spec
    itself makes the machine take, and no violation."""
    out = Outcome(hook, ex, args=args, entry_values=record[3], register_names=rig.names,
                  registers=dict(fault.registers), fault=fault)
    out.hypercalls = [(rig._hc_name(r.number), r.raw, r.rc) for r in krecs]
    rig._check_role(out, krecs)
    return out, not out.violations and _fault_agrees(rig, out, ex, overlay, cpu, record[2], krecs)


def _interpret_in_sequence(rig: Rig, plan, out: Outcome, ex: Example, overlay: OverlayMemory, cpu: CpuState,
                           flags: int, krecs) -> bool:
    """The interpreter on example `ex`, in the memory the previous examples
    left; False if it disagrees with the compiled run in a way only a run
    on its own can judge."""
    if not rig.native:
        overlay.set_input(rig.mask_at, ex.mask & 0xFF)
        overlay.set_input(rig.pending_at, ex.pending & 0xFF)
    cpu.flags = flags
    calls = []

    def hypercall(name: str, number: int, hargs: tuple) -> int:
        i = len(calls)
        rec = krecs[i] if i < len(krecs) else None
        calls.append((name, number, hargs, rig._pointees(hargs, rec, overlay.read) if rec else {}))
        if rec is None:
            return -38
        overlay.apply(rec.effects)
        return rec.rc

    # A hook that reaches no hypercall and, from this same memory, wrote
    # nothing, interprets the same way every time its inputs recur.
    key = None
    if plan.memo is not None and overlay.generation == 0:
        key = (tuple(out.args), ex.mask & 0xFF, ex.pending & 0xFF, flags, ex.buffer_seed if plan.pointers else 0)
        memo = plan.memo.get(key)
        if memo is not None and not memo.pages and not memo.outside:
            cpu.flags = memo.cpu.flags
            return _agrees(rig, plan, out, memo.res, memo.calls, krecs, cpu)
    # A hook that makes hypercalls: the same inputs, the same answers and
    # the same bytes under every read give the same run (Replay).
    if plan.replay is not None:
        key = (tuple(out.args), ex.mask & 0xFF, ex.pending & 0xFF, flags,
               tuple((r.number, r.rc, tuple(r.effects)) for r in krecs))
        again = plan.replay.get(key)
        if again is not None and overlay.replay(again.log):
            cpu.flags = again.flags
            return _agrees(rig, plan, out, again.res, again.calls, krecs, cpu)
        overlay.log = []
    state = State(memory=overlay, cpu=cpu, symbol_address=rig._symbol_address, hypercall=hypercall,
                  stack_top=out.entry_values[rig.index[rig.rt.sp]])
    try:
        res = rig.interp.call_hook(out.hook, out.args, state, budget=INTERP_BUDGET)
    finally:
        log, overlay.log = overlay.log, None
    if plan.replay is not None:
        if res.fault is None and not any(c[3] for c in calls) and len(plan.replay) < MEMO_LIMIT:
            plan.replay[key] = Replay(res, calls, cpu.flags, log)
    elif key is not None and overlay.generation == 0 and len(plan.memo) < MEMO_LIMIT:
        plan.memo[key] = InterpRun(res, calls, {}, set(), dataclasses.replace(cpu), ())
    return _agrees(rig, plan, out, res, calls, krecs, cpu)


def _fault_agrees(rig: Rig, out: Outcome, ex: Example, overlay: OverlayMemory, cpu: CpuState, flags: int,
                  krecs) -> bool:
    """A fault the spec itself makes the machine take, judged without a
    re-run: natively, a hlt with interrupts off (the CPU never wakes), or a
    popf that sets TF (the CPU single-steps into #DB)."""
    fault = out.fault
    if not rig.native or krecs or not (fault.kind == "halt" or fault.vector == 1):
        return False
    cpu.flags = flags
    calls = []
    state = State(memory=overlay, cpu=cpu, symbol_address=rig._symbol_address,
                  hypercall=lambda *a: calls.append(a) or -38, stack_top=out.entry_values[rig.index[rig.rt.sp]])
    res = rig.interp.call_hook(out.hook, out.args, state, budget=INTERP_BUDGET)
    if calls:
        return False
    if fault.kind == "halt":
        return res.fault is not None and res.fault.kind == "halt"
    return res.fault is None and bool(cpu.flags & TF)


def _agrees(rig, plan, out, res, calls, krecs, cpu) -> bool:
    if res.fault is not None or len(calls) != len(krecs):
        return False
    for i, (name, number, hargs, pointees) in enumerate(calls):
        if krecs[i].number != number or rig._arg_mismatch(number, hargs, krecs[i], pointees):
            return False
    want, got = res.value, out.value
    if plan.pushf:
        want, got = want & ~ARITH_FLAGS, got & ~ARITH_FLAGS
    if want != got and not plan.rdtsc:
        return False
    flags = out.registers[rig.rt.flags]
    if flags & DF and not (rig.native and cpu.flags & DF):
        out.violations.append(Violation("convention", "DF set on return", "DF=0", "DF=1"))
    if rig.native and (flags ^ cpu.flags) & IF:
        return False
    return True
