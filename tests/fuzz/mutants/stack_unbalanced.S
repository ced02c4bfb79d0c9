/* pvdsl-mutant: spec=examples/irq.pv targets=x86_64-domu,i386-domu hooks=pv_irq_ops.irq_enable oracle=convention
 * expect="stack pointer not restored"
 *
 * irq_enable clears the upcall mask and returns with `ret $N`, popping a
 * word the caller never pushed: the caller's stack pointer is off by one
 * word after the call.
 */
        .text
        .globl xen_irq_enable
xen_irq_enable:
#ifdef __x86_64__
        movb    $0, %gs:xen_vcpu_info+1(%rip)
        ret     $8
#else
        movb    $0, %fs:xen_vcpu_info+1
        ret     $4
#endif
