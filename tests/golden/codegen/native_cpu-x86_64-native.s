	.file	"<string>"
	.text
	.globl	native_cpu_cpuid
	.p2align	4
	.type	native_cpu_cpuid,@function
native_cpu_cpuid:
	pushq	%rbx
	movq	%rcx, %r8
	movq	%rdx, %r9
	movl	(%rdi), %eax
	movl	(%rdx), %ecx
	#APP
	cpuid
	#NO_APP
	movl	%eax, (%rdi)
	movl	%ebx, (%rsi)
	movl	%ecx, (%r9)
	movl	%edx, (%r8)
	popq	%rbx
	retq
.Lfunc_end0:
	.size	native_cpu_cpuid, .Lfunc_end0-native_cpu_cpuid

	.globl	native_cpu_wbinvd
	.p2align	4
	.type	native_cpu_wbinvd,@function
native_cpu_wbinvd:
	#APP
	wbinvd
	#NO_APP
	retq
.Lfunc_end1:
	.size	native_cpu_wbinvd, .Lfunc_end1-native_cpu_wbinvd

	.globl	native_cpu_io_delay
	.p2align	4
	.type	native_cpu_io_delay,@function
native_cpu_io_delay:
	retq
.Lfunc_end2:
	.size	native_cpu_io_delay, .Lfunc_end2-native_cpu_io_delay

	.globl	native_cpu_read_tsc
	.p2align	4
	.type	native_cpu_read_tsc,@function
native_cpu_read_tsc:
	#APP
	rdtsc
	#NO_APP
	shlq	$32, %rdx
	orq	%rdx, %rax
	retq
.Lfunc_end3:
	.size	native_cpu_read_tsc, .Lfunc_end3-native_cpu_read_tsc

	.globl	native_cpu_read_msr
	.p2align	4
	.type	native_cpu_read_msr,@function
native_cpu_read_msr:
	movl	%edi, %ecx
	#APP
	rdmsr
	#NO_APP
	shlq	$32, %rdx
	orq	%rdx, %rax
	retq
.Lfunc_end4:
	.size	native_cpu_read_msr, .Lfunc_end4-native_cpu_read_msr

	.globl	native_cpu_get_debugreg
	.p2align	4
	.type	native_cpu_get_debugreg,@function
native_cpu_get_debugreg:
	xorl	%eax, %eax
	retq
.Lfunc_end5:
	.size	native_cpu_get_debugreg, .Lfunc_end5-native_cpu_get_debugreg

	.globl	native_cpu_set_debugreg
	.p2align	4
	.type	native_cpu_set_debugreg,@function
native_cpu_set_debugreg:
	retq
.Lfunc_end6:
	.size	native_cpu_set_debugreg, .Lfunc_end6-native_cpu_set_debugreg

	.type	demo_cpu_ops,@object
	.data
	.globl	demo_cpu_ops
	.p2align	3, 0x0
demo_cpu_ops:
	.quad	native_cpu_cpuid
	.quad	native_cpu_wbinvd
	.quad	native_cpu_io_delay
	.quad	native_cpu_read_tsc
	.quad	native_cpu_read_msr
	.quad	native_cpu_get_debugreg
	.quad	native_cpu_set_debugreg
	.size	demo_cpu_ops, 56

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	3, 0x0
.L__pvpatch:
	.quad	native_cpu_cpuid
	.quad	demo_cpu_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	native_cpu_wbinvd
	.quad	demo_cpu_ops
	.long	1
	.byte	2
	.byte	0
	.short	0
	.asciz	"\017\t\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_cpu_io_delay
	.quad	demo_cpu_ops
	.long	2
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	native_cpu_read_tsc
	.quad	demo_cpu_ops
	.long	3
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	native_cpu_read_msr
	.quad	demo_cpu_ops
	.long	4
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	native_cpu_get_debugreg
	.quad	demo_cpu_ops
	.long	5
	.byte	2
	.byte	0
	.short	1
	.asciz	"1\300\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_cpu_set_debugreg
	.quad	demo_cpu_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 280

	.section	".note.GNU-stack","",@progbits
