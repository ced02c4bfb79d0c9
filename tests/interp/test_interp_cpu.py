"""Intrinsics and the CPU state, faults and where they point, laws, and what
a hypercall callback can see of the interpreter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interp_support import built_machine, flat_state, views_of, views_of_file
from pvdsl.interp import CpuState, Interpreter, SparseMemory, State
from pvdsl.interp.state import TSC_STEP

ARCHES = ["i386", "x86_64"]

CPU = """\
table c_ops {
    flags() -> ulong;
    set_flags(f: ulong) -> ulong;
    off() -> ulong;
    on() -> ulong;
    wait();
    halt_loop();
    crs(v: ulong) -> ulong;
    msr(m: u32) -> u64;
    wmsr(m: u32, v: u64) -> u64;
    ticks() -> u64;
    id(p: ptr<u32>) -> u32;
    flush(a: ulong);
}

backend n for i386, x86_64 roles native {
    impl c_ops.flags() -> ulong { return pushf(); }
    impl c_ops.set_flags(f: ulong) -> ulong { popf(f); return pushf(); }
    impl c_ops.off() -> ulong { cli(); return pushf(); }
    impl c_ops.on() -> ulong { sti(); return pushf(); }
    impl c_ops.wait() { sti(); hlt(); hlt(); }
    impl c_ops.halt_loop() {
        cli();
        while true { hlt(); }
    }
    impl c_ops.crs(v: ulong) -> ulong {
        write_cr0(v);
        write_cr2(v + 2);
        write_cr3(v + 3);
        write_cr4(v + 4);
        return read_cr0() + read_cr2() + read_cr3() + read_cr4();
    }
    impl c_ops.msr(m: u32) -> u64 { return rdmsr(m); }
    impl c_ops.wmsr(m: u32, v: u64) -> u64 { wrmsr(m, v); return rdmsr(m) + 1; }
    impl c_ops.ticks() -> u64 { var a: u64 = rdtsc(); var b: u64 = rdtsc(); return b - a; }
    impl c_ops.id(p: ptr<u32>) -> u32 {
        cpuid(&p[0], &p[1], &p[2], &p[3]);
        return p[0] ^ p[3];
    }
    impl c_ops.flush(a: ulong) { invlpg(a); wbinvd(); write_cr3(a); }
}
"""
IF = 0x200


def cpu_call(arch, hook, *args, cpu=None, memory=None):
    cpu = cpu or CpuState()
    interp = Interpreter(views_of(CPU)[arch], "n")
    res = interp.call_hook(hook, list(args), State(memory or SparseMemory(), cpu))
    return res, cpu


@pytest.mark.parametrize("arch", ARCHES)
def test_interrupt_flag(arch):
    res, cpu = cpu_call(arch, "c_ops.off", cpu=CpuState(flags=0x246))
    assert res.value == 0x46 and cpu.flags == 0x46
    res, cpu = cpu_call(arch, "c_ops.on", cpu=CpuState(flags=0x46))
    assert res.value == 0x246


@pytest.mark.parametrize("arch", ARCHES)
def test_popf_keeps_the_architectural_bits(arch):
    # Bit 1 reads as 1, reserved bits 3, 5, 15 as 0, RF is cleared; VM keeps
    # its value whatever the popped word says.
    res, cpu = cpu_call(arch, "c_ops.set_flags", 0xFFFFFFFF, cpu=CpuState(flags=0x2))
    # CF PF AF ZF SF TF IF DF OF IOPL NT AC ID, and bit 1.
    assert res.value == 0x247FD7
    res, cpu = cpu_call(arch, "c_ops.set_flags", 0, cpu=CpuState(flags=0x20002))
    assert res.value == 0x20002


FLAGS_ONLY = """\
table c_ops {
    set_flags(f: ulong) -> ulong;
    off() -> ulong;
    on() -> ulong;
}

