"""The interpreter on the examples and the shipped backends: every hook of
every backend runs on both arches, and the examples' hooks agree with their
compiled code on the emulated machine (Xen roles included)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interp_support import ROOT, MachineMemory, built_machine, predicted_registers, record_hypercalls, views_of_file
from pvdsl.arch import TARGETS
from pvdsl.codegen.module import lower_backend
from pvdsl.interp import CpuState, InterpFault, Interpreter, SparseMemory, State
from pvdsl.sema import types as T

SPECS = ["examples/irq.pv", "examples/mmu.pv", "examples/cpu.pv", "pvdsl/specs/backends/native.pv",
         "pvdsl/specs/backends/xen.pv", "pvdsl/specs/backends/xen_dom0.pv"]
FAULT_KINDS = {"memory", "#DE", "#GP", "halt", "budget", "stack", "unsupported"}


class AnyMsr(dict):
    """Every MSR exists and reads as what was last written (0 at first)."""

    def get(self, msr, default=None):
        return super().get(msr, 0)

    def __contains__(self, msr) -> bool:
        return True


def _args(params, fill: int, buffer: int, word_bits: int) -> list[int]:
    out = []
    for _n, t in params:
        if isinstance(t, (T.PtrType, T.HandleType)):
            out.append(buffer)
        else:
            out.append(fill & ((1 << 64) - 1))
    return out


@pytest.mark.parametrize("spec", SPECS)
def test_every_hook_of_every_backend_runs(spec):
    views = views_of_file(spec)
    for arch, view in views.items():
        for name, info in view.backends.items():
            interp = Interpreter(view, name)
            target = TARGETS[f"{arch}-{info.roles[0]}"]
            # The hooks in the order of the compiled tables.
            lowered = lower_backend(view, info, target)
            assert interp.hooks() == [f"{h.table}.{h.hook}" for h in lowered.hooks]
            symbols = {}
            faults = runs = 0
            for hook in interp.hooks():
                params, ret, _cs = interp.hook_signature(hook)
                for fill in (0, 1, (1 << 64) - 1):
                    memory = SparseMemory(zero_fill=True, address_bits=view.arch.word_bits)
                    cpu = CpuState(msrs=AnyMsr(), cpuid=lambda leaf, sub: (leaf, 0, sub, 0))
                    state = State(memory, cpu, lambda n: symbols.setdefault(n, 0x100000 * (len(symbols) + 1)),
                                  lambda name, number, args: 0)
                    res = interp.call_hook(hook, _args(params, fill, 0x4000000, view.arch.word_bits), state,
                                           budget=20_000)
                    runs += 1
                    assert isinstance(res.value, int) and 0 <= res.value < 1 << 64
                    if ret == T.VOID:
                        assert res.value == 0
                    if res.fault is not None:
                        faults += 1
                        assert isinstance(res.fault, InterpFault) and res.fault.kind in FAULT_KINDS, res.fault
            # Almost everything runs to its end with all memory readable.
            assert faults <= runs // 10, f"{spec} {name} {arch}: {faults} of {runs} calls faulted"


# ---- the examples next to their compiled code ----

def _random_bytes(data, n: int) -> bytes:
    return data.draw(st.binary(min_size=n, max_size=n))


# Fixtures hand hypothesis tests tuples without the ArchView: a failing
# example prints its arguments, and a view's repr is the whole program.
@pytest.fixture(scope="module", params=["i386-domu", "x86_64-domu", "i386-dom0"])
def xen_irq(request):
    machine, view = built_machine(ROOT / "examples/irq.pv", request.param, "xen", count_instructions=False)
    return machine, record_hypercalls(machine), Interpreter(view, "xen"), view.arch.word_bits


@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data())
def test_xen_irq_hooks_agree_with_the_compiled_code(xen_irq, data):
    machine, recorder, interp, word_bits = xen_irq
    memory = MachineMemory(machine)
    info_va = machine.loaded.percpu_va("xen_vcpu_info", 0)
    for hook in interp.hooks():
        params, _ret, _cs = interp.hook_signature(hook)
        args = [data.draw(st.sampled_from([0, 0x200, 0x202, 0xFFFFFDFF, 1 << 40]), label="flags") for _p in params]
        head = bytes([data.draw(st.integers(0, 1), label="pending"), data.draw(st.integers(0, 2), label="mask")])
        memory.write(info_va, head)
        snapshot = SparseMemory()
        snapshot.map(info_va, memory.read(info_va, 64))
        recorder.reset()
        compiled = machine.call(hook, *args)
        assert compiled.fault is None
        answers = [r.rc for r in recorder.records]
        res = interp.call_hook(hook, args, State(snapshot, CpuState(), {"xen_vcpu_info": info_va}.__getitem__,
                                                 lambda name, number, a: answers.pop(0)))
        assert res.fault is None, res.fault
        assert res.value == compiled.value, (hook, args, head)
        assert [n for _name, n, _a in res.hypercalls] == [r.number for r in recorder.records]
        for _number, predicted, registers in predicted_registers(res, recorder, word_bits):
            assert predicted == registers
        if not recorder.records:
            # The mask byte as the hook left it. (A hypercall may change it in
            # Xen, SCHEDOP_block unmasks: effects this replay does not make.)
            assert snapshot.read(info_va + 1, 1) == memory.read(info_va + 1, 1), (hook, args, head)


@pytest.fixture(scope="module", params=["i386-native", "x86_64-native"])
def native_mmu(request):
    machine, view = built_machine(ROOT / "examples/mmu.pv", request.param, "native_mmu", count_instructions=False)
    return machine, Interpreter(view, "native_mmu")


@settings(max_examples=30, deadline=None, database=None)
@given(data=st.data())
def test_native_mmu_memory_hooks_agree_with_the_compiled_code(native_mmu, data):
    machine, interp = native_mmu
    memory = MachineMemory(machine)
    page = machine.symbol("scratch")
    contents = _random_bytes(data, 256)
    pte = data.draw(st.integers(0, (1 << 64) - 1), label="pte")
    n = data.draw(st.integers(0, 32), label="n")
    calls = [("demo_mmu_ops.count_present", [page, n]), ("demo_mmu_ops.pte_val", [pte]),
             ("demo_mmu_ops.set_pte", [page + 8, pte])]
    if "demo_mmu_ops.set_pte_atomic" in interp.hooks():
        calls.append(("demo_mmu_ops.set_pte_atomic", [page + 16, pte]))
    for hook, args in calls:
        memory.write(page, contents)
        snapshot = SparseMemory()
        snapshot.map(page, contents)
        compiled = machine.call(hook, *args)
        res = interp.call_hook(hook, args, State(snapshot))
        assert compiled.fault is None and res.fault is None
        assert res.value == compiled.value, (hook, args)
        assert snapshot.read(page, 256) == memory.read(page, 256), (hook, args)


def test_xen_mmu_passes_the_same_structs_to_xen():
    """mmuext_op and mmu_update get a pointer to a struct on the stack: the
    addresses differ, the bytes they point at must not."""
    for target in ("i386-domu", "x86_64-domu"):
        machine, view = built_machine(ROOT / "examples/mmu.pv", target, "xen_mmu", count_instructions=False)
        interp = Interpreter(view, "xen_mmu")
        sizes = {26: view.layouts.size(view.structs["mmuext_op"]), 1: view.layouts.size(view.structs["mmu_update"])}
        recorder = record_hypercalls(machine)
        for hook, args in (("demo_mmu_ops.write_cr3", [0x1234000]), ("demo_mmu_ops.flush_tlb_single", [0xC0001000]),
                           ("demo_mmu_ops.set_pte", [0x5008, 0x8000000012345067])):
            recorder.reset()
            compiled = machine.call(hook, *args)
            assert compiled.fault is None and len(recorder.records) == 1
            record = recorder.records[0]
            passed = []

            def answer(name, number, a):
                passed.append(interp.memory.read(a[0], sizes[number]))
                return record.rc
            res = interp.call_hook(hook, args, State(SparseMemory(), hypercall=answer))
            assert res.fault is None and res.value == compiled.value
            assert passed == [record.stack_bytes(record.raw[0], sizes[record.number])], (target, hook)
            (_number, predicted, registers), = predicted_registers(res, recorder, view.arch.word_bits)
            assert predicted[1:] == registers[1:]  # all but the struct's address
