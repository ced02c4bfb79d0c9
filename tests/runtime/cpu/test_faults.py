"""Faults are reports, never tracebacks or hangs: a bad memory access, an
endless loop (instruction budget, wall-clock limit), a privileged
instruction in the ring a PV kernel runs in, a privileged hypercall from a
domU, a bug in the hypervisor model."""

from __future__ import annotations

import time

import pytest
from rtsupport import built, machine, write_spec

from pvdsl.arch import TARGETS
from pvdsl.runtime.host.builder import MIB
from pvdsl.runtime.session.machine import Machine, build_backends

FAULTS = """\
module faults;
import xen.abi;

table fault_ops {
    load(p: ptr<u64>) -> u64;
    store(p: ptr<u32>, v: u32);
    spin(n: u32) -> u32;
}

backend bad for i386, x86_64 roles domu, dom0, native {
    impl fault_ops.load(p: ptr<u64>) -> u64 { return *p; }
    impl fault_ops.store(p: ptr<u32>, v: u32) { *p = v; }
    impl fault_ops.spin(n: u32) -> u32 {
        var i: u32 = 0;
        while n != 0 { i += 1; }
        return i;
    }
}
"""

PRIVILEGED = """\
module privileged;
import xen.abi;

table priv_ops {
    settime(op: ptr<u8>) -> long;
}

backend plat for i386, x86_64 roles dom0 {
    impl priv_ops.settime(op: ptr<u8>) -> long {
        return platform_op(op as handle<void>);
    }
}
"""

TARGETS_ALL = ["i386-domu", "x86_64-domu", "i386-dom0", "x86_64-native", "i386-native"]


@pytest.fixture(scope="module")
def faults_spec(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("faults"), FAULTS)


@pytest.mark.parametrize("target", TARGETS_ALL)
def test_null_pointer_is_a_page_fault_report(faults_spec, target):
    m = machine(str(faults_spec), target, budget=100_000, timeout=2.0)
    r = m.call("fault_ops.load", 0)
    f = r.fault
    assert f is not None and f.kind == "exception" and f.vector == 14 and f.fault_address == 0
    assert f.hook == "fault_ops.load" and "page fault" in f.message and "not present" in f.message
    assert f.disassembly.startswith("mov") and f.code and f.address in range(m.guest.kernel.virt_base,
                                                                             m.guest.kernel.kernel_end())
    assert m.guest.rt.pc in f.registers and len(f.registers) >= 10
    # The vCPU is usable afterwards, and the next fault is reported the same way.
    ok = m.call("fault_ops.load", m.guest.kernel.virt_base + 16)
    assert ok.ok
    assert m.call("fault_ops.load", 0).fault.vector == 14


@pytest.mark.parametrize("target", ["i386-domu", "x86_64-domu"])
def test_writing_a_page_table_faults(faults_spec, target):
    m = machine(str(faults_spec), target)
    r = m.call("fault_ops.store", m.guest.kernel.pt_va, 1)
    assert r.fault.vector == 14 and "read-only" in r.fault.message


def test_xen_range_is_out_of_reach_of_a_64_bit_guest(faults_spec):
    m = machine(str(faults_spec), "x86_64-domu")
    r = m.call("fault_ops.load", m.guest.rt.xen_global_va)
    assert r.fault.vector == 14 and "supervisor" in r.fault.message


@pytest.mark.parametrize("target", ["x86_64-domu", "i386-dom0", "x86_64-native"])
def test_endless_loop_exhausts_the_budget(faults_spec, target):
    m = machine(str(faults_spec), target, budget=50_000, timeout=10.0)
    t0 = time.monotonic()
    r = m.call("fault_ops.spin", 1)
    assert time.monotonic() - t0 < 5
    assert r.fault.kind == "budget" and "50000" in r.fault.message
    assert r.instructions >= 50_000
    assert m.call("fault_ops.spin", 0).ok  # and it recovers


