"""Xen's page ownership and type system for PV guests (xen/arch/x86/mm.c).

A PV guest's page tables hold machine frame numbers, so Xen must check every
entry a guest installs. It does so with two counts per frame:

- a general reference count: the frame stays allocated (owned) while any
  page-table entry, pin, cr3 or registration refers to it;
- a type and a type count: a frame is used as one of L1..L4, writable or
  segment-descriptor page at a time. A page-table type is *validated*: every
  present entry is checked and takes the references it implies (an L2 entry
  takes an L1 type reference on its target, a writable L1 entry a writable
  type reference on the frame it maps). Because a page table can never also
  be writable, the guest can change its tables only through Xen.

Errors are Xen's: -EINVAL for a bad entry, a type conflict or a frame the
domain does not own.
"""

from __future__ import annotations

from ..errors import EINVAL
from .memory import (PAGE_SHIFT, PAGE_SIZE, PGT_L1, PGT_L2, PGT_L3, PGT_L4, PGT_SEG_DESC, PGT_WRITABLE,
                     PGT_XEN_L2_FLAG, pt_level)
from .paging import (_PAGE_ACCESSED, _PAGE_AVAIL, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX, _PAGE_PAT_L1,
                     _PAGE_PCD, _PAGE_PRESENT, _PAGE_PWT, _PAGE_RW, _PAGE_USER, ADDR_MASK, ENTRY_BYTES)

# Flags a guest may set (Xen's base_disallow_mask is the complement of
# P|RW|US|A|D|AVAIL, plus NX on NX hardware). L1 entries may also be global;
# a domain with I/O resources (dom0 here) may also set cache attributes.
_BASE_ALLOWED = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_AVAIL | _PAGE_NX
_CACHE_ATTRS = _PAGE_PWT | _PAGE_PCD | _PAGE_PAT_L1
_FLAGS_MASK = ~ADDR_MASK & 0xFFFFFFFFFFFFFFFF


def _target_type(level: int, rt, idx: int) -> int:
    """The type a present entry at `level` requires of the frame it points to."""
    if level == 4:
        return PGT_L3
    if level == 3:
        # PAE: L3 slot 3 maps the top GiB, whose L2 carries Xen's slots.
        if rt.levels == 3 and idx == 3:
            return PGT_L2 | PGT_XEN_L2_FLAG
        return PGT_L2
    return PGT_L1


