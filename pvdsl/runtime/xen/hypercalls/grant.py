"""grant_table_op for PV guests, grant table version 1 (Xen 4.17's
xen/common/grant_table.c and the PV half of xen/arch/x86/pv/grant_table.c),
on the per-domain state of grant_table.py. A granting domain writes entries
(flags, domid, frame) into its table's frames; another domain names
(domain, ref) in a map or a copy, and Xen checks the entry and keeps
GTF_reading / GTF_writing set in it while the grant is in use.

References follow Xen: each host or device mapping holds one general
reference on the granted frame and, when writable, a writable type
reference. A host mapping is an L1 entry of the mapper that Xen writes
itself; it holds exactly what mm.PageTypes would take for such an entry, so
whatever removes the entry drops them once: unmap_grant_ref, or the mapper
overwriting it through mmu_update (Xen's "implicit unmap", which a release
build lets happen: the grant stays pinned and a later unmap of that handle
fails). A granting domain that gives the frame back (decrease_reservation)
cannot free it under the mapper: the frame goes with its last reference.

Model limits: version 2 is refused with -ENOSYS (Xen's answer when booted
with gnttab=max-ver:1); transfer, unmap_and_replace, dump_table and
cache_flush are not modelled (-ENOSYS); there is no IOMMU. The grant PTE has
no NX bit (the emulated vCPUs run without EFER.NXE, where Xen's _PAGE_NX is
0) and no _PAGE_GNTTAB marker (a debug-build aid, 0 in release builds).
"""

from __future__ import annotations

from ...errors import EFAULT, EINVAL, ENOSYS, EPERM, ESRCH, GuestFault
from ..grant_table import PIN_DEV_R, PIN_DEV_W, PIN_HOST_R, PIN_HOST_W, PIN_OVERFLOW, WRITE_PINS, Active, GrantTable, \
    Mapping, grant_table
from .mmu import guest_l1
from .registry import Call, hypercall
from ..memory import PAGE_SHIFT, PAGE_SIZE, PGT_WRITABLE, pt_level
from ..paging import _PAGE_ACCESSED, _PAGE_AVAIL, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, entry_mfn

CMD_MASK = (1 << 12) - 1  # GNTTABOP_CONTINUATION_ARG_SHIFT: higher bits are continuation state


def _xsm_target(src, target) -> bool:
    return src is target or src.privileged


def grant_pins(flags: int, c) -> int:
    ro = flags & c("GNTMAP_readonly")
    pin = 0
    if flags & c("GNTMAP_device_map"):
        pin += PIN_DEV_R if ro else PIN_DEV_W
    if flags & c("GNTMAP_host_map"):
        pin += PIN_HOST_R if ro else PIN_HOST_W
    return pin


def _set_status(c, gt: GrantTable, ref: int, act: Active, readonly: bool, ldomid: int, mapping: bool) -> int:
    """Check the guest's entry and mark it in use (_set_status_v1)."""
    flags, domid, _frame = gt.entry(ref)
    mask = c("GTF_type_mask") | (c("GTF_sub_page") if mapping else 0)
    if not act.pin and ((flags & mask) != c("GTF_permit_access") or domid != ldomid):
        return c("GNTST_general_error")
    new = flags | c("GTF_reading")
    if not readonly:
        if flags & c("GTF_readonly"):
            return c("GNTST_general_error")  # write-pin of a read-only grant
        new |= c("GTF_writing")
    gt.set_flags(ref, new)
    return 0


def unpin_flags(c, gt: GrantTable, ref: int, act: Active, readonly: bool) -> None:
    """Clear GTF_writing / GTF_reading once no use of that kind is left."""
    mask = 0
    if not readonly and not act.pin & WRITE_PINS:
        mask |= c("GTF_writing")
    if not act.pin:
        mask |= c("GTF_reading")
    gt.clear_flags(ref, mask)


def _get_frame(hv, mfn: int, d) -> bool:
    """get_paged_frame for a PV domain: its gfn is the machine frame, which
    it must own; takes a reference."""
    return hv.mem.valid(mfn) and hv.mm.get_page(mfn, d)


