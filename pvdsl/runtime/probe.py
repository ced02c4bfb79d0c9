"""Instruments for checking hooks from outside the guest: what the fuzzer
(pvdsl/fuzz) needs from the emulated machine and nothing more.

`HypercallRecorder` sees every hypercall the model takes (installed as
`Hypervisor.trace`): its raw argument registers, its result and the bytes
the model changed in the guest's watched pages while handling it, so that
the reference interpreter can be answered with exactly what the compiled
code was answered with.

`WriteWatch` reports guest stores outside the virtual ranges a hook may
write. It is a unicorn memory hook restricted to the complement of the
allowed ranges, so stores inside them never reach Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unicorn import UC_HOOK_MEM_WRITE
from unicorn import x86_const as X

from .memory import PAGE_SHIFT, PAGE_SIZE


@dataclass
class HypercallRecord:
    number: int
    raw: tuple[int, ...]
    rc: int
    vcpu: int
    # (virtual address of a watched page, offset, new bytes): the model's
    # own writes to guest memory during this hypercall.
    effects: list[tuple[int, int, bytes]] = field(default_factory=list)
    # The guest's stack pages as the model found them (page va -> bytes): what
    # an argument pointing at the caller's locals pointed at.
    stack: dict[int, bytes] = field(default_factory=dict)

    def stack_bytes(self, va: int, n: int) -> bytes | None:
        out = bytearray()
        while n > 0:
            page = self.stack.get(va & ~(PAGE_SIZE - 1))
            if page is None:
                return None
            off = va & (PAGE_SIZE - 1)
            take = min(n, PAGE_SIZE - off)
            out += page[off:off + take]
            va, n = va + take, n - take
        return bytes(out)


class PageSet:
    """Guest virtual pages watched by value: their machine addresses are
    resolved once, and a snapshot is one slice copy per page."""

    def __init__(self, mem, cpu, vas):
        self.mem = mem
        self.pages: dict[int, int] = {}  # page va -> machine address
        for va in sorted({va & ~(PAGE_SIZE - 1) for va in vas}):
            self.pages[va] = cpu.maddr(va)
        self._maddrs = list(self.pages.values())
        self._vas = list(self.pages)

    def snapshot(self) -> list[bytes]:
        mm = self.mem.mm
        return [mm[m:m + PAGE_SIZE] for m in self._maddrs]

    def as_dict(self, snap: list[bytes]) -> dict[int, bytes]:
        return dict(zip(self._vas, snap))

    def diff(self, before: list[bytes], after: list[bytes]) -> list[tuple[int, int, bytes]]:
        out = []
        for va, a, b in zip(self._vas, before, after):
            if a != b:
                lo = next(i for i in range(PAGE_SIZE) if a[i] != b[i])
                hi = next(i for i in range(PAGE_SIZE - 1, -1, -1) if a[i] != b[i]) + 1
                out.append((va, lo, b[lo:hi]))
        return out


class HypercallRecorder:
    """Install with `hv.trace = recorder`; `records` fills in call order."""

    def __init__(self, pages: PageSet | None = None, stack: PageSet | None = None):
        self.pages = pages
        self.stack = stack
        self.records: list[HypercallRecord] = []
        self._before: list[bytes] | None = None
        self._stack: dict[int, bytes] = {}

    def reset(self) -> None:
        self.records = []

    def enter(self, v, number: int, raw) -> None:
        self._before = self.pages.snapshot() if self.pages is not None else None
        self._stack = self.stack.as_dict(self.stack.snapshot()) if self.stack is not None else {}

    def leave(self, v, number: int, raw, rc: int) -> None:
        rec = HypercallRecord(number, tuple(raw), rc, v.vcpu_id, stack=self._stack)
        if self._before is not None:
            rec.effects = self.pages.diff(self._before, self.pages.snapshot())
        self.records.append(rec)


class WriteWatch:
    """Records guest stores outside `allowed` ((start, end) virtual ranges,
    end exclusive, page-granular) while installed on a vCPU.

    Unicorn filters and reports stores by *machine* address once paging is
    on, so the ranges are translated through the vCPU's page tables here,
    and a hit is reported with its machine address (`virtual` maps it back
    for the pages this watch knows)."""

    def __init__(self, cpu, allowed: list[tuple[int, int]], limit: int = 8):
        self.cpu = cpu
        self.limit = limit
        self.hits: list[tuple[int, int, int, int]] = []  # (pc, machine address, size, value)
        self.virtual: dict[int, int] = {}  # machine page -> virtual page
        frames = []
        for lo, hi in allowed:
            for va in range(lo & ~(PAGE_SIZE - 1), hi, PAGE_SIZE):
                ma = cpu.maddr(va)
                self.virtual[ma] = va
                frames.append((ma, ma + PAGE_SIZE))
        top = cpu.hv.mem.size - 1
        ranges, pos = [], 0
        for lo, hi in sorted(frames):
            if lo > pos:
                ranges.append((pos, lo - 1))
            pos = max(pos, hi)
        if pos <= top:
            ranges.append((pos, top))
        self._pc = cpu.rt.regs[cpu.rt.pc]
        self._handles = [cpu.uc.hook_add(UC_HOOK_MEM_WRITE, self._on_write, None, lo, hi) for lo, hi in ranges]
        cpu.uc.ctl_flush_tb()  # a hook applies only to code translated after it

    def _on_write(self, uc, access, address, size, value, _):
        if len(self.hits) < self.limit:
            self.hits.append((uc.reg_read(self._pc), address, size, value))

    def reset(self) -> None:
        self.hits = []

    def remove(self) -> None:
        for h in self._handles:
            self.cpu.uc.hook_del(h)
        self._handles = []
        self.cpu.uc.ctl_flush_tb()


def read_msr(cpu, msr: int) -> int:
    """What rdmsr returns on this vCPU (the emulator reads unknown MSRs as 0,
    where hardware would raise #GP)."""
    return cpu.uc.reg_read(X.UC_X86_REG_MSR, msr & 0xFFFFFFFF)


def restore_baseptr(hv, v, mfn: int) -> int:
    """Put vCPU `v` back on the page-table root `mfn` through the model's own
    MMUEXT_NEW_BASEPTR path (type references and cr3 included), as the
    kernel would after a hook switched it; 0 or Xen's errno."""
    from .hc_mmu import new_baseptr
    from .hcall import Call

    if v.guest_table == mfn:
        return 0
    return new_baseptr(Call(hv, v, "mmuext_op", {}), mfn)


_CRS = {0: X.UC_X86_REG_CR0, 2: X.UC_X86_REG_CR2, 3: X.UC_X86_REG_CR3, 4: X.UC_X86_REG_CR4}


def control_registers(cpu) -> dict[int, int]:
    """cr0, cr2, cr3, cr4 of an emulated vCPU, by number."""
    return {n: cpu.uc.reg_read(r) for n, r in _CRS.items()}


def page_of(va: int) -> int:
    return va >> PAGE_SHIFT << PAGE_SHIFT


__all__ = ["HypercallRecord", "HypercallRecorder", "PageSet", "WriteWatch", "control_registers", "page_of", "read_msr", "restore_baseptr"]
