/*
 * The slice of the Xen 4.17 public ABI (xen.h, arch-x86/xen*.h) that the
 * shipped backends use, as a 32-bit (i386 PAE) or 64-bit PV guest sees it,
 * and Linux's hypercall macros (arch/x86/include/asm/xen/hypercall.h).
 * Mirrors pvdsl/specs/xen/abi.pv; the layouts are checked below against
 * DESIGN.md's "ABI facts".
 */
#ifndef BENCH_XEN_H
#define BENCH_XEN_H

#include "linux.h"

typedef u16 domid_t;
typedef unsigned long xen_pfn_t;
typedef unsigned long xen_ulong_t;

#define DOMID_SELF	0x7ff0
#define X86_EFLAGS_IF	0x200UL
#define PAGE_SHIFT	12

#define __HYPERVISOR_mmu_update		1
#define __HYPERVISOR_set_debugreg	8
#define __HYPERVISOR_get_debugreg	9
#define __HYPERVISOR_xen_version	17
#define __HYPERVISOR_mmuext_op		26
#define __HYPERVISOR_sched_op		29

#define SCHEDOP_block		1
#define MMUEXT_NEW_BASEPTR	5
#define MMUEXT_INVLPG_LOCAL	7
#define MMU_NORMAL_PT_UPDATE	0

struct mmu_update {
	u64 ptr;
	u64 val;
};

struct mmuext_op {
	unsigned int cmd;
	union {
		xen_pfn_t mfn;
		unsigned long linear_addr;
	} arg1;
	union {
		unsigned int nr_ents;
		const void *vcpumask;	/* XEN_GUEST_HANDLE(const_void) */
		xen_pfn_t src_mfn;
	} arg2;
};

struct vcpu_time_info {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	s8 tsc_shift;
	u8 flags;
	u8 pad1[2];
};

struct arch_vcpu_info {
	unsigned long cr2;
#ifdef __x86_64__
	unsigned long pad;
#else
	unsigned long pad[5];
#endif
};

struct vcpu_info {
	u8 evtchn_upcall_pending;
	u8 evtchn_upcall_mask;
	xen_ulong_t evtchn_pending_sel;
	struct arch_vcpu_info arch;
	struct vcpu_time_info time;
};

_Static_assert(sizeof(struct vcpu_info) == 64, "vcpu_info is 64 bytes on both arches");
_Static_assert(offsetof(struct vcpu_info, evtchn_upcall_pending) == 0, "upcall_pending at 0");
_Static_assert(offsetof(struct vcpu_info, evtchn_upcall_mask) == 1, "upcall_mask at 1");
_Static_assert(sizeof(struct mmu_update) == 16, "mmu_update is 16 bytes");
#ifdef __x86_64__
_Static_assert(sizeof(struct mmuext_op) == 24, "mmuext_op is 24 bytes on x86_64");
_Static_assert(offsetof(struct vcpu_info, arch.cr2) == 16, "cr2 at 16 on x86_64");
#else
_Static_assert(sizeof(struct mmuext_op) == 12, "mmuext_op is 12 bytes on i386");
_Static_assert(offsetof(struct vcpu_info, arch.cr2) == 8, "cr2 at 8 on i386");
#endif

/*
 * arch/x86/include/asm/xen/hypercall.h: every argument register is declared,
 * the used ones as "+r" operands and the rest as clobbers, since Xen may
 * change any of them; the hypercall page entry N is at hypercall_page+32*N.
 */
#ifdef __x86_64__
#define __HYPERCALL_RETREG	"rax"
#define __HYPERCALL_ARG1REG	"rdi"
#define __HYPERCALL_ARG2REG	"rsi"
#define __HYPERCALL_ARG3REG	"rdx"
#define __HYPERCALL_ARG4REG	"r10"
#define __HYPERCALL_ARG5REG	"r8"
#else
#define __HYPERCALL_RETREG	"eax"
#define __HYPERCALL_ARG1REG	"ebx"
#define __HYPERCALL_ARG2REG	"ecx"
#define __HYPERCALL_ARG3REG	"edx"
#define __HYPERCALL_ARG4REG	"esi"
#define __HYPERCALL_ARG5REG	"edi"
#endif

#define __HYPERCALL		"call hypercall_page+%c[offset]"
#define __HYPERCALL_ENTRY(x)	[offset] "i" (__HYPERVISOR_##x * 32)

#define __HYPERCALL_DECLS						\
	register unsigned long __res  asm(__HYPERCALL_RETREG);		\
	register unsigned long __arg1 asm(__HYPERCALL_ARG1REG) = __arg1; \
	register unsigned long __arg2 asm(__HYPERCALL_ARG2REG) = __arg2; \
	register unsigned long __arg3 asm(__HYPERCALL_ARG3REG) = __arg3; \
	register unsigned long __arg4 asm(__HYPERCALL_ARG4REG) = __arg4; \
	register unsigned long __arg5 asm(__HYPERCALL_ARG5REG) = __arg5;

