/* pvdsl-mutant: spec=examples/irq.pv targets=x86_64-domu,i386-domu hooks=pv_irq_ops.irq_disable oracle=convention
 * expect="not preserved"
 *
 * irq_disable is [callee_save]: its call sites assume every register but
 * rax (x86_64) / eax, edx (i386) survives. This one sets the upcall mask
 * correctly but uses rcx / ecx as scratch, which an ordinary function may
 * do and a callee-save thunk may not.
 */
        .text
        .globl xen_irq_disable
xen_irq_disable:
#ifdef __x86_64__
        movl    $1, %ecx
        movb    %cl, %gs:xen_vcpu_info+1(%rip)  /* evtchn_upcall_mask */
#else
        movl    $1, %ecx
        movb    %cl, %fs:xen_vcpu_info+1
#endif
        ret
