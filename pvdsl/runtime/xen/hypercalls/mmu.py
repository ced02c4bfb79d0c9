"""mmu_update, mmuext_op, update_va_mapping(_otherdomain)
(xen/arch/x86/mm.c do_mmu_update, do_mmuext_op, __do_update_va_mapping).

Every page-table write goes through mm.PageTypes, which validates it. After
a successful change the emulated TLBs of the domain's vCPUs are flushed:
the model does not reproduce stale translations a real CPU might keep until
the guest flushes (a documented simplification; the guest's own flush
requests are still honoured and counted).

A foreign domain (mmu_update's foreigndom, update_va_mapping_otherdomain)
lets a privileged caller map another domain's frames: the frame must be
that domain's, the entry obeys the rules of the table's owner. The helpers
at the end do the same for Python code acting as dom0's tools.
"""

from __future__ import annotations

from ...errors import EACCES, EFAULT, EINVAL, ENOSYS, EOPNOTSUPP, EPERM, ESRCH, GuestFault
from .registry import Call, hypercall
from ..memory import PAGE_SHIFT, PAGE_SIZE, PGT_L1, PGT_L2, PGT_L3, PGT_L4, PGT_WRITABLE, pt_level
from ..mm import root_type
from ..paging import _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, ADDR_MASK, ENTRY_BYTES

MMU_UPDATE_PREEMPTED = 1 << 31
MAX_LDT_ENTRIES = 8192


class _Foreign:
    """DOMID_IO / DOMID_XEN as a page owner: owns nothing a guest may map."""

    def __init__(self, domid: int):
        self.domid = domid
        self.privileged = False


def get_pg_owner(call, domid: int):
    """(owner, errno). Naming oneself by id instead of DOMID_SELF is refused
    with -ESRCH, as Xen's get_pg_owner does."""
    c, d = call.c, call.d
    if domid == c("DOMID_SELF"):
        return d, 0
    if domid == d.domid:
        return None, -ESRCH
    if domid in (c("DOMID_IO"), c("DOMID_XEN")):
        if domid == c("DOMID_XEN") and not d.privileged:
            return None, -EPERM
        return _Foreign(domid), 0
    other = call.hv.live_domain(domid)
    if other is None:
        return None, -ESRCH
    return other, 0


def _xsm_target(call, owner) -> int:
    if owner is call.d or isinstance(owner, _Foreign) or call.d.privileged:
        return 0
    return -EPERM


def _handle_ok(call, va: int, count: int, size: int) -> bool:
    lo, hi = call.d.rt.xen_hole
    end = va + count * size
    return end <= 1 << (8 * call.d.rt.word) and not (count and va < hi and end > lo)


def _done(call, handle: int, done: int) -> None:
    if handle:
        try:
            call.g.write(handle, (done & 0xFFFFFFFF).to_bytes(4, "little"))
        except GuestFault:
            pass  # Xen ignores a failure to report the count


def _pt_update(call, pt_owner, pg_owner, ptr: int, val: int, preserve_ad: bool) -> int:
    hv, mem = call.hv, call.hv.mem
    mfn = ptr >> PAGE_SHIFT
    if not hv.mm.get_page(mfn, pt_owner):
        return -EINVAL  # "Could not get page for normal update"
    try:
        ptype = mem.ptype[mfn]
        if mem.tcount[mfn] and mem.validated[mfn]:
            level = pt_level(ptype)
            idx = (ptr & (PAGE_SIZE - 1)) // ENTRY_BYTES
            if level == 1:
                if isinstance(pg_owner, _Foreign):
                    return -EINVAL
                rc = hv.mm.mod_entry(pt_owner, mfn, idx, val, preserve_ad, pg_owner=pg_owner)
            elif level:
                if pg_owner is not pt_owner:
                    return -EINVAL
                rc = hv.mm.mod_entry(pt_owner, mfn, idx, val, preserve_ad)
            elif ptype == PGT_WRITABLE:
                mem.set_u64(ptr & ~7, val)
                rc = 0
            else:
                return -EINVAL
        else:
            rc = hv.mm.get_page_type(mfn, PGT_WRITABLE, pt_owner)
            if rc == 0:
                mem.set_u64(ptr & ~7, val)
                hv.mm.put_page_type(mfn)
            else:
                rc = -EINVAL
        if rc == 0:
            call.log("pt_update", ptr=ptr, val=val, level=pt_level(ptype))
            hv.flush_all_tlbs(pt_owner)
        return rc
    finally:
        hv.mm.put_page(mfn)


