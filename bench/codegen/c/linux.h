/*
 * The parts of Linux (arch/x86) that the hand-written C equivalents of the
 * shipped pvdsl backends use, reproduced here so that the benchmark needs no
 * kernel tree: kernel integer types, percpu access through gcc's named
 * address spaces, barrier(), the intrinsics as Linux writes its inline asm,
 * Xen's _hypercallN macros and PV_CALLEE_SAVE_REGS_THUNK.
 *
 * Compiled with the kernel's flags (pvdsl/arch.py `gcc_flags`) plus -O2 -c:
 *   i386:   -m32 -mregparm=3 -ffreestanding -fno-pic -mno-sse -mno-mmx
 *   x86_64: -m64 -mcmodel=kernel -mno-red-zone -ffreestanding -fno-pic -mno-sse -mno-mmx
 * (no frame pointers, no IBT/ENDBR, no retpolines/return thunks: a RET is `ret`).
 */
#ifndef BENCH_LINUX_H
#define BENCH_LINUX_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef unsigned long uintptr_t;
typedef _Bool bool;

#define NULL ((void *)0)
#define offsetof(type, member) __builtin_offsetof(type, member)
#define memset __builtin_memset
#define __visible __attribute__((__externally_visible__))

/* include/linux/compiler.h */
#define barrier() __asm__ __volatile__("" : : : "memory")

/* arch/x86/include/asm/asm.h: the stack pointer as a register variable, so
 * that an asm containing a `call` can say it uses the stack. */
#ifdef __x86_64__
#define _ASM_SP "rsp"
#else
#define _ASM_SP "esp"
#endif
register unsigned long current_stack_pointer __asm__(_ASM_SP);
#define ASM_CALL_CONSTRAINT "+r" (current_stack_pointer)

/*
 * Percpu variables (include/linux/percpu-defs.h, arch/x86/include/asm/percpu.h
 * with USE_X86_SEG_SUPPORT): the object lives in .data..percpu; every access
 * goes through a pointer qualified with gcc's named address space, %gs on
 * x86_64 and %fs on i386, so gcc emits one segment-relative instruction.
 */
#ifdef __x86_64__
#define __percpu_seg_override __seg_gs
#else
#define __percpu_seg_override __seg_fs
#endif
#define DEFINE_PER_CPU(type, name) \
	__attribute__((__section__(".data..percpu"))) __typeof__(type) name
#define __my_cpu_type(var) __typeof__(var) __percpu_seg_override
#define __my_cpu_ptr(ptr) ((__my_cpu_type(*(ptr)) *)(uintptr_t)(ptr))
#define __my_cpu_var(var) (*__my_cpu_ptr(&(var)))
#define this_cpu(var) __my_cpu_var(var)

/* arch/x86/include/asm/irqflags.h */
static inline __attribute__((__always_inline__)) unsigned long native_save_fl(void)
{
	unsigned long flags;

	/*
	 * "=rm" is safe here, because "pop" adjusts the stack before
	 * it evaluates its effective address -- this is part of the
	 * documented behavior of the "pop" instruction.
	 */
	asm volatile("# __raw_save_flags\n\t"
		     "pushf ; pop %0"
		     : "=rm" (flags)
		     : /* no input */
		     : "memory");
	return flags;
}

static inline __attribute__((__always_inline__)) void native_restore_fl(unsigned long flags)
{
	asm volatile("push %0 ; popf"
		     : /* no output */
		     : "g" (flags)
		     : "memory", "cc");
}

static inline __attribute__((__always_inline__)) void native_irq_disable(void)
{
	asm volatile("cli" : : : "memory");
}

static inline __attribute__((__always_inline__)) void native_irq_enable(void)
{
	asm volatile("sti" : : : "memory");
}

static inline __attribute__((__always_inline__)) void native_halt(void)
{
	asm volatile("hlt" : : : "memory");
}

/* arch/x86/include/asm/special_insns.h */
#define __FORCE_ORDER "m"(*(unsigned int *)0x1000UL)

static inline __attribute__((__always_inline__)) unsigned long native_read_cr2(void)
{
	unsigned long val;
	asm volatile("mov %%cr2,%0\n\t" : "=r" (val) : __FORCE_ORDER);
	return val;
}

static inline __attribute__((__always_inline__)) unsigned long __native_read_cr3(void)
{
	unsigned long val;
	asm volatile("mov %%cr3,%0\n\t" : "=r" (val) : __FORCE_ORDER);
	return val;
}

static inline __attribute__((__always_inline__)) void native_write_cr3(unsigned long val)
{
	asm volatile("mov %0,%%cr3" : : "r" (val) : "memory");
}

