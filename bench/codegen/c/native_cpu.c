/* C equivalent of backend `native_cpu` (examples/cpu.pv). */
#include "linux.h"
#include "tables.h"

void native_cpu_cpuid(u32 *eax, u32 *ebx, u32 *ecx, u32 *edx)
{
	native_cpuid(eax, ebx, ecx, edx);
}

void native_cpu_wbinvd(void)
{
	native_wbinvd();
}

/* The table's default body. */
void native_cpu_io_delay(void)
{
}

u64 native_cpu_read_tsc(void)
{
	return rdtsc();
}

u64 native_cpu_read_msr(u32 msr)
{
	return native_read_msr(msr);
}

unsigned long native_cpu_get_debugreg(s32 reg)
{
	return 0;
}

void native_cpu_set_debugreg(s32 reg, unsigned long value)
{
}

struct demo_cpu_ops demo_cpu_ops = {
	.cpuid = native_cpu_cpuid,
	.wbinvd = native_cpu_wbinvd,
	.io_delay = native_cpu_io_delay,
	.read_tsc = native_cpu_read_tsc,
	.read_msr = native_cpu_read_msr,
	.get_debugreg = native_cpu_get_debugreg,
	.set_debugreg = native_cpu_set_debugreg,
};
