/* C equivalent of backend `native_mmu` (examples/mmu.pv). read_cr2 is a
 * single `mov %cr2`, which Linux declares callee-save directly
 * (__PV_IS_CALLEE_SAVE(native_read_cr2)), without a thunk. */
#include "linux.h"
#include "tables.h"

#define _PAGE_PRESENT 1

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

unsigned long native_mmu_read_cr2(void)
{
	return native_read_cr2();
}

unsigned long native_mmu_read_cr3(void)
{
	return __native_read_cr3();
}

void native_mmu_write_cr3(unsigned long cr3)
{
	native_write_cr3(cr3);
}

void native_mmu_flush_tlb_single(unsigned long addr)
{
	native_invlpg(addr);
}

void native_mmu_set_pte(u64 *ptep, u64 pte)
{
	*ptep = pte;
}

#ifdef __i386__
/* PAE: the high half of a pte is written first, as Linux does. */
void native_mmu_set_pte_atomic(u64 *ptep, u64 pte)
{
	u32 *halves = (u32 *)ptep;

	halves[1] = (u32)(pte >> 32);
	barrier();
	halves[0] = (u32)pte;
}
#endif

u64 native_mmu_pte_val(u64 pte)
{
	return pte;
}

u32 native_mmu_count_present(u64 *ptes, u32 n)
{
	return count(ptes, n);
}

struct demo_mmu_ops demo_mmu_ops = {
	.read_cr2 = __PV_IS_CALLEE_SAVE(native_mmu_read_cr2),
	.read_cr3 = native_mmu_read_cr3,
	.write_cr3 = native_mmu_write_cr3,
	.flush_tlb_single = native_mmu_flush_tlb_single,
	.set_pte = native_mmu_set_pte,
#ifdef __i386__
	.set_pte_atomic = native_mmu_set_pte_atomic,
#endif
	.pte_val = native_mmu_pte_val,
	.count_present = native_mmu_count_present,
};
