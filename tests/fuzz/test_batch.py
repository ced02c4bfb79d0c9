"""The batch fast path (pvdsl/fuzz/batch.py) decides as a run of each
example on its own would: the same fault (kind, address, vector), the same
registers, result and hypercalls, the same verdict. Native hooks that stop
the CPU (a hlt with interrupts off, the #DB of a set TF) included: the
batch now goes on past those instead of ending its run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvdsl.arch import TARGETS
from pvdsl.fuzz.batch import batchable, run_batch
from pvdsl.fuzz.campaign import stable_seed, view_of
from pvdsl.fuzz.harness import Rig
from pvdsl.runtime.session.machine import build_backends

ROOT = Path(__file__).resolve().parents[2]
TF = 1 << 8


def _rig(target: str) -> Rig:
    built = build_backends(ROOT / "examples/irq.pv", TARGETS[target])[0]
    return Rig(built, view_of(built.program, built.target))


def _summary(out, pc: str, sp: str):
    f = out.fault
    fault = None
    if f is not None:
        regs = dict(f.registers)
        assert f.address == regs[pc], f"{f.kind} reported at {f.address:#x}, the pc is {regs[pc]:#x}"
        if f.vector == 1 and regs[sp] == out.entry_registers[sp]:
            # TF set by the hook's popf traps after its ret: at the caller's
            # return address, which is the batch driver's or Rig.execute's.
            regs[pc] = "the caller"
        fault = (f.kind, regs[pc], f.vector, regs)
    # After a return the pc is the call site's business (the batch driver's, or Rig.execute's).
    regs = None if f is not None else {k: v for k, v in out.registers.items() if k != pc}
    return fault, regs, out.value if f is None else None, out.hypercalls, [v.message for v in out.violations]


@pytest.mark.parametrize("target", ["i386-native", "x86_64-native"])
@pytest.mark.parametrize("hook", ["pv_irq_ops.halt", "pv_irq_ops.safe_halt", "pv_irq_ops.restore_fl",
                                  "pv_irq_ops.save_fl"])
def test_batched_examples_match_their_solo_runs(target, hook):
    rig = _rig(target)
    assert batchable(rig, hook)
    gen = rig.generator(hook, stable_seed(0, "native", hook))
    examples = [gen.next() for _ in range(120)]
    batched = run_batch(rig, hook, examples)
    assert len(batched) == len(examples)
    for ex, out in zip(examples, batched):
        solo = rig.execute(hook, ex)
        assert _summary(out, rig.rt.pc, rig.rt.sp) == _summary(solo, rig.rt.pc, rig.rt.sp), ex
    _assert_kinds(hook, batched)


@pytest.mark.parametrize("target", ["i386-domu", "x86_64-domu"])
@pytest.mark.parametrize("hook", ["pv_irq_ops.safe_halt", "pv_irq_ops.halt", "pv_irq_ops.irq_enable",
                                  "pv_irq_ops.restore_fl"])
def test_batched_hypercalls_match_their_solo_runs(target, hook):
    """Hooks that make hypercalls, whose interpreter runs the batch replays
    (plan.replay) when inputs, answers and the bytes read recur."""
    rig = _rig(target)
    assert batchable(rig, hook) and rig.plan(hook).replay is not None
    gen = rig.generator(hook, stable_seed(0, "xen", hook))
    examples = [gen.next() for _ in range(200)]
    batched = run_batch(rig, hook, examples)
    assert rig.plan(hook).replay  # kept runs
    for ex, out in zip(examples, batched):
        solo = rig.execute(hook, ex)
        assert _summary(out, rig.rt.pc, rig.rt.sp) == _summary(solo, rig.rt.pc, rig.rt.sp), ex
        assert out.ok
    assert any(o.hypercalls for o in batched)


def _assert_kinds(hook, batched):
    kinds = {(o.fault.kind, o.fault.vector) for o in batched if o.fault is not None}
    if hook == "pv_irq_ops.halt":
        assert ("halt", None) in kinds  # the generator turns interrupts off often enough
    if hook == "pv_irq_ops.restore_fl":
        assert ("exception", 1) in kinds and any(o.args[0] & TF for o in batched)


def test_stops_no_longer_end_the_batch_run():
    """With a stop in one example out of two, the 120 examples still take
    one emulator run per 256 records, not one per stop."""
    rig = _rig("x86_64-native")
    hook = "pv_irq_ops.halt"
    gen = rig.generator(hook, stable_seed(0, "native", hook))
    examples = [gen.next() for _ in range(120)]
    runs = []
    real = rig.driver.run

    def counting(*a, **kw):
        runs.append(real(*a, **kw))
        return runs[-1]

    rig.driver.run = counting
    outs = run_batch(rig, hook, examples)
    assert sum(o.fault is not None for o in outs) > 10
    assert len(runs) == 1 and runs[0].done == len(examples) and runs[0].fault is None