@hypercall("mmu_update")
def mmu_update(call) -> int:
    c, hv = call.c, call.hv
    req, count, pdone = call.a["req"], call.a["count"], call.a["success_count"]
    done = 0
    if count & MMU_UPDATE_PREEMPTED:
        count &= ~MMU_UPDATE_PREEMPTED
        if pdone:
            try:
                done = int.from_bytes(call.g.read(pdone, 4), "little")
            except GuestFault:
                pass
    size = call.abi.size("mmu_update")
    if not _handle_ok(call, req, count, size):
        return -EFAULT
    pg_owner, rc = get_pg_owner(call, call.a["domid"])
    if pg_owner is None:
        _done(call, pdone, done)
        return rc
    pt_owner = call.d
    i = 0
    checked = False
    while i < count:
        try:
            buf = call.g.read(req + i * size, size)
        except GuestFault:
            rc = -EFAULT
            break
        ptr = call.get(buf, "mmu_update", "ptr")
        val = call.get(buf, "mmu_update", "val")
        cmd = ptr & (ENTRY_BYTES - 1)
        if cmd in (c("MMU_NORMAL_PT_UPDATE"), c("MMU_PT_UPDATE_PRESERVE_AD"), c("MMU_PT_UPDATE_NO_TRANSLATE")):
            if not checked:
                rc = _xsm_target(call, pg_owner)
                if rc:
                    break
                checked = True
            rc = _pt_update(call, pt_owner, pg_owner, ptr - cmd, val, cmd == c("MMU_PT_UPDATE_PRESERVE_AD"))
        elif cmd == c("MMU_MACHPHYS_UPDATE"):
            rc = _xsm_target(call, pg_owner)
            if rc == 0:
                mfn = ptr >> PAGE_SHIFT
                if isinstance(pg_owner, _Foreign) or not hv.mm.get_page(mfn, pg_owner):
                    rc = -EINVAL  # "Could not get page for mach->phys update"
                else:
                    hv.m2p[mfn] = val
                    if pg_owner.domid == hv.mem.owner[mfn] and mfn in pg_owner.pages:
                        pg_owner.set_p2m(val, mfn)
                    call.log("machphys_update", mfn=mfn, pfn=val)
                    hv.mm.put_page(mfn)
        else:
            rc = -ENOSYS
        if rc:
            break
        i += 1
    _done(call, pdone, done + i)
    return rc


def _flush(call, which: str, vcpumask: int | None = None) -> int:
    """A TLB flush request: local, all vCPUs, or those in a guest bitmap."""
    hv, d = call.hv, call.d
    if vcpumask is not None:
        call.g.read(vcpumask, d.rt.word)  # vcpumask_to_pcpumask: -EFAULT on a bad map
    if which == "local":
        if call.v.cpu is not None:
            call.v.cpu.flush_tlb()
    else:
        hv.flush_all_tlbs(d)
    call.log("tlb_flush", scope=which)
    return 0


def new_baseptr(call, mfn: int, user: bool = False) -> int:
    hv, v, d = call.hv, call.v, call.d
    if user and mfn == 0:
        old, v.guest_table_user = v.guest_table_user, 0
        if old:
            hv.mm.put_page_and_type(old)
        return 0
    rc = hv.mm.get_page_and_type(mfn, d, PGT_L4 if user else root_type(d.rt))
    if rc:
        return -EINVAL
    if user:
        old, v.guest_table_user = v.guest_table_user, mfn
        if old:
            hv.mm.put_page_and_type(old)
        call.log("new_user_baseptr", mfn=mfn)
        return 0
    old, v.guest_table = v.guest_table, mfn
    if old >= 0:
        hv.mm.put_page_and_type(old)
    if v.cpu is not None:
        v.cpu.set_cr3(mfn)
    call.log("new_baseptr", mfn=mfn)
    return 0


