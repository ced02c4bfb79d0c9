	.file	"<string>"
	.text
	.globl	native_mmu_read_cr2
	.p2align	4
	.type	native_mmu_read_cr2,@function
native_mmu_read_cr2:
	#APP
	#NO_APP
	#APP
	movl	%cr2, %eax
	#NO_APP
	#APP
	#NO_APP
	retl
.Lfunc_end0:
	.size	native_mmu_read_cr2, .Lfunc_end0-native_mmu_read_cr2

	.globl	native_mmu_read_cr3
	.p2align	4
	.type	native_mmu_read_cr3,@function
native_mmu_read_cr3:
	#APP
	movl	%cr3, %eax
	#NO_APP
	retl
.Lfunc_end1:
	.size	native_mmu_read_cr3, .Lfunc_end1-native_mmu_read_cr3

	.globl	native_mmu_write_cr3
	.p2align	4
	.type	native_mmu_write_cr3,@function
native_mmu_write_cr3:
	#APP
	movl	%eax, %cr3
	#NO_APP
	retl
.Lfunc_end2:
	.size	native_mmu_write_cr3, .Lfunc_end2-native_mmu_write_cr3

	.globl	native_mmu_flush_tlb_single
	.p2align	4
	.type	native_mmu_flush_tlb_single,@function
native_mmu_flush_tlb_single:
	#APP
	invlpg	(%eax)
	#NO_APP
	retl
.Lfunc_end3:
	.size	native_mmu_flush_tlb_single, .Lfunc_end3-native_mmu_flush_tlb_single

	.globl	native_mmu_set_pte
	.p2align	4
	.type	native_mmu_set_pte,@function
native_mmu_set_pte:
	movl	%ecx, 4(%eax)
	movl	%edx, (%eax)
	retl
.Lfunc_end4:
	.size	native_mmu_set_pte, .Lfunc_end4-native_mmu_set_pte

	.globl	native_mmu_set_pte_atomic
	.p2align	4
	.type	native_mmu_set_pte_atomic,@function
native_mmu_set_pte_atomic:
	movl	%ecx, 4(%eax)
	#APP
	#NO_APP
	movl	%edx, (%eax)
	retl
.Lfunc_end5:
	.size	native_mmu_set_pte_atomic, .Lfunc_end5-native_mmu_set_pte_atomic

	.globl	native_mmu_pte_val
	.p2align	4
	.type	native_mmu_pte_val,@function
native_mmu_pte_val:
	retl
.Lfunc_end6:
	.size	native_mmu_pte_val, .Lfunc_end6-native_mmu_pte_val

	.globl	native_mmu_count_present
	.p2align	4
	.type	native_mmu_count_present,@function
native_mmu_count_present:
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
	.size	native_mmu_count_present, .Lfunc_end7-native_mmu_count_present

	.type	demo_mmu_ops,@object
	.data
	.globl	demo_mmu_ops
	.p2align	2, 0x0
demo_mmu_ops:
	.long	native_mmu_read_cr2
	.long	native_mmu_read_cr3
	.long	native_mmu_write_cr3
	.long	native_mmu_flush_tlb_single
	.long	native_mmu_set_pte
	.long	native_mmu_set_pte_atomic
	.long	native_mmu_pte_val
	.long	native_mmu_count_present
	.size	demo_mmu_ops, 32

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	2, 0x0
.L__pvpatch:
	.long	native_mmu_read_cr2
	.long	demo_mmu_ops
	.long	0
	.byte	3
	.byte	0
	.short	1
	.asciz	"\017 \320\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	native_mmu_read_cr3
	.long	demo_mmu_ops
	.long	1
	.byte	3
	.byte	0
	.short	1
	.asciz	"\017 \330\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	native_mmu_write_cr3
	.long	demo_mmu_ops
	.long	2
	.byte	3
	.byte	0
	.short	0
	.asciz	"\017\"\330\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	native_mmu_flush_tlb_single
	.long	demo_mmu_ops
	.long	3
	.byte	3
	.byte	0
	.short	0
	.asciz	"\017\0018\000\000\000\000\000\000\000\000\000\000\000\000"
	.long	native_mmu_set_pte
	.long	demo_mmu_ops
	.long	4
	.byte	5
	.byte	0
	.short	0
	.asciz	"\211H\004\211\020\000\000\000\000\000\000\000\000\000\000"
	.long	native_mmu_set_pte_atomic
	.long	demo_mmu_ops
	.long	5
	.byte	5
	.byte	0
	.short	0
	.asciz	"\211H\004\211\020\000\000\000\000\000\000\000\000\000\000"
	.long	native_mmu_pte_val
	.long	demo_mmu_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.long	native_mmu_count_present
	.long	demo_mmu_ops
	.long	7
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 256

	.section	".note.GNU-stack","",@progbits