class PageTypes:
    def __init__(self, hv):
        self.hv = hv
        self.mem = hv.mem

    # ---- general references ----
    def get_page(self, mfn: int, d) -> bool:
        mem = self.mem
        if not 0 <= mfn < mem.nframes or mem.owner[mfn] != d.domid or mem.count[mfn] <= 0:
            return False
        mem.count[mfn] += 1
        return True

    def put_page(self, mfn: int) -> None:
        mem = self.mem
        mem.count[mfn] -= 1
        if mem.count[mfn] == 0:
            self.hv.free_page(mfn)

    # ---- type references ----
    def get_page_type(self, mfn: int, ptype: int, d) -> int:
        mem = self.mem
        if mem.tcount[mfn] == 0:
            if mem.ptype[mfn] != ptype:
                if mem.ptype[mfn] == PGT_WRITABLE and pt_level(ptype):
                    # Writable -> page table: stale writable TLB entries must go.
                    self.hv.flush_all_tlbs(d)
                mem.ptype[mfn] = ptype
                mem.validated[mfn] = 0
            mem.tcount[mfn] = 1
            if not mem.validated[mfn]:
                rc = 0
                if pt_level(ptype):
                    rc = self._validate(mfn, ptype, d)
                elif ptype == PGT_SEG_DESC:
                    rc = self._validate_segdesc(mfn, d)
                if rc:
                    mem.tcount[mfn] = 0
                    return rc
                mem.validated[mfn] = 1
            return 0
        if mem.ptype[mfn] != ptype or not mem.validated[mfn]:
            return -EINVAL  # type conflict ("Bad type" in Xen's log)
        mem.tcount[mfn] += 1
        return 0

    def put_page_type(self, mfn: int) -> None:
        mem = self.mem
        mem.tcount[mfn] -= 1
        if mem.tcount[mfn] == 0 and pt_level(mem.ptype[mfn]) and mem.validated[mfn]:
            # The last user is gone: drop what the entries held (free_page_type).
            mem.validated[mfn] = 0
            self._devalidate(mfn, mem.ptype[mfn])

    def get_page_and_type(self, mfn: int, d, ptype: int) -> int:
        if not self.get_page(mfn, d):
            return -EINVAL
        rc = self.get_page_type(mfn, ptype, d)
        if rc:
            self.put_page(mfn)
        return rc

    def put_page_and_type(self, mfn: int) -> None:
        self.put_page_type(mfn)
        self.put_page(mfn)

    # ---- entries ----
    def is_xen_slot(self, d, ptype: int, idx: int) -> bool:
        rt = d.rt
        level = pt_level(ptype)
        if rt.xen_slot_level == 4:
            return level == 4 and idx in rt.xen_slots
        return ptype == PGT_L2 | PGT_XEN_L2_FLAG and idx in rt.xen_slots

    def adjust(self, d, level: int, e: int) -> int:
        """Xen's adjust_guest_lNe: a 64-bit PV kernel runs in ring 3, so its
        present entries are made user-accessible."""
        if e & _PAGE_PRESENT and d.rt.guest_ring == 3:
            e |= _PAGE_USER
        return e

    def _allowed(self, d, level: int) -> int:
        if level == 3 and d.rt.levels == 3:
            return _BASE_ALLOWED & ~_PAGE_NX  # a PAE PDPTE: no NX
        if level == 1:
            return _BASE_ALLOWED | _PAGE_GLOBAL | (_CACHE_ATTRS if d.privileged else 0)
        return _BASE_ALLOWED

    def get_entry_refs(self, d, level: int, idx: int, e: int, pg_owner=None) -> int:
        """`d` owns the table (its flags rules apply); an L1 entry may map a
        frame of `pg_owner` instead (a privileged caller's foreign mapping)."""
        if e & _FLAGS_MASK & ~self._allowed(d, level):
            return -EINVAL
        target = (e & ADDR_MASK) >> PAGE_SHIFT
        if level == 1:
            owner = d if pg_owner is None else pg_owner
            if not self.get_page(target, owner):
                return -EINVAL  # not the domain's frame
            if e & _PAGE_RW:
                rc = self.get_page_type(target, PGT_WRITABLE, owner)
                if rc:
                    self.put_page(target)
                    return rc
            return 0
        return self.get_page_and_type(target, d, _target_type(level, d.rt, idx))

    def put_entry_refs(self, level: int, e: int) -> None:
        target = (e & ADDR_MASK) >> PAGE_SHIFT
        if level == 1:
            if e & _PAGE_RW:
                self.put_page_type(target)
            self.put_page(target)
        else:
            self.put_page_and_type(target)

    def _entries(self, d, ptype: int) -> int:
        return d.rt.top_entries if pt_level(ptype) == d.rt.levels else 512

    def _validate(self, mfn: int, ptype: int, d) -> int:
        mem = self.mem
        level = pt_level(ptype)
        base = mfn << PAGE_SHIFT
        done = []
        for idx in range(self._entries(d, ptype)):
            at = base + idx * ENTRY_BYTES
            if self.is_xen_slot(d, ptype, idx):
                mem.set_u64(at, self.hv.xen_slot_entry(d, idx))
                continue
            e = mem.u64(at)
            if not e & _PAGE_PRESENT:
                continue
            rc = self.get_entry_refs(d, level, idx, e)
            if rc:
                for j, ej in done:
                    self.put_entry_refs(level, ej)
                return rc
            adj = self.adjust(d, level, e)
            if adj != e:
                mem.set_u64(at, adj)
            done.append((idx, adj))
        return 0

    def devalidate(self, mfn: int) -> None:
        """Forcibly drop what a validated table's entries hold (a dying
        domain's tables, whatever their type count: free_page_type)."""
        self.mem.validated[mfn] = 0
        self._devalidate(mfn, self.mem.ptype[mfn])

    def _devalidate(self, mfn: int, ptype: int) -> None:
        mem = self.mem
        d = self.hv.domains.get(mem.owner[mfn])
        level = pt_level(ptype)
        base = mfn << PAGE_SHIFT
        n = self._entries(d, ptype) if d is not None else 512
        for idx in range(n):
            if d is not None and self.is_xen_slot(d, ptype, idx):
                continue
            e = mem.u64(base + idx * ENTRY_BYTES)
            if e & _PAGE_PRESENT:
                self.put_entry_refs(level, e)

    def mod_entry(self, d, table_mfn: int, idx: int, new: int, preserve_ad: bool = False, pg_owner=None) -> int:
        """Write entry `idx` of a validated page table of `d`, taking the
        references the new entry needs and dropping the old entry's. An L1
        entry maps a frame of `pg_owner` when given (mmu_update's foreign
        domain), while the flags rules stay those of `d`, the table's owner."""
        mem = self.mem
        ptype = mem.ptype[table_mfn]
        level = pt_level(ptype)
        if idx >= self._entries(d, ptype) or self.is_xen_slot(d, ptype, idx):
            return -EINVAL  # "Illegal update attempt in Xen-private area"
        at = (table_mfn << PAGE_SHIFT) + idx * ENTRY_BYTES
        old = mem.u64(at)
        if preserve_ad:
            new |= old & (_PAGE_ACCESSED | _PAGE_DIRTY)
        new = self.adjust(d, level, new)
        if new & _PAGE_PRESENT:
            if old & _PAGE_PRESENT and not (old ^ new) & (ADDR_MASK | _PAGE_PRESENT | _PAGE_RW):
                # Same frame, same rights: the references are already held.
                if new & _FLAGS_MASK & ~self._allowed(d, level):
                    return -EINVAL
                mem.set_u64(at, new)
                return 0
            rc = self.get_entry_refs(d, level, idx, new, pg_owner)
            if rc:
                return rc
        mem.set_u64(at, new)
        if old & _PAGE_PRESENT:
            self.put_entry_refs(level, old)
        return 0


    def _validate_segdesc(self, mfn: int, d) -> int:
        """A GDT/LDT page: every descriptor must pass check_descriptor."""
        mem = self.mem
        base = mfn << PAGE_SHIFT
        for i in range(PAGE_SIZE // 8):
            desc = mem.u64(base + 8 * i)
            fixed = check_descriptor(d, desc)
            if fixed is None:
                return -EINVAL
            if fixed != desc:
                mem.set_u64(base + 8 * i, fixed)
        return 0


def check_descriptor(d, desc: int) -> int | None:
    """Xen's check_descriptor (descriptors.py): the descriptor as Xen
    stores it, or None if a guest may not install it."""
    from .descriptors import check_descriptor as xen_check_descriptor

    return xen_check_descriptor(d, desc)


def root_type(rt) -> int:
    """The type of the table cr3 points to: L4, or the PAE L3."""
    return PGT_L4 if rt.levels == 4 else PGT_L3

