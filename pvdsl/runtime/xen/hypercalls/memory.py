"""memory_op (xen/common/memory.c, arch/x86/mm.c arch_memory_op), for PV
guests, where a guest frame number *is* a machine frame number.

Xen's quirk kept on purpose: the reservation ops (increase, decrease,
populate) return the number of extents done, and on a bad argument simply
return the count done so far (0), not an errno.
"""

from __future__ import annotations

from ...errors import EACCES, EDOM, EFAULT, EINVAL, ENOENT, ENOSYS, ENXIO, EOPNOTSUPP, EPERM, ESRCH, GuestFault
from .registry import hypercall
from ..m2p import M2P_INVALID

MEMOP_EXTENT_SHIFT = 6
MEMOP_CMD_MASK = (1 << MEMOP_EXTENT_SHIFT) - 1
UINT_MAX = (1 << 32) - 1
DOMU_MAX_ORDER = 9  # CONFIG_DOMU_MAX_ORDER
HWDOM_MAX_ORDER = 12  # CONFIG_HWDOM_MAX_ORDER
E820_RAM = 1
E820_ENTRY_BYTES = 20  # struct e820entry: u64 addr, u64 size, u32 type (packed)


def max_order(d) -> int:
    return HWDOM_MAX_ORDER if d.privileged else DOMU_MAX_ORDER


def _handle_range_ok(call, va: int, first: int, last: int, size: int) -> bool:
    """guest_handle_subrange_okay: the range is guest address space (not
    whether it is mapped: each element access checks that)."""
    if last < first:
        return True
    lo, hi = call.d.rt.xen_hole
    start, end = va + first * size, va + (last + 1) * size
    return end <= 1 << (8 * call.d.rt.word) and not (start < hi and end > lo)


def guest_remove_page(call, d, gmfn: int) -> int:
    """Give a frame back (PV: gmfn == mfn). The frame is freed once its last
    reference (page-table mapping, pin...) is dropped."""
    hv, mem = call.hv, call.hv.mem
    if not mem.valid(gmfn):
        return -EINVAL
    if not hv.mm.get_page(gmfn, d):
        return -ENXIO
    d.drop_mfn(gmfn)
    hv.m2p[gmfn] = -1
    if mem.pinned[gmfn]:
        mem.pinned[gmfn] = 0
        hv.mm.put_page_and_type(gmfn)
    count = mem.count
    if mem.allocated[gmfn]:
        mem.allocated[gmfn] = 0
        count[gmfn] -= 1  # put_page, inline: a balloon gives back frames by the hundred thousand
    count[gmfn] -= 1
    if count[gmfn] == 0:
        hv.free_page(gmfn)
    return 0


class _PlainRemover:
    """guest_remove_page for the frame a balloon gives back almost always:
    the domain's, referenced by its allocation alone (no mapping, no type,
    no pin), the domain alive. For such a frame the general path drops the
    allocation reference and the one it took, and the frame goes straight
    back to the heap: done here in one step, with the same end state. Any
    other frame is left to guest_remove_page (`remove` answers False)."""

    def __init__(self, hv, d):
        self.hv, self.d, self.mem = hv, d, hv.mem
        m = hv.mem
        self.owner, self.count, self.allocated, self.pinned, self.tcount = (m.owner, m.count, m.allocated,
                                                                            m.pinned, m.tcount)

    def remove(self, mfn: int) -> bool:
        d = self.d
        if not (0 <= mfn < self.mem.nframes and self.owner[mfn] == d.domid and self.count[mfn] == 1
                and self.allocated[mfn] and not self.pinned[mfn] and not self.tcount[mfn]
                and not self.mem.xenheap[mfn] and not d.dying):
            return False
        d.drop_mfn(mfn)
        self.hv.m2p[mfn] = M2P_INVALID
        d.pages.discard(mfn)
        d.tot_pages -= 1
        self.mem.release(mfn)
        return True