#define __HYPERCALL_0PARAM	"=r" (__res), ASM_CALL_CONSTRAINT
#define __HYPERCALL_1PARAM	__HYPERCALL_0PARAM, "+r" (__arg1)
#define __HYPERCALL_2PARAM	__HYPERCALL_1PARAM, "+r" (__arg2)
#define __HYPERCALL_3PARAM	__HYPERCALL_2PARAM, "+r" (__arg3)
#define __HYPERCALL_4PARAM	__HYPERCALL_3PARAM, "+r" (__arg4)
#define __HYPERCALL_5PARAM	__HYPERCALL_4PARAM, "+r" (__arg5)

#define __HYPERCALL_0ARG()
#define __HYPERCALL_1ARG(a1)						\
	__HYPERCALL_0ARG()		__arg1 = (unsigned long)(a1);
#define __HYPERCALL_2ARG(a1,a2)						\
	__HYPERCALL_1ARG(a1)		__arg2 = (unsigned long)(a2);
#define __HYPERCALL_3ARG(a1,a2,a3)					\
	__HYPERCALL_2ARG(a1,a2)		__arg3 = (unsigned long)(a3);
#define __HYPERCALL_4ARG(a1,a2,a3,a4)					\
	__HYPERCALL_3ARG(a1,a2,a3)	__arg4 = (unsigned long)(a4);
#define __HYPERCALL_5ARG(a1,a2,a3,a4,a5)				\
	__HYPERCALL_4ARG(a1,a2,a3,a4)	__arg5 = (unsigned long)(a5);

#define __HYPERCALL_CLOBBER5	"memory"
#define __HYPERCALL_CLOBBER4	__HYPERCALL_CLOBBER5, __HYPERCALL_ARG5REG
#define __HYPERCALL_CLOBBER3	__HYPERCALL_CLOBBER4, __HYPERCALL_ARG4REG
#define __HYPERCALL_CLOBBER2	__HYPERCALL_CLOBBER3, __HYPERCALL_ARG3REG
#define __HYPERCALL_CLOBBER1	__HYPERCALL_CLOBBER2, __HYPERCALL_ARG2REG
#define __HYPERCALL_CLOBBER0	__HYPERCALL_CLOBBER1, __HYPERCALL_ARG1REG

#define _hypercall1(type, name, a1)					\
({									\
	__HYPERCALL_DECLS;						\
	__HYPERCALL_1ARG(a1);						\
	asm volatile (__HYPERCALL					\
		      : __HYPERCALL_1PARAM				\
		      : __HYPERCALL_ENTRY(name)				\
		      : __HYPERCALL_CLOBBER1);				\
	(type)__res;							\
})

#define _hypercall2(type, name, a1, a2)					\
({									\
	__HYPERCALL_DECLS;						\
	__HYPERCALL_2ARG(a1, a2);					\
	asm volatile (__HYPERCALL					\
		      : __HYPERCALL_2PARAM				\
		      : __HYPERCALL_ENTRY(name)				\
		      : __HYPERCALL_CLOBBER2);				\
	(type)__res;							\
})

#define _hypercall4(type, name, a1, a2, a3, a4)				\
({									\
	__HYPERCALL_DECLS;						\
	__HYPERCALL_4ARG(a1, a2, a3, a4);				\
	asm volatile (__HYPERCALL					\
		      : __HYPERCALL_4PARAM				\
		      : __HYPERCALL_ENTRY(name)				\
		      : __HYPERCALL_CLOBBER4);				\
	(type)__res;							\
})

/* The wrappers, typed as pvdsl/specs/xen/abi.pv declares the hypercalls. */
static inline int HYPERVISOR_mmu_update(struct mmu_update *req, unsigned int count,
					u32 *success_count, domid_t domid)
{
	return _hypercall4(int, mmu_update, req, count, success_count, domid);
}

static inline int HYPERVISOR_set_debugreg(int reg, unsigned long value)
{
	return _hypercall2(int, set_debugreg, reg, value);
}

static inline unsigned long HYPERVISOR_get_debugreg(int reg)
{
	return _hypercall1(unsigned long, get_debugreg, reg);
}

static inline int HYPERVISOR_xen_version(int cmd, void *arg)
{
	return _hypercall2(int, xen_version, cmd, arg);
}

static inline int HYPERVISOR_mmuext_op(struct mmuext_op *op, unsigned int count,
				       u32 *success_count, domid_t domid)
{
	return _hypercall4(int, mmuext_op, op, count, success_count, domid);
}

static inline int HYPERVISOR_sched_op(int cmd, void *arg)
{
	return _hypercall2(int, sched_op, cmd, arg);
}

#endif /* BENCH_XEN_H */
