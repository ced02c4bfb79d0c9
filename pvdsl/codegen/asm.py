"""Inline assembly: intrinsics, hypercall calls and callee-save pinning.

Each intrinsic is exactly its instruction, with the constraints Linux's own
inline asm uses (a "memory" clobber where the instruction orders memory).
Operand sizes come from the arch table (`pushfq` / `pushfl`).
"""

from __future__ import annotations

from llvmlite import ir

from ..arch import HYPERCALL_ENTRY_BYTES, Arch
from .irtypes import I32, PTR, VOID

_CLOBBER_FLAGS = "~{dirflag},~{fpsr},~{flags}"


def _asm(b: ir.IRBuilder, ret: ir.Type, args: list, template: str, constraints: str, name: str = ""):
    fty = ir.FunctionType(ret, [a.type for a in args])
    return b.asm(fty, template, constraints, args, True, name=name)


class AsmEmitter:
    def __init__(self, arch: Arch, word: ir.IntType):
        self.arch = arch
        self.word = word
        self.s = arch.asm_suffix

    # ---- intrinsics: (builder, [argument values as words]) -> value or None ----
    def intrinsic(self, b: ir.IRBuilder, name: str, args: list):
        return getattr(self, "_" + name)(b, *args)

    def _simple(self, b, insn: str):
        _asm(b, VOID, [], insn, "~{memory}," + _CLOBBER_FLAGS)

    def _cli(self, b):
        self._simple(b, "cli")

    def _sti(self, b):
        self._simple(b, "sti")

    def _hlt(self, b):
        self._simple(b, "hlt")

    def _wbinvd(self, b):
        self._simple(b, "wbinvd")

    def _barrier(self, b):
        _asm(b, VOID, [], "", "~{memory}")

    def _pushf(self, b):
        return _asm(b, self.word, [], f"pushf{self.s}\n\tpop{self.s} $0", "=r,~{memory}")

    def _popf(self, b, flags):
        _asm(b, VOID, [flags], f"push{self.s} $0\n\tpopf{self.s}", "r,~{memory}," + _CLOBBER_FLAGS)

    def _read_cr(self, b, n: int):
        return _asm(b, self.word, [], f"mov %cr{n}, $0", "=r,~{memory}")

    def _write_cr(self, b, n: int, value):
        _asm(b, VOID, [value], f"mov $0, %cr{n}", "r,~{memory}")

    def _read_cr0(self, b): return self._read_cr(b, 0)
    def _read_cr2(self, b): return self._read_cr(b, 2)
    def _read_cr3(self, b): return self._read_cr(b, 3)
    def _read_cr4(self, b): return self._read_cr(b, 4)
    def _write_cr0(self, b, v): self._write_cr(b, 0, v)
    def _write_cr2(self, b, v): self._write_cr(b, 2, v)
    def _write_cr3(self, b, v): self._write_cr(b, 3, v)
    def _write_cr4(self, b, v): self._write_cr(b, 4, v)

    def _invlpg(self, b, addr):
        _asm(b, VOID, [b.inttoptr(addr, PTR)], "invlpg ($0)", "r,~{memory}")

    def _edx_eax(self, b, insn: str, args: list, constraints: str):
        """A 64-bit result the instruction leaves in edx:eax. On x86_64 both
        halves are read as whole registers (the instruction zeroes their top
        halves), as Linux's EAX_EDX_RET does: no extra zero-extension."""
        half = self.word if self.word.width == 64 else I32
        names = ("rax", "rdx") if half.width == 64 else ("eax", "edx")
        pair = _asm(b, ir.LiteralStructType([half, half]), args, insn,
                    f"={{{names[0]}}},={{{names[1]}}}" + constraints)
        i64 = ir.IntType(64)
        lo, hi = b.extract_value(pair, 0), b.extract_value(pair, 1)
        if half.width != 64:
            lo, hi = b.zext(lo, i64), b.zext(hi, i64)
        return b.or_(lo, b.shl(hi, ir.Constant(i64, 32)))

    def _rdmsr(self, b, msr):
        return self._edx_eax(b, "rdmsr", [b.trunc(msr, I32) if msr.type != I32 else msr], ",{ecx},~{memory}")

    def _wrmsr(self, b, msr, value):
        lo = b.trunc(value, I32)
        hi = b.trunc(b.lshr(value, ir.Constant(value.type, 32)), I32)
        msr = b.trunc(msr, I32) if msr.type != I32 else msr
        _asm(b, VOID, [msr, lo, hi], "wrmsr", "{ecx},{eax},{edx},~{memory}")

    def _rdtsc(self, b):
        return self._edx_eax(b, "rdtsc", [], "")

    def _cpuid(self, b, pa, pb, pc, pd):
        ptrs = [b.inttoptr(p, PTR) for p in (pa, pb, pc, pd)]
        leaf = b.load(ptrs[0], typ=I32)
        sub = b.load(ptrs[2], typ=I32)
        out = _asm(b, ir.LiteralStructType([I32] * 4), [leaf, sub], "cpuid",
                   "={eax},={ebx},={ecx},={edx},0,2,~{memory}")
        for i, p in enumerate(ptrs):
            b.store(b.extract_value(out, i), p)

    # ---- hypercalls ----
    def hypercall(self, b: ir.IRBuilder, number: int, args: list) -> ir.Value:
        """A call of the hypercall page entry with Xen's argument registers.
        Every argument register is an output, so the compiler treats them all
        as clobbered (Xen may change them) whether or not they carry one."""
        regs = self.arch.hypercall_arg_regs
        outs = [self.arch.hypercall_ret_reg, *regs]
        ties = [str(1 + i) for i in range(len(args))]
        constraints = ",".join([f"={{{r}}}" for r in outs] + ties + ["~{memory}", _CLOBBER_FLAGS])
        result = _asm(b, ir.LiteralStructType([self.word] * len(outs)), args,
                      f"call hypercall_page+{HYPERCALL_ENTRY_BYTES * number}", constraints)
        return b.extract_value(result, 0)

    # ---- callee_save ----
    def pin_entry(self, b: ir.IRBuilder, args_in: dict[str, ir.Value]):
        """Claim the registers a callee_save hook must keep: their values on
        entry become SSA values that `pin_exit` hands back in the same
        registers. The register allocator then saves one only where the body
        really needs that register, on that path alone. A register that
        brought a word-sized argument is pinned to the argument itself, so
        the body may use it in place (`push %rdi; popf`)."""
        regs = self.arch.callee_save_preserve
        fresh = [r for r in regs if r not in args_in]
        values = dict(args_in)
        if len(fresh) == 1:
            values[fresh[0]] = _asm(b, self.word, [], "", f"={{{fresh[0]}}}")
        elif fresh:
            pinned = _asm(b, ir.LiteralStructType([self.word] * len(fresh)), [], "",
                          ",".join(f"={{{r}}}" for r in fresh))
            for i, r in enumerate(fresh):
                values[r] = b.extract_value(pinned, i)
        return [values[r] for r in regs]

    def pin_exit(self, b: ir.IRBuilder, values) -> None:
        if not values:
            return
        regs = self.arch.callee_save_preserve
        _asm(b, VOID, list(values), "", ",".join(f"{{{r}}}" for r in regs))