def _reservation(call, op: str, start: int, arg: int) -> int:
    hv = call.hv
    abi = call.abi
    try:
        buf = call.read_struct(arg, "xen_memory_reservation")
    except GuestFault:
        return start
    get = lambda f: abi.get(buf, "xen_memory_reservation", f)  # noqa: E731
    nr, order, flags = get("nr_extents"), get("extent_order"), get("mem_flags")
    handle = get("extent_start")
    if nr > UINT_MAX >> MEMOP_EXTENT_SHIFT or start >= nr:
        return start
    d = call.target_domain(get("domid"))
    if d is None:
        return start
    if flags & call.c("XENMEMF_vnode"):
        return start  # the model has no vNUMA topology
    if d is not call.d and not call.d.privileged:
        return start  # xsm_memory_adjust_reservation: XSM_TARGET
    esize = abi.word
    extents = call.g.word_array(handle)
    done = start
    if op == "increase":
        if handle and not _handle_range_ok(call, handle, start, nr - 1, esize):
            return done
        if order > max_order(call.d):
            return done
        for i in range(start, nr):
            mfn = hv.alloc_domheap_pages(d, order)
            if mfn is None:
                break
            if handle:
                try:
                    extents[i] = mfn
                except GuestFault:
                    break
            done = i + 1
        call.log("increase_reservation", domid=d.domid, done=done - start, order=order)
        return done
    if not _handle_range_ok(call, handle, start, nr - 1, esize) or order > max_order(call.d):
        return done
    if op == "decrease":
        plain = _PlainRemover(hv, d) if order == 0 else None
        for i in range(start, nr):
            try:
                gmfn = extents[i]
            except GuestFault:
                break
            if plain is not None and plain.remove(gmfn):
                done = i + 1
                continue
            failed = False
            for j in range(1 << order):  # a plain loop: a generator per extent costs more than the removal
                if guest_remove_page(call, d, gmfn + j):
                    failed = True
                    break
            if failed:
                break
            done = i + 1
        hv.mem.scrub()  # the frames given back are the host's again at once
        call.log("decrease_reservation", domid=d.domid, done=done - start, order=order)
        return done
    # populate_physmap (a PoD request does nothing for a PV domain)
    if flags & call.c("XENMEMF_populate_on_demand"):
        return done
    m2p = hv.m2p
    for i in range(start, nr):
        try:
            gpfn = extents[i]
        except GuestFault:
            break
        mfn = hv.alloc_domheap_pages(d, order)
        if mfn is None:
            break
        if order == 0:  # without the inner loop: a balloon asks for single frames
            m2p[mfn] = gpfn
            d.set_p2m(gpfn, mfn)
        else:
            for j in range(1 << order):
                m2p[mfn + j] = gpfn + j
                d.set_p2m(gpfn + j, mfn + j)
        try:
            extents[i] = mfn
        except GuestFault:
            break
        done = i + 1
    call.log("populate_physmap", domid=d.domid, done=done - start, order=order)
    return done


def _add_to_physmap(call, start: int, arg: int, batch: bool) -> int:
    """XENMEM_add_to_physmap(_batch). Xen 4.17 serves them only to translated
    (HVM/PVH) domains and answers -EACCES for a PV one (xatp_permission_check):
    a PV guest learns its grant frames from GNTTABOP_setup_table and its
    shared_info frame from start_info, and maps them itself. Every domain of
    the model is PV, so what is left to model are the checks that come first."""
    c = call.c
    if start >> 16:
        return -EDOM  # the continuation must fit xatp.size (u16)
    S = "xen_add_to_physmap_batch" if batch else "xen_add_to_physmap"
    buf = call.read_struct(arg, S)
    space = call.get(buf, S, "space")
    if batch:
        size, word = call.get(buf, S, "size"), call.d.rt.word
        for handle, esize in (("idxs", word), ("gpfns", word), ("errs", 4)):
            if not _handle_range_ok(call, call.get(buf, S, handle), 0, size - 1, esize):
                return -EFAULT
        if space == c("XENMAPSPACE_gmfn_range"):
            return -EOPNOTSUPP
    elif space == c("XENMAPSPACE_gmfn_foreign"):
        return -ENOSYS  # foreign frames only through the batch form
    if call.target_domain(call.get(buf, S, "domid")) is None:
        return -ESRCH
    return -EACCES  # !paging_mode_translate(d)


