	.file	"<string>"
	.text
	.globl	native_cpu_cpuid
	.p2align	4
	.type	native_cpu_cpuid,@function
native_cpu_cpuid:
	pushl	%ebp
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	movl	%ecx, %esi
	movl	%edx, %edi
	movl	%eax, %ebp
	movl	(%eax), %eax
	movl	(%ecx), %ecx
	#APP
	cpuid
	#NO_APP
	movl	%eax, (%ebp)
	movl	%ebx, (%edi)
	movl	%ecx, (%esi)
	movl	20(%esp), %eax
	movl	%edx, (%eax)
	popl	%esi
	popl	%edi
	popl	%ebx
	popl	%ebp
	retl
.Lfunc_end0:
	.size	native_cpu_cpuid, .Lfunc_end0-native_cpu_cpuid

	.globl	native_cpu_wbinvd
	.p2align	4
	.type	native_cpu_wbinvd,@function
native_cpu_wbinvd:
	#APP
	wbinvd
	#NO_APP
	retl
.Lfunc_end1:
	.size	native_cpu_wbinvd, .Lfunc_end1-native_cpu_wbinvd

	.globl	native_cpu_io_delay
	.p2align	4
	.type	native_cpu_io_delay,@function
native_cpu_io_delay:
	retl
.Lfunc_end2:
	.size	native_cpu_io_delay, .Lfunc_end2-native_cpu_io_delay

	.globl	native_cpu_read_tsc
	.p2align	4
	.type	native_cpu_read_tsc,@function
native_cpu_read_tsc:
	#APP
	rdtsc
	#NO_APP
	retl
.Lfunc_end3:
	.size	native_cpu_read_tsc, .Lfunc_end3-native_cpu_read_tsc

	.globl	native_cpu_read_msr
	.p2align	4
	.type	native_cpu_read_msr,@function
native_cpu_read_msr:
	movl	%eax, %ecx
	#APP
	rdmsr
	#NO_APP
	retl
.Lfunc_end4:
	.size	native_cpu_read_msr, .Lfunc_end4-native_cpu_read_msr

	.globl	native_cpu_get_debugreg
	.p2align	4
	.type	native_cpu_get_debugreg,@function
native_cpu_get_debugreg:
	xorl	%eax, %eax
	retl
.Lfunc_end5:
	.size	native_cpu_get_debugreg, .Lfunc_end5-native_cpu_get_debugreg

	.globl	native_cpu_set_debugreg
	.p2align	4
	.type	native_cpu_set_debugreg,@function
native_cpu_set_debugreg:
	retl
.Lfunc_end6:
	.size	native_cpu_set_debugreg, .Lfunc_end6-native_cpu_set_debugreg

	.type	demo_cpu_ops,@object
	.data
	.globl	demo_cpu_ops
	.p2align	2, 0x0
demo_cpu_ops:
	.long	native_cpu_cpuid
	.long	native_cpu_wbinvd
	.long	native_cpu_io_delay
	.long	native_cpu_read_tsc
	.long	native_cpu_read_msr
	.long	native_cpu_get_debugreg
	.long	native_cpu_set_debugreg
	.size	demo_cpu_ops, 28

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	2, 0x0
.L__pvpatch:
	.long	native_cpu_cpuid
	.long	demo_cpu_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	native_cpu_wbinvd
	.long	demo_cpu_ops
	.long	1
	.byte	2
	.byte	0
	.short	0
	.asciz	"\017\t\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	native_cpu_io_delay
	.long	demo_cpu_ops
	.long	2
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	native_cpu_read_tsc
	.long	demo_cpu_ops
	.long	3
	.byte	2
	.byte	0
	.short	5
	.asciz	"\0171\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	native_cpu_read_msr
	.long	demo_cpu_ops
	.long	4
	.byte	4
	.byte	0
	.short	7
	.asciz	"\211\301\0172\000\000\000\000\000\000\000\000\000\000\000"
	.long	native_cpu_get_debugreg
	.long	demo_cpu_ops
	.long	5
	.byte	2
	.byte	0
	.short	1
	.asciz	"1\300\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	native_cpu_set_debugreg
	.long	demo_cpu_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 224

	.section	".note.GNU-stack","",@progbits