# ---- host mappings (create_grant_pv_mapping / replace_grant_pv_mapping) ----
def _l1_slot(call, addr: int, flags: int) -> tuple[int, int] | None:
    """(L1 table mfn, machine address of the entry) that `addr` names: a
    PTE's machine address with GNTMAP_contains_pte, else the entry mapping
    that virtual address in the caller's current tables. The table must be
    a validated L1 of the caller (page_lock)."""
    mem, d = call.hv.mem, call.d
    if flags & call.c("GNTMAP_contains_pte"):
        if addr % 8:
            return None
        l1, at = addr >> PAGE_SHIFT, addr
    else:
        if addr >> (8 * d.rt.word):  # a 32-bit guest's address must fit 32 bits
            return None
        where = guest_l1(call, addr)
        if where is None:
            return None
        l1, at = where[0], (where[0] << PAGE_SHIFT) + where[1] * 8
    if not mem.valid(l1) or mem.owner[l1] != d.domid or mem.count[l1] <= 0:
        return None
    if pt_level(mem.ptype[l1]) != 1 or not mem.validated[l1] or not mem.tcount[l1]:
        return None
    return l1, at


def _grant_pte(c, mfn: int, flags: int) -> int:
    pte = mfn << PAGE_SHIFT | _PAGE_PRESENT | _PAGE_ACCESSED | _PAGE_DIRTY
    if flags & c("GNTMAP_application_map"):
        pte |= _PAGE_USER
    if not flags & c("GNTMAP_readonly"):
        pte |= _PAGE_RW
    return pte | ((flags >> 16) << 9) & _PAGE_AVAIL  # GNTMAP_guest_avail bits into the PTE's available bits


def _create_host_mapping(call, addr: int, mfn: int, flags: int) -> int:
    hv, mem = call.hv, call.hv.mem
    slot = _l1_slot(call, addr, flags)
    if slot is None:
        return call.c("GNTST_general_error")
    _l1, at = slot
    old = mem.u64(at)
    mem.set_u64(at, hv.mm.adjust(call.d, 1, _grant_pte(call.c, mfn, flags)))
    if old & _PAGE_PRESENT:
        hv.mm.put_entry_refs(1, old)  # what the overwritten entry held
    hv.flush_all_tlbs(call.d)
    return 0


def _destroy_host_mapping(call, addr: int, mfn: int, flags: int) -> int:
    hv, mem = call.hv, call.hv.mem
    slot = _l1_slot(call, addr, flags)
    if slot is None:
        return call.c("GNTST_general_error")
    old = mem.u64(slot[1])
    want = _grant_pte(call.c, mfn, flags)
    if entry_mfn(old) != mfn or (old ^ want) & (_PAGE_PRESENT | _PAGE_RW):
        return call.c("GNTST_general_error")  # not this grant's mapping (any more)
    mem.set_u64(slot[1], 0)  # the references are the grant's: unmap completion drops them
    hv.flush_all_tlbs(call.d)
    return 0


