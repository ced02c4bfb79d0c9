"""x86 page-table entries and a software page walk.

The emulated CPU walks the same tables in hardware (unicorn); the hypervisor
walks them here, as Xen does when it copies a hypercall argument from a
guest virtual address: never through unicorn, so a bad pointer becomes
-EFAULT and never an emulator error.
"""

from __future__ import annotations

from ..archinfo import RtArch
from ..errors import GuestFault
from .memory import PAGE_SHIFT, PAGE_SIZE, MachineMemory

# PTE bits (Intel SDM vol. 3, 4.5 / 4.4.2).
_PAGE_PRESENT = 0x001
_PAGE_RW = 0x002
_PAGE_USER = 0x004
_PAGE_PWT = 0x008
_PAGE_PCD = 0x010
_PAGE_ACCESSED = 0x020
_PAGE_DIRTY = 0x040
_PAGE_PSE = 0x080  # in an L2/L3: large page
_PAGE_PAT_L1 = 0x080  # the same bit in an L1: PAT
_PAGE_GLOBAL = 0x100
_PAGE_AVAIL = 0xE00
_PAGE_NX = 1 << 63
ADDR_MASK = 0x000FFFFFFFFFF000
ENTRY_BYTES = 8  # PAE and 4-level entries are both 64-bit

KERNEL_PAGE = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY
KERNEL_PAGE_RO = _PAGE_PRESENT | _PAGE_ACCESSED
TABLE_ENTRY = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_USER


def entry_mfn(e: int) -> int:
    return (e & ADDR_MASK) >> PAGE_SHIFT


def make_entry(mfn: int, flags: int) -> int:
    return (mfn << PAGE_SHIFT) | flags


class Walk:
    """The entries met on the way to a virtual address, top level first."""

    __slots__ = ("entries", "tables", "maddr", "reason")

    def __init__(self):
        self.entries: list[int] = []
        self.tables: list[int] = []  # machine address of each table walked
        self.maddr: int | None = None
        self.reason: str = ""


def walk(mem: MachineMemory, rt: RtArch, root_mfn: int, va: int) -> Walk:
    w = Walk()
    if not rt.canonical(va):
        w.reason = "non-canonical address"
        return w
    table = root_mfn << PAGE_SHIFT
    shifts = rt.shifts()
    for level, (shift, idx) in enumerate(zip(shifts, rt.indices(va))):
        if not 0 <= table < mem.size:
            w.reason = "page table outside machine memory"
            return w
        e = mem.u64(table + idx * ENTRY_BYTES)
        w.tables.append(table)
        w.entries.append(e)
        if not e & _PAGE_PRESENT:
            w.reason = f"not present at level {rt.levels - level}"
            return w
        last = level == len(shifts) - 1
        # A large page (PSE) at L2 or (4-level) L3 ends the walk early.
        large = not last and (e & _PAGE_PSE) and (rt.levels - level) in (2, 3) and not (
            rt.levels == 3 and level == 0)
        if last or large:
            size = 1 << shift
            base = e & ADDR_MASK & ~(size - 1)
            maddr = base | (va & (size - 1))
            if maddr >= mem.size:
                w.reason = "maps a frame outside machine memory"
                return w
            w.maddr = maddr
            return w
        table = e & ADDR_MASK
    return w


def check_rights(rt: RtArch, w: Walk, write: bool, user: bool) -> str:
    """'' if the access is allowed (CR0.WP set, as Xen runs), else why not."""
    entries = w.entries[1:] if rt.levels == 3 else w.entries  # a PAE PDPTE has no RW/US bits
    if write and not all(e & _PAGE_RW for e in entries):
        return "write to a read-only mapping"
    if user and not all(e & _PAGE_USER for e in entries):
        return "user access to a supervisor mapping"
    return ""


def translate(mem: MachineMemory, rt: RtArch, root_mfn: int, va: int, write: bool = False,
              user: bool = False) -> int:
    w = walk(mem, rt, root_mfn, va)
    if w.maddr is None:
        raise GuestFault(va, w.reason)
    why = check_rights(rt, w, write, user)
    if why:
        raise GuestFault(va, why)
    return w.maddr


