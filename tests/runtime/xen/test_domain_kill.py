"""Destroying a domain (pvdsl/runtime/domain_kill.py) as Xen's domain_kill
does: every reference the domain holds is dropped, a frame another domain
still maps stays allocated until that mapping goes (so it is never handed
to a new domain), and the grants the dying domain mapped are given back.
The model's invariants are checked after every step."""

from __future__ import annotations

import pytest
from grantsupport import PATTERN, Granter, Host, granted_mapping, map_grant, unmap_grant

from pvdsl.runtime.host.builder import build_pv_domain
from pvdsl.runtime.xen.domain_kill import kill_domain
from pvdsl.runtime.errors import ESRCH
from pvdsl.runtime.xen.grant_table import grant_table
from pvdsl.runtime.xen.hypercalls.mmu import domain_frame, foreign_map, foreign_unmap
from pvdsl.runtime.xen.memory import OWNER_FREE

MIB = 1 << 20


@pytest.fixture(params=["x86_64", "i386"])
def host(request):
    return Host(request.param)


def owned_by(hv, domid: int) -> set[int]:
    return {m for m in range(hv.mem.nframes) if hv.mem.owner[m] == domid}


def test_a_domain_nobody_maps_gives_every_frame_back(host):
    hv, u = host.hv, host.domu
    domid, frames = u.d.domid, owned_by(hv, u.d.domid)
    free = hv.mem.free_frames
    kill_domain(hv, u.d)
    assert domid not in hv.domains
    assert owned_by(hv, domid) == set()
    assert hv.mem.free_frames >= free + len(frames)  # its frames, and Xen's stacks and tables for it
    assert all(hv.mem.is_free[m] and hv.mem.count[m] == 0 for m in frames)
    assert host.invariants() == []


def test_a_frame_dom0_grant_maps_outlives_its_domain_until_the_unmap(host):
    hv, u, d0, mem = host.hv, host.domu, host.dom0, host.hv.mem
    mfn = u.spare_mfn()
    mem.write(mfn << 12, PATTERN.to_bytes(8, "little"))
    _g, h0, handle = granted_mapping(u, d0, 1, mfn)
    kill_domain(hv, u.d)
    # Still allocated to the dying domain, still readable and writable by dom0.
    assert u.d.dying and hv.domains.get(1) is u.d
    assert mem.owner[mfn] == 1 and not mem.is_free[mfn]
    assert owned_by(hv, 1) == {mfn} | u.d.xenheap_pages and u.d.shared_info_mfn in u.d.xenheap_pages
    assert d0.peek(h0) == (PATTERN, None) and d0.poke(h0, 7) is None
    assert host.invariants() == []
    kill_domain(hv, u.d)  # again: nothing more to drop
    assert owned_by(hv, 1) == {mfn} | u.d.xenheap_pages and host.invariants() == []
    # A new domain is never given it.
    fresh = build_pv_domain(hv, "x86_64", 4 * MIB, 2, False)
    assert mfn not in fresh.pages
    # dom0's unmap drops the last reference: the frame and the domain go.
    assert unmap_grant(d0, handle, h0) == 0
    assert mem.owner[mfn] == OWNER_FREE and 1 not in hv.domains
    assert host.invariants() == []


def test_a_dying_granters_grant_frames_outlive_the_mappings_of_its_grants(host):
    """dom0's unmap of a dying domain's grant writes the entry's flags into
    the granter's grant frame: that frame (and shared_info) must still be
    the dying domain's then, and go only with its last page."""
    hv, u, d0, mem = host.hv, host.domu, host.dom0, host.hv.mem
    c = u.c
    _va, mfn = u.page("granted page")
    g, h0, handle = granted_mapping(u, d0, 1, mfn)
    grant_frame, shared_info = g.frame, u.d.shared_info_mfn
    kill_domain(hv, u.d)
    assert u.d.xenheap_pages == {grant_frame, shared_info}
    assert not mem.is_free[grant_frame] and mem.owner[grant_frame] == 1
    flags_at = grant_table(hv, u.d).entry_maddr(1)
    assert mem.uint(flags_at, 2) & c("GTF_writing")  # the live grant, still marked in use
    assert unmap_grant(d0, handle, h0) == 0
    assert mem.is_free[grant_frame] and mem.is_free[shared_info] and mem.is_free[mfn]
    assert 1 not in hv.domains
    assert host.invariants() == []


def test_a_foreign_mapping_holds_the_frame_and_no_new_one_is_allowed(host):
    hv, u, d0, mem = host.hv, host.domu, host.dom0, host.hv.mem
    page_va, mfn = u.page("a page dom0 maps")
    assert u.poke(page_va, PATTERN) is None
    h0, _ = d0.page("foreign mapping")
    assert foreign_map(hv, d0.d, 1, mfn, h0) == 0
    kill_domain(hv, u.d)
    assert u.d.dying and owned_by(hv, 1) == {mfn} | u.d.xenheap_pages and u.d.shared_info_mfn in u.d.xenheap_pages
    assert d0.peek(h0) == (PATTERN, None)
    assert host.invariants() == []
    # Nothing new may target the dying domain.
    other, _ = d0.page("second mapping")
    assert foreign_map(hv, d0.d, 1, mfn, other) == -ESRCH
    assert domain_frame(hv, 1, 0) is None
    assert map_grant(d0, 1, 1, other)[1] == d0.c("GNTST_bad_domain")
    assert foreign_unmap(hv, d0.d, h0) == 0
    assert mem.owner[mfn] == OWNER_FREE and 1 not in hv.domains
    assert host.invariants() == []


def test_the_grants_a_dying_domain_mapped_are_given_back(host):
    hv, u, d0, mem = host.hv, host.domu, host.dom0, host.hv.mem
    c = d0.c
    _va, mfn = d0.page("dom0's granted page")
    dg, _addr, _handle = granted_mapping(d0, u, 3, mfn)
    count, tcount = mem.count[mfn], mem.tcount[mfn]  # the writable grant mapping's references included
    assert dg.flags(3) & (c("GTF_reading") | c("GTF_writing"))
    assert grant_table(hv, d0.d).act(3).pin
    kill_domain(hv, u.d)
    assert 1 not in hv.domains  # it held nothing of its own that others map
    assert grant_table(hv, d0.d).act(3).pin == 0
    assert not dg.flags(3) & (c("GTF_reading") | c("GTF_writing"))
    assert (mem.count[mfn], mem.tcount[mfn]) == (count - 1, tcount - 1)  # the mapping's went with its PTE
    assert host.invariants() == []


def test_a_device_mapping_of_the_dying_domain_is_dropped_too(host):
    """GNTMAP_device_map holds the frame without a PTE: gnttab_release_mappings
    drops that reference itself."""
    hv, u, d0, mem = host.hv, host.domu, host.dom0, host.hv.mem
    c = d0.c
    dg = Granter(d0)
    _va, mfn = d0.page("dom0's page for a device")
    dg.grant(4, 1, mfn)
    count = mem.count[mfn]
    _, status, _handle, _ = map_grant(u, 0, 4, 0, flags=c("GNTMAP_device_map"))
    assert status == 0 and mem.count[mfn] == count + 1
    kill_domain(hv, u.d)
    assert mem.count[mfn] == count and grant_table(hv, d0.d).act(4).pin == 0
    assert host.invariants() == []
