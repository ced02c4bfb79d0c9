"""Destroying a domain: Xen's domain_kill and domain_relinquish_resources.

A domain's frames cannot simply go back to the heap: another domain may
still map some of them (a dom0 foreign mapping, a grant another domain
mapped). Xen drops every reference the dying domain itself holds, in
order: the grants it mapped from others, its vCPUs' page-table roots,
GDT and registered frames, its pinned tables (and, to break cycles, any
table still validated), then each frame's allocation reference. A frame
whose count reaches zero is freed on the spot; one still referenced from
outside stays allocated to the dying domain until that last reference is
dropped (the mapper unmaps it), and only then does the domain disappear.
Xen's frames shared with it (shared_info, the grant frames) stay until its
last page goes: an unmap of one of its grants still writes the flags there.
So a freed frame is never one somebody still maps, and a new domain can
never be handed memory another domain can reach.
"""

from __future__ import annotations

import numpy as np

from .grant_table import existing_table
from .hypercalls.grant import grant_pins, unpin_flags
from .memory import PAGE_SHIFT
from .mm import pt_level

INVALID_MFN = -1


def kill_domain(hv, d) -> None:
    """Tear `d` down; it leaves `hv.domains` once its last frame is freed
    (at once unless another domain still maps one of them). Killing a
    dying domain again does nothing."""
    if d.dying:
        return
    d.dying = True
    _close_event_channels(hv, d)
    _release_grant_mappings(hv, d)
    _release_vcpu_references(hv, d)
    _relinquish_memory(hv, d)
    _release_xen_frames(hv, d)
    d.p2m.clear()  # and its inverse, pfn_of
    for v in d.vcpus:
        v.cpu = None
    frame_freed(hv, d)
    # Xen scrubs a dead domain's pages in its idle loop, before anyone needs
    # them; the model does it now rather than in the next allocation, which
    # may be a restore or an arriving migration that is being timed.
    hv.mem.scrub()


def frame_freed(hv, d) -> None:
    """A frame of dying domain `d` went back to the heap (or the kill is
    done). Once none of its pages is left, nobody maps a grant of it any
    more, so Xen's own frames it shares (shared_info, the grant frames an
    unmap of its grants writes the flags into) lose their reference too;
    with those gone, so is the domain."""
    if d.pages:
        return
    if not d.xenheap_released:
        d.xenheap_released = True
        mem = hv.mem
        for m in sorted(d.xenheap_pages):
            if not mem.is_free[m] and mem.owner[m] == d.domid:
                hv.mm.put_page(m)  # may free it, and call back here
    if not d.pages and not d.xenheap_pages:
        hv.domains.pop(d.domid, None)


def _close_event_channels(hv, d) -> None:
    from .hypercalls import evtchn as hc_evtchn

    for port in list(d.evtchns):
        try:
            hc_evtchn.close_port(hv, d, port)
        except Exception:  # noqa: BLE001 - best effort, the domain is going away
            pass


def _release_grant_mappings(hv, d) -> None:
    """gnttab_release_mappings for a PV domain: unpin every grant it mapped
    and clear the granter's in-use flags. A host mapping's frame references
    belong to its PTE (dropped with the page tables below); a device
    mapping's are dropped here."""
    gt = existing_table(hv, d)
    if gt is None:
        return
    c = d.abi.c
    for handle, m in list(gt.maptrack.items()):
        if not m.flags:
            continue
        rd = hv.domains.get(m.domid)
        rgt = existing_table(hv, rd) if rd is not None else None
        if rgt is not None and m.ref < rgt.nr_entries and m.ref in rgt.active:
            act = rgt.act(m.ref)
            ro = bool(m.flags & c("GNTMAP_readonly"))
            if m.flags & c("GNTMAP_device_map"):
                if not ro:
                    hv.mm.put_page_type(act.mfn)
                hv.mm.put_page(act.mfn)
            act.pin -= grant_pins(m.flags, c)
            unpin_flags(c, rgt, m.ref, act, ro)
        m.flags = 0
        gt.put_handle(handle)