# ---- the operations ----
def map_grant_ref(call, op: dict) -> None:
    """One GNTTABOP_map_grant_ref: fills op["status"], and on success
    op["handle"] and op["dev_bus_addr"]."""
    c, hv, ld = call.c, call.hv, call.d
    flags, ro = op["flags"], bool(op["flags"] & call.c("GNTMAP_readonly"))
    host, dev = flags & c("GNTMAP_host_map"), flags & c("GNTMAP_device_map")
    if not host | dev:
        op["status"] = c("GNTST_bad_gntref")
        return
    rd = hv.live_domain(op["dom"])  # rcu_lock_domain_by_id: DOMID_SELF is no domain here
    if rd is None:
        op["status"] = c("GNTST_bad_domain")
        return
    lgt, rgt = grant_table(hv, ld), grant_table(hv, rd)
    handle = lgt.get_handle()
    if handle is None:
        op["status"] = c("GNTST_no_device_space")
        return
    ref = op["ref"]
    if ref >= rgt.nr_entries:
        lgt.put_handle(handle)
        op["status"] = c("GNTST_bad_gntref")
        return
    act = rgt.act(ref)
    if act.pin and (act.domid != ld.domid or act.pin & PIN_OVERFLOW):
        lgt.put_handle(handle)
        op["status"] = c("GNTST_general_error")
        return
    refs = types = 0
    if not act.pin or (not ro and not act.pin & WRITE_PINS):
        rc = _set_status(c, rgt, ref, act, ro, ld.domid, mapping=True)
        if rc:
            lgt.put_handle(handle)
            op["status"] = rc
            return
        if not act.pin:
            frame = rgt.entry(ref)[2]
            if not _get_frame(hv, frame, rd):
                unpin_flags(c, rgt, ref, act, ro)
                lgt.put_handle(handle)
                op["status"] = c("GNTST_bad_page")
                return
            act.domid, act.mfn, refs = ld.domid, frame, 1
    pins = grant_pins(flags, c)
    act.pin += pins
    mfn, mem = act.mfn, hv.mem
    owner = None
    if refs:
        owner = rd.domid
    elif mem.valid(mfn) and mem.count[mfn] > 0:  # page_get_owner_and_reference
        mem.count[mfn] += 1
        owner, refs = mem.owner[mfn], 1
    # Each kind of use holds a reference, a writable one a type reference too.
    wanted = []
    if dev and not ro:
        wanted.append("type")
    if host:
        wanted += (["page"] if dev else []) + ([] if ro else ["type"])
    rc = 0 if owner == rd.domid else c("GNTST_general_error")  # "could not pin"
    for kind in wanted if not rc else ():
        if kind == "type" and _take_type(hv, mfn, rd):
            types += 1
        elif kind == "page" and hv.mm.get_page(mfn, rd):
            refs += 1
        else:
            rc = c("GNTST_general_error")
            break
    if not rc and host:
        rc = _create_host_mapping(call, op["host_addr"], mfn, flags)
    if rc:
        for _ in range(types):
            hv.mm.put_page_type(mfn)
        for _ in range(refs):
            hv.mm.put_page(mfn)
        act.pin -= pins
        unpin_flags(c, rgt, ref, act, ro)
        lgt.put_handle(handle)
        op["status"] = rc
        return
    lgt.maptrack[handle] = Mapping(ref, rd.domid, flags & 0xFFFF)  # Xen keeps the low 16 bits
    op.update(status=0, handle=handle, dev_bus_addr=mfn << PAGE_SHIFT)
    call.log("grant_map", dom=rd.domid, ref=ref, handle=handle, mfn=mfn, flags=flags)


def _take_type(hv, mfn: int, d) -> bool:
    return hv.mm.get_page_type(mfn, PGT_WRITABLE, d) == 0


def unmap_grant_ref(call, op: dict) -> None:
    """One GNTTABOP_unmap_grant_ref (unmap_common + its completion)."""
    c, hv, ld = call.c, call.hv, call.d
    lgt = grant_table(hv, ld)
    m = lgt.maptrack.get(op["handle"])
    if m is None or not m.flags:
        op["status"] = c("GNTST_bad_handle")
        return
    rd = hv.domains.get(m.domid)
    if rd is None:  # the granting domain is gone: Xen crashes the mapper ("naughty")
        from .sched import shutdown

        shutdown(call, ld, c("SHUTDOWN_crash"))
        op["status"] = c("GNTST_general_error")
        return
    rgt = grant_table(hv, rd)
    if m.ref >= rgt.nr_entries:
        op["status"] = c("GNTST_bad_handle")
        return
    act, flags = rgt.act(m.ref), m.flags
    mfn = act.mfn
    if op["dev_bus_addr"] and op["dev_bus_addr"] != mfn << PAGE_SHIFT:
        op["status"] = c("GNTST_general_error")
        return
    ro = flags & c("GNTMAP_readonly")
    done = 0
    if op["host_addr"] and flags & c("GNTMAP_host_map"):
        rc = _destroy_host_mapping(call, op["host_addr"], mfn, flags)
        if rc:
            op["status"] = rc
            return
        m.flags &= ~c("GNTMAP_host_map")
        done |= c("GNTMAP_host_map")
    if op["dev_bus_addr"] and flags & c("GNTMAP_device_map"):
        m.flags &= ~c("GNTMAP_device_map")
        done |= c("GNTMAP_device_map")
    if not m.flags & (c("GNTMAP_host_map") | c("GNTMAP_device_map")):
        lgt.put_handle(op["handle"])
    op["status"] = 0
    if not done:
        return
    for kind in (c("GNTMAP_device_map"), c("GNTMAP_host_map")):
        if done & kind:
            if not ro:
                hv.mm.put_page_type(mfn)
            hv.mm.put_page(mfn)
    act.pin -= grant_pins(done | ro, c)
    unpin_flags(c, rgt, m.ref, act, bool(ro))
    call.log("grant_unmap", dom=rd.domid, ref=m.ref, handle=op["handle"], mfn=mfn)


