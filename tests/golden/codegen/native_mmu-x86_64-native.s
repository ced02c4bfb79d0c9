	.file	"<string>"
	.text
	.globl	native_mmu_read_cr2
	.p2align	4
	.type	native_mmu_read_cr2,@function
native_mmu_read_cr2:
	#APP
	#NO_APP
	#APP
	movq	%cr2, %rax
	#NO_APP
	#APP
	#NO_APP
	retq
.Lfunc_end0:
	.size	native_mmu_read_cr2, .Lfunc_end0-native_mmu_read_cr2

	.globl	native_mmu_read_cr3
	.p2align	4
	.type	native_mmu_read_cr3,@function
native_mmu_read_cr3:
	#APP
	movq	%cr3, %rax
	#NO_APP
	retq
.Lfunc_end1:
	.size	native_mmu_read_cr3, .Lfunc_end1-native_mmu_read_cr3

	.globl	native_mmu_write_cr3
	.p2align	4
	.type	native_mmu_write_cr3,@function
native_mmu_write_cr3:
	#APP
	movq	%rdi, %cr3
	#NO_APP
	retq
.Lfunc_end2:
	.size	native_mmu_write_cr3, .Lfunc_end2-native_mmu_write_cr3

	.globl	native_mmu_flush_tlb_single
	.p2align	4
	.type	native_mmu_flush_tlb_single,@function
native_mmu_flush_tlb_single:
	#APP
	invlpg	(%rdi)
	#NO_APP
	retq
.Lfunc_end3:
	.size	native_mmu_flush_tlb_single, .Lfunc_end3-native_mmu_flush_tlb_single

	.globl	native_mmu_set_pte
	.p2align	4
	.type	native_mmu_set_pte,@function
native_mmu_set_pte:
	movq	%rsi, (%rdi)
	retq
.Lfunc_end4:
	.size	native_mmu_set_pte, .Lfunc_end4-native_mmu_set_pte

	.globl	native_mmu_pte_val
	.p2align	4
	.type	native_mmu_pte_val,@function
native_mmu_pte_val:
	movq	%rdi, %rax
	retq
.Lfunc_end5:
	.size	native_mmu_pte_val, .Lfunc_end5-native_mmu_pte_val

	.globl	native_mmu_count_present
	.p2align	4
	.type	native_mmu_count_present,@function
native_mmu_count_present:
	xorl	%eax, %eax
	testl	%esi, %esi
	je	.LBB6_3
	xorl	%ecx, %ecx
	.p2align	4
.LBB6_2:
	movl	(%rdi,%rcx,8), %edx
	andl	$1, %edx
	addl	%edx, %eax
	incq	%rcx
	cmpl	%esi, %ecx
	jb	.LBB6_2
.LBB6_3:
	retq
.Lfunc_end6:
	.size	native_mmu_count_present, .Lfunc_end6-native_mmu_count_present

	.type	demo_mmu_ops,@object
	.data
	.globl	demo_mmu_ops
	.p2align	3, 0x0
demo_mmu_ops:
	.quad	native_mmu_read_cr2
	.quad	native_mmu_read_cr3
	.quad	native_mmu_write_cr3
	.quad	native_mmu_flush_tlb_single
	.quad	native_mmu_set_pte
	.quad	native_mmu_pte_val
	.quad	native_mmu_count_present
	.size	demo_mmu_ops, 56

	.type	.L__pvpatch,@object
	.section	.pvpatch,"aR",@progbits,unique,N
	.p2align	3, 0x0
.L__pvpatch:
	.quad	native_mmu_read_cr2
	.quad	demo_mmu_ops
	.long	0
	.byte	3
	.byte	0
	.short	1
	.asciz	"\017 \320\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_mmu_read_cr3
	.quad	demo_mmu_ops
	.long	1
	.byte	3
	.byte	0
	.short	1
	.asciz	"\017 \330\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_mmu_write_cr3
	.quad	demo_mmu_ops
	.long	2
	.byte	3
	.byte	0
	.short	0
	.asciz	"\017\"\337\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_mmu_flush_tlb_single
	.quad	demo_mmu_ops
	.long	3
	.byte	3
	.byte	0
	.short	0
	.asciz	"\017\001?\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_mmu_set_pte
	.quad	demo_mmu_ops
	.long	4
	.byte	3
	.byte	0
	.short	0
	.asciz	"H\2117\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_mmu_pte_val
	.quad	demo_mmu_ops
	.long	5
	.byte	3
	.byte	0
	.short	1
	.asciz	"H\211\370\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	native_mmu_count_present
	.quad	demo_mmu_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 280

	.section	".note.GNU-stack","",@progbits
