"""What a call of the interpreter sees and returns.

The interpreter is an oracle: it owns no guest state of its own. Memory, the
CPU state that intrinsics read and write, the addresses of a backend's
variables and the hypervisor's answers all come from the caller, so the same
interpreter can run against a snapshot, a model, or a replay of a real run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..source import Span

# rdtsc returns CpuState.tsc, then advances it by tsc_step: a time-stamp
# counter that always moves forward, so loops that wait on it terminate.
TSC_STEP = 100

X86_EFLAGS_IF = 1 << 9
# Bits popf can change at CPL 0: CF PF AF ZF SF TF IF DF OF IOPL NT AC ID.
# VM, VIF and VIP keep their values, RF is cleared, reserved bits read as
# zero except bit 1, which always reads as one (Intel SDM vol. 1, 3.4.3).
EFLAGS_POPF_WRITABLE = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x3000 | 0x4000 \
    | 0x40000 | 0x200000
EFLAGS_POPF_KEPT = (1 << 17) | (1 << 19) | (1 << 20)
EFLAGS_ALWAYS_ONE = 0x2


class Memory(Protocol):
    """The guest kernel's virtual memory."""

    def read(self, va: int, n: int) -> bytes: ...

    def write(self, va: int, data: bytes) -> None: ...


class MemoryFault(Exception):
    """An access a Memory refuses (unmapped, read-only)."""

    def __init__(self, va: int, size: int, write: bool = False):
        super().__init__(f"{'write' if write else 'read'} of {size} byte{'s' if size != 1 else ''} at {va:#x}")
        self.va, self.size, self.write = va, size, write


class InterpFault(Exception):
    """A hook stopped the way the CPU would stop it (a fault), or ran past
    what the interpreter allows (its step budget, its stack).

    kind: "memory", "#DE" (divide error), "#GP" (rdmsr/wrmsr of a missing
    MSR), "halt" (hlt with interrupts disabled: the CPU never wakes),
    "budget", "stack", or "unsupported" (a call the interpreter cannot
    follow, such as a hook of a table the backend does not fill)."""

    def __init__(self, kind: str, message: str, span: Span | None = None):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.span = kind, message, span
        self.cause: BaseException | None = None

    def where(self) -> str:
        """The message, prefixed with `file:line:col` when the place is known."""
        return self.message if self.span is None else f"{self.span}: {self.message}"


@dataclass
class CpuState:
    """What the intrinsics read and change: the CPU a native backend runs on.
    Under Xen the privileged intrinsics never run (the checker rejects them),
    so only pushf, rdtsc, cpuid and barrier matter there."""

    flags: int = EFLAGS_ALWAYS_ONE | X86_EFLAGS_IF
    cr0: int = 0
    cr2: int = 0
    cr3: int = 0
    cr4: int = 0
    msrs: dict[int, int] = field(default_factory=dict)
    tsc: int = 0
    cpuid: Callable[[int, int], tuple[int, int, int, int]] | None = None  # None answers zeros
    halted: int = 0
    tlb_flushes: list = field(default_factory=list)  # ("invlpg", va) ("write_cr3", value) ("wbinvd", None)
    tsc_step: int = TSC_STEP


@dataclass
class State:
    memory: Memory
    cpu: CpuState = field(default_factory=CpuState)
    # A percpu variable (this vCPU's copy) or a backend `var` -> its address.
    symbol_address: Callable[[str], int] = None
    # (name, number, argument register values) -> the value Xen returns.
    hypercall: Callable[[str, int, tuple[int, ...]], int] | None = None
    # Where locals that need memory (structs, arrays, locals whose address is
    # taken) live. None: a private stack of the interpreter's, which
    # `Interpreter.memory` exposes during a call; an address: frames grow
    # down from it in `memory`, where a hypercall callback can read them.
    stack_top: int | None = None


@dataclass
class InterpResult:
    value: int = 0  # the result's bits, as the kernel caller reads them (0 for void)
    hypercalls: list[tuple[str, int, tuple[int, ...]]] = field(default_factory=list)
    fault: InterpFault | None = None
    steps: int = 0

    @property
    def ok(self) -> bool:
        return self.fault is None
