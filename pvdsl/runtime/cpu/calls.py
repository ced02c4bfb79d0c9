"""Calling a loaded hook the way the kernel does.

Arguments follow the kernel's convention from `pvdsl.arch`: x86_64 SysV
(rdi, rsi, rdx, rcx, r8, r9, then the stack); i386 regparm(3) (eax, edx,
ecx; a 64-bit value takes two registers, low word first; the first
argument that does not fit, and all after it, go on the stack, as gcc,
clang and pvdsl's code generator agree). The result is rax, or eax (edx:eax
for 64 bits).

Every register is set to a known value before the call, so the result also
says which registers the hook changed: a callee-saved register that changed,
or (for a `callee_save` hook) any register outside the kernel's
callee-clobber set, is an ABI violation, reported with the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import RuntimeFault
from ..guest.loader import HookInfo, LoadedBackend
from ..xen.memory import PAGE_SHIFT
from .vcpu import EmulatedCpu

STACK_HEADROOM = 512


def marshal(arch, arg_sizes, args) -> tuple[dict[str, int], list[int]]:
    """(register values, stack words in push order from the lowest address)."""
    word = arch.word_bytes
    mask = (1 << (8 * word)) - 1
    sizes = list(arg_sizes) if arg_sizes is not None else [word] * len(args)
    if len(sizes) != len(args):
        raise TypeError(f"expected {len(sizes)} arguments, got {len(args)}")
    regs_avail = list(arch.kernel_arg_regs[:arch.regparm] if arch.regparm else arch.kernel_arg_regs)
    regs: dict[str, int] = {}
    stack: list[int] = []
    in_regs = True
    for size, value in zip(sizes, args):
        words = [(value >> (8 * word * i)) & mask for i in range(max(1, size // word))]
        if in_regs and len(words) <= len(regs_avail):
            for w in words:
                regs[regs_avail.pop(0)] = w
        else:
            if arch.regparm:
                in_regs = False  # regparm: everything after the first stack argument is on the stack
            stack.extend(words)
    return regs, stack


def result_of(arch, ret_size: int, regs: dict[str, int]) -> int:
    r = arch.kernel_ret_regs
    value = regs[r[0]]
    if ret_size > arch.word_bytes:
        value |= regs[r[1]] << (8 * arch.word_bytes)
    return value & ((1 << (8 * max(ret_size, 1))) - 1) if ret_size else 0


@dataclass
class CallResult:
    hook: str
    value: int
    registers: dict[str, int]
    fault: RuntimeFault | None
    instructions: int
    hypercalls: list[tuple[str, int]]
    abi_violations: list[str] = field(default_factory=list)
    patched: bool = False
    elapsed: float = 0.0
    # Set when the hook suspended the domain (SHUTDOWN_suspend): the vCPU's
    # state inside the hypercall, for `HookCaller.resume`.
    suspended: dict[str, int] | None = None

    @property
    def ok(self) -> bool:
        return self.fault is None


def _sentinel(reg: str, i: int, word: int) -> int:
    v = 0x5EED0000 + 0x1111 * (i + 1)
    return (v << 32 | v) & ((1 << (8 * word)) - 1) if word == 8 else v


class HookCaller:
    """Calls hooks of one loaded backend on one emulated vCPU."""

    def __init__(self, cpu: EmulatedCpu, backend: LoadedBackend, budget: int = 1_000_000, timeout: float = 5.0):
        self.cpu, self.backend = cpu, backend
        self.arch = cpu.rt.arch
        self.budget, self.timeout = budget, timeout
        self.names = cpu.gprs.names
        self.index = cpu.gprs.index
        self.initial = [0 if r == cpu.rt.sp else _sentinel(r, i, cpu.rt.word) for i, r in enumerate(self.names)]
        self.stack_top = cpu.d.kernel.stack_tops[cpu.v.vcpu_id] - STACK_HEADROOM
        self._keep: dict[tuple[str, bool], list[str]] = {}

    def call(self, name: str, *args: int, patched: bool = False, budget: int | None = None,
             timeout: float | None = None) -> CallResult:
        h: HookInfo = self.backend.hook(name)
        rt = self.cpu.rt
        regs, stack = marshal(self.arch, h.arg_sizes, args)
        values = list(self.initial)
        index = self.index
        for r, v in regs.items():
            values[index[r]] = v
        sp = self.stack_top - 8 * len(stack)
        sp -= sp % 16
        if stack:
            data = b"".join(rt.pack_word(w) for w in stack)
            ma = self.cpu.maddr(sp)
            if (ma >> PAGE_SHIFT) != ((ma + len(data) - 1) >> PAGE_SHIFT):
                raise ValueError("stack arguments cross a page")  # cannot happen with the headroom
            self.cpu.hv.mem.write(ma, data)
        values[index[rt.sp]] = sp
        use_patch = patched and h.patched_site is not None
        entry, until = (h.patched_site, h.patched_end) if use_patch else (h.site, h.site_end)
        res = self.cpu.run(entry, until, values, budget if budget is not None else self.budget,
                           self.timeout if timeout is None else timeout, label=name)
        return self._result(name, h, res, values, use_patch)

    def resume(self, name: str, state: dict[str, int], budget: int | None = None,
               timeout: float | None = None) -> CallResult:
        """Go on with a call of hook `name` that suspended the domain, from
        the state its vCPU stopped in (CallResult.suspended, or the one a
        restore put back), to the hook's return."""
        h: HookInfo = self.backend.hook(name)
        rt = self.cpu.rt
        regs = {r: state[r] for r in self.names}
        res = self.cpu.run(state[rt.pc], h.site_end, regs, budget if budget is not None else self.budget,
                           self.timeout if timeout is None else timeout, label=name)
        return self._result(name, h, res, None, False)

    def _result(self, name: str, h: HookInfo, res, values: list[int] | None, use_patch: bool) -> CallResult:
        out = CallResult(name, 0, res.registers, res.fault, res.instructions, res.hypercalls, patched=use_patch,
                         elapsed=res.elapsed, suspended=res.suspended)
        if res.suspended is not None:
            return out
        if res.fault is None:
            out.value = result_of(self.arch, h.ret_size, res.registers)
            after = res.registers
            for r in self._kept(h, use_patch) if values is not None else ():
                want = values[self.index[r]] & 0xFFFFFFFFFFFFFFFF
                if after[r] != want:
                    out.abi_violations.append(f"{r} changed: {want:#x} -> {after[r]:#x}")
        return out

    def _kept(self, h: HookInfo, patched: bool) -> list[str]:
        """The registers the call must give back unchanged."""
        key = (h.name, patched)
        if key not in self._keep:
            arch = self.arch
            keep = list(arch.callee_saved) + [arch.stack_pointer]
            if h.callee_save:
                keep += list(arch.callee_save_preserve)
            elif patched and h.template:
                # A patched site may clobber only what its template declares.
                keep += [r for r in arch.caller_saved if r not in self._template_clobbers(h)]
            self._keep[key] = keep
        return self._keep[key]

    def _template_clobbers(self, h: HookInfo) -> set[str]:
        from ...target.patches import disassembler, written_registers

        return written_registers(disassembler(self.arch), h.template, self.arch) | set(self.arch.kernel_ret_regs[:1])