def _claim(call, domid: int, ptr: dict, is_gref: bool, readonly: bool, held: list) -> tuple[int, int]:
    """(status, mfn) of one side of a copy, with its references appended to
    `held` for _release (gnttab_copy_claim_buf)."""
    c, hv = call.c, call.hv
    d = call.target_domain(domid)
    if is_gref:
        gt = grant_table(hv, d)
        ref = ptr["u"]["ref"]
        if ref >= gt.nr_entries:
            return c("GNTST_bad_gntref"), -1
        act = gt.act(ref)
        if act.pin and (act.domid != call.d.domid or act.pin & PIN_OVERFLOW):
            return c("GNTST_general_error"), -1
        if not act.pin or (not readonly and not act.pin & WRITE_PINS):
            rc = _set_status(c, gt, ref, act, readonly, call.d.domid, mapping=False)
            if rc:
                return rc, -1
            page = gt.entry(ref)[2]
            if not _get_frame(hv, page, d):
                unpin_flags(c, gt, ref, act, readonly)
                return c("GNTST_bad_page"), -1
            if not act.pin:
                act.domid, act.mfn = call.d.domid, page
        else:
            page, mem = act.mfn, hv.mem
            if not (mem.valid(page) and mem.owner[page] == d.domid and hv.mm.get_page(page, d)):
                unpin_flags(c, gt, ref, act, readonly)
                return c("GNTST_bad_domain"), -1
        act.pin += PIN_HOST_R if readonly else PIN_HOST_W
        held.append(("grant", gt, ref, readonly))
        mfn = act.mfn
    else:
        page = ptr["u"]["gmfn"]
        if not _get_frame(hv, page, d):
            return c("GNTST_bad_page"), -1
        mfn = page
    held.append(("page", page))
    if not readonly:
        if not _take_type(hv, page, d):
            return c("GNTST_general_error"), -1
        held.append(("type", page))
    return 0, mfn


def _release(call, held: list) -> None:
    for item in reversed(held):
        if item[0] == "grant":
            _, gt, ref, readonly = item
            act = gt.act(ref)
            act.pin -= PIN_HOST_R if readonly else PIN_HOST_W
            unpin_flags(call.c, gt, ref, act, readonly)
        elif item[0] == "type":
            call.hv.mm.put_page_type(item[1])
        else:
            call.hv.mm.put_page(item[1])
    held.clear()


def copy_one(call, op: dict) -> int:
    """One GNTTABOP_copy; the GNTST_* status."""
    c = call.c
    sides = (("source", c("GNTCOPY_source_gref")), ("dest", c("GNTCOPY_dest_gref")))
    for side, gref_flag in sides:
        domid = op[side]["domid"]
        if domid != c("DOMID_SELF") and not op["flags"] & gref_flag:
            return c("GNTST_permission_denied")  # only DOMID_SELF may name a frame
        if call.target_domain(domid) is None:
            return c("GNTST_bad_domain")
    held: list = []
    try:
        mfns = []
        for side, gref_flag in sides:
            rc, mfn = _claim(call, op[side]["domid"], op[side], bool(op["flags"] & gref_flag), side == "source", held)
            if rc:
                return rc
            mfns.append(mfn)
        n = op["len"]
        if op["source"]["offset"] + n > PAGE_SIZE or op["dest"]["offset"] + n > PAGE_SIZE:
            return c("GNTST_bad_copy_arg")
        mem = call.hv.mem
        data = mem.read((mfns[0] << PAGE_SHIFT) + op["source"]["offset"], n)
        mem.write((mfns[1] << PAGE_SHIFT) + op["dest"]["offset"], data)
        call.log("grant_copy", src=mfns[0], dst=mfns[1], len=n)
        return 0
    finally:
        _release(call, held)


