"""examples/irq.pv on emulated vCPUs: every hook of the Xen backend on both
arches in domU and dom0, with its effect on the hypervisor model; the
native backend on a bare machine."""

from __future__ import annotations

import pytest

from rtsupport import XEN_TARGETS, machine

IF = 0x200
IRQ = "examples/irq.pv"


@pytest.fixture(params=XEN_TARGETS)
def xen(request):
    m = machine(IRQ, request.param)
    assert m.loaded.backend == "xen"
    return m


def names(result) -> list[str]:
    return [n for n, _rc in result.hypercalls]


def test_vcpu_info_is_the_registered_percpu_variable(xen):
    v = xen.guest.vcpus[0]
    percpu = xen.loaded.percpu_va("xen_vcpu_info")
    assert v.vcpu_info_maddr == xen.cpus[0].maddr(percpu)
    assert v.vcpu_info_mfn == v.vcpu_info_maddr >> 12
    # Xen copied the initial vcpu_info (events masked) and marked everything pending.
    assert xen.vcpu_info("evtchn_upcall_mask") == 1
    assert xen.vcpu_info("evtchn_upcall_pending") == 1
    assert xen.hv.mem.ptype[v.vcpu_info_mfn] == 5 and xen.hv.mem.tcount[v.vcpu_info_mfn] >= 2  # writable


def test_irq_disable_sets_the_upcall_mask(xen):
    xen.set_vcpu_info("evtchn_upcall_mask", 0)
    r = xen.call("pv_irq_ops.irq_disable")
    assert r.ok and r.hypercalls == [] and not r.abi_violations
    assert xen.vcpu_info("evtchn_upcall_mask") == 1


def test_irq_enable_clears_the_mask_and_kicks_only_when_pending(xen):
    xen.set_vcpu_info("evtchn_upcall_pending", 0)
    r = xen.call("pv_irq_ops.irq_enable")
    assert r.ok and r.hypercalls == [] and xen.vcpu_info("evtchn_upcall_mask") == 0
    xen.call("pv_irq_ops.irq_disable")
    xen.set_vcpu_info("evtchn_upcall_pending", 1)
    r = xen.call("pv_irq_ops.irq_enable")
    assert r.ok and not r.abi_violations
    assert r.hypercalls == [("xen_version", 4 << 16 | 17)]
    assert xen.vcpu_info("evtchn_upcall_mask") == 0


@pytest.mark.parametrize("flags", [0, IF])
def test_save_fl_restore_fl_round_trip(xen, flags):
    xen.set_vcpu_info("evtchn_upcall_pending", 0)
    r = xen.call("pv_irq_ops.restore_fl", flags)
    assert r.ok and not r.abi_violations
    assert xen.vcpu_info("evtchn_upcall_mask") == (0 if flags else 1)
    r = xen.call("pv_irq_ops.save_fl")
    assert r.ok and r.value == flags and not r.abi_violations


def test_restore_fl_with_if_kicks_a_pending_event(xen):
    xen.set_vcpu_info("evtchn_upcall_pending", 1)
    r = xen.call("pv_irq_ops.restore_fl", IF)
    assert names(r) == ["xen_version"] and not r.abi_violations


@pytest.mark.parametrize("hook", ["safe_halt", "halt"])
def test_halting_blocks_through_sched_op_with_events_enabled(xen, hook):
    xen.call("pv_irq_ops.irq_disable")
    before = xen.guest.vcpus[0].blocked
    r = xen.call(f"pv_irq_ops.{hook}")
    assert r.ok and r.hypercalls == [("sched_op", 0)]
    assert xen.guest.vcpus[0].blocked == before + 1
    assert xen.vcpu_info("evtchn_upcall_mask") == 0  # SCHEDOP_block enables events
    event = xen.hv.events_of("block", xen.guest.domid)[-1]
    assert event["events_enabled"]


def test_hypercall_clobbers_are_survived(xen):
    """Xen (debug) poisons the argument registers a hypercall used; the
    callee_save irq_enable must still give every register back."""
    assert xen.hv.clobber_args
    xen.set_vcpu_info("evtchn_upcall_pending", 1)
    r = xen.call("pv_irq_ops.irq_enable")
    assert r.hypercalls and r.abi_violations == []


def test_hypercall_goes_through_the_real_stub_registers(xen):
    """The stub saves rcx/r11 around syscall (x86_64) and Xen returns eax only (i386)."""
    xen.set_vcpu_info("evtchn_upcall_pending", 1)
    r = xen.call("pv_irq_ops.irq_enable")
    rt = xen.guest.rt
    assert r.registers[rt.sp] == xen.callers[0].stack_top - (xen.callers[0].stack_top % 16)


def test_domain_accounting_is_unchanged_by_the_hooks(xen):
    d = xen.guest
    tot = d.tot_pages
    for hook in xen.loaded.hooks:
        r = xen.call(hook, IF) if hook.endswith("restore_fl") else xen.call(hook)
        assert r.ok, r.fault.describe()
    assert d.tot_pages == tot and xen.hv.check_invariants() == []


@pytest.mark.parametrize("target", ["i386-native", "x86_64-native"])
def test_native_backend_drives_the_emulated_interrupt_flag(target):
    m = machine(IRQ, target)
    flags_reg = m.guest.rt.flags
    r = m.call("pv_irq_ops.irq_disable")
    assert r.ok and not r.registers[flags_reg] & IF  # cli cleared IF in the CPU
    r = m.call("pv_irq_ops.save_fl")
    assert r.value & IF == 0
    r = m.call("pv_irq_ops.irq_enable")
    assert r.registers[flags_reg] & IF
    assert m.call("pv_irq_ops.save_fl").value & IF
    r = m.call("pv_irq_ops.restore_fl", 0)
    assert not r.registers[flags_reg] & IF
    r = m.call("pv_irq_ops.safe_halt")  # sti; hlt: an interrupt wakes it
    assert r.ok and r.registers[flags_reg] & IF


@pytest.mark.parametrize("target", ["i386-native", "x86_64-native"])
def test_native_patched_sites_behave_like_calls(target):
    m = machine(IRQ, target)
    flags_reg = m.guest.rt.flags
    for hook in ("irq_disable", "irq_enable", "save_fl", "restore_fl"):
        h = m.loaded.hook(f"pv_irq_ops.{hook}")
        assert h.template, f"{hook} has no patch template"
    r = m.call("pv_irq_ops.irq_disable", patched=True)
    assert r.patched and not r.registers[flags_reg] & IF and not r.abi_violations
    assert m.call("pv_irq_ops.save_fl", patched=True).value & IF == 0
    m.call("pv_irq_ops.restore_fl", IF, patched=True)
    assert m.call("pv_irq_ops.save_fl", patched=True).value & IF


@pytest.mark.parametrize("target", ["i386-native", "x86_64-native"])
def test_native_halt_with_interrupts_off_is_reported(target):
    m = machine(IRQ, target)
    m.call("pv_irq_ops.irq_disable")
    r = m.call("pv_irq_ops.halt")
    assert r.fault is not None and r.fault.kind == "halt"
    assert r.fault.disassembly == "hlt"
