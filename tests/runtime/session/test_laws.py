"""Laws of a spec checked on the emulated vCPUs."""

from __future__ import annotations

import pytest
from rtsupport import XEN_TARGETS, machine, write_spec

from pvdsl.runtime.session.laws import LawError, laws_for, run_law

SPEC = """\
module lawful;
import xen.abi;
import linux.pvops_2_6_24;

backend xen for i386, x86_64 roles domu, dom0 {
    percpu xen_vcpu_info: vcpu_info;
    impl pv_irq_ops.save_fl() -> ulong { return xen_vcpu_info.evtchn_upcall_mask as ulong - 1 & X86_EFLAGS_IF; }
    impl pv_irq_ops.restore_fl(flags: ulong) { xen_vcpu_info.evtchn_upcall_mask = (flags & X86_EFLAGS_IF) == 0 ? 1 : 0; }
    impl pv_irq_ops.irq_disable() { xen_vcpu_info.evtchn_upcall_mask = 1; }
    // Wrong on purpose: leaves events masked.
    impl pv_irq_ops.irq_enable() { xen_vcpu_info.evtchn_upcall_mask = 1; }
    impl pv_irq_ops.safe_halt() { sched_op(SCHEDOP_block, null); }
    impl pv_irq_ops.halt() { sched_op(SCHEDOP_block, null); }
}

law roundtrip(f: ulong in {0, X86_EFLAGS_IF}) for pv_irq_ops {
    restore_fl(f);
    assert save_fl() == f;
}

law enable_unmasks() for pv_irq_ops {
    irq_disable();
    irq_enable();
    assert save_fl() == X86_EFLAGS_IF;
}

law counting(n: u32 in 0..=5) for pv_irq_ops {
    var i: u32 = 0;
    var seen: u32 = 0;
    while i < n {
        irq_disable();
        if save_fl() == 0 { seen += 1; }
        i += 1;
    }
    assert seen == n;
}
"""


@pytest.mark.parametrize("target", XEN_TARGETS)
def test_examples_irq_laws_hold_under_xen(target):
    m = machine("examples/irq.pv", target)
    assert laws_for(m) == ["irq_roundtrip", "disable_masks"]
    for name in laws_for(m):
        r = run_law(m, name)
        assert r.ok and r.cases == (2 if name == "irq_roundtrip" else 1), r.failures


@pytest.mark.parametrize("target", ["x86_64-domu", "i386-dom0"])
def test_a_broken_backend_breaks_its_law(tmp_path, target):
    m = machine(str(write_spec(tmp_path, SPEC)), target)
    assert run_law(m, "roundtrip").ok
    r = run_law(m, "enable_unmasks")
    assert not r.ok and r.failures == ["law enable_unmasks: assertion at line 24 failed ()"]
    r = run_law(m, "counting")
    assert r.ok and r.cases == 5  # 0, 1, 2, 4, 5: the ends, their neighbours, the middle
    with pytest.raises(LawError, match="no law 'nope'"):
        run_law(m, "nope")
