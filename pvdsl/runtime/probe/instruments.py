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

from ..xen.memory import PAGE_SHIFT, PAGE_SIZE


@dataclass(slots=True)
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
    reads: list[tuple[int, int]] = field(default_factory=list)  # (va, n) the model read from the guest
    tag: object = None  # the recorder's tag() when the call arrived

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
        self.lo = self._vas[0] if self._vas else 0  # the span of the pages (a hint: there may be holes)
        self.hi = self._vas[-1] + PAGE_SIZE if self._vas else 0

    def snapshot(self) -> list[bytes]:
        mm = self.mem.mm
        return [mm[m:m + PAGE_SIZE] for m in self._maddrs]

    def restore(self, snap: list[bytes]) -> None:
        mm = self.mem.mm
        for m, data in zip(self._maddrs, snap):
            mm[m:m + PAGE_SIZE] = data

    def as_dict(self, snap: list[bytes]) -> dict[int, bytes]:
        return dict(zip(self._vas, snap))

    def diff(self, before: list[bytes], after: list[bytes]) -> list[tuple[int, int, bytes]]:
        out = []
        for va, a, b in zip(self._vas, before, after):
            if a != b:
                # The first and last differing bytes, from one XOR of the pages
                # read as integers (a per-byte loop costs 100x more).
                x = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
                lo = ((x & -x).bit_length() - 1) // 8
                hi = (x.bit_length() - 1) // 8 + 1
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
        self._reads: list[tuple[int, int]] = []
        self.tag = None  # a callable whose value each record keeps (the batch driver's record index)

    def reset(self) -> None:
        self.records = []

    def enter(self, v, number: int, raw) -> None:
        self._before = self.pages.snapshot() if self.pages is not None else None
        # The whole (small) stack, when an argument points into it: copying
        # it costs less than reading the stack pointer to copy less.
        stack = self.stack
        if stack is not None and any(stack.lo <= a < stack.hi for a in raw):
            self._stack = stack.as_dict(stack.snapshot())
        else:
            self._stack = {}
        self._reads = []

    def guest_read(self, va: int, n: int) -> None:
        if len(self._reads) < 256:
            self._reads.append((va, n))

    def leave(self, v, number: int, raw, rc: int) -> None:
        effects = self.pages.diff(self._before, self.pages.snapshot()) if self._before is not None else []
        self.records.append(HypercallRecord(number, tuple(raw), rc, v.vcpu_id, effects, self._stack, self._reads,
                                            self.tag() if self.tag else None))


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
        self.hits: list[tuple] = []  # (pc, machine address, size, value, tag)
        self.saved: dict[int, bytes] = {}  # machine page -> bytes before the first store seen
        self.tag = None  # a callable whose value each hit records (the batch driver's record index)
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
        # Called before the store: keep each page's bytes once, for rollback().
        for page in {address & ~(PAGE_SIZE - 1), (address + size - 1) & ~(PAGE_SIZE - 1)}:
            if page not in self.saved and page + PAGE_SIZE <= self.cpu.hv.mem.size:
                self.saved[page] = self.cpu.hv.mem.mm[page:page + PAGE_SIZE]
        if len(self.hits) < self.limit:
            self.hits.append((uc.reg_read(self._pc), address, size, value, self.tag() if self.tag else None))

    def reset(self) -> None:
        self.hits = []
        self.saved = {}

    def rollback(self) -> None:
        """Undo every store this watch saw since reset()."""
        mm = self.cpu.hv.mem.mm
        for page, data in self.saved.items():
            mm[page:page + PAGE_SIZE] = data
        self.saved = {}

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
    from ..xen.hypercalls.mmu import new_baseptr
    from ..xen.hypercalls.registry import Call

    if v.guest_table == mfn:
        return 0
    return new_baseptr(Call(hv, v, "mmuext_op", {}), mfn)