class GuestMemory:
    """Guest virtual memory as the hypervisor sees it during a hypercall:
    through the calling vCPU's current page tables, refusing Xen's own range
    (Xen's access_ok) and addresses that are not mapped (writes need RW)."""

    def __init__(self, mem: MachineMemory, rt: RtArch, root_mfn: int):
        self.mem = mem
        self.rt = rt
        self.root = root_mfn

    def _check_range(self, va: int, n: int) -> None:
        lo, hi = self.rt.xen_hole
        top = 1 << (8 * self.rt.word)
        if n < 0 or va < 0 or va + n > top:
            raise GuestFault(va, "range wraps the address space")
        if n and va < hi and va + n > lo:
            raise GuestFault(va, "range overlaps Xen's virtual address space")

    # Called with (va, n) for every read: the fuzzer's record of what a
    # hypercall consumed. None almost always.
    observer = None

    def read(self, va: int, n: int) -> bytes:
        self._check_range(va, n)
        if self.observer is not None:
            self.observer(va, n)
        out = bytearray()
        while n > 0:
            chunk = min(n, PAGE_SIZE - (va & (PAGE_SIZE - 1)))
            ma = translate(self.mem, self.rt, self.root, va)
            out += self.mem.read(ma, chunk)
            va += chunk
            n -= chunk
        return bytes(out)

    def write(self, va: int, data: bytes) -> None:
        n = len(data)
        self._check_range(va, n)
        # Translate every page first: a copy that faults half-way would
        # leave a partial write, which Xen's copy_to_guest also can; doing
        # the checks first just makes the model's behaviour deterministic.
        pieces, pos = [], 0
        while pos < n:
            chunk = min(n - pos, PAGE_SIZE - ((va + pos) & (PAGE_SIZE - 1)))
            pieces.append((translate(self.mem, self.rt, self.root, va + pos, write=True), pos, chunk))
            pos += chunk
        for ma, off, chunk in pieces:
            self.mem.write(ma, data[off:off + chunk])

    def word(self, va: int) -> int:
        return int.from_bytes(self.read(va, self.rt.word), "little")

    def words(self, va: int, count: int) -> list[int]:
        raw = self.read(va, count * self.rt.word)
        w = self.rt.word
        return [int.from_bytes(raw[i:i + w], "little") for i in range(0, len(raw), w)]

    def set_word(self, va: int, value: int) -> None:
        self.write(va, self.rt.pack_word(value))

    def word_array(self, va: int) -> "WordArray":
        return WordArray(self, va)


class WordArray:
    """A guest array of words (an extent list) that a hypercall walks element
    by element, as Xen's copy_{from,to}_guest_offset does: the same outcome
    as `GuestMemory.word` / `set_word` per element (a GuestFault at the first
    element that cannot be read or written), but each page is translated
    once, not once per element. The guest cannot change its page tables
    during the hypercall, so a translation stays good until it returns."""

    def __init__(self, g: GuestMemory, va: int):
        self.g, self.va, self.w = g, va, g.rt.word
        self._mask = (1 << (8 * self.w)) - 1
        self._fmt = "Q" if self.w == 8 else "I"
        self._aligned = va % self.w == 0  # else elements may straddle pages: the general path
        self._views: dict[int, memoryview] = {}  # (guest page << 1 | write) -> that frame, as words

    def _view(self, va: int, write: bool) -> memoryview:
        key = (va >> PAGE_SHIFT) << 1 | write
        view = self._views.get(key)
        if view is None:
            g = self.g
            g._check_range(va, self.w)
            base = translate(g.mem, g.rt, g.root, va & ~(PAGE_SIZE - 1), write=write)
            view = self._views[key] = memoryview(g.mem.mm)[base:base + PAGE_SIZE].cast(self._fmt)
        return view

    def __getitem__(self, i: int) -> int:
        va = self.va + i * self.w
        if self.g.observer is not None or not self._aligned:
            return self.g.word(va)  # recorded for the fuzzer, or unaligned: the general path
        return self._view(va, False)[(va & (PAGE_SIZE - 1)) // self.w]

    def __setitem__(self, i: int, value: int) -> None:
        va = self.va + i * self.w
        if not self._aligned:
            self.g.set_word(va, value)
            return
        self._view(va, True)[(va & (PAGE_SIZE - 1)) // self.w] = value & self._mask
