"""One call in progress: the CPU the intrinsics act on, the hypercalls made,
the interpreter's stack, and the failures a law records.

The generated code reaches this object as the global `_R`. Each intrinsic
is the effect of its one instruction on `CpuState`; arguments arrive as the
values of the intrinsic's declared parameter types, results leave as values
of its result type.
"""

from __future__ import annotations

from .state import (EFLAGS_ALWAYS_ONE, EFLAGS_POPF_KEPT, EFLAGS_POPF_WRITABLE, X86_EFLAGS_IF, CpuState,
                    InterpFault)

U32_MASK = (1 << 32) - 1
U64_MASK = (1 << 64) - 1


class Run:
    __slots__ = ("cpu", "answer", "hypercalls", "sp", "stack_lo", "word_mask", "rd", "wr", "law_failures")

    def __init__(self, cpu: CpuState, answer, word_mask: int, rd, wr, sp: int, stack_lo: int):
        self.cpu, self.answer, self.word_mask = cpu, answer, word_mask
        self.hypercalls: list = []
        self.rd, self.wr = rd, wr
        self.sp, self.stack_lo = sp, stack_lo
        self.law_failures: list = []

    # ---- frames ----
    def push(self, size: int) -> int:
        """Open a frame of `size` bytes (16-byte aligned, as the kernel's
        stack is) and return its lowest address."""
        fp = (self.sp - size) & ~15
        if fp < self.stack_lo:
            raise InterpFault("stack", f"the interpreter's stack is exhausted ({self.sp - self.stack_lo} bytes left, "
                              f"a frame needs {size})")
        self.sp = fp
        return fp

    # ---- what the generated code cannot do inline ----
    def hypercall(self, name: str, number: int, args: tuple) -> int:
        """Record the call with its argument registers; return the result
        register (Xen's answer as a word)."""
        self.hypercalls.append((name, number, args))
        if self.answer is None:
            raise InterpFault("unsupported", f"hypercall {name} made, but the state answers no hypercalls")
        return int(self.answer(name, number, args)) & self.word_mask

    def budget(self) -> None:
        raise InterpFault("budget", "the step budget ran out (a loop that does not end?)")

    def external(self, hook: str, _args: tuple) -> None:
        raise InterpFault("unsupported", f"call of '{hook}' through the kernel's table, which this backend "
                          "does not fill: the interpreter cannot follow it")

    def law_failed(self, where: int) -> None:
        self.law_failures.append(where)

    # ---- intrinsics ----
    def i_cli(self) -> None:
        self.cpu.flags &= ~X86_EFLAGS_IF

    def i_sti(self) -> None:
        self.cpu.flags |= X86_EFLAGS_IF

    def i_pushf(self) -> int:
        return self.cpu.flags & self.word_mask

    def i_popf(self, flags: int) -> None:
        cpu = self.cpu
        cpu.flags = (cpu.flags & EFLAGS_POPF_KEPT) | (flags & EFLAGS_POPF_WRITABLE) | EFLAGS_ALWAYS_ONE

    def i_hlt(self) -> None:
        self.cpu.halted += 1
        if not self.cpu.flags & X86_EFLAGS_IF:  # nothing can wake the CPU: the machine stops here
            raise InterpFault("halt", "hlt with interrupts disabled: the CPU would never wake")

    def i_read_cr0(self) -> int:
        return self.cpu.cr0 & self.word_mask

    def i_read_cr2(self) -> int:
        return self.cpu.cr2 & self.word_mask

    def i_read_cr3(self) -> int:
        return self.cpu.cr3 & self.word_mask

    def i_read_cr4(self) -> int:
        return self.cpu.cr4 & self.word_mask

    def i_write_cr0(self, value: int) -> None:
        self.cpu.cr0 = value

    def i_write_cr2(self, value: int) -> None:
        self.cpu.cr2 = value

    def i_write_cr3(self, value: int) -> None:
        self.cpu.cr3 = value
        self.cpu.tlb_flushes.append(("write_cr3", value))

    def i_write_cr4(self, value: int) -> None:
        self.cpu.cr4 = value

    def i_invlpg(self, addr: int) -> None:
        self.cpu.tlb_flushes.append(("invlpg", addr))

    def i_wbinvd(self) -> None:
        self.cpu.tlb_flushes.append(("wbinvd", None))

    def i_rdmsr(self, msr: int) -> int:
        value = self.cpu.msrs.get(msr)
        if value is None:
            raise InterpFault("#GP", f"rdmsr of MSR {msr:#x}, which this CPU does not have")
        return value & U64_MASK

    def i_wrmsr(self, msr: int, value: int) -> None:
        if msr not in self.cpu.msrs:
            raise InterpFault("#GP", f"wrmsr of MSR {msr:#x}, which this CPU does not have")
        self.cpu.msrs[msr] = value

    def i_rdtsc(self) -> int:
        cpu = self.cpu
        value = cpu.tsc & U64_MASK
        cpu.tsc = value + cpu.tsc_step
        return value

    def i_cpuid(self, pa: int, pb: int, pc: int, pd: int) -> None:
        # The order of the instruction sequence: load the leaf and subleaf,
        # cpuid, then store eax, ebx, ecx, edx.
        leaf = int.from_bytes(self.rd(pa, 4), "little")
        sub = int.from_bytes(self.rd(pc, 4), "little")
        regs = self.cpu.cpuid(leaf, sub) if self.cpu.cpuid is not None else (0, 0, 0, 0)
        for at, value in zip((pa, pb, pc, pd), regs):
            self.wr(at, (value & U32_MASK).to_bytes(4, "little"))

    def i_barrier(self) -> None:
        pass
