/* pvdsl-mutant: spec=examples/irq.pv targets=x86_64-domu,i386-domu hooks=pv_irq_ops.irq_disable oracle=differential
 * expect="memory differs"
 *
 * irq_disable writes its 1 one byte too early in vcpu_info: into
 * evtchn_upcall_pending (offset 0) instead of evtchn_upcall_mask (offset 1).
 * Events stay enabled and a spurious upcall is flagged.
 */
        .text
        .globl xen_irq_disable
xen_irq_disable:
#ifdef __x86_64__
        movb    $1, %gs:xen_vcpu_info(%rip)
#else
        movb    $1, %fs:xen_vcpu_info
#endif
        ret
