"""What one execution produced, and what the harness keeps per hook: the
plain data the oracles, the batch path and the reports share."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..interp import CpuState
from ..runtime.probe.instruments import read_msr
from .values import Example


@dataclass
class Violation:
    oracle: str
    message: str
    expected: str = ""
    actual: str = ""
    pc: int | None = None  # the offending guest instruction, when known


@dataclass(slots=True)
class Outcome:
    hook: str
    example: Example
    violations: list[Violation] = field(default_factory=list)
    registers: dict[str, int] = field(default_factory=dict)
    entry_values: list[int] = field(default_factory=list)
    register_names: list[str] = field(default_factory=list)
    value: int = 0
    fault: object = None
    hypercalls: list[tuple[str, tuple[int, ...], int]] = field(default_factory=list)
    args: list[int] = field(default_factory=list)  # as called (see Rig.resolve_args)
    inconclusive: str = ""  # why the differential could not decide (the example still ran every other oracle)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def entry_registers(self) -> dict[str, int]:
        return dict(zip(self.register_names, self.entry_values))


@dataclass
class InterpRun:
    """What the reference interpreter made of one example."""

    res: object  # interp.InterpResult
    calls: list  # (name, number, args, pointees) per hypercall
    pages: dict[int, bytes]  # watched pages it wrote: their final bytes
    outside: set  # machine frames of unwatched pages it wrote
    cpu: CpuState
    crs0: tuple


MEMO_LIMIT = 4096


@dataclass
class HookPlan:
    """What execute() needs per hook, worked out once."""

    hook: object  # runtime.loader.HookInfo
    params: tuple
    sizes: tuple[int, ...]
    pushf: bool  # the result may carry arithmetic flags no spec predicts
    rdtsc: bool  # the result may carry the host's clock
    pointers: bool  # has pointer parameters: their buffers are refilled per example
    memo: dict | None = None  # inputs -> InterpRun, for hooks that reach no hypercall
    called: frozenset = frozenset()  # every name the body (and its helpers) calls
    # inputs and hypercall answers -> Replay, for hooks that reach hypercalls (fuzz/batch.py)
    replay: dict | None = None


@dataclass(slots=True)
class Replay:
    """An interpreter run of a hook that makes hypercalls, kept to be made
    again: what it returned, the calls it made, the flags it left, and every
    memory access in order (replayed only when each read sees the same bytes)."""

    res: object
    calls: list
    flags: int
    log: list


class MachineMsrs(dict):
    """The vCPU's MSRs as the interpreter's CpuState.msrs: read through to
    the emulated CPU (which reads unknown MSRs as 0), writes kept."""

    def __init__(self, cpu):
        super().__init__()
        self.cpu = cpu

    def get(self, msr, default=None):
        return super().get(msr) if msr in self.keys() else read_msr(self.cpu, msr)

    def __contains__(self, msr) -> bool:
        return True


def width_of(t, arch) -> int:
    from ..sema import types as T

    if isinstance(t, T.IntType):
        return t.width(arch)
    if isinstance(t, T.EnumType):
        return t.base.width(arch)
    if isinstance(t, T.BoolType):
        return 8
    return arch.word_bits


def fmt_args(args) -> str:
    return "(" + ", ".join(f"{a:#x}" if isinstance(a, int) and a >= 0 else str(a) for a in args) + ")"

