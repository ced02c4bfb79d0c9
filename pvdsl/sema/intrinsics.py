"""Intrinsics: one machine instruction each, with a fixed signature.

`privileged` marks instructions a paravirtualised kernel may not execute
(they fault, or silently do nothing, outside ring 0): a backend that runs
under Xen must reach the hypervisor instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import types as T


@dataclass(frozen=True)
class Intrinsic:
    name: str
    params: tuple[tuple[str, T.Type], ...]
    ret: T.Type
    privileged: bool
    doc: str


_W = T.ULONG
_PU32 = T.PtrType(T.U32)

INTRINSICS: dict[str, Intrinsic] = {i.name: i for i in (
    Intrinsic("cli", (), T.VOID, True, "clear the interrupt flag"),
    Intrinsic("sti", (), T.VOID, True, "set the interrupt flag"),
    Intrinsic("pushf", (), _W, False, "read the flags register (pushf; pop)"),
    Intrinsic("popf", (("flags", _W),), T.VOID, True, "write the flags register (push; popf)"),
    Intrinsic("hlt", (), T.VOID, True, "halt until the next interrupt"),
    Intrinsic("read_cr0", (), _W, True, "mov %cr0"),
    Intrinsic("read_cr2", (), _W, True, "mov %cr2"),
    Intrinsic("read_cr3", (), _W, True, "mov %cr3"),
    Intrinsic("read_cr4", (), _W, True, "mov %cr4"),
    Intrinsic("write_cr0", (("value", _W),), T.VOID, True, "mov to %cr0"),
    Intrinsic("write_cr2", (("value", _W),), T.VOID, True, "mov to %cr2"),
    Intrinsic("write_cr3", (("value", _W),), T.VOID, True, "mov to %cr3"),
    Intrinsic("write_cr4", (("value", _W),), T.VOID, True, "mov to %cr4"),
    Intrinsic("invlpg", (("addr", _W),), T.VOID, True, "invalidate one TLB entry"),
    Intrinsic("wbinvd", (), T.VOID, True, "write back and invalidate caches"),
    Intrinsic("rdmsr", (("msr", T.U32),), T.U64, True, "read a model-specific register"),
    Intrinsic("wrmsr", (("msr", T.U32), ("value", T.U64)), T.VOID, True, "write a model-specific register"),
    Intrinsic("rdtsc", (), T.U64, False, "read the time-stamp counter"),
    Intrinsic("cpuid", (("eax", _PU32), ("ebx", _PU32), ("ecx", _PU32), ("edx", _PU32)), T.VOID, False,
              "cpuid with leaf *eax and subleaf *ecx; results written back through all four"),
    Intrinsic("barrier", (), T.VOID, False, "compiler barrier: no memory access moves across it"),
)}
