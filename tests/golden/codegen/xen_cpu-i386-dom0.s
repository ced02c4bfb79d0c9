	.file	"<string>"
	.text
	.globl	xen_cpu_cpuid
	.p2align	4
	.type	xen_cpu_cpuid,@function
xen_cpu_cpuid:
	pushl	%ebp
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	pushl	%eax
	movl	%ecx, %esi
	movl	%edx, (%esp)
	movl	%eax, %ebp
	movl	(%eax), %edi
	movl	(%ecx), %ecx
	movl	%edi, %eax
	#APP
	cpuid
	#NO_APP
	movl	%eax, (%ebp)
	movl	(%esp), %eax
	movl	%ebx, (%eax)
	movl	%ecx, (%esi)
	movl	24(%esp), %eax
	movl	%edx, (%eax)
	cmpl	$1, %edi
	jne	.LBB0_2
	andl	$-2097193, (%esi)
.LBB0_2:
	addl	$4, %esp
	popl	%esi
	popl	%edi
	popl	%ebx
	popl	%ebp
	retl
.Lfunc_end0:
	.size	xen_cpu_cpuid, .Lfunc_end0-xen_cpu_cpuid

	.globl	xen_cpu_wbinvd
	.p2align	4
	.type	xen_cpu_wbinvd,@function
xen_cpu_wbinvd:
	retl
.Lfunc_end1:
	.size	xen_cpu_wbinvd, .Lfunc_end1-xen_cpu_wbinvd

	.globl	xen_cpu_io_delay
	.p2align	4
	.type	xen_cpu_io_delay,@function
xen_cpu_io_delay:
	retl
.Lfunc_end2:
	.size	xen_cpu_io_delay, .Lfunc_end2-xen_cpu_io_delay

	.globl	xen_cpu_read_tsc
	.p2align	4
	.type	xen_cpu_read_tsc,@function
xen_cpu_read_tsc:
	#APP
	rdtsc
	#NO_APP
	retl
.Lfunc_end3:
	.size	xen_cpu_read_tsc, .Lfunc_end3-xen_cpu_read_tsc

	.globl	xen_cpu_read_msr
	.p2align	4
	.type	xen_cpu_read_msr,@function
xen_cpu_read_msr:
	xorl	%eax, %eax
	xorl	%edx, %edx
	retl
.Lfunc_end4:
	.size	xen_cpu_read_msr, .Lfunc_end4-xen_cpu_read_msr

	.globl	xen_cpu_get_debugreg
	.p2align	4
	.type	xen_cpu_get_debugreg,@function
xen_cpu_get_debugreg:
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	movl	%eax, %ebx
	#APP
	calll	hypercall_page+288
	#NO_APP
	popl	%esi
	popl	%edi
	popl	%ebx
	retl
.Lfunc_end5:
	.size	xen_cpu_get_debugreg, .Lfunc_end5-xen_cpu_get_debugreg

	.globl	xen_cpu_set_debugreg
	.p2align	4
	.type	xen_cpu_set_debugreg,@function
xen_cpu_set_debugreg:
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	movl	%edx, %ecx
	movl	%eax, %ebx
	#APP
	calll	hypercall_page+256
	#NO_APP
	popl	%esi
	popl	%edi
	popl	%ebx
	retl
.Lfunc_end6:
	.size	xen_cpu_set_debugreg, .Lfunc_end6-xen_cpu_set_debugreg

	.type	demo_cpu_ops,@object
	.data
	.globl	demo_cpu_ops
	.p2align	2, 0x0
demo_cpu_ops:
	.long	xen_cpu_cpuid
	.long	xen_cpu_wbinvd
	.long	xen_cpu_io_delay
	.long	xen_cpu_read_tsc
	.long	xen_cpu_read_msr
	.long	xen_cpu_get_debugreg
	.long	xen_cpu_set_debugreg
	.size	demo_cpu_ops, 28

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	2, 0x0
.L__pvpatch:
	.long	xen_cpu_cpuid
	.long	demo_cpu_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_cpu_wbinvd
	.long	demo_cpu_ops
	.long	1
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_cpu_io_delay
	.long	demo_cpu_ops
	.long	2
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_cpu_read_tsc
	.long	demo_cpu_ops
	.long	3
	.byte	2
	.byte	0
	.short	5
	.asciz	"\0171\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	xen_cpu_read_msr
	.long	demo_cpu_ops
	.long	4
	.byte	4
	.byte	0
	.short	5
	.asciz	"1\3001\322\000\000\000\000\000\000\000\000\000\000\000"
	.long	xen_cpu_get_debugreg
	.long	demo_cpu_ops
	.long	5
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_cpu_set_debugreg
	.long	demo_cpu_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 224

	.section	".note.GNU-stack","",@progbits
