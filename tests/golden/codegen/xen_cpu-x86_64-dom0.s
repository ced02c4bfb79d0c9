	.file	"<string>"
	.text
	.globl	xen_cpu_cpuid
	.p2align	4
	.type	xen_cpu_cpuid,@function
xen_cpu_cpuid:
	pushq	%rbx
	movq	%rcx, %r9
	movq	%rdx, %r8
	movl	(%rdi), %r10d
	movl	(%rdx), %ecx
	movl	%r10d, %eax
	#APP
	cpuid
	#NO_APP
	movl	%eax, (%rdi)
	movl	%ebx, (%rsi)
	movl	%ecx, (%r8)
	movl	%edx, (%r9)
	cmpl	$1, %r10d
	jne	.LBB0_2
	andl	$-2097193, (%r8)
.LBB0_2:
	popq	%rbx
	retq
.Lfunc_end0:
	.size	xen_cpu_cpuid, .Lfunc_end0-xen_cpu_cpuid

	.globl	xen_cpu_wbinvd
	.p2align	4
	.type	xen_cpu_wbinvd,@function
xen_cpu_wbinvd:
	retq
.Lfunc_end1:
	.size	xen_cpu_wbinvd, .Lfunc_end1-xen_cpu_wbinvd

	.globl	xen_cpu_io_delay
	.p2align	4
	.type	xen_cpu_io_delay,@function
xen_cpu_io_delay:
	retq
.Lfunc_end2:
	.size	xen_cpu_io_delay, .Lfunc_end2-xen_cpu_io_delay

	.globl	xen_cpu_read_tsc
	.p2align	4
	.type	xen_cpu_read_tsc,@function
xen_cpu_read_tsc:
	#APP
	rdtsc
	#NO_APP
	shlq	$32, %rdx
	orq	%rdx, %rax
	retq
.Lfunc_end3:
	.size	xen_cpu_read_tsc, .Lfunc_end3-xen_cpu_read_tsc

	.globl	xen_cpu_read_msr
	.p2align	4
	.type	xen_cpu_read_msr,@function
xen_cpu_read_msr:
	xorl	%eax, %eax
	retq
.Lfunc_end4:
	.size	xen_cpu_read_msr, .Lfunc_end4-xen_cpu_read_msr

	.globl	xen_cpu_get_debugreg
	.p2align	4
	.type	xen_cpu_get_debugreg,@function
xen_cpu_get_debugreg:
	movslq	%edi, %rdi
	#APP
	callq	hypercall_page+288
	#NO_APP
	retq
.Lfunc_end5:
	.size	xen_cpu_get_debugreg, .Lfunc_end5-xen_cpu_get_debugreg

	.globl	xen_cpu_set_debugreg
	.p2align	4
	.type	xen_cpu_set_debugreg,@function
xen_cpu_set_debugreg:
	movslq	%edi, %rdi
	#APP
	callq	hypercall_page+256
	#NO_APP
	retq
.Lfunc_end6:
	.size	xen_cpu_set_debugreg, .Lfunc_end6-xen_cpu_set_debugreg

	.type	demo_cpu_ops,@object
	.data
	.globl	demo_cpu_ops
	.p2align	3, 0x0
demo_cpu_ops:
	.quad	xen_cpu_cpuid
	.quad	xen_cpu_wbinvd
	.quad	xen_cpu_io_delay
	.quad	xen_cpu_read_tsc
	.quad	xen_cpu_read_msr
	.quad	xen_cpu_get_debugreg
	.quad	xen_cpu_set_debugreg
	.size	demo_cpu_ops, 56

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	3, 0x0
.L__pvpatch:
	.quad	xen_cpu_cpuid
	.quad	demo_cpu_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_cpu_wbinvd
	.quad	demo_cpu_ops
	.long	1
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_cpu_io_delay
	.quad	demo_cpu_ops
	.long	2
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_cpu_read_tsc
	.quad	demo_cpu_ops
	.long	3
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_cpu_read_msr
	.quad	demo_cpu_ops
	.long	4
	.byte	2
	.byte	0
	.short	1
	.asciz	"1\300\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	xen_cpu_get_debugreg
	.quad	demo_cpu_ops
	.long	5
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_cpu_set_debugreg
	.quad	demo_cpu_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 280

	.section	".note.GNU-stack","",@progbits
