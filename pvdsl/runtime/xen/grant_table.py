"""The grant table of a domain (Xen's struct grant_table, version 1).

Xen allocates the table's frames and shares them with the domain: they are
owned by it (the guest maps them to write grant entries) but are not part
of its reservation, like shared_info. Xen's own bookkeeping stays out of the
guest's reach: an active entry per ref in use (pin counts per kind of use,
the frame) and a maptrack table of the grants this domain has mapped, whose
indexes are the handles it gets back. hc_grant.py implements the hypercall
on top of this.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from .memory import PAGE_SHIFT, PAGE_SIZE

INITIAL_NR_GRANT_FRAMES = 1  # asm-x86/grant_table.h
MAX_GRANT_FRAMES = 64  # gnttab_max_frames' default, and libxl's max_grant_frames
MAX_MAPTRACK_FRAMES = 1024  # gnttab_max_maptrack_frames' default
MAPTRACK_PER_PAGE = PAGE_SIZE // 16  # struct grant_mapping is 16 bytes

# Pin counts of an active entry, one byte each (struct active_grant_entry).
PIN_HOST_W, PIN_HOST_R, PIN_DEV_W, PIN_DEV_R = 1, 1 << 8, 1 << 16, 1 << 24
WRITE_PINS = 0xFF * (PIN_HOST_W | PIN_DEV_W)
PIN_OVERFLOW = 0x80808080  # a count about to overflow its byte


@dataclass
class Active:
    """Xen's active_grant_entry: who uses a ref, how often, which frame."""

    pin: int = 0
    domid: int = 0
    mfn: int = -1


@dataclass
class Mapping:
    """One maptrack entry: a grant the owning domain has mapped."""

    ref: int
    domid: int  # the granting domain
    flags: int  # GNTMAP_* still in effect


class GrantTable:
    """The grant state of one domain: its shared frames, active entries and maptrack."""

    def __init__(self, hv, d):
        self.hv, self.d = hv, d
        self.version = 1
        self.frames: list[int] = []
        self.max_frames = MAX_GRANT_FRAMES
        self.active: dict[int, Active] = {}
        self.maptrack: dict[int, Mapping] = {}
        self.free_handles: deque[int] = deque()
        self.maptrack_limit = 0
        abi = d.abi
        self.entry_size = abi.size("grant_entry_v1")
        self._flags = abi.field("grant_entry_v1", "flags")
        self._domid = abi.field("grant_entry_v1", "domid")
        self._frame = abi.field("grant_entry_v1", "frame")
        self.grow(INITIAL_NR_GRANT_FRAMES)

    # ---- frames ----
    def grow(self, nr: int) -> bool:
        """Share frames with the domain up to `nr` (gnttab_grow_table);
        False when the host has no memory left for them."""
        hv, mem = self.hv, self.hv.mem
        while len(self.frames) < nr:
            mfn = mem.alloc()
            if mfn is None:
                return False
            mem.owner[mfn] = self.d.domid
            mem.count[mfn] = 1
            mem.xenheap[mfn] = 1
            self.d.xenheap_pages.add(mfn)
            hv.m2p[mfn] = -1
            self.frames.append(mfn)
        return True

    @property
    def nr_entries(self) -> int:
        return len(self.frames) * (PAGE_SIZE // self.entry_size)

    def entry_maddr(self, ref: int) -> int:
        per = PAGE_SIZE // self.entry_size
        return (self.frames[ref // per] << PAGE_SHIFT) + (ref % per) * self.entry_size

    def entry(self, ref: int) -> tuple[int, int, int]:
        """(flags, domid, frame) as the granting guest wrote them."""
        at, mem = self.entry_maddr(ref), self.hv.mem
        return (mem.uint(at + self._flags.offset, self._flags.size), mem.uint(at + self._domid.offset, self._domid.size),
                mem.uint(at + self._frame.offset, self._frame.size))

    def set_flags(self, ref: int, flags: int) -> None:
        self.hv.mem.set_uint(self.entry_maddr(ref) + self._flags.offset, self._flags.size, flags)

    def clear_flags(self, ref: int, mask: int) -> None:
        if mask:
            self.set_flags(ref, self.entry(ref)[0] & ~mask)

    def act(self, ref: int) -> Active:
        a = self.active.get(ref)
        if a is None:
            a = self.active[ref] = Active()
        return a

    # ---- maptrack ----
    def get_handle(self) -> int | None:
        if not self.free_handles:
            if self.maptrack_limit >= MAX_MAPTRACK_FRAMES * MAPTRACK_PER_PAGE:
                return None
            self.free_handles.extend(range(self.maptrack_limit, self.maptrack_limit + MAPTRACK_PER_PAGE))
            self.maptrack_limit += MAPTRACK_PER_PAGE
        return self.free_handles.popleft()

    def put_handle(self, handle: int) -> None:
        self.maptrack.pop(handle, None)
        self.free_handles.append(handle)


_TABLES: WeakKeyDictionary = WeakKeyDictionary()  # Hypervisor -> {domid: GrantTable}


def grant_table(hv, d) -> GrantTable:
    """`d`'s grant table, made the first time it is needed (Xen makes it
    with the domain; a guest cannot tell the difference)."""
    tables = _TABLES.setdefault(hv, {})
    gt = tables.get(d.domid)
    if gt is None or gt.d is not d:  # a new domain under a reused id starts afresh
        gt = tables[d.domid] = GrantTable(hv, d)
    return gt


def existing_table(hv, d) -> GrantTable | None:
    """`d`'s grant table if it has one (without making it)."""
    gt = _TABLES.get(hv, {}).get(d.domid)
    return gt if gt is not None and gt.d is d else None


def grant_access(hv, d, ref: int, domid: int, frame: int, readonly: bool = False) -> bool:
    """Write grant entry `ref` of `d`'s table as the guest's
    gnttab_grant_foreign_access_ref does (frame and domid, then the flags).
    False if the table has no such entry."""
    gt = grant_table(hv, d)
    if not 0 <= ref < gt.nr_entries:
        return False
    c, mem, at = d.abi.c, hv.mem, gt.entry_maddr(ref)
    mem.set_uint(at + gt._domid.offset, gt._domid.size, domid)
    mem.set_uint(at + gt._frame.offset, gt._frame.size, frame)
    gt.set_flags(ref, c("GTF_permit_access") | (c("GTF_readonly") if readonly else 0))
    return True
