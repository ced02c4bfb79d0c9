	.file	"<string>"
	.text
	.globl	xen_mmu_read_cr2
	.p2align	4
	.type	xen_mmu_read_cr2,@function
xen_mmu_read_cr2:
	#APP
	#NO_APP
	movq	%gs:xen_vcpu_info+16(%rip), %rax
	#APP
	#NO_APP
	retq
.Lfunc_end0:
	.size	xen_mmu_read_cr2, .Lfunc_end0-xen_mmu_read_cr2

	.globl	xen_mmu_read_cr3
	.p2align	4
	.type	xen_mmu_read_cr3,@function
xen_mmu_read_cr3:
	xorl	%eax, %eax
	retq
.Lfunc_end1:
	.size	xen_mmu_read_cr3, .Lfunc_end1-xen_mmu_read_cr3

	.globl	xen_mmu_write_cr3
	.p2align	4
	.type	xen_mmu_write_cr3,@function
xen_mmu_write_cr3:
	subq	$24, %rsp
	movq	$0, 12(%rsp)
	movq	$0, 4(%rsp)
	movl	$0, 20(%rsp)
	movl	$5, (%rsp)
	shrq	$12, %rdi
	movq	%rdi, 8(%rsp)
	movq	%rsp, %rdi
	movl	$1, %esi
	movl	$32752, %r10d
	xorl	%edx, %edx
	#APP
	callq	hypercall_page+832
	#NO_APP
	addq	$24, %rsp
	retq
.Lfunc_end2:
	.size	xen_mmu_write_cr3, .Lfunc_end2-xen_mmu_write_cr3

	.globl	xen_mmu_flush_tlb_single
	.p2align	4
	.type	xen_mmu_flush_tlb_single,@function
xen_mmu_flush_tlb_single:
	subq	$24, %rsp
	movq	$0, 12(%rsp)
	movq	$0, 4(%rsp)
	movl	$0, 20(%rsp)
	movl	$7, (%rsp)
	movq	%rdi, 8(%rsp)
	movq	%rsp, %rdi
	movl	$1, %esi
	movl	$32752, %r10d
	xorl	%edx, %edx
	#APP
	callq	hypercall_page+832
	#NO_APP
	addq	$24, %rsp
	retq
.Lfunc_end3:
	.size	xen_mmu_flush_tlb_single, .Lfunc_end3-xen_mmu_flush_tlb_single

	.globl	xen_mmu_set_pte
	.p2align	4
	.type	xen_mmu_set_pte,@function
xen_mmu_set_pte:
	subq	$16, %rsp
	movq	%rdi, (%rsp)
	movq	%rsi, 8(%rsp)
	movq	%rsp, %rdi
	movl	$1, %esi
	movl	$32752, %r10d
	xorl	%edx, %edx
	#APP
	callq	hypercall_page+32
	#NO_APP
	addq	$16, %rsp
	retq
.Lfunc_end4:
	.size	xen_mmu_set_pte, .Lfunc_end4-xen_mmu_set_pte

	.globl	xen_mmu_pte_val
	.p2align	4
	.type	xen_mmu_pte_val,@function
xen_mmu_pte_val:
	movq	%rdi, %rax
	retq
.Lfunc_end5:
	.size	xen_mmu_pte_val, .Lfunc_end5-xen_mmu_pte_val

	.globl	xen_mmu_count_present
	.p2align	4
	.type	xen_mmu_count_present,@function
xen_mmu_count_present:
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
	.size	xen_mmu_count_present, .Lfunc_end6-xen_mmu_count_present

	.type	demo_mmu_ops,@object
	.data
	.globl	demo_mmu_ops
	.p2align	3, 0x0
demo_mmu_ops:
	.quad	xen_mmu_read_cr2
	.quad	xen_mmu_read_cr3
	.quad	xen_mmu_write_cr3
	.quad	xen_mmu_flush_tlb_single
	.quad	xen_mmu_set_pte
	.quad	xen_mmu_pte_val
	.quad	xen_mmu_count_present
	.size	demo_mmu_ops, 56

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
	.quad	xen_mmu_read_cr2
	.quad	demo_mmu_ops
	.long	0
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_mmu_read_cr3
	.quad	demo_mmu_ops
	.long	1
	.byte	2
	.byte	0
	.short	1
	.asciz	"1\300\000\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	xen_mmu_write_cr3
	.quad	demo_mmu_ops
	.long	2
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_mmu_flush_tlb_single
	.quad	demo_mmu_ops
	.long	3
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_mmu_set_pte
	.quad	demo_mmu_ops
	.long	4
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.quad	xen_mmu_pte_val
	.quad	demo_mmu_ops
	.long	5
	.byte	3
	.byte	0
	.short	1
	.asciz	"H\211\370\000\000\000\000\000\000\000\000\000\000\000\000"
	.quad	xen_mmu_count_present
	.quad	demo_mmu_ops
	.long	6
	.byte	0
	.byte	0
	.short	0
	.zero	16
	.size	.L__pvpatch, 280

	.section	".note.GNU-stack","",@progbits
