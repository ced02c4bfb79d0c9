	.file	"<string>"
	.text
	.globl	xen_init_IRQ
	.p2align	4
	.type	xen_init_IRQ,@function
xen_init_IRQ:
	retq
.Lfunc_end0:
	.size	xen_init_IRQ, .Lfunc_end0-xen_init_IRQ

	.globl	xen_save_fl
	.p2align	4
	.type	xen_save_fl,@function
xen_save_fl:
	#APP
	#NO_APP
	movzbl	%gs:xen_vcpu_info+1(%rip), %eax
	decl	%eax
	andl	$512, %eax
	#APP
	#NO_APP
	retq
.Lfunc_end1:
	.size	xen_save_fl, .Lfunc_end1-xen_save_fl

	.globl	xen_restore_fl
	.p2align	4
	.type	xen_restore_fl,@function
xen_restore_fl:
	#APP
	#NO_APP
	testl	$512, %edi
	sete	%gs:xen_vcpu_info+1(%rip)
	#APP
	#NO_APP
	je	.LBB2_3
	cmpb	$0, %gs:xen_vcpu_info(%rip)
	je	.LBB2_3
	pushq	%r15
	pushq	%r14
	pushq	%r13
	pushq	%r12
	pushq	%rbx
	movq	%rdi, %rbx
	xorl	%edi, %edi
	movq	%rsi, %r14
	xorl	%esi, %esi
	movq	%r8, %r12
	movq	%r10, %r13
	movq	%rdx, %r15
	#APP
	callq	hypercall_page+544
	#NO_APP
	movq	%r14, %rsi
	movq	%r15, %rdx
	movq	%r13, %r10
	movq	%r12, %r8
	movq	%rbx, %rdi
	popq	%rbx
	popq	%r12
	popq	%r13
	popq	%r14
	popq	%r15
.LBB2_3:
	#APP
	#NO_APP
	retq
.Lfunc_end2:
	.size	xen_restore_fl, .Lfunc_end2-xen_restore_fl

	.globl	xen_irq_disable
	.p2align	4
	.type	xen_irq_disable,@function
xen_irq_disable:
	#APP
	#NO_APP
	movb	$1, %gs:xen_vcpu_info+1(%rip)
	#APP
	#NO_APP
	retq
.Lfunc_end3:
	.size	xen_irq_disable, .Lfunc_end3-xen_irq_disable

	.globl	xen_irq_enable
	.p2align	4
	.type	xen_irq_enable,@function
xen_irq_enable:
	#APP
	#NO_APP
	movb	$0, %gs:xen_vcpu_info+1(%rip)
	#APP
	#NO_APP
	cmpb	$0, %gs:xen_vcpu_info(%rip)
	je	.LBB4_2
	pushq	%r15
	pushq	%r14
	pushq	%r13
	pushq	%r12
	pushq	%rbx
	movq	%rdi, %rbx
	xorl	%edi, %edi
	movq	%rsi, %r14
	xorl	%esi, %esi
	movq	%rdx, %r15
	movq	%r8, %r13
	movq	%r10, %r12
	#APP
	callq	hypercall_page+544
	#NO_APP
	movq	%r12, %r10
	movq	%r13, %r8
	movq	%rbx, %rdi
	movq	%r14, %rsi
	movq	%r15, %rdx
	popq	%rbx
	popq	%r12
	popq	%r13
	popq	%r14
	popq	%r15
.LBB4_2:
	#APP
	#NO_APP
	retq
.Lfunc_end4:
	.size	xen_irq_enable, .Lfunc_end4-xen_irq_enable

	.globl	xen_safe_halt
	.p2align	4
	.type	xen_safe_halt,@function
xen_safe_halt:
	movl	$1, %edi
	xorl	%esi, %esi
	#APP
	callq	hypercall_page+928
	#NO_APP
	retq
.Lfunc_end5:
	.size	xen_safe_halt, .Lfunc_end5-xen_safe_halt

	.globl	xen_halt
	.p2align	4
	.type	xen_halt,@function
xen_halt:
	movl	$1, %edi
	xorl	%esi, %esi
	#APP
	callq	hypercall_page+928
	#NO_APP
	retq
.Lfunc_end6:
	.size	xen_halt, .Lfunc_end6-xen_halt

	.type	pv_irq_ops,@object
	.data
	.globl	pv_irq_ops
	.p2align	3, 0x0
pv_irq_ops:
	.quad	xen_init_IRQ
	.quad	xen_save_fl
	.quad	xen_restore_fl
	.quad	xen_irq_disable
	.quad	xen_irq_enable
	.quad	xen_safe_halt
	.quad	xen_halt
	.size	pv_irq_ops, 56

	.type	xen_vcpu_info,@object
	.section	.data..percpu,"aw",@progbits
	.globl	xen_vcpu_info
	.p2align	3, 0x0
xen_vcpu_info:
	.zero	64
	.size	xen_vcpu_info, 64

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	3, 0x0
.L__pvpatch:
	.quad	xen_init_IRQ
	.quad	pv_irq_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_save_fl
	.quad	pv_irq_ops
	.long	1
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_restore_fl
	.quad	pv_irq_ops
	.long	2
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_irq_disable
	.quad	pv_irq_ops
	.long	3
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_irq_enable
	.quad	pv_irq_ops
	.long	4
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_safe_halt
	.quad	pv_irq_ops
	.long	5
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_halt
	.quad	pv_irq_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 280

	.section	".note.GNU-stack","",@progbits