backend n for i386, x86_64 roles native {
    impl c_ops.set_flags(f: ulong) -> ulong { popf(f); return pushf(); }
    impl c_ops.off() -> ulong { cli(); return pushf(); }
    impl c_ops.on() -> ulong { sti(); return pushf(); }
}
"""
TF = 0x100


@pytest.fixture(scope="module", params=["i386-native", "x86_64-native"])
def flags_rig(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("flags") / "flags.pv"
    path.write_text(FLAGS_ONLY)
    machine, view = built_machine(path, request.param, "n", count_instructions=False)
    return machine, Interpreter(view, "n"), view.arch.word_bits


@settings(max_examples=50, deadline=None, database=None)
@given(value=st.integers(0, (1 << 64) - 1))
def test_flags_match_the_emulated_cpu(flags_rig, value):
    machine, interp, bits = flags_rig
    value &= ((1 << bits) - 1) & ~TF  # TF would single-step the CPU into #DB: not modelled
    flags_register = "eflags" if bits == 32 else "rflags"
    for hook, args in (("c_ops.set_flags", [value]), ("c_ops.off", []), ("c_ops.set_flags", [value]),
                       ("c_ops.on", [])):
        cpu = CpuState(flags=machine.cpus[0].regs.read()[flags_register])  # what the hook starts from
        compiled = machine.call(hook, *args)
        assert compiled.fault is None
        res = interp.call_hook(hook, args, State(SparseMemory(), cpu))
        assert res.value == compiled.value, (hook, hex(value))
        assert cpu.flags == machine.cpus[0].regs.read()[flags_register]


@pytest.mark.parametrize("arch", ARCHES)
def test_hlt_control_registers_and_tlb_events(arch):
    _res, cpu = cpu_call(arch, "c_ops.wait", cpu=CpuState(flags=0x2))
    assert cpu.halted == 2 and cpu.flags & IF
    res, cpu = cpu_call(arch, "c_ops.crs", 0x10)
    assert res.value == 0x10 * 4 + 9 and (cpu.cr0, cpu.cr2, cpu.cr3, cpu.cr4) == (0x10, 0x12, 0x13, 0x14)
    _res, cpu = cpu_call(arch, "c_ops.flush", 0xC0001000)
    assert cpu.tlb_flushes == [("invlpg", 0xC0001000), ("wbinvd", None), ("write_cr3", 0xC0001000)]


@pytest.mark.parametrize("arch", ARCHES)
def test_hlt_with_interrupts_off_stops_the_call_as_the_cpu_never_wakes(arch):
    """Not a step budget run dry in a `while !flag { hlt(); }` loop: the
    fault the emulated CPU reports, at the first hlt."""
    res, cpu = cpu_call(arch, "c_ops.halt_loop", cpu=CpuState(flags=IF | 0x2))
    assert res.fault is not None and res.fault.kind == "halt"
    assert res.fault.message == "hlt with interrupts disabled: the CPU would never wake"
    assert cpu.halted == 1 and not cpu.flags & IF


@pytest.mark.parametrize("arch", ARCHES)
def test_msrs(arch):
    res, _cpu = cpu_call(arch, "c_ops.msr", 0xC0000080, cpu=CpuState(msrs={0xC0000080: 0x501}))
    assert res.value == 0x501
    res, _cpu = cpu_call(arch, "c_ops.msr", 0x1234)
    assert res.fault.kind == "#GP" and "0x1234" in res.fault.message
    res, cpu = cpu_call(arch, "c_ops.wmsr", 0x10, 1 << 40, cpu=CpuState(msrs={0x10: 0}))
    assert res.value == (1 << 40) + 1 and cpu.msrs[0x10] == 1 << 40
    res, _cpu = cpu_call(arch, "c_ops.wmsr", 0x11, 1)
    assert res.fault.kind == "#GP"


@pytest.mark.parametrize("arch", ARCHES)
def test_rdtsc_moves_forward_by_a_fixed_step(arch):
    res, cpu = cpu_call(arch, "c_ops.ticks", cpu=CpuState(tsc=1000))
    assert res.value == TSC_STEP and cpu.tsc == 1000 + 2 * TSC_STEP


@pytest.mark.parametrize("arch", ARCHES)
def test_cpuid_reads_leaf_and_subleaf_and_writes_all_four(arch):
    memory = SparseMemory()
    memory.map(0x8000, (1).to_bytes(4, "little") + bytes(4) + (7).to_bytes(4, "little") + bytes(4))
    asked = []

    def cpuid(leaf, sub):
        asked.append((leaf, sub))
        return 0x11, 0x22, 0x33, 0x1_0000_0044  # wider than 32 bits: the register keeps 32
    res, _cpu = cpu_call(arch, "c_ops.id", 0x8000, cpu=CpuState(cpuid=cpuid), memory=memory)
    assert asked == [(1, 7)]
    assert memory.read(0x8000, 16) == bytes.fromhex("11000000" "22000000" "33000000" "44000000")
    assert res.value == 0x11 ^ 0x44


FAULTS = """\
table f_ops {
    load(p: ptr<u64>) -> u64;
    store(p: ptr<u8>, v: u8);
}

backend n for i386, x86_64 roles native {
    impl f_ops.load(p: ptr<u64>) -> u64 {
        var x: u64 = 1;
        return x + fetch(p);
    }
    impl f_ops.store(p: ptr<u8>, v: u8) { p[3] = v; }
    fn fetch(p: ptr<u64>) -> u64 {
        return *p;
    }
}
"""


@pytest.mark.parametrize("arch", ARCHES)
def test_memory_faults_name_the_access_and_the_statement(arch):
    interp = Interpreter(views_of(FAULTS, "faults.pv")[arch], "n")
    res = interp.call_hook("f_ops.load", [0x9000], flat_state())
    assert res.fault.kind == "memory"
    assert (res.fault.cause.va, res.fault.cause.size, res.fault.cause.write) == (0x9000, 8, False)
    assert res.fault.span.line == 13  # `return *p;` in the helper
    assert res.fault.where().startswith("faults.pv:13:9: read of 8 bytes at 0x9000")
    memory = SparseMemory()
    memory.map(0x9000, 16, read_only=True)
    res = interp.call_hook("f_ops.store", [0x9000, 1], State(memory))
    assert (res.fault.cause.va, res.fault.cause.write, res.fault.span.line) == (0x9003, True, 11)


def test_laws_of_the_irq_example():
    views = views_of_file("examples/irq.pv")
    for arch in ARCHES:
        native = Interpreter(views[arch], "native")
        assert native.laws() == ["irq_roundtrip", "disable_masks"]
        for f in (0, IF):
            held, detail = native.run_law("irq_roundtrip", {"f": f}, State(SparseMemory(), CpuState()))
            assert held, detail
        xen = Interpreter(views[arch], "xen")
        memory = SparseMemory()
        memory.map(0x7000, 64)
        memory.write(0x7000, b"\x01")  # an event is pending: irq_enable forces its delivery
        answers = []

        def hypercall(name, number, args):
            answers.append(name)
            return 0
        state = State(memory, CpuState(), {"xen_vcpu_info": 0x7000}.__getitem__, hypercall)
        held, detail = xen.run_law("disable_masks", {}, state)
        assert held, detail
        assert answers == ["xen_version"]
        with pytest.raises(KeyError, match="needs a value for f"):
            xen.run_law("irq_roundtrip", {}, state)


BROKEN_LAW = """\
import xen.abi;
import linux.pvops_2_6_24;

