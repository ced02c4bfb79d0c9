/* pvdsl-mutant: spec=tests/fuzz/specs/variadic.pv targets=x86_64-domu,i386-domu hooks=variadic_ops.yield_with oracle=marshalling
 * expect="argument 3 (variadic) in"
 *
 * yield_with passes its variadic argument one register late: mfn in the
 * fourth hypercall argument register (r10 / esi) instead of the third
 * (rdx / edx), which is left holding whatever it held. The declared
 * arguments are right, so only the variadic one can tell.
 */
        .text
        .globl xen_variadic_yield_with
xen_variadic_yield_with:
#ifdef __x86_64__
        movq    %rdi, %r10
        xorl    %esi, %esi
        xorl    %edi, %edi
        call    hypercall_page+29*32
        ret
#else
        pushl   %ebx
        pushl   %esi
        movl    %eax, %esi
        xorl    %ebx, %ebx
        xorl    %ecx, %ecx
        call    hypercall_page+29*32
        popl    %esi
        popl    %ebx
        ret
#endif
