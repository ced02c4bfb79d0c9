/* C equivalent of backend `xen` (examples/irq.pv), written as Linux wrote
 * its C Xen irq ops (arch/x86/xen/irq.c before the xen-asm.S fast paths
 * replaced them): each callee-save hook is a C function plus a
 * PV_CALLEE_SAVE_REGS_THUNK. The percpu vcpu_info is reached %gs/%fs-relative
 * as pvdsl's is (the vcpu-placement case). */
#include "linux.h"
#include "xen.h"
#include "tables.h"

DEFINE_PER_CPU(struct vcpu_info, xen_vcpu_info);

static void force_evtchn_callback(void)
{
	(void)HYPERVISOR_xen_version(0, NULL);
}

void xen_init_IRQ(void)
{
}

__visible unsigned long xen_save_fl(void)
{
	return this_cpu(xen_vcpu_info).evtchn_upcall_mask == 0 ? X86_EFLAGS_IF : 0;
}
PV_CALLEE_SAVE_REGS_THUNK(xen_save_fl);

__visible void xen_restore_fl(unsigned long flags)
{
	bool masked = (flags & X86_EFLAGS_IF) == 0;

	this_cpu(xen_vcpu_info).evtchn_upcall_mask = masked ? 1 : 0;
	barrier();
	if (!masked && this_cpu(xen_vcpu_info).evtchn_upcall_pending != 0)
		force_evtchn_callback();
}
PV_CALLEE_SAVE_REGS_THUNK(xen_restore_fl);

__visible void xen_irq_disable(void)
{
	this_cpu(xen_vcpu_info).evtchn_upcall_mask = 1;
}
PV_CALLEE_SAVE_REGS_THUNK(xen_irq_disable);

__visible void xen_irq_enable(void)
{
	this_cpu(xen_vcpu_info).evtchn_upcall_mask = 0;
	barrier();
	/* An event that arrived while masked is delivered on the way back from
	 * any hypercall; xen_version(0) is the cheapest one. */
	if (this_cpu(xen_vcpu_info).evtchn_upcall_pending != 0)
		force_evtchn_callback();
}
PV_CALLEE_SAVE_REGS_THUNK(xen_irq_enable);

void xen_safe_halt(void)
{
	/* Blocking re-enables event delivery atomically, like sti; hlt. */
	(void)HYPERVISOR_sched_op(SCHEDOP_block, NULL);
}

void xen_halt(void)
{
	(void)HYPERVISOR_sched_op(SCHEDOP_block, NULL);
}

struct pv_irq_ops pv_irq_ops = {
	.init_IRQ = xen_init_IRQ,
	.save_fl = PV_CALLEE_SAVE(xen_save_fl),
	.restore_fl = PV_CALLEE_SAVE(xen_restore_fl),
	.irq_disable = PV_CALLEE_SAVE(xen_irq_disable),
	.irq_enable = PV_CALLEE_SAVE(xen_irq_enable),
	.safe_halt = xen_safe_halt,
	.halt = xen_halt,
};