backend xen for i386, x86_64 roles domu {
    percpu xen_vcpu_info: vcpu_info;
    impl pv_irq_ops.save_fl() -> ulong { return xen_vcpu_info.evtchn_upcall_mask as ulong - 1 & X86_EFLAGS_IF; }
    impl pv_irq_ops.restore_fl(flags: ulong) {
        xen_vcpu_info.evtchn_upcall_mask = (flags & X86_EFLAGS_IF) == 0 ? 1 : 0;
    }
    impl pv_irq_ops.irq_disable() { xen_vcpu_info.evtchn_upcall_mask = 1; }
    impl pv_irq_ops.irq_enable() { xen_vcpu_info.evtchn_upcall_mask = 1; }
    impl pv_irq_ops.safe_halt() { sched_op(SCHEDOP_block, null); }
    impl pv_irq_ops.halt() { sched_op(SCHEDOP_block, null); }
}

law enable_unmasks() for pv_irq_ops {
    irq_enable();
    assert save_fl() == X86_EFLAGS_IF;
}

law halts() for pv_irq_ops {
    halt();
}
"""


@pytest.mark.parametrize("arch", ARCHES)
def test_a_failing_law_says_which_assertion(arch):
    interp = Interpreter(views_of(BROKEN_LAW, "broken.pv")[arch], "xen")
    memory = SparseMemory()
    memory.map(0x7000, 64)
    state = State(memory, CpuState(), {"xen_vcpu_info": 0x7000}.__getitem__)
    held, detail = interp.run_law("enable_unmasks", {}, state)
    assert not held and "broken.pv:18:5: assertion failed" in detail
    held, detail = interp.run_law("halts", {}, state)  # the state answers no hypercalls
    assert not held and "unsupported" in detail


PASSED = """\
struct req {
    op: u32;
    count: u32;
}

hypercall submit = 48 (r: handle<req>);

table p_ops {
    send(op: u32) -> u32;
    twice(op: u32) -> u32;
}

backend x for i386, x86_64 roles domu {
    impl p_ops.send(op: u32) -> u32 {
        var r: req;
        r.op = op;
        submit(&r as handle<req>);
        return r.count;
    }
    impl p_ops.twice(op: u32) -> u32 { return p_ops.send(op) + p_ops.send(op + 1); }
}
"""


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("stack_top", [None, 0x20000])
def test_a_hypercall_callback_reads_and_writes_the_locals_it_is_passed(arch, stack_top):
    interp = Interpreter(views_of(PASSED)[arch], "x")
    memory = SparseMemory()
    memory.map(0x10000, 0x10000)
    seen = []

    def answer(name, number, args):
        where = interp.memory if stack_top is None else memory
        op = int.from_bytes(where.read(args[0], 4), "little")
        seen.append((op, args[0]))
        where.write(args[0] + 4, (op * 10).to_bytes(4, "little"))  # Xen fills in the count
        return 0
    res = interp.call_hook("p_ops.twice", [7], State(memory, hypercall=answer, stack_top=stack_top))
    assert res.value == 70 + 80
    assert [op for op, _va in seen] == [7, 8]
    if stack_top is not None:
        assert all(0x20000 - 64 <= va < 0x20000 for _op, va in seen)
    assert interp.memory is None  # only during a call


@pytest.mark.parametrize("arch", ARCHES)
def test_a_callback_may_call_the_interpreter_again(arch):
    interp = Interpreter(views_of(PASSED)[arch], "x")
    depth = []

    def answer(name, number, args):
        if not depth:
            depth.append(1)
            inner = interp.call_hook("p_ops.send", [1], State(SparseMemory(), hypercall=lambda *a: 0))
            assert inner.value == 0 and len(inner.hypercalls) == 1
        return 0
    res = interp.call_hook("p_ops.send", [5], State(SparseMemory(), hypercall=answer))
    assert res.fault is None and res.value == 0 and len(res.hypercalls) == 1