def _mmuext_one(call, pg_owner, buf: bytes) -> int:
    hv, mem, c, d = call.hv, call.hv.mem, call.c, call.d
    get = lambda f: call.get(buf, "mmuext_op", f)  # noqa: E731
    cmd = get("cmd")
    pins = {c("MMUEXT_PIN_L1_TABLE"): PGT_L1, c("MMUEXT_PIN_L2_TABLE"): PGT_L2,
            c("MMUEXT_PIN_L3_TABLE"): PGT_L3, c("MMUEXT_PIN_L4_TABLE"): PGT_L4}
    owned = isinstance(pg_owner, _Foreign)
    if cmd in pins:
        ptype = pins[cmd]
        if ptype > d.rt.levels:
            return 0  # "Ignore pinning of invalid paging levels"
        if owned:
            return -EINVAL
        mfn = get("arg1.mfn")
        if not hv.mm.get_page(mfn, pg_owner):
            return -EINVAL
        if hv.mm.get_page_type(mfn, ptype, pg_owner):
            hv.mm.put_page(mfn)
            return -EINVAL
        if mem.pinned[mfn]:
            hv.mm.put_page_and_type(mfn)
            return -EINVAL  # already pinned
        mem.pinned[mfn] = 1
        call.log("pin", mfn=mfn, level=ptype)
        return 0
    if cmd == c("MMUEXT_UNPIN_TABLE"):
        mfn = get("arg1.mfn")
        if owned or not hv.mm.get_page(mfn, pg_owner):
            return -EINVAL
        if not mem.pinned[mfn]:
            hv.mm.put_page(mfn)
            return -EINVAL
        mem.pinned[mfn] = 0
        hv.mm.put_page_and_type(mfn)
        hv.mm.put_page(mfn)
        call.log("unpin", mfn=mfn)
        return 0
    local_only = {c("MMUEXT_NEW_BASEPTR"), c("MMUEXT_NEW_USER_BASEPTR"), c("MMUEXT_SET_LDT"),
                  c("MMUEXT_FLUSH_CACHE"), c("MMUEXT_TLB_FLUSH_LOCAL"), c("MMUEXT_INVLPG_LOCAL")}
    if cmd in local_only and pg_owner is not d:
        return -EPERM
    if cmd == c("MMUEXT_NEW_BASEPTR"):
        return new_baseptr(call, get("arg1.mfn"))
    if cmd == c("MMUEXT_NEW_USER_BASEPTR"):
        if d.rt.word != 8:
            return -EINVAL
        return new_baseptr(call, get("arg1.mfn"), user=True)
    if cmd == c("MMUEXT_TLB_FLUSH_LOCAL") or cmd == c("MMUEXT_INVLPG_LOCAL"):
        return _flush(call, "local")
    if cmd in (c("MMUEXT_TLB_FLUSH_MULTI"), c("MMUEXT_INVLPG_MULTI")):
        return _flush(call, "multi", get("arg2.vcpumask"))
    if cmd in (c("MMUEXT_TLB_FLUSH_ALL"), c("MMUEXT_INVLPG_ALL")):
        return _flush(call, "all")
    if cmd == c("MMUEXT_FLUSH_CACHE"):
        return 0 if d.privileged else -EACCES  # cache_flush_permitted: a domain with I/O resources
    if cmd == c("MMUEXT_FLUSH_CACHE_GLOBAL"):
        return 0 if d.privileged and pg_owner is d else -EINVAL
    if cmd == c("MMUEXT_SET_LDT"):
        base, ents = get("arg1.linear_addr"), get("arg2.nr_ents")
        lo, hi = d.rt.xen_hole
        if base & (PAGE_SIZE - 1) or ents > MAX_LDT_ENTRIES or (ents and base < hi and base + ents * 8 > lo):
            return -EINVAL
        call.v.ldt = (base, ents)
        return 0
    if cmd == c("MMUEXT_CLEAR_PAGE"):
        mfn = get("arg1.mfn")
        if owned or not hv.mm.get_page(mfn, pg_owner):
            return -EINVAL
        rc = hv.mm.get_page_type(mfn, PGT_WRITABLE, pg_owner)
        if rc == 0:
            mem.write(mfn << PAGE_SHIFT, bytes(PAGE_SIZE))
            hv.mm.put_page_type(mfn)
        hv.mm.put_page(mfn)
        return rc and -EINVAL
    if cmd == c("MMUEXT_COPY_PAGE"):
        dst, src = get("arg1.mfn"), get("arg2.src_mfn")
        if owned or not hv.mm.get_page(src, pg_owner):
            return -EINVAL
        if not hv.mm.get_page(dst, pg_owner):
            hv.mm.put_page(src)
            return -EINVAL
        rc = hv.mm.get_page_type(dst, PGT_WRITABLE, pg_owner)
        if rc == 0:
            mem.write(dst << PAGE_SHIFT, mem.read(src << PAGE_SHIFT, PAGE_SIZE))
            hv.mm.put_page_type(dst)
        hv.mm.put_page(dst)
        hv.mm.put_page(src)
        return rc and -EINVAL
    if cmd in (c("MMUEXT_MARK_SUPER"), c("MMUEXT_UNMARK_SUPER")):
        return -EOPNOTSUPP
    return -ENOSYS


