/* C equivalent of backend `xen_cpu` (examples/cpu.pv). */
#include "linux.h"
#include "xen.h"
#include "tables.h"

/* CPUID.1:ECX bits a PV guest must not see. */
#define X86_FEATURE_MWAIT	(1 << 3)
#define X86_FEATURE_VMX		(1 << 5)
#define X86_FEATURE_X2APIC	(1 << 21)

void xen_cpu_cpuid(u32 *eax, u32 *ebx, u32 *ecx, u32 *edx)
{
	u32 leaf = *eax;

	native_cpuid(eax, ebx, ecx, edx);
	if (leaf == 1)
		*ecx &= ~(u32)(X86_FEATURE_MWAIT | X86_FEATURE_VMX | X86_FEATURE_X2APIC);
}

/* A PV guest cannot flush caches itself, and need not. */
void xen_cpu_wbinvd(void)
{
}

/* The table's default body. */
void xen_cpu_io_delay(void)
{
}

u64 xen_cpu_read_tsc(void)
{
	return rdtsc();
}

u64 xen_cpu_read_msr(u32 msr)
{
	return 0;
}

unsigned long xen_cpu_get_debugreg(s32 reg)
{
	return HYPERVISOR_get_debugreg(reg);
}

void xen_cpu_set_debugreg(s32 reg, unsigned long value)
{
	(void)HYPERVISOR_set_debugreg(reg, value);
}

struct demo_cpu_ops demo_cpu_ops = {
	.cpuid = xen_cpu_cpuid,
	.wbinvd = xen_cpu_wbinvd,
	.io_delay = xen_cpu_io_delay,
	.read_tsc = xen_cpu_read_tsc,
	.read_msr = xen_cpu_read_msr,
	.get_debugreg = xen_cpu_get_debugreg,
	.set_debugreg = xen_cpu_set_debugreg,
};
