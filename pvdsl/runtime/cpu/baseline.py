"""The ceiling the runtime is measured against (bench/runtime/run.py): a
bare unicorn loop over the same bytes. It lives here because only
pvdsl/runtime may use unicorn."""

from __future__ import annotations

import time

from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_HOOK_INTR, UC_PROT_ALL, Uc
from unicorn import x86_const as X

from .calls import marshal


class Bare:
    """A unicorn instance on the same machine memory, in the same CPU state
    as the machine's vCPU (its context copied: cr3, ring, segments, percpu
    base), with only minimal hypercall traps."""

    def __init__(self, m):
        cpu = m.cpus[0]
        self.m, self.rt = m, cpu.rt
        self.uc = uc = Uc(UC_ARCH_X86, cpu.rt.uc_mode)
        uc.mem_map_ptr(0, m.hv.mem.size, UC_PROT_ALL, m.hv.mem.host_address)

        def syscall(uc, _):
            uc.reg_write(X.UC_X86_REG_RAX, 0)

        def intr(uc, intno, _):
            if intno == 0x82:
                uc.reg_write(X.UC_X86_REG_EAX, 0)
            else:
                uc.emu_stop()

        uc.hook_add(UC_HOOK_INTR, intr)
        if cpu.rt.word == 8 and not cpu.native:
            uc.hook_add(UC_HOOK_INSN, syscall, None, 1, 0, X.UC_X86_INS_SYSCALL)
        uc.context_restore(cpu.uc.context_save())
        self.sp_reg = cpu.rt.regs[cpu.rt.sp]
        self.sp = m.callers[0].stack_top - m.callers[0].stack_top % 16

    def prepare(self, hook: str, args, patched: bool) -> tuple[int, int]:
        h = self.m.loaded.hook(hook)
        regs, _stack = marshal(self.rt.arch, h.arg_sizes, args)
        for r, v in regs.items():
            self.uc.reg_write(self.rt.regs[r], v)
        return (h.patched_site, h.patched_end) if patched else (h.site, h.site_end)

    def loop(self, entry: int, until: int, n: int) -> float:
        uc, sp_reg, sp = self.uc, self.sp_reg, self.sp
        t0 = time.perf_counter()
        for _ in range(n):
            uc.reg_write(sp_reg, sp)
            uc.emu_start(entry, until)
        return time.perf_counter() - t0
