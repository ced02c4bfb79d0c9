	.file	"<string>"
	.text
	.globl	native_init_IRQ
	.p2align	4
	.type	native_init_IRQ,@function
native_init_IRQ:
	retq
.Lfunc_end0:
	.size	native_init_IRQ, .Lfunc_end0-native_init_IRQ

	.globl	native_save_fl
	.p2align	4
	.type	native_save_fl,@function
native_save_fl:
	#APP
	#NO_APP
	#APP
	pushfq
	popq	%rax
	#NO_APP
	#APP
	#NO_APP
	retq
.Lfunc_end1:
	.size	native_save_fl, .Lfunc_end1-native_save_fl

	.globl	native_restore_fl
	.p2align	4
	.type	native_restore_fl,@function
native_restore_fl:
	#APP
	#NO_APP
	#APP
	pushq	%rdi
	popfq
	#NO_APP
	#APP
	#NO_APP
	retq
.Lfunc_end2:
	.size	native_restore_fl, .Lfunc_end2-native_restore_fl

	.globl	native_irq_disable
	.p2align	4
	.type	native_irq_disable,@function
native_irq_disable:
	#APP
	#NO_APP
	#APP
	cli
	#NO_APP
	#APP
	#NO_APP
	retq
.Lfunc_end3:
	.size	native_irq_disable, .Lfunc_end3-native_irq_disable

	.globl	native_irq_enable
	.p2align	4
	.type	native_irq_enable,@function
native_irq_enable:
	#APP
	#NO_APP
	#APP
	sti
	#NO_APP
	#APP
	#NO_APP
	retq
.Lfunc_end4:
	.size	native_irq_enable, .Lfunc_end4-native_irq_enable

	.globl	native_safe_halt
	.p2align	4
	.type	native_safe_halt,@function
native_safe_halt:
	#APP
	sti
	#NO_APP
	#APP
	hlt
	#NO_APP
	retq
.Lfunc_end5:
	.size	native_safe_halt, .Lfunc_end5-native_safe_halt

	.globl	native_halt
	.p2align	4
	.type	native_halt,@function
native_halt:
	#APP
	hlt
	#NO_APP
	retq
.Lfunc_end6:
	.size	native_halt, .Lfunc_end6-native_halt

	.type	pv_irq_ops,@object
	.data
	.globl	pv_irq_ops
	.p2align	3, 0x0
pv_irq_ops:
	.quad	native_init_IRQ
	.quad	native_save_fl
	.quad	native_restore_fl
	.quad	native_irq_disable
	.quad	native_irq_enable
	.quad	native_safe_halt
	.quad	native_halt
	.size	pv_irq_ops, 56

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	3, 0x0
.L__pvpatch:
	.quad	native_init_IRQ
	.quad	pv_irq_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	native_save_fl
	.quad	pv_irq_ops
	.long	1
	.byte	2
	.byte	0
	.short	1
	.asciz	"\234X\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_restore_fl
	.quad	pv_irq_ops
	.long	2
	.byte	2
	.byte	0
	.short	0
	.asciz	"W\235\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_irq_disable
	.quad	pv_irq_ops
	.long	3
	.byte	1
	.byte	0
	.short	0
	.asciz	"\372\000\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_irq_enable
	.quad	pv_irq_ops
	.long	4
	.byte	1
	.byte	0
	.short	0
	.asciz	"\373\000\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_safe_halt
	.quad	pv_irq_ops
	.long	5
	.byte	2
	.byte	0
	.short	0
	.asciz	"\373\364\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_halt
	.quad	pv_irq_ops
	.long	6
	.byte	1
	.byte	0
	.short	0
	.asciz	"\364\000\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.size	.L__pvpatch, 280

	.section	".note.GNU-stack","",@progbits