def _release_vcpu_references(hv, d) -> None:
    """vcpu_destroy_pagetables, pv_destroy_gdt, unmap_vcpu_info and the
    PIRQ EOI page: what each vCPU's state holds."""
    mm = hv.mm
    for v in d.vcpus:
        if v.guest_table >= 0:  # INVALID_MFN: never initialised
            mm.put_page_and_type(v.guest_table)
        v.guest_table = INVALID_MFN
        if v.guest_table_user:
            mm.put_page_and_type(v.guest_table_user)
        v.guest_table_user = 0
        for m in v.gdt_frames:
            mm.put_page_and_type(m)
        v.gdt_frames, v.gdt_entries = [], 0
        if v.vcpu_info_mfn != INVALID_MFN:
            mm.put_page_and_type(v.vcpu_info_mfn)
            v.vcpu_info_mfn = INVALID_MFN
    eoi = d.pirq_eoi_mfn
    if eoi is not None:
        mm.put_page_and_type(eoi)
        d.pirq_eoi_mfn = None


def _relinquish_memory(hv, d) -> None:
    """relinquish_memory: unpin, forcibly devalidate the tables still valid
    (top level first: a table that maps itself keeps its own type count),
    then drop each frame's allocation reference. The frame table is read
    a whole array at a time to find the few frames with more to do than
    their allocation reference."""
    mem, mm = hv.mem, hv.mm

    def still_ours(m: int) -> bool:
        return not mem.is_free[m] and mem.owner[m] == d.domid

    def flagged(table: bytearray) -> list[int]:
        frames = d.pages.array()
        return frames[np.frombuffer(table, dtype=np.uint8)[frames] != 0].tolist()

    for m in flagged(mem.pinned):
        if still_ours(m) and mem.pinned[m]:
            mem.pinned[m] = 0
            mm.put_page_and_type(m)
    for level in range(d.rt.levels, 0, -1):
        for m in flagged(mem.validated):
            if still_ours(m) and mem.validated[m] and pt_level(mem.ptype[m]) == level:
                mm.devalidate(m)
    frames = np.array(flagged(mem.allocated), dtype=np.int64)
    ms = frames.tolist()
    as_array = lambda table: np.frombuffer(table, dtype=np.uint8)[frames]  # noqa: E731
    ours = (as_array(mem.is_free) == 0) & (np.array([mem.owner[m] for m in ms], dtype=np.int64) == d.domid)
    # The allocation is its last reference: freed below, in one go.
    plain = ours & (np.array([mem.count[m] for m in ms], dtype=np.int64) == 1) & \
        (np.array([mem.tcount[m] for m in ms], dtype=np.int64) == 0) & (as_array(mem.pinned) == 0) & \
        (as_array(mem.xenheap) == 0)
    for m in frames[ours & ~plain].tolist():
        mem.allocated[m] = 0
        mm.put_page(m)
    _free_plain(hv, d, frames[plain])


def _free_plain(hv, d, frames: np.ndarray) -> None:
    """put_page of frames (ascending) whose allocation reference is their
    last, with free_page's end state (out of the domain, the M2P entry
    invalid, back to the heap), a run of consecutive frames at a time: a
    gigabyte is 262,144 frames."""
    if not len(frames):
        return
    d.pages.discard_array(frames)
    d.tot_pages -= len(frames)
    hv.xen_pages.difference_update(frames.tolist())
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    for run in np.split(frames, breaks):
        lo, hi = int(run[0]), int(run[-1]) + 1
        hv.mem.release_run(lo, hi)
        hv.m2p.set_run(lo, None, hi - lo)


def _release_xen_frames(hv, d) -> None:
    """Xen's own frames for the domain: its vCPUs' stacks and the
    per-domain tables (never mapped by any guest)."""
    mem = hv.mem
    frames = list(d.xen_stack_mfn.values())
    top = d.xen_perdomain_top
    if top is not None and top >= 0 and top in hv.xen_pages:
        frames.append(top)
        if d.rt.xen_slot_level == 4:  # L3 -> L2 -> L1 tables built by XenSpace._map
            for l3e in range(512):
                e = mem.u64((top << PAGE_SHIFT) + l3e * 8)
                if e & 1:
                    l2 = (e >> PAGE_SHIFT) & 0xFFFFFFFFFF
                    frames.append(l2)
                    for l2e in range(512):
                        e2 = mem.u64((l2 << PAGE_SHIFT) + l2e * 8)
                        if e2 & 1:
                            frames.append((e2 >> PAGE_SHIFT) & 0xFFFFFFFFFF)
    for m in set(frames):
        if m in hv.xen_pages:
            hv.xen_pages.discard(m)
            mem.release(m)


__all__ = ["kill_domain"]