class VcpuGuard:
    """The state of one Xen vCPU that hooks may change through the model
    (page-table root, GDT frames and their descriptors, LDT, segment bases,
    kernel stack, trap table, callbacks, debug registers, TS), captured once
    and put back after each fuzzing example, so that every example starts
    from the state a fresh host boots into (as its replay will)."""

    FIELDS = ("ldt", "fs_base", "gs_base_kernel", "gs_base_user", "kernel_ss", "kernel_sp", "fpu_ts", "up",
              "blocked")

    def __init__(self, hv, v):
        self.hv, self.v = hv, v
        self.root = v.guest_table
        self.gdt = (list(v.gdt_frames), v.gdt_entries)
        self.gdt_bytes = [hv.mem.mm[m << PAGE_SHIFT:(m + 1) << PAGE_SHIFT] for m in v.gdt_frames]
        self.fields = {f: getattr(v, f) for f in self.FIELDS}
        self.dicts = {f: dict(getattr(v, f)) for f in ("trap_table", "callbacks", "callback_cs")}
        self.debugreg = list(v.debugreg)
        self.percpu_selector = v.cpu.percpu_selector if v.cpu is not None else 0

    def restore(self) -> bool:
        """Put everything back; True if anything had changed."""
        hv, v, changed = self.hv, self.v, False
        if v.guest_table != self.root:
            restore_baseptr(hv, v, self.root)
            changed = True
        if (v.gdt_frames, v.gdt_entries) != self.gdt:
            from ..xen.hypercalls.vcpu import install_gdt

            install_gdt(hv, v, *self.gdt)
            changed = True
        mm = hv.mem.mm
        for m, data in zip(self.gdt[0], self.gdt_bytes):
            at = m << PAGE_SHIFT
            if mm[at:at + PAGE_SIZE] != data:
                mm[at:at + PAGE_SIZE] = data  # descriptors the model validated at boot
                changed = True
        for f, value in self.fields.items():
            if getattr(v, f) != value:
                setattr(v, f, value)
                changed = True
        for f, value in self.dicts.items():
            if getattr(v, f) != value:
                setattr(v, f, dict(value))
                changed = True
        if v.debugreg != self.debugreg:
            v.debugreg[:] = self.debugreg
            changed = True
        if changed and v.cpu is not None:
            v.cpu.flush_tlb()
            v.cpu.percpu_selector = self.percpu_selector
            v.cpu.sync_segment_bases()
        return changed


class CpuidProbe:
    """What `cpuid` answers on this vCPU, for the reference interpreter's
    CpuState.cpuid: a `cpuid; int3` placed in the kernel region and run
    once per (leaf, subleaf), the answers kept."""

    def __init__(self, cpu):
        from ..guest.loader import _write_va

        self.cpu = cpu
        self.va = cpu.d.kernel.alloc(16, 16, "cpuid probe")
        _write_va(cpu.d, self.va, b"\x0f\xa2\xcc")
        self.answers: dict[tuple[int, int], tuple[int, int, int, int]] = {}
        self._regs = tuple(cpu.gprs.names[:4])  # rax rbx rcx rdx / eax ebx ecx edx

    def __call__(self, leaf: int, subleaf: int) -> tuple[int, int, int, int]:
        key = (leaf & 0xFFFFFFFF, subleaf & 0xFFFFFFFF)
        if key not in self.answers:
            a, b, c, d = self._regs
            res = self.cpu.run(self.va, self.va + 2, {a: key[0], c: key[1]}, 100, 1.0, label="cpuid probe",
                               hypercalls=False)
            regs = res.registers
            self.answers[key] = tuple(regs[r] & 0xFFFFFFFF for r in (a, b, c, d)) if res.fault is None else (0,) * 4
        return self.answers[key]


_CRS = {0: X.UC_X86_REG_CR0, 2: X.UC_X86_REG_CR2, 3: X.UC_X86_REG_CR3, 4: X.UC_X86_REG_CR4}


def control_registers(cpu) -> dict[int, int]:
    """cr0, cr2, cr3, cr4 of an emulated vCPU, by number."""
    return {n: cpu.uc.reg_read(r) for n, r in _CRS.items()}


def page_of(va: int) -> int:
    return va >> PAGE_SHIFT << PAGE_SHIFT


__all__ = ["HypercallRecord", "HypercallRecorder", "PageSet", "WriteWatch", "control_registers", "CpuidProbe", "VcpuGuard", "page_of", "read_msr", "restore_baseptr"]
