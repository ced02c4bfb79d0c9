	.file	"<string>"
	.text
	.globl	xen_mmu_read_cr2
	.p2align	4
	.type	xen_mmu_read_cr2,@function
xen_mmu_read_cr2:
	#APP
	#NO_APP
	movl	%fs:xen_vcpu_info+8, %eax
	#APP
	#NO_APP
	retl
.Lfunc_end0:
	.size	xen_mmu_read_cr2, .Lfunc_end0-xen_mmu_read_cr2

	.globl	xen_mmu_read_cr3
	.p2align	4
	.type	xen_mmu_read_cr3,@function
xen_mmu_read_cr3:
	xorl	%eax, %eax
	retl
.Lfunc_end1:
	.size	xen_mmu_read_cr3, .Lfunc_end1-xen_mmu_read_cr3

	.globl	xen_mmu_write_cr3
	.p2align	4
	.type	xen_mmu_write_cr3,@function
xen_mmu_write_cr3:
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	subl	$12, %esp
	movl	$0, 8(%esp)
	movl	$5, (%esp)
	shrl	$12, %eax
	movl	%eax, 4(%esp)
	movl	%esp, %ebx
	movl	$1, %ecx
	movl	$32752, %esi
	xorl	%edx, %edx
	#APP
	calll	hypercall_page+832
	#NO_APP
	addl	$12, %esp
	popl	%esi
	popl	%edi
	popl	%ebx
	retl
.Lfunc_end2:
	.size	xen_mmu_write_cr3, .Lfunc_end2-xen_mmu_write_cr3

	.globl	xen_mmu_flush_tlb_single
	.p2align	4
	.type	xen_mmu_flush_tlb_single,@function
xen_mmu_flush_tlb_single:
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	subl	$12, %esp
	movl	$0, 8(%esp)
	movl	$7, (%esp)
	movl	%eax, 4(%esp)
	movl	%esp, %ebx
	movl	$1, %ecx
	movl	$32752, %esi
	xorl	%edx, %edx
	#APP
	calll	hypercall_page+832
	#NO_APP
	addl	$12, %esp
	popl	%esi
	popl	%edi
	popl	%ebx
	retl
.Lfunc_end3:
	.size	xen_mmu_flush_tlb_single, .Lfunc_end3-xen_mmu_flush_tlb_single

	.globl	xen_mmu_set_pte
	.p2align	4
	.type	xen_mmu_set_pte,@function
xen_mmu_set_pte:
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	subl	$16, %esp
	movl	%eax, (%esp)
	movl	$0, 4(%esp)
	movl	%ecx, 12(%esp)
	movl	%edx, 8(%esp)
	movl	%esp, %ebx
	movl	$1, %ecx
	movl	$32752, %esi
	xorl	%edx, %edx
	#APP
	calll	hypercall_page+32
	#NO_APP
	addl	$16, %esp
	popl	%esi
	popl	%edi
	popl	%ebx
	retl
.Lfunc_end4:
	.size	xen_mmu_set_pte, .Lfunc_end4-xen_mmu_set_pte

	.globl	xen_mmu_set_pte_atomic
	.p2align	4
	.type	xen_mmu_set_pte_atomic,@function
xen_mmu_set_pte_atomic:
	pushl	%ebx
	pushl	%edi
	pushl	%esi
	subl	$16, %esp
	movl	%eax, (%esp)
	movl	$0, 4(%esp)
	movl	%ecx, 12(%esp)
	movl	%edx, 8(%esp)
	movl	%esp, %ebx
	movl	$1, %ecx
	movl	$32752, %esi
	xorl	%edx, %edx
	#APP
	calll	hypercall_page+32
	#NO_APP
	addl	$16, %esp
	popl	%esi
	popl	%edi
	popl	%ebx
	retl
.Lfunc_end5:
	.size	xen_mmu_set_pte_atomic, .Lfunc_end5-xen_mmu_set_pte_atomic

	.globl	xen_mmu_pte_val
	.p2align	4
	.type	xen_mmu_pte_val,@function
xen_mmu_pte_val:
	retl
.Lfunc_end6:
	.size	xen_mmu_pte_val, .Lfunc_end6-xen_mmu_pte_val

	.globl	xen_mmu_count_present
	.p2align	4
	.type	xen_mmu_count_present,@function
xen_mmu_count_present:
	testl	%edx, %edx
	je	.LBB7_1
	pushl	%edi
	pushl	%esi
	movl	%eax, %ecx
	xorl	%eax, %eax
	xorl	%esi, %esi
	.p2align	4
.LBB7_4:
	movl	(%ecx,%esi,8), %edi
	andl	$1, %edi
	addl	%edi, %eax
	incl	%esi
	cmpl	%edx, %esi
	jb	.LBB7_4
	popl	%esi
	popl	%edi
	retl
.LBB7_1:
	xorl	%eax, %eax
	retl
.Lfunc_end7:
	.size	xen_mmu_count_present, .Lfunc_end7-xen_mmu_count_present

	.type	demo_mmu_ops,@object
	.data
	.globl	demo_mmu_ops
	.p2align	2, 0x0
demo_mmu_ops:
	.long	xen_mmu_read_cr2
	.long	xen_mmu_read_cr3
	.long	xen_mmu_write_cr3
	.long	xen_mmu_flush_tlb_single
	.long	xen_mmu_set_pte
	.long	xen_mmu_set_pte_atomic
	.long	xen_mmu_pte_val
	.long	xen_mmu_count_present
	.size	demo_mmu_ops, 32

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
	.long	xen_mmu_read_cr2
	.long	demo_mmu_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_mmu_read_cr3
	.long	demo_mmu_ops
	.long	1
	.byte	2
	.byte	0
	.short	1
	.asciz	"1\300\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	xen_mmu_write_cr3
	.long	demo_mmu_ops
	.long	2
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_mmu_flush_tlb_single
	.long	demo_mmu_ops
	.long	3
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_mmu_set_pte
	.long	demo_mmu_ops
	.long	4
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_mmu_set_pte_atomic
	.long	demo_mmu_ops
	.long	5
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_mmu_pte_val
	.long	demo_mmu_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	xen_mmu_count_present
	.long	demo_mmu_ops
	.long	7
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 256

	.section	".note.GNU-stack","",@progbits