static inline __attribute__((__always_inline__)) void native_wbinvd(void)
{
	asm volatile("wbinvd" : : : "memory");
}

/* arch/x86/mm/tlb.c: native_flush_tlb_one_user() */
static inline __attribute__((__always_inline__)) void native_invlpg(unsigned long addr)
{
	asm volatile("invlpg (%0)" : : "r" (addr) : "memory");
}

/* arch/x86/include/asm/processor.h */
static inline __attribute__((__always_inline__)) void native_cpuid(unsigned int *eax, unsigned int *ebx,
								   unsigned int *ecx, unsigned int *edx)
{
	/* ecx is often an input as well as an output. */
	asm volatile("cpuid"
	    : "=a" (*eax),
	      "=b" (*ebx),
	      "=c" (*ecx),
	      "=d" (*edx)
	    : "0" (*eax), "2" (*ecx)
	    : "memory");
}

/* arch/x86/include/asm/msr.h */
#ifdef __x86_64__
#define DECLARE_ARGS(val, low, high)	unsigned long low, high
#define EAX_EDX_VAL(val, low, high)	((low) | (high) << 32)
#define EAX_EDX_RET(val, low, high)	"=a" (low), "=d" (high)
#else
#define DECLARE_ARGS(val, low, high)	unsigned long long val
#define EAX_EDX_VAL(val, low, high)	(val)
#define EAX_EDX_RET(val, low, high)	"=A" (val)
#endif

static inline __attribute__((__always_inline__)) unsigned long long rdtsc(void)
{
	DECLARE_ARGS(val, low, high);

	asm volatile("rdtsc" : EAX_EDX_RET(val, low, high));

	return EAX_EDX_VAL(val, low, high);
}

/* Without the exception-table entry (pvdsl's rdmsr has none either). */
static inline __attribute__((__always_inline__)) unsigned long long native_read_msr(unsigned int msr)
{
	DECLARE_ARGS(val, low, high);

	asm volatile("rdmsr" : EAX_EDX_RET(val, low, high) : "c" (msr));
	return EAX_EDX_VAL(val, low, high);
}

/*
 * arch/x86/include/asm/paravirt_types.h: callee-save hooks. A hook written
 * in C is wrapped in an asm thunk that saves the caller-saved registers the
 * kernel's callee-save convention promises to keep (all but rax on x86_64,
 * all but eax and edx on i386), calls the C function and restores them.
 * Linux 6.1, without FRAME_BEGIN/FRAME_END (no frame pointers) and ASM_ENDBR
 * (no IBT).
 */
struct paravirt_callee_save {
	void *func;
};

#define PV_THUNK_NAME(func) "__raw_callee_save_" #func

#ifdef __x86_64__
#define PV_SAVE_ALL_CALLER_REGS						\
	"push %rcx;"							\
	"push %rdx;"							\
	"push %rsi;"							\
	"push %rdi;"							\
	"push %r8;"							\
	"push %r9;"							\
	"push %r10;"							\
	"push %r11;"
#define PV_RESTORE_ALL_CALLER_REGS					\
	"pop %r11;"							\
	"pop %r10;"							\
	"pop %r9;"							\
	"pop %r8;"							\
	"pop %rdi;"							\
	"pop %rsi;"							\
	"pop %rdx;"							\
	"pop %rcx;"
#else
#define PV_SAVE_ALL_CALLER_REGS		"pushl %ecx;"
#define PV_RESTORE_ALL_CALLER_REGS	"popl  %ecx;"
#endif

#define PV_CALLEE_SAVE_REGS_THUNK(func)					\
	extern __typeof__(func) __raw_callee_save_##func;		\
									\
	asm(".pushsection .text, \"ax\";"				\
	    ".globl " PV_THUNK_NAME(func) ";"				\
	    ".type " PV_THUNK_NAME(func) ", @function;"			\
	    ".p2align 4;"						\
	    PV_THUNK_NAME(func) ":"					\
	    PV_SAVE_ALL_CALLER_REGS					\
	    "call " #func ";"						\
	    PV_RESTORE_ALL_CALLER_REGS					\
	    "ret;"							\
	    ".size " PV_THUNK_NAME(func) ", .-" PV_THUNK_NAME(func) ";"	\
	    ".popsection")

/* The hook is reached through its thunk ... */
#define PV_CALLEE_SAVE(func) ((struct paravirt_callee_save) { __raw_callee_save_##func })
/* ... unless it is known to touch nothing but the return register, as
 * Linux declares its native irq flag hooks and read_cr2. */
#define __PV_IS_CALLEE_SAVE(func) ((struct paravirt_callee_save) { func })

#endif /* BENCH_LINUX_H */
