	.file	"<string>"
	.text
	.globl	xen_init_IRQ
	.p2align	4
	.type	xen_init_IRQ,@function
xen_init_IRQ:
	retl
.Lfunc_end0:
	.size	xen_init_IRQ, .Lfunc_end0-xen_init_IRQ

	.globl	xen_save_fl
	.p2align	4
	.type	xen_save_fl,@function
xen_save_fl:
	#APP
	#NO_APP
	movzbl	%fs:xen_vcpu_info+1, %eax
	decl	%eax
	andl	$512, %eax
	#APP
	#NO_APP
	retl
.Lfunc_end1:
	.size	xen_save_fl, .Lfunc_end1-xen_save_fl

	.globl	xen_restore_fl
	.p2align	4
	.type	xen_restore_fl,@function
xen_restore_fl:
	#APP
	#NO_APP
	testl	$512, %eax
	sete	%fs:xen_vcpu_info+1
	#APP
	#NO_APP
	je	.LBB2_3
	cmpb	$0, %fs:xen_vcpu_info
	je	.LBB2_3
	pushl	%ebp
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	xorl	%ebx, %ebx
	movl	%ecx, %ebp
	xorl	%ecx, %ecx
	#APP
	calll	hypercall_page+544
	#NO_APP
	movl	%ebp, %ecx
	popl	%esi
	popl	%edi
	popl	%ebx
	popl	%ebp
.LBB2_3:
	#APP
	#NO_APP
	retl
.Lfunc_end2:
	.size	xen_restore_fl, .Lfunc_end2-xen_restore_fl

	.globl	xen_irq_disable
	.p2align	4
	.type	xen_irq_disable,@function
xen_irq_disable:
	#APP
	#NO_APP
	movb	$1, %fs:xen_vcpu_info+1
	#APP
	#NO_APP
	retl
.Lfunc_end3:
	.size	xen_irq_disable, .Lfunc_end3-xen_irq_disable

	.globl	xen_irq_enable
	.p2align	4
	.type	xen_irq_enable,@function
xen_irq_enable:
	#APP
	#NO_APP
	movb	$0, %fs:xen_vcpu_info+1
	#APP
	#NO_APP
	cmpb	$0, %fs:xen_vcpu_info
	je	.LBB4_2
	pushl	%ebp
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	xorl	%ebx, %ebx
	movl	%ecx, %ebp
	xorl	%ecx, %ecx
	#APP
	calll	hypercall_page+544
	#NO_APP
	movl	%ebp, %ecx
	popl	%esi
	popl	%edi
	popl	%ebx
	popl	%ebp
.LBB4_2:
	#APP
	#NO_APP
	retl
.Lfunc_end4:
	.size	xen_irq_enable, .Lfunc_end4-xen_irq_enable

	.globl	xen_safe_halt
	.p2align	4
	.type	xen_safe_halt,@function
xen_safe_halt:
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	movl	$1, %ebx
	xorl	%ecx, %ecx
	#APP
	calll	hypercall_page+928
	#NO_APP
	popl	%esi
	popl	%edi
	popl	%ebx
	retl
.Lfunc_end5:
	.size	xen_safe_halt, .Lfunc_end5-xen_safe_halt

	.globl	xen_halt
	.p2align	4
	.type	xen_halt,@function
xen_halt:
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	movl	$1, %ebx
	xorl	%ecx, %ecx
	#APP
	calll	hypercall_page+928
	#NO_APP
	popl	%esi
	popl	%edi
	popl	%ebx
	retl
.Lfunc_end6:
	.size	xen_halt, .Lfunc_end6-xen_halt

	.type	pv_irq_ops,@object
	.data
	.globl	pv_irq_ops
	.p2align	2, 0x0
pv_irq_ops:
	.long	xen_init_IRQ
	.long	xen_save_fl
	.long	xen_restore_fl
	.long	xen_irq_disable
	.long	xen_irq_enable
	.long	xen_safe_halt
	.long	xen_halt
	.size	pv_irq_ops, 28

	.type	xen_vcpu_info,@object
	.section	.data..percpu,"aw",@progbits
	.globl	xen_vcpu_info
	.p2align	2, 0x0
xen_vcpu_info:
	.zero	64
	.size	xen_vcpu_info, 64

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	2, 0x0
.L__pvpatch:
	.long	xen_init_IRQ
	.long	pv_irq_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_save_fl
	.long	pv_irq_ops
	.long	1
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_restore_fl
	.long	pv_irq_ops
	.long	2
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_irq_disable
	.long	pv_irq_ops
	.long	3
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_irq_enable
	.long	pv_irq_ops
	.long	4
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_safe_halt
	.long	pv_irq_ops
	.long	5
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_halt
	.long	pv_irq_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 224

	.section	".note.GNU-stack","",@progbits
