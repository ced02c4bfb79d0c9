"""Ring 0's stops handled inside the emulator (pvdsl/runtime/halts.py) and
the batch driver going on past the stops its caller judges
(pvdsl/runtime/batch.py): the same outcomes as a stop that leaves the
emulator, call after call."""

from __future__ import annotations

import pytest
from rtsupport import machine

from pvdsl.runtime.probe.batch import BatchDriver
from pvdsl.runtime.cpu.calls import marshal

IRQ = "examples/irq.pv"
NATIVE = ["i386-native", "x86_64-native"]
IF, TF, RESERVED = 1 << 9, 1 << 8, 1 << 1


def _hlt_address(m, hook: str) -> int:
    h = m.loaded.hook(hook)
    code = m.guest.vcpus[0].cpu.read_virtual(h.address, 16)
    return h.address + code.index(b"\xf4")


@pytest.mark.parametrize("target", NATIVE)
def test_a_hlt_is_taken_over_by_a_code_hook_after_its_first_stop(target):
    m = machine(IRQ, target)
    cpu = m.guest.vcpus[0].cpu
    hlt = _hlt_address(m, "pv_irq_ops.safe_halt")
    assert hlt not in cpu.stops.watched
    first = m.call("pv_irq_ops.safe_halt")  # sti; hlt: the first stop leaves the emulator
    assert first.ok and hlt in cpu.stops.watched
    for _ in range(3):  # then the hook wakes it, as an interrupt would
        again = m.call("pv_irq_ops.safe_halt")
        assert again.ok and again.registers[m.guest.rt.flags] & IF
        assert again.registers == first.registers


@pytest.mark.parametrize("target", NATIVE)
def test_a_watched_hlt_with_interrupts_off_is_reported_as_the_first_was(target):
    m = machine(IRQ, target)
    cpu = m.guest.vcpus[0].cpu
    hlt = _hlt_address(m, "pv_irq_ops.halt")
    reports = []
    for _ in range(3):
        m.call("pv_irq_ops.irq_disable")
        r = m.call("pv_irq_ops.halt")
        reports.append(r.fault)
    assert hlt in cpu.stops.watched
    for f in reports:
        assert (f.kind, f.address, f.disassembly, f.message) == \
            ("halt", hlt, "hlt", "hlt with interrupts disabled: the CPU would never wake")
    assert reports[1].registers == reports[2].registers
    assert reports[0].registers == reports[1].registers


def _driver(m):
    cpu = m.guest.vcpus[0].cpu
    driver = BatchDriver(cpu)
    top = m.guest.kernel.stack_tops[0]
    return cpu, driver, top - 512, top - 64


def _records(cpu, hook, entry_sp: int, calls: list[tuple[int, list[int]]]):
    """One record per (flags, arguments), every other register zero."""
    names, rt = cpu.gprs.names, cpu.rt
    out = []
    for flags, args in calls:
        regs, stack = marshal(rt.arch, hook.arg_sizes, args)
        assert not stack
        values = [0] * len(names)
        values[names.index(rt.sp)] = entry_sp
        for r, v in regs.items():
            values[names.index(r)] = v
        out.append((0, 0, RESERVED | flags, values))
    return out


@pytest.mark.parametrize("target", NATIVE)
def test_the_batch_goes_on_past_hlts_with_interrupts_off(target):
    m = machine(IRQ, target)
    cpu, driver, entry_sp, driver_sp = _driver(m)
    h = m.loaded.hook("pv_irq_ops.halt")
    hlt = _hlt_address(m, "pv_irq_ops.halt")
    pattern = [IF, 0, 0, IF, 0, IF, IF, 0] * 4
    records = _records(cpu, h, entry_sp, [(f, []) for f in pattern])
    run = driver.run(h.address, driver.scratch, driver.scratch + 1, records, driver_sp, label="halt")
    assert run.fault is None and run.done == len(records)
    assert sorted(run.stops) == [i for i, f in enumerate(pattern) if not f]
    sp = cpu.rt.sp
    for i, f in enumerate(pattern):
        regs, flags = run.results[i]
        if f:  # woken, returned: the stack pointer back where it was
            assert i not in run.stops and flags & IF and regs[cpu.gprs.names.index(sp)] == entry_sp
        else:  # stopped at the hlt, the return address still on the stack
            stop = run.stops[i]
            assert (stop.kind, stop.address, stop.disassembly) == ("halt", hlt, "hlt")
            assert not flags & IF and stop.registers[cpu.rt.flags] == flags
            assert stop.registers[sp] == entry_sp - cpu.rt.word
            assert stop.registers[cpu.rt.pc] == hlt


@pytest.mark.parametrize("target", NATIVE)
def test_the_batch_goes_on_past_the_debug_trap_of_a_set_tf(target):
    m = machine(IRQ, target)
    cpu, driver, entry_sp, driver_sp = _driver(m)
    h = m.loaded.hook("pv_irq_ops.restore_fl")
    args = [IF, IF | TF, 0, TF, IF, IF | TF]
    records = _records(cpu, h, entry_sp, [(IF, [a]) for a in args])
    run = driver.run(h.address, driver.scratch, driver.scratch + 1, records, driver_sp, label="restore_fl")
    assert run.fault is None and run.done == len(args)
    assert sorted(run.stops) == [i for i, a in enumerate(args) if a & TF]
    for i, a in enumerate(args):
        _regs, flags = run.results[i]
        assert flags & (IF | TF) == a  # the flags the hook loaded, TF included where it trapped
        if a & TF:
            stop = run.stops[i]
            assert (stop.kind, stop.vector) == ("exception", 1)
            assert stop.registers[cpu.rt.flags] == flags


@pytest.mark.parametrize("target", NATIVE)
def test_a_stop_the_batch_cannot_judge_still_ends_the_run(target):
    """A run started without a handler (a plain call) is untouched, and a
    hlt in the driver itself is never skipped: only hook stops are."""
    m = machine(IRQ, target)
    cpu, driver, entry_sp, driver_sp = _driver(m)
    h = m.loaded.hook("pv_irq_ops.halt")
    records = _records(cpu, h, entry_sp, [(IF, []), (0, [])])
    assert driver._on_stop("halt", driver.entry + 4, None, 0) is None
    assert driver._on_stop("halt", h.address, None, 0) == driver.resume_at
    assert cpu.stops.handler is None  # only set while the driver runs
    run = driver.run(h.address, driver.scratch, driver.scratch + 1, records, driver_sp)
    assert cpu.stops.handler is None and run.done == 2