@hypercall("mmuext_op")
def mmuext_op(call) -> int:
    ops, count, pdone = call.a["op"], call.a["count"], call.a["success_count"]
    done = 0
    if count & MMU_UPDATE_PREEMPTED:
        count &= ~MMU_UPDATE_PREEMPTED
        if pdone:
            try:
                done = int.from_bytes(call.g.read(pdone, 4), "little")
            except GuestFault:
                pass
    size = call.abi.size("mmuext_op")
    if not _handle_ok(call, ops, count, size):
        return -EFAULT
    pg_owner, rc = get_pg_owner(call, call.a["domid"])
    if pg_owner is None:
        return rc
    rc = _xsm_target(call, pg_owner)
    if rc:
        return rc
    i = 0
    while i < count:
        try:
            buf = call.g.read(ops + i * size, size)
        except GuestFault:
            rc = -EFAULT
            break
        try:
            rc = _mmuext_one(call, pg_owner, buf)
        except GuestFault:
            rc = -EFAULT
        if rc:
            break
        i += 1
    _done(call, pdone, done + i)
    return rc


def guest_l1(call, va: int):
    """(L1 table mfn, index) that maps `va` in the caller's current tables,
    or None (Xen's map_guest_l1e: needs a present, non-superpage L2 entry)."""
    rt, mem = call.d.rt, call.hv.mem
    lo, hi = rt.xen_hole
    if not rt.canonical(va) or lo <= va < hi:
        return None
    table = call.v.guest_table
    if table < 0:
        return None
    idx = rt.indices(va)
    for level, i in enumerate(idx[:-1]):
        e = mem.u64((table << PAGE_SHIFT) + i * ENTRY_BYTES)
        if not e & _PAGE_PRESENT or (level and e & _PAGE_PSE):
            return None
        table = (e & ADDR_MASK) >> PAGE_SHIFT
        if not mem.valid(table):
            return None
    return table, idx[-1]


def _update_va_mapping(call, va: int, val: int, flags: int, pg_owner) -> int:
    hv, mem, c = call.hv, call.hv.mem, call.c
    rc = _xsm_target(call, pg_owner)
    if rc:
        return rc
    where = guest_l1(call, va)
    if where is None:
        return -EINVAL
    l1, idx = where
    if not hv.mm.get_page(l1, call.d):
        return -EINVAL
    try:
        if pt_level(mem.ptype[l1]) != 1 or not mem.tcount[l1] or not mem.validated[l1] or isinstance(pg_owner, _Foreign):
            return -EINVAL
        rc = hv.mm.mod_entry(call.d, l1, idx, val, pg_owner=pg_owner)
    finally:
        hv.mm.put_page(l1)
    if rc:
        return rc
    call.log("update_va_mapping", va=va, val=val)
    hv.flush_all_tlbs(call.d)
    kind = flags & c("UVMF_FLUSHTYPE_MASK")
    if kind in (c("UVMF_TLB_FLUSH"), c("UVMF_INVLPG")):
        bmap = flags & ~c("UVMF_FLUSHTYPE_MASK")
        if bmap == c("UVMF_LOCAL"):
            return _flush(call, "local")
        if bmap == c("UVMF_ALL"):
            return _flush(call, "all")
        return _flush(call, "multi", bmap)
    return 0