# ---- the hypercall ----
def _handle_okay(call, va: int, count: int, size: int) -> bool:
    """guest_handle_okay: the array lies in guest address space (whether it
    is mapped is found out element by element)."""
    lo, hi = call.d.rt.xen_hole
    end = va + count * size
    return end <= 1 << (8 * call.d.rt.word) and not (count and va < hi and end > lo)


def _ops(call, uop: int, count: int, struct: str, one, out_fields: tuple[str, ...] = ()) -> int:
    """A batch: read each struct, run `one` on its fields, write back
    `out_fields` (the whole struct when empty). -EFAULT ends the batch."""
    abi, size = call.abi, call.abi.size(struct)
    if not _handle_okay(call, uop, count, size):
        return -EFAULT
    for at in range(uop, uop + count * size, size):
        try:
            buf = bytearray(call.g.read(at, size))
            op = _unpack(abi, struct, buf)
            status = one(call, op)
            op["status"] = op["status"] if status is None else status
            for name in out_fields or [n for n, v in op.items() if not isinstance(v, dict)]:
                abi.put(buf, struct, name, op[name])
            if not out_fields:
                call.g.write(at, bytes(buf))
            for name in out_fields:
                f = abi.field(struct, name)
                call.g.write(at + f.offset, bytes(buf[f.offset:f.offset + f.size]))
        except GuestFault:
            return -EFAULT
    return 0


def _unpack(abi, struct: str, buf) -> dict:
    out = {}
    for name, f in abi.structs[struct]["fields"].items():
        if f["type"] in abi.structs:
            out[name] = _unpack(abi, f["type"], buf[f["offset"]:f["offset"] + f["size"]])
        else:
            out[name] = abi.get(buf, struct, name)
    return out


def _named(call, buf, struct: str):
    """(domain, GNTST status) of the `dom` an op names: XSM_TARGET, a
    privileged caller may name any domain."""
    d = call.target_domain(call.get(buf, struct, "dom"))
    if d is None:
        return None, call.c("GNTST_bad_domain")
    if not _xsm_target(call.d, d):
        return None, call.c("GNTST_permission_denied")
    return d, 0


def _setup_table(call, uop: int, count: int) -> int:
    c, S, word = call.c, "gnttab_setup_table", call.d.rt.word
    if count != 1:
        return -EINVAL
    buf = call.read_struct(uop, S)
    nr, frame_list = call.get(buf, S, "nr_frames"), call.get(buf, S, "frame_list")
    if not _handle_okay(call, frame_list, nr, word):
        return -EFAULT
    d, status = _named(call, buf, S)
    if d is not None:
        gt = grant_table(call.hv, d)
        if nr > gt.max_frames or not gt.grow(nr):
            status = c("GNTST_general_error")
        for i in range(nr if not status else 0):
            try:
                call.g.set_word(frame_list + i * word, gt.frames[i])
            except GuestFault:
                status = c("GNTST_bad_virt_addr")  # and carry on with the others
    call.put_field(uop, S, "status", status)
    return 0


def _query_size(call, uop: int, count: int) -> int:
    S = "gnttab_query_size"
    if count != 1:
        return -EINVAL
    buf = call.read_struct(uop, S)
    d, status = _named(call, buf, S)
    if d is not None:
        gt = grant_table(call.hv, d)
        call.abi.put(buf, S, "nr_frames", len(gt.frames))
        call.abi.put(buf, S, "max_nr_frames", gt.max_frames)
    call.abi.put(buf, S, "status", status)
    call.g.write(uop, bytes(buf))
    return 0


def _status_frames(call, uop: int, count: int) -> int:
    """GNTTABOP_get_status_frames: a version 1 table has none."""
    S = "gnttab_get_status_frames"
    if count != 1:
        return -EINVAL
    buf = call.read_struct(uop, S)
    d, status = _named(call, buf, S)
    if d is not None and call.get(buf, S, "nr_frames") > 0:
        status = call.c("GNTST_general_error")
    call.put_field(uop, S, "status", status)
    return 0


