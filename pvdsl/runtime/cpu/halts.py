"""Ring 0's stops without leaving the emulator.

Natively a hook may execute `hlt` (safe_halt, halt) or set TF with popf
(restore_fl with a hostile flags word). unicorn ends its run at every hlt,
and starting it again after such a stop costs tens of microseconds (the
code after the stop point is translated anew): far more than the hook.

So the first time a hlt at some address stops the CPU, a code hook is put
on that one address (`watch`), and from then on the hook does what the CPU
would: with interrupts on, an interrupt wakes it (it steps over the hlt
and counts a halt); with them off it never wakes, a stop reported as the
fault "halt" at the hlt itself.

A run may also name a `handler` for the stops the caller can judge by
itself (the batch driver: a hlt with interrupts off, the #DB a set TF
raises). The handler is told the stop and returns where the CPU goes on
(or None for an ordinary stop): many calls then run in one emulation even
when some of them stop.
"""

from __future__ import annotations

from typing import Callable

from unicorn import UC_HOOK_CODE

HLT = b"\xf4"
EFLAGS_IF, EFLAGS_TF = 1 << 9, 1 << 8
VECTOR_DB = 1

# (kind "halt" | "exception", pc, vector or None, flags at the stop) -> where to go on, or None
StopHandler = Callable[[str, int, "int | None", int], "int | None"]


class NativeStops:
    def __init__(self, cpu):
        self.cpu = cpu
        rt = cpu.rt
        self._pc, self._flags = rt.regs[rt.pc], rt.regs[rt.flags]
        self.watched: set[int] = set()
        self.halts = 0  # hlts woken by an interrupt in the current run
        self.handler: StopHandler | None = None

    def watch(self, address: int) -> None:
        """Handle the hlt at `address` in a code hook from now on."""
        if address in self.watched:
            return
        uc = self.cpu.uc
        uc.hook_add(UC_HOOK_CODE, self._on_hlt, None, address, address)
        uc.ctl_remove_cache(address, address + 1)  # a hook applies to code translated after it
        self.watched.add(address)

    def _on_hlt(self, uc, address, size, _) -> None:
        cpu = self.cpu
        if size != 1 or cpu.read_virtual(address, 1) != HLT:  # the code there changed since
            return
        flags = self.cpu.reg.get(self._flags)
        if flags & EFLAGS_IF:
            self.halts += 1
            cpu.reg.set(self._pc, address + 1)
            return
        if not self.resume("halt", address, None, flags):
            cpu.stop(("halt", address))

    def on_debug_trap(self, uc) -> bool:
        """A #DB (a set TF) natively: True if the handler took it."""
        flags = self.cpu.reg.get(self._flags)
        if not flags & EFLAGS_TF or self.handler is None:
            return False
        if not self.resume("exception", self.cpu.reg.get(self._pc), VECTOR_DB, flags):
            return False
        self.cpu.reg.set(self._flags, flags & ~EFLAGS_TF)  # else every next instruction traps again
        return True

    def resume(self, kind: str, pc: int, vector: int | None, flags: int) -> bool:
        """Hand a stop to the run's handler; True if the CPU goes on where it says."""
        if self.handler is None:
            return False
        at = self.handler(kind, pc, vector, flags)
        if at is None:
            return False
        self.cpu.reg.set(self._pc, at)
        return True


__all__ = ["NativeStops", "StopHandler"]