@hypercall("update_va_mapping")
def update_va_mapping(call) -> int:
    return _update_va_mapping(call, call.a["va"], call.a["val"], call.a["flags"], call.d)


@hypercall("update_va_mapping_otherdomain")
def update_va_mapping_otherdomain(call) -> int:
    owner, rc = get_pg_owner(call, call.a["domid"])
    if owner is None:
        return rc
    return _update_va_mapping(call, call.a["va"], call.a["val"], call.a["flags"], owner)


# ---- the host side: a privileged domain's foreign mappings ----
def _as_kernel_of(hv, d) -> Call:
    """A hypercall context on `d`'s first vCPU, for the helpers below."""
    return Call(hv, d.vcpus[0], "mmu_update", {})


def foreign_map(hv, mapper, domid: int, gfn: int, va: int, writable: bool = True) -> int:
    """Map frame `gfn` of domain `domid` at `va` in `mapper`'s current
    address space, as dom0's privcmd driver does for the tools
    (IOCTL_PRIVCMD_MMAPBATCH on a PV dom0: one mmu_update with foreigndom =
    domid on the L1 entry of `va`), with all of mmu_update's checks: a
    mapper without privilege gets -EPERM, an unknown domain -ESRCH, `va`
    without an L1 table, a frame that domain does not own or (writable) one
    it uses as a page table -EINVAL. A PV domain's gfn is its machine frame
    (domain_frame() gives it for a pfn). Returns 0 or Xen's negative errno;
    foreign_unmap() undoes it."""
    call = _as_kernel_of(hv, mapper)
    owner, rc = get_pg_owner(call, domid)
    if owner is None:
        return rc
    rc = _xsm_target(call, owner)
    if rc:
        return rc
    where = guest_l1(call, va)
    if where is None or not 0 <= gfn < hv.mem.nframes:
        return -EINVAL
    flags = _PAGE_PRESENT | _PAGE_ACCESSED | (_PAGE_RW | _PAGE_DIRTY if writable else 0)
    ptr = (where[0] << PAGE_SHIFT) + where[1] * ENTRY_BYTES
    return _pt_update(call, mapper, owner, ptr, gfn << PAGE_SHIFT | flags, False)


def foreign_unmap(hv, mapper, va: int) -> int:
    """Clear the L1 entry of `va` in `mapper`'s current address space (what
    munmap of a privcmd mapping does); 0 or the negative errno."""
    call = _as_kernel_of(hv, mapper)
    where = guest_l1(call, va)
    if where is None:
        return -EINVAL
    return _pt_update(call, mapper, mapper, (where[0] << PAGE_SHIFT) + where[1] * ENTRY_BYTES, 0, False)


def domain_frame(hv, domid: int, pfn: int) -> int | None:
    """The machine frame behind page `pfn` of domain `domid` (the guest's
    p2m, which the tools read), or None."""
    d = hv.live_domain(domid)
    return None if d is None else d.p2m.get(pfn)


def read_frame(hv, domid: int, pfn: int, offset: int = 0, length: int = PAGE_SIZE) -> bytes | None:
    """Bytes of page `pfn` of domain `domid`, as a privileged tool reads them
    through a foreign mapping; None for a page the domain does not have or a
    range outside the page (values a guest may have chosen: never an exception)."""
    mfn = domain_frame(hv, domid, pfn)
    if mfn is None or offset < 0 or length < 0 or offset + length > PAGE_SIZE:
        return None
    return hv.mem.read((mfn << PAGE_SHIFT) + offset, length)


def write_frame(hv, domid: int, pfn: int, data: bytes, offset: int = 0) -> bool:
    """Write into page `pfn` of domain `domid` through a (notional) foreign
    mapping; False, and nothing written, for a page it does not have or a
    range outside the page."""
    mfn = domain_frame(hv, domid, pfn)
    if mfn is None or offset < 0 or offset + len(data) > PAGE_SIZE:
        return False
    hv.mem.write((mfn << PAGE_SHIFT) + offset, bytes(data))
    return True