def _set_version(call, uop: int) -> int:
    version = call.get(call.read_struct(uop, "gnttab_set_version"), "gnttab_set_version", "version")
    rc = -EINVAL if version not in (1, 2) else -ENOSYS if version == 2 else 0
    call.put_field(uop, "gnttab_set_version", "version", grant_table(call.hv, call.d).version)
    return rc


def _get_version(call, uop: int) -> int:
    S = "gnttab_get_version"
    d = call.target_domain(call.get(call.read_struct(uop, S), S, "dom"))
    if d is None:
        return -ESRCH
    if not _xsm_target(call.d, d):
        return -EPERM
    call.put_field(uop, S, "version", grant_table(call.hv, d).version)
    return 0


def _swap_one(call, op: dict) -> int:
    c = call.c
    gt = grant_table(call.hv, call.d)
    a, b = op["ref_a"], op["ref_b"]
    if a >= gt.nr_entries or b >= gt.nr_entries:
        return c("GNTST_bad_gntref")
    if a == b:
        return 0
    if gt.act(a).pin or gt.act(b).pin:
        return c("GNTST_eagain")
    mem = call.hv.mem
    ea, eb = mem.read(gt.entry_maddr(a), gt.entry_size), mem.read(gt.entry_maddr(b), gt.entry_size)
    mem.write(gt.entry_maddr(a), eb)
    mem.write(gt.entry_maddr(b), ea)
    return 0


@hypercall("grant_table_op")
def grant_table_op(call) -> int:
    c = call.c
    cmd, uop, count = call.a["cmd"], call.a["uop"], call.a["count"]
    if count >> 31:
        return -EINVAL  # (int)count < 0
    if cmd & ~CMD_MASK and cmd & CMD_MASK != c("GNTTABOP_cache_flush"):
        return -EINVAL  # continuation bits on an op that has none
    cmd &= CMD_MASK
    if cmd == c("GNTTABOP_map_grant_ref"):
        return _ops(call, uop, count, "gnttab_map_grant_ref", map_grant_ref)
    if cmd == c("GNTTABOP_unmap_grant_ref"):
        return _ops(call, uop, count, "gnttab_unmap_grant_ref", unmap_grant_ref, ("status",))
    if cmd == c("GNTTABOP_copy"):
        return _ops(call, uop, count, "gnttab_copy", copy_one, ("status",))
    if cmd == c("GNTTABOP_swap_grant_ref"):
        return _ops(call, uop, count, "gnttab_swap_grant_ref", _swap_one, ("status",))
    if cmd == c("GNTTABOP_setup_table"):
        return _setup_table(call, uop, count)
    if cmd == c("GNTTABOP_query_size"):
        return _query_size(call, uop, count)
    if cmd == c("GNTTABOP_get_status_frames"):
        return _status_frames(call, uop, count)
    if cmd == c("GNTTABOP_set_version"):
        return _set_version(call, uop)
    if cmd == c("GNTTABOP_get_version"):
        return _get_version(call, uop)
    return -ENOSYS  # transfer, unmap_and_replace, dump_table, cache_flush: not modelled


# ---- the host side: grants as a Python backend or test drives them ----
def map_grant(hv, mapper, domid: int, ref: int, host_addr: int, flags: int | None = None) -> tuple[int, int]:
    """Map grant (domid, ref) for `mapper`, exactly as its GNTTABOP_map_grant_ref
    would (default flags: GNTMAP_host_map). Returns (GNTST_* status, handle)."""
    c = mapper.abi.c
    op = {"host_addr": host_addr, "flags": c("GNTMAP_host_map") if flags is None else flags, "ref": ref,
          "dom": domid, "status": 0, "handle": 0, "dev_bus_addr": 0}
    map_grant_ref(Call(hv, mapper.vcpus[0], "grant_table_op", {}), op)
    return op["status"], op["handle"]


def unmap_grant(hv, mapper, handle: int, host_addr: int, dev_bus_addr: int = 0) -> int:
    """Undo map_grant (GNTTABOP_unmap_grant_ref); the GNTST_* status."""
    op = {"host_addr": host_addr, "dev_bus_addr": dev_bus_addr, "handle": handle, "status": 0}
    unmap_grant_ref(Call(hv, mapper.vcpus[0], "grant_table_op", {}), op)
    return op["status"]