@hypercall("memory_op")
def memory_op(call) -> int:
    cmd, arg, c = call.a["cmd"], call.a["arg"], call.c
    start, op = cmd >> MEMOP_EXTENT_SHIFT, cmd & MEMOP_CMD_MASK
    if op == c("XENMEM_increase_reservation"):
        return _reservation(call, "increase", start, arg)
    if op == c("XENMEM_decrease_reservation"):
        return _reservation(call, "decrease", start, arg)
    if op == c("XENMEM_populate_physmap"):
        return _reservation(call, "populate", start, arg)
    if op == c("XENMEM_maximum_ram_page"):
        return -EINVAL if start else call.hv.mem.nframes - 1
    if op in (c("XENMEM_current_reservation"), c("XENMEM_maximum_reservation"), c("XENMEM_maximum_gpfn")):
        if start:
            return -EINVAL
        domid = int.from_bytes(call.g.read(arg, 2), "little")
        d = call.target_domain(domid)
        if d is None:
            return -ESRCH
        if d is not call.d and not call.d.privileged:
            return -EPERM
        if op == c("XENMEM_current_reservation"):
            return d.tot_pages
        if op == c("XENMEM_maximum_reservation"):
            return d.max_pages
        return max(d.p2m, default=0)
    if op == c("XENMEM_machphys_mapping"):
        if start:
            return -EINVAL
        call.put_field(arg, "xen_machphys_mapping", "v_start", c("MACH2PHYS_VIRT_START"))
        call.put_field(arg, "xen_machphys_mapping", "v_end", c("MACH2PHYS_VIRT_END"))
        call.put_field(arg, "xen_machphys_mapping", "max_mfn", c("MACH2PHYS_NR_ENTRIES") - 1)
        return 0
    if op == c("XENMEM_memory_map"):
        return -ENOSYS  # no map set for the domain: Xen answers -ENOSYS, Linux assumes one RAM range
    if op == c("XENMEM_machine_memory_map"):
        if not call.d.privileged:
            return -EPERM  # xsm_machine_memory_map: XSM_PRIV
        buf = call.read_struct(arg, "xen_memory_map")
        if call.get(buf, "xen_memory_map", "nr_entries") < 1:
            return -EINVAL
        entry = (0).to_bytes(8, "little") + (call.hv.mem.size).to_bytes(8, "little") + E820_RAM.to_bytes(4, "little")
        call.g.write(call.get(buf, "xen_memory_map", "buffer"), entry)
        call.put_field(arg, "xen_memory_map", "nr_entries", 1)
        return 0
    if op == c("XENMEM_remove_from_physmap"):
        if start:
            return -EINVAL
        buf = call.read_struct(arg, "xen_remove_from_physmap")
        d = call.target_domain(call.get(buf, "xen_remove_from_physmap", "domid"))
        if d is None:
            return -ESRCH
        if d is not call.d and not call.d.privileged:
            return -EPERM
        mfn = call.get(buf, "xen_remove_from_physmap", "gpfn")
        if not call.hv.mm.get_page(mfn, d):
            return -ENOENT
        d.drop_mfn(mfn)
        call.hv.m2p[mfn] = -1
        call.hv.mm.put_page(mfn)
        return 0
    if op in (c("XENMEM_add_to_physmap"), c("XENMEM_add_to_physmap_batch")):
        return _add_to_physmap(call, start, arg, op == c("XENMEM_add_to_physmap_batch"))
    if op in (c("XENMEM_set_pod_target"), c("XENMEM_get_pod_target")):
        return -EPERM if not call.d.privileged else -EINVAL  # XSM_PRIV; a PV domain has no PoD
    return -ENOSYS  # exchange, acquire_resource ...: not modelled

