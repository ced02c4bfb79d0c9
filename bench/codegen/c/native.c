/* C equivalent of backend `native` (examples/irq.pv), written as Linux
 * writes its native pv_irq_ops. The flag hooks are single instructions that
 * touch nothing but the return register, so Linux declares them callee-save
 * directly (__PV_IS_CALLEE_SAVE), without a register-saving thunk. */
#include "linux.h"
#include "tables.h"

void native_init_IRQ(void)
{
}

unsigned long native_save_fl_hook(void) __asm__("native_save_fl");
unsigned long native_save_fl_hook(void)
{
	return native_save_fl();
}

void native_restore_fl_hook(unsigned long flags) __asm__("native_restore_fl");
void native_restore_fl_hook(unsigned long flags)
{
	native_restore_fl(flags);
}

void native_irq_disable_hook(void) __asm__("native_irq_disable");
void native_irq_disable_hook(void)
{
	native_irq_disable();
}

void native_irq_enable_hook(void) __asm__("native_irq_enable");
void native_irq_enable_hook(void)
{
	native_irq_enable();
}

void native_safe_halt(void)
{
	native_irq_enable();
	native_halt();
}

void native_halt_hook(void) __asm__("native_halt");
void native_halt_hook(void)
{
	native_halt();
}

struct pv_irq_ops pv_irq_ops = {
	.init_IRQ = native_init_IRQ,
	.save_fl = __PV_IS_CALLEE_SAVE(native_save_fl_hook),
	.restore_fl = __PV_IS_CALLEE_SAVE(native_restore_fl_hook),
	.irq_disable = __PV_IS_CALLEE_SAVE(native_irq_disable_hook),
	.irq_enable = __PV_IS_CALLEE_SAVE(native_irq_enable_hook),
	.safe_halt = native_safe_halt,
	.halt = native_halt_hook,
};