@pytest.mark.parametrize("target", ["x86_64-domu", "i386-domu"])
def test_endless_loop_hits_the_wall_clock_limit(faults_spec, target):
    m = machine(str(faults_spec), target)
    t0 = time.monotonic()
    r = m.call("fault_ops.spin", 1, budget=0, timeout=0.3)
    elapsed = time.monotonic() - t0
    assert r.fault.kind == "timeout" and 0.25 < elapsed < 3
    assert m.call("fault_ops.spin", 0).ok


@pytest.mark.parametrize("arch, ring", [("x86_64", 3), ("i386", 1)])
def test_privileged_instructions_fault_in_the_pv_kernel_ring(arch, ring):
    """A native object (cli, hlt, mov %cr3 ...) loaded into a Xen domain:
    the guest kernel is not in ring 0, so the CPU raises #GP."""
    from pvdsl.runtime.cpu.calls import HookCaller
    from pvdsl.runtime.guest.loader import load_object

    xen = machine("examples/irq.pv", f"{arch}-domu")
    native = built("examples/mmu.pv", f"{arch}-native")
    irq_native = built("examples/irq.pv", f"{arch}-native")
    for b in (irq_native, native):
        lb = load_object(xen.hv, xen.guest, b.obj, b.manifest, b.signatures, xen.cpus)
        caller = HookCaller(xen.cpus[0], lb)
        for hook in [h for h in lb.hooks if h.split(".")[1] in ("irq_disable", "irq_enable", "halt", "write_cr3",
                                                                   "flush_tlb_single", "read_cr3")]:
            r = caller.call(hook, *([0] * len(b.signatures[hook][0])))
            assert r.fault is not None, hook
            assert r.fault.vector == 13, (hook, r.fault.describe())
            assert f"ring {ring}" in r.fault.message and "privileged" in r.fault.message
    assert xen.call("pv_irq_ops.save_fl").ok


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_domu_privileged_hypercall_is_eperm_in_emulation(tmp_path, arch):
    """A dom0 backend's platform_op, loaded into a domU anyway (the compiler
    refuses to build it for domu): Xen says -EPERM."""
    from pvdsl.runtime.cpu.calls import HookCaller
    from pvdsl.runtime.guest.loader import load_object

    spec = write_spec(tmp_path, PRIVILEGED)
    b = build_backends(spec, TARGETS[f"{arch}-dom0"])[0]
    m = Machine(b, memory=16 * MIB, dom0_memory=16 * MIB)
    buf = m.symbol("scratch")
    m.hv.mem.write(m.symbol("scratch_ma"), (62).to_bytes(4, "little") + (0x03000001).to_bytes(4, "little"))
    r = m.call("priv_ops.settime", buf)
    assert r.ok and r.hypercalls == [("platform_op", 0)] and r.value == 0
    lb = load_object(m.hv, m.domu, b.obj, b.manifest, b.signatures, [])
    from pvdsl.runtime.cpu.vcpu import EmulatedCpu

    cpu = EmulatedCpu(m.hv, m.domu.vcpus[0])
    r = HookCaller(cpu, lb).call("priv_ops.settime", m.domu.kernel.virt_base)
    mask = (1 << (8 * m.domu.rt.word)) - 1
    assert r.ok and r.hypercalls == [("platform_op", -1)] and r.value == -1 & mask


def test_a_model_bug_is_a_report_not_a_traceback(monkeypatch):
    from pvdsl.runtime.xen.hypercalls.registry import HANDLERS

    m = machine("examples/irq.pv", "x86_64-domu")

    def broken(call):
        raise ZeroDivisionError("model bug")

    monkeypatch.setitem(HANDLERS, "xen_version", broken)
    m.set_vcpu_info("evtchn_upcall_pending", 1)
    r = m.call("pv_irq_ops.irq_enable")
    assert r.fault.kind == "internal" and "ZeroDivisionError" in r.fault.message
    assert m.call("pv_irq_ops.irq_disable").ok
