/* C equivalent of backend `xen_mmu` (examples/mmu.pv). read_cr2 is
 * callee-save and written in C, so it gets a PV_CALLEE_SAVE_REGS_THUNK. */
#include "linux.h"
#include "xen.h"
#include "tables.h"

#define _PAGE_PRESENT 1

DEFINE_PER_CPU(struct vcpu_info, xen_vcpu_info);

static inline bool present(u64 pte)
{
	return (pte & _PAGE_PRESENT) != 0;
}

/* Shared by both backends: a plain loop over a page-table page. */
static u32 count(u64 *ptes, u32 n)
{
	u32 i = 0;
	u32 found = 0;

	while (i < n) {
		if (present(ptes[i]))
			found += 1;
		i += 1;
	}
	return found;
}

static void extended_op(struct mmuext_op *op)
{
	(void)HYPERVISOR_mmuext_op(op, 1, NULL, DOMID_SELF);
}

/* Xen saves the faulting address in vcpu_info: no privileged read. */
__visible unsigned long xen_mmu_read_cr2(void)
{
	return this_cpu(xen_vcpu_info).arch.cr2;
}
PV_CALLEE_SAVE_REGS_THUNK(xen_mmu_read_cr2);

unsigned long xen_mmu_read_cr3(void)
{
	return 0;
}

/* pvdsl zero-initialises locals and these two hand the whole struct,
 * arg2 and padding included, to Xen: zeroed here as well. */
void xen_mmu_write_cr3(unsigned long cr3)
{
	struct mmuext_op op;

	memset(&op, 0, sizeof(op));
	op.cmd = MMUEXT_NEW_BASEPTR;
	op.arg1.mfn = cr3 >> PAGE_SHIFT;
	extended_op(&op);
}

void xen_mmu_flush_tlb_single(unsigned long addr)
{
	struct mmuext_op op;

	memset(&op, 0, sizeof(op));
	op.cmd = MMUEXT_INVLPG_LOCAL;
	op.arg1.linear_addr = addr;
	extended_op(&op);
}

/* Every field is assigned: no zeroing needed for the same bytes. */
void xen_mmu_set_pte(u64 *ptep, u64 pte)
{
	struct mmu_update u;

	u.ptr = (u64)(unsigned long)ptep | MMU_NORMAL_PT_UPDATE;
	u.val = pte;
	(void)HYPERVISOR_mmu_update(&u, 1, NULL, DOMID_SELF);
}

#ifdef __i386__
void xen_mmu_set_pte_atomic(u64 *ptep, u64 pte)
{
	xen_mmu_set_pte(ptep, pte);
}
#endif

u64 xen_mmu_pte_val(u64 pte)
{
	return pte;
}

u32 xen_mmu_count_present(u64 *ptes, u32 n)
{
	return count(ptes, n);
}

struct demo_mmu_ops demo_mmu_ops = {
	.read_cr2 = PV_CALLEE_SAVE(xen_mmu_read_cr2),
	.read_cr3 = xen_mmu_read_cr3,
	.write_cr3 = xen_mmu_write_cr3,
	.flush_tlb_single = xen_mmu_flush_tlb_single,
	.set_pte = xen_mmu_set_pte,
#ifdef __i386__
	.set_pte_atomic = xen_mmu_set_pte_atomic,
#endif
	.pte_val = xen_mmu_pte_val,
	.count_present = xen_mmu_count_present,
};
