/*
 * The hook tables the shipped backends fill, member order = slot order:
 * pv_irq_ops from pvdsl/specs/linux/pvops_2_6_24.pv (Linux 2.6.24, with the
 * paravirt_callee_save wrapper later kernels put around callee-save hooks),
 * demo_cpu_ops from examples/cpu.pv, demo_mmu_ops from examples/mmu.pv.
 */
#ifndef BENCH_TABLES_H
#define BENCH_TABLES_H

#include "linux.h"

struct pv_irq_ops {
	void (*init_IRQ)(void);
	struct paravirt_callee_save save_fl;	/* unsigned long (void) */
	struct paravirt_callee_save restore_fl;	/* void (unsigned long flags) */
	struct paravirt_callee_save irq_disable;	/* void (void) */
	struct paravirt_callee_save irq_enable;	/* void (void) */
	void (*safe_halt)(void);
	void (*halt)(void);
};

struct demo_cpu_ops {
	void (*cpuid)(u32 *eax, u32 *ebx, u32 *ecx, u32 *edx);
	void (*wbinvd)(void);
	void (*io_delay)(void);
	u64 (*read_tsc)(void);
	u64 (*read_msr)(u32 msr);
	unsigned long (*get_debugreg)(s32 reg);
	void (*set_debugreg)(s32 reg, unsigned long value);
};

struct demo_mmu_ops {
	struct paravirt_callee_save read_cr2;	/* unsigned long (void) */
	unsigned long (*read_cr3)(void);
	void (*write_cr3)(unsigned long cr3);
	void (*flush_tlb_single)(unsigned long addr);
	void (*set_pte)(u64 *ptep, u64 pte);
#ifdef __i386__
	void (*set_pte_atomic)(u64 *ptep, u64 pte);
#endif
	u64 (*pte_val)(u64 pte);
	u32 (*count_present)(u64 *ptes, u32 n);
};

#endif /* BENCH_TABLES_H */
