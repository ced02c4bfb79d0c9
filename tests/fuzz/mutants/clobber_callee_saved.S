/* pvdsl-mutant: spec=examples/irq.pv targets=x86_64-domu,i386-domu hooks=pv_irq_ops.safe_halt oracle=convention
 * expect="not preserved"
 *
 * xen_safe_halt blocks correctly (sched_op(SCHEDOP_block, NULL)) but then
 * zeroes a callee-saved register: rbx on x86_64, ebx on i386. A caller that
 * kept a pointer there crashes later, far away.
 */
        .text
        .globl xen_safe_halt
xen_safe_halt:
#ifdef __x86_64__
        movl    $1, %edi                /* SCHEDOP_block */
        xorl    %esi, %esi              /* NULL */
        call    hypercall_page+29*32    /* __HYPERVISOR_sched_op */
        xorl    %ebx, %ebx              /* the bug: rbx belongs to the caller */
        ret
#else
        movl    $1, %ebx                /* the bug: ebx is not saved first */
        xorl    %ecx, %ecx
        call    hypercall_page+29*32
        ret
#endif
