/* pvdsl-mutant: spec=examples/irq.pv targets=x86_64-domu,i386-domu hooks=pv_irq_ops.halt oracle=marshalling
 * expect="argument"
 *
 * xen_halt calls sched_op with its two arguments swapped:
 * sched_op(NULL, SCHEDOP_block) instead of sched_op(SCHEDOP_block, NULL).
 * Xen reads cmd 0 (SCHEDOP_yield) and the guest never blocks.
 */
        .text
        .globl xen_halt
xen_halt:
#ifdef __x86_64__
        xorl    %edi, %edi
        movl    $1, %esi
        call    hypercall_page+29*32
        ret
#else
        pushl   %ebx
        xorl    %ebx, %ebx
        movl    $1, %ecx
        call    hypercall_page+29*32
        popl    %ebx
        ret
#endif
