"""grant_table_op: a domU grants frames, dom0 maps and copies them. Every
hypercall is made by generated code on an emulated vCPU, and the mappings
are used by loads and stores of those vCPUs (unicorn walks the page tables
Xen's model wrote), checked against Xen 4.17's status codes, errno values
and reference counting, with the model's invariants after each step."""

from __future__ import annotations

import pytest
from grantsupport import PATTERN, Granter, Host, granted_mapping, map_grant, unmap_grant

from pvdsl.runtime.errors import EFAULT, EINVAL, ENOSYS, EPERM, ESRCH
from pvdsl.runtime.xen.grant_table import grant_table
from pvdsl.runtime.xen.memory import OWNER_FREE
from pvdsl.runtime.xen.paging import walk

@pytest.fixture(params=["x86_64", "i386"])
def host(request):
    return Host(request.param)


def test_setup_table_and_query_size(host):
    u, d0 = host.domu, host.dom0
    c = u.c
    frames_va = u.scratch + 4096
    uop = u.struct("gnttab_setup_table", dom=c("DOMID_SELF"), nr_frames=3, frame_list=frames_va)
    assert u.gnttab("GNTTABOP_setup_table", uop) == 0 and u.field("gnttab_setup_table", uop, "status") == 0
    frames = [int.from_bytes(u.get(frames_va + i * u.word, u.word), "little") for i in range(3)]
    mem, d = host.hv.mem, u.d
    tot = d.tot_pages
    # Xen's pages shared with the guest: owned by it, outside its reservation.
    assert all(mem.owner[f] == d.domid and f in d.xenheap_pages and f not in d.pages for f in frames)
    assert len(set(frames)) == 3 and d.tot_pages == tot
    q = u.struct("gnttab_query_size", dom=c("DOMID_SELF"))
    assert u.gnttab("GNTTABOP_query_size", q) == 0
    assert [u.field("gnttab_query_size", q, f) for f in ("nr_frames", "max_nr_frames", "status")] == [3, 64, 0]
    # Past the limit, another domain, no such domain, a bad count or pointer.
    statuses = {65: c("GNTST_general_error")}
    for nr, want in statuses.items():
        uop = u.struct("gnttab_setup_table", dom=c("DOMID_SELF"), nr_frames=nr, frame_list=frames_va)
        assert u.gnttab("GNTTABOP_setup_table", uop) == 0 and u.field("gnttab_setup_table", uop, "status") == want
    for dom, want in ((0, "GNTST_permission_denied"), (9, "GNTST_bad_domain")):
        uop = u.struct("gnttab_setup_table", dom=dom, nr_frames=1, frame_list=frames_va)
        assert u.gnttab("GNTTABOP_setup_table", uop) == 0 and u.field("gnttab_setup_table", uop, "status") == c(want)
        q = u.struct("gnttab_query_size", dom=dom)
        assert u.gnttab("GNTTABOP_query_size", q) == 0 and u.field("gnttab_query_size", q, "status") == c(want)
    uop = u.struct("gnttab_setup_table", dom=c("DOMID_SELF"), nr_frames=1, frame_list=frames_va)
    assert u.gnttab("GNTTABOP_setup_table", uop, 2) == -EINVAL
    assert u.gnttab("GNTTABOP_query_size", q, 0) == -EINVAL
    assert u.gnttab("GNTTABOP_setup_table", u.d.rt.xen_global_va) == -EFAULT
    uop = u.struct("gnttab_setup_table", dom=c("DOMID_SELF"), nr_frames=1, frame_list=u.d.rt.xen_hole[0])
    assert u.gnttab("GNTTABOP_setup_table", uop) == -EFAULT  # the list lies in Xen's range
    unmapped = u.d.kernel.v_end + 0x10000
    uop = u.struct("gnttab_setup_table", dom=c("DOMID_SELF"), nr_frames=1, frame_list=unmapped)
    assert u.gnttab("GNTTABOP_setup_table", uop) == 0
    assert u.field("gnttab_setup_table", uop, "status") == c("GNTST_bad_virt_addr")
    # dom0 may set up and query the domU's table.
    uop = d0.struct("gnttab_setup_table", dom=1, nr_frames=3, frame_list=d0.scratch + 4096)
    assert d0.gnttab("GNTTABOP_setup_table", uop) == 0 and d0.field("gnttab_setup_table", uop, "status") == 0
    assert [int.from_bytes(d0.get(d0.scratch + 4096 + i * d0.word, d0.word), "little") for i in range(3)] == frames
    assert host.invariants() == []


def test_dom0_maps_a_granted_frame_and_both_see_each_others_writes(host):
    u, d0, mem = host.domu, host.dom0, host.hv.mem
    g = Granter(u)
    page_va, mfn = u.page("granted page")
    assert u.poke(page_va, PATTERN) is None
    g.grant(8, 0, mfn)
    count, tcount = mem.count[mfn], mem.tcount[mfn]
    h0, before = d0.page("where dom0 maps the grant")
    old_refs = (mem.count[before], mem.tcount[before])
    rc, status, handle, bus = map_grant(d0, 1, 8, h0)
    assert (rc, status, bus) == (0, 0, mfn << 12)
    # The entry dom0 had there is replaced, and what it held is dropped.
    assert (mem.count[before], mem.tcount[before]) == (old_refs[0] - 1, old_refs[1] - 1)
    # The granting entry shows the grant in use, for reading and writing.
    c = u.c
    assert g.flags(8) == c("GTF_permit_access") | c("GTF_reading") | c("GTF_writing")
    assert (mem.count[mfn], mem.tcount[mfn]) == (count + 1, tcount + 1)
    # dom0's loads and stores reach the domU's frame, and the other way round.
    assert d0.peek(h0) == (PATTERN, None)
    assert d0.poke(h0 + 8, 0x5EED) is None
    assert u.peek(page_va + 8) == (0x5EED, None)
    assert u.poke(page_va + 16, 0xD00D) is None
    assert d0.peek(h0 + 16) == (0xD00D, None)
    assert host.hv.events_of("grant_map", 0)[-1]["mfn"] == mfn
    assert host.invariants() == []
    assert unmap_grant(d0, handle, h0) == 0
    assert g.flags(8) == c("GTF_permit_access")
    assert (mem.count[mfn], mem.tcount[mfn]) == (count, tcount)
    value, fault = d0.peek(h0)  # the mapping is gone
    assert value is None and fault.vector == 14
    assert host.invariants() == []


def test_read_only_map(host):
    u, d0 = host.domu, host.dom0
    c = u.c
    g = Granter(u)
    page_va, mfn = u.page("granted page")
    assert u.poke(page_va, PATTERN) is None
    g.grant(9, 0, mfn, readonly=True)
    h0, _ = d0.page("map target")
    # A writable map of a read-only grant is refused; a read-only one works.
    assert map_grant(d0, 1, 9, h0)[1] == c("GNTST_general_error")
    assert g.flags(9) == c("GTF_permit_access") | c("GTF_readonly")
    rc, status, handle, _ = map_grant(d0, 1, 9, h0, c("GNTMAP_host_map") | c("GNTMAP_readonly"))
    assert (rc, status) == (0, 0)
    assert g.flags(9) == c("GTF_permit_access") | c("GTF_readonly") | c("GTF_reading")
    assert host.hv.mem.tcount[mfn] == 1  # only the domU's own writable mapping
    assert d0.peek(h0) == (PATTERN, None)
    fault = d0.poke(h0, 1)
    assert fault is not None and fault.vector == 14
    assert unmap_grant(d0, handle, h0) == 0
    assert g.flags(9) == c("GTF_permit_access") | c("GTF_readonly")
    assert host.invariants() == []


def test_map_by_pte_machine_address(host):
    u, d0 = host.domu, host.dom0
    c = u.c
    g = Granter(u)
    page_va, mfn = u.page("granted page")
    assert u.poke(page_va, PATTERN) is None
    g.grant(10, 0, mfn)
    h0, _ = d0.page("map target")
    pte = d0.pte_maddr(h0)
    flags = c("GNTMAP_host_map") | c("GNTMAP_contains_pte")
    assert map_grant(d0, 1, 10, pte + 4, flags)[1] == c("GNTST_general_error")  # misaligned
    rc, status, handle, _ = map_grant(d0, 1, 10, pte, flags)
    assert (rc, status) == (0, 0)
    assert d0.peek(h0) == (PATTERN, None)
    assert unmap_grant(d0, handle, h0) == c("GNTST_general_error")  # the map named a PTE, not an address
    assert unmap_grant(d0, handle, pte) == 0
    assert d0.peek(h0)[1] is not None
    assert host.invariants() == []
    # Only an entry of a validated L1 table of the caller can be named.
    data_va, data = d0.page("a data page")
    w = walk(host.hv.mem, d0.d.rt, d0.d.vcpus[0].guest_table, h0)
    l2_entry = w.tables[-2] + d0.d.rt.indices(h0)[-2] * 8
    for where in (data << 12, l2_entry, u.pte_maddr(page_va)):
        assert map_grant(d0, 1, 10, where, flags)[1] == c("GNTST_general_error"), hex(where)
    assert d0.peek(data_va) == (0, None) and u.peek(page_va) == (PATTERN, None)
    assert g.flags(10) == c("GTF_permit_access")
    assert host.invariants() == []


def test_map_error_statuses(host):
    u, d0, mem = host.domu, host.dom0, host.hv.mem
    c = u.c
    g = Granter(u)
    page_va, mfn = u.page("granted page")
    h0, _ = d0.page("map target")
    g.grant(1, 0, mfn)
    g.grant(2, 7, mfn)  # for another domain
    g.grant(3, 0, host.dom0.d.p2m[20])  # a frame the domU does not own
    g.grant(4, 0, u.d.p2m[u.d.kernel.pt_pfns[-1]])  # one of its page tables
    g.grant(5, 0, mfn, flags=c("GTF_accept_transfer"))
    before = (mem.count[mfn], mem.tcount[mfn])
    host_map = c("GNTMAP_host_map")
    cases = [
        (dict(dom=1, ref=1, host_addr=h0, flags=0), "GNTST_bad_gntref"),
        (dict(dom=c("DOMID_SELF"), ref=1, host_addr=h0), "GNTST_bad_domain"),
        (dict(dom=9, ref=1, host_addr=h0), "GNTST_bad_domain"),
        (dict(dom=1, ref=512, host_addr=h0), "GNTST_bad_gntref"),  # one frame holds 512 entries
        (dict(dom=1, ref=0, host_addr=h0), "GNTST_general_error"),  # never granted
        (dict(dom=1, ref=2, host_addr=h0), "GNTST_general_error"),
        (dict(dom=1, ref=5, host_addr=h0), "GNTST_general_error"),
        (dict(dom=1, ref=3, host_addr=h0), "GNTST_bad_page"),
        (dict(dom=1, ref=4, host_addr=h0), "GNTST_general_error"),  # a page table cannot be mapped writable
        (dict(dom=1, ref=1, host_addr=d0.d.rt.xen_global_va), "GNTST_general_error"),
        (dict(dom=1, ref=1, host_addr=d0.d.kernel.v_end + (4 << 20)), "GNTST_general_error"),  # no L1 there
    ]
    for fields, want in cases:
        rc, status, _, _ = map_grant(d0, fields["dom"], fields["ref"], fields["host_addr"],
                                     fields.get("flags", host_map))
        assert (rc, status) == (0, c(want)), (fields, status)
        # A failed map leaves nothing behind: no pin, no reference, no status bit.
        assert g.flags(1) == c("GTF_permit_access") and (mem.count[mfn], mem.tcount[mfn]) == before, fields
        assert d0.peek(h0)[1] is None  # dom0's own page is still mapped there
    assert all(a.pin == 0 for a in grant_table(host.hv, u.d).active.values())
    assert grant_table(host.hv, d0.d).maptrack == {}
    # The page table may be mapped read-only.
    rc, status, handle, _ = map_grant(d0, 1, 4, h0, host_map | c("GNTMAP_readonly"))
    assert status == 0 and unmap_grant(d0, handle, h0) == 0
    assert host.invariants() == []


def test_unmap_error_statuses(host):
    u, d0 = host.domu, host.dom0
    c = u.c
    g = Granter(u)
    _, mfn = u.page("granted page")
    g.grant(1, 0, mfn)
    h0, _ = d0.page("map target")
    other, _ = d0.page("another page")
    _, status, handle, _ = map_grant(d0, 1, 1, h0)
    assert status == 0
    assert unmap_grant(d0, handle + 1, h0) == c("GNTST_bad_handle")
    assert unmap_grant(d0, handle, other) == c("GNTST_general_error")  # not where it is mapped
    assert unmap_grant(d0, handle, h0, dev_bus_addr=(mfn + 1) << 12) == c("GNTST_general_error")
    assert unmap_grant(d0, handle, 0) == 0  # Xen's quirk: nothing named, nothing done
    assert g.flags(1) & c("GTF_reading")  # still mapped
    assert unmap_grant(d0, handle, h0) == 0
    assert unmap_grant(d0, handle, h0) == c("GNTST_bad_handle")  # the handle is gone
    assert g.flags(1) == c("GTF_permit_access")
    assert host.invariants() == []


def test_a_second_map_at_the_same_address_takes_it_over(host):
    """Mapping a grant over another grant's entry is an implicit unmap of
    the first: its references go with its entry, and its handle can no
    longer be unmapped there (the entry is no longer writable)."""
    u, d0, mem = host.domu, host.dom0, host.hv.mem
    c = u.c
    g = Granter(u)
    _, mfn = u.page("granted page")
    g.grant(1, 0, mfn)
    count, tcount = mem.count[mfn], mem.tcount[mfn]
    h0, _ = d0.page("map target")
    _, status, first, _ = map_grant(d0, 1, 1, h0)
    assert status == 0
    _, status, second, _ = map_grant(d0, 1, 1, h0, c("GNTMAP_host_map") | c("GNTMAP_readonly"))
    assert status == 0 and second != first
    assert (mem.count[mfn], mem.tcount[mfn]) == (count + 1, tcount)
    assert unmap_grant(d0, first, h0) == c("GNTST_general_error")
    assert unmap_grant(d0, second, h0) == 0
    assert (mem.count[mfn], mem.tcount[mfn]) == (count, tcount)
    assert g.flags(1) == c("GTF_permit_access") | c("GTF_reading") | c("GTF_writing")  # the first is still pinned
    assert host.invariants() == []


def test_device_map_holds_the_frame_without_a_mapping(host):
    u, d0, mem = host.domu, host.dom0, host.hv.mem
    c = u.c
    g = Granter(u)
    _, mfn = u.page("granted page")
    g.grant(1, 0, mfn)
    count, tcount = mem.count[mfn], mem.tcount[mfn]
    rc, status, handle, bus = map_grant(d0, 1, 1, 0, c("GNTMAP_device_map"))
    assert (rc, status, bus) == (0, 0, mfn << 12)
    assert (mem.count[mfn], mem.tcount[mfn]) == (count + 1, tcount + 1)
    assert unmap_grant(d0, handle, 0, dev_bus_addr=bus) == 0
    assert (mem.count[mfn], mem.tcount[mfn]) == (count, tcount) and g.flags(1) == c("GTF_permit_access")
    assert host.invariants() == []


def test_copy(host):
    u, d0 = host.domu, host.dom0
    c = u.c
    g = Granter(u)
    dst_va, dst = u.page("granted for writing")
    src_va, src = u.page("granted read-only")
    g.grant(1, 0, dst)
    g.grant(2, 0, src, readonly=True)
    mine_va, mine = d0.page("dom0's buffer")
    assert d0.poke(mine_va + 64, PATTERN) is None
    assert u.poke(src_va + 8, 0xC0FFEE) is None
    S, self_ = "gnttab_copy", c("DOMID_SELF")
    gref_src, gref_dst = c("GNTCOPY_source_gref"), c("GNTCOPY_dest_gref")
    ops = [  # (fields, expected status)
        (dict(source__u__gmfn=mine, source__domid=self_, source__offset=64, dest__u__ref=1, dest__domid=1,
              dest__offset=128, len=8, flags=gref_dst), "GNTST_okay"),
        (dict(source__u__ref=2, source__domid=1, source__offset=8, dest__u__gmfn=mine, dest__domid=self_,
              dest__offset=256, len=8, flags=gref_src), "GNTST_okay"),
        (dict(source__u__gmfn=mine, source__domid=self_, dest__u__ref=2, dest__domid=1, len=8, flags=gref_dst),
         "GNTST_general_error"),  # a read-only grant as destination
        (dict(source__u__gmfn=src, source__domid=1, dest__u__gmfn=mine, dest__domid=self_, len=8),
         "GNTST_permission_denied"),  # only DOMID_SELF names frames
        (dict(source__u__gmfn=mine, source__domid=self_, dest__u__ref=1, dest__domid=1, dest__offset=4092,
              len=8, flags=gref_dst), "GNTST_bad_copy_arg"),
        (dict(source__u__ref=1, source__domid=9, dest__u__gmfn=mine, dest__domid=self_, len=8, flags=gref_src),
         "GNTST_bad_domain"),
        (dict(source__u__ref=600, source__domid=1, dest__u__gmfn=mine, dest__domid=self_, len=8, flags=gref_src),
         "GNTST_bad_gntref"),
        (dict(source__u__gmfn=src, source__domid=self_, dest__u__gmfn=mine, dest__domid=self_, len=8),
         "GNTST_bad_page"),  # not dom0's frame
    ]
    size = d0.abi.size(S)
    for i, (fields, _) in enumerate(ops):
        d0.struct(S, i * size, **fields)
    assert d0.gnttab("GNTTABOP_copy", d0.scratch, len(ops)) == 0
    statuses = [d0.field(S, d0.scratch + i * size, "status") for i in range(len(ops))]
    assert statuses == [c(want) for _, want in ops]
    assert u.peek(dst_va + 128) == (PATTERN, None)
    assert d0.peek(mine_va + 256) == (0xC0FFEE, None)
    assert u.peek(dst_va + 4088) == (0, None)  # the refused copy wrote nothing
    assert g.flags(1) == c("GTF_permit_access") and g.flags(2) == c("GTF_permit_access") | c("GTF_readonly")
    assert all(a.pin == 0 for a in grant_table(host.hv, u.d).active.values())
    assert host.invariants() == []


def test_versions(host):
    u, d0 = host.domu, host.dom0
    c = u.c
    for version, rc in ((1, 0), (2, -ENOSYS), (3, -EINVAL), (0, -EINVAL)):
        uop = u.struct("gnttab_set_version", version=version)
        assert u.gnttab("GNTTABOP_set_version", uop) == rc
        assert u.field("gnttab_set_version", uop, "version") == 1  # Xen writes back the version in force
    for k, dom, rc in ((u, c("DOMID_SELF"), 0), (u, 0, -EPERM), (u, 9, -ESRCH), (d0, 1, 0)):
        uop = k.struct("gnttab_get_version", dom=dom)
        assert k.gnttab("GNTTABOP_get_version", uop) == rc
        assert k.field("gnttab_get_version", uop, "version") == (1 if rc == 0 else 0)
    # A version 1 table has no status frames.
    for nr, want in ((0, "GNTST_okay"), (1, "GNTST_general_error")):
        uop = u.struct("gnttab_get_status_frames", nr_frames=nr, dom=c("DOMID_SELF"), frame_list=u.scratch + 4096)
        assert u.gnttab("GNTTABOP_get_status_frames", uop) == 0
        assert u.field("gnttab_get_status_frames", uop, "status") == c(want)


def test_swap_grant_ref(host):
    u = host.domu
    c = u.c
    g = Granter(u)
    _, mfn = u.page("granted page")
    g.grant(1, 0, mfn)
    S = "gnttab_swap_grant_ref"
    size = u.abi.size(S)
    for i, (a, b) in enumerate([(1, 2), (1, 1), (1, 512)]):
        u.struct(S, i * size, ref_a=a, ref_b=b)
    assert u.gnttab("GNTTABOP_swap_grant_ref", u.scratch, 3) == 0
    assert [u.field(S, u.scratch + i * size, "status") for i in range(3)] == [0, 0, c("GNTST_bad_gntref")]
    assert g.flags(2) == c("GTF_permit_access") and g.flags(1) == 0


def test_hypercall_level_errors(host):
    d0 = host.dom0
    c = d0.c
    uop = d0.struct("gnttab_map_grant_ref", ref=0, dom=1, flags=c("GNTMAP_host_map"))
    assert d0.hypercall("gnttab", "grant_table_op", c("GNTTABOP_map_grant_ref"), uop, 1 << 31) == -EINVAL
    assert d0.hypercall("gnttab", "grant_table_op", 1 << 12 | c("GNTTABOP_map_grant_ref"), uop, 1) == -EINVAL
    for cmd in (c("GNTTABOP_transfer"), c("GNTTABOP_unmap_and_replace"), c("GNTTABOP_dump_table"), 13, 99):
        assert d0.hypercall("gnttab", "grant_table_op", cmd, uop, 1) == -ENOSYS
    for bad in (d0.d.rt.xen_global_va, d0.d.kernel.v_end + (4 << 20)):
        for cmd in ("GNTTABOP_map_grant_ref", "GNTTABOP_unmap_grant_ref", "GNTTABOP_copy", "GNTTABOP_query_size",
                    "GNTTABOP_set_version", "GNTTABOP_get_version"):
            assert d0.gnttab(cmd, bad) == -EFAULT, (cmd, hex(bad))
    assert d0.gnttab("GNTTABOP_map_grant_ref", uop, 0) == 0  # nothing to do
    assert host.invariants() == []


def test_a_granted_frame_given_back_stays_with_its_mapper(host):
    """decrease_reservation of a frame another domain maps: the granter
    loses it (p2m, m2p) at once, the frame itself lives until the unmap."""
    u, d0, mem, hv = host.domu, host.dom0, host.hv.mem, host.hv
    c = u.c
    mfn = u.spare_mfn()
    mem.write(mfn << 12, PATTERN.to_bytes(8, "little"))
    _g, h0, handle = granted_mapping(u, d0, 1, mfn)
    tot = u.d.tot_pages
    extents = u.scratch + 1024
    u.put(extents, mfn.to_bytes(u.word, "little"))
    res = u.struct("xen_memory_reservation", extent_start=extents, nr_extents=1, domid=c("DOMID_SELF"))
    assert u.hypercall("memop", "memory_op", c("XENMEM_decrease_reservation"), res) == 1
    assert mfn not in u.d.pfn_of and hv.m2p[mfn] == -1
    assert mem.owner[mfn] == u.d.domid and u.d.tot_pages == tot  # still allocated: dom0 holds it
    assert host.invariants() == []
    assert d0.peek(h0) == (PATTERN, None) and d0.poke(h0, 7) is None
    assert unmap_grant(d0, handle, h0) == 0
    assert mem.owner[mfn] == OWNER_FREE and u.d.tot_pages == tot - 1
    assert host.invariants() == []


def test_implicit_unmap_by_mmu_update(host):
    """Overwriting a grant's PTE drops what the PTE held (Xen release
    builds allow it); the grant stays pinned and its unmap fails."""
    u, d0, mem = host.domu, host.dom0, host.hv.mem
    c = u.c
    g = Granter(u)
    _, mfn = u.page("granted page")
    g.grant(1, 0, mfn)
    count, tcount = mem.count[mfn], mem.tcount[mfn]
    h0, _ = d0.page("map target")
    _, status, handle, _ = map_grant(d0, 1, 1, h0)
    assert status == 0
    rc = d0.hypercall("mmu", "mmu_update", d0.pte_maddr(h0) | c("MMU_NORMAL_PT_UPDATE"), 0, c("DOMID_SELF"))
    assert rc == 0
    assert (mem.count[mfn], mem.tcount[mfn]) == (count, tcount)
    assert g.flags(1) & c("GTF_writing")
    assert unmap_grant(d0, handle, h0) == c("GNTST_general_error")
    assert host.invariants() == []


def test_a_domu_maps_dom0s_grant(host):
    """Grants work in both directions (a driver domain maps dom0's pages)."""
    u, d0 = host.domu, host.dom0
    dg = Granter(d0)
    page_va, mfn = d0.page("dom0's granted page")
    assert d0.poke(page_va, PATTERN) is None
    dg.grant(3, 1, mfn)
    hu, _ = u.page("map target")
    rc, status, handle, _ = map_grant(u, 0, 3, hu)
    assert (rc, status) == (0, 0)
    assert u.peek(hu) == (PATTERN, None)
    assert unmap_grant(u, handle, hu) == 0
    assert host.invariants() == []


def test_a_ref_in_use_is_one_domains_and_its_pin_counts_are_bounded(host):
    """An active grant belongs to the domain that pinned it first; each
    kind of pin is a byte and Xen refuses the map that would reach 128."""
    from pvdsl.runtime.xen.hypercalls.grant import map_grant as host_map, unmap_grant as host_unmap

    u, d0 = host.domu, host.dom0
    c = u.c
    g = Granter(u)
    _, mfn = u.page("granted page")
    g.grant(1, 0, mfn, readonly=True)
    device_ro = c("GNTMAP_device_map") | c("GNTMAP_readonly")
    handles = []
    for _ in range(128):
        status, handle = host_map(host.hv, d0.d, 1, 1, 0, device_ro)
        assert status == 0
        handles.append(handle)
    assert map_grant(d0, 1, 1, 0, device_ro)[1] == c("GNTST_general_error")  # the 129th
    hu, _ = u.page("map target")
    assert map_grant(u, 1, 1, hu, c("GNTMAP_host_map") | c("GNTMAP_readonly"))[1] == c("GNTST_general_error")
    for handle in handles:
        assert host_unmap(host.hv, d0.d, handle, 0, mfn << 12) == 0
    assert g.flags(1) == c("GTF_permit_access") | c("GTF_readonly")
    assert host.invariants() == []


def test_add_to_physmap_is_for_translated_guests(host):
    """XENMEM_add_to_physmap(_batch) with XENMAPSPACE_grant_table is how an
    HVM/PVH guest places its grant frames; Xen 4.17 answers a PV guest
    -EACCES after its argument checks (a PV guest uses setup_table)."""
    from pvdsl.runtime.errors import EACCES, EDOM, EOPNOTSUPP

    u = host.domu
    c = u.c
    op, batch = c("XENMEM_add_to_physmap"), c("XENMEM_add_to_physmap_batch")
    cases = [
        (op, dict(domid=c("DOMID_SELF"), space=c("XENMAPSPACE_grant_table"), idx=0, gpfn=0x4000), 0, -EACCES),
        (op, dict(domid=0, space=c("XENMAPSPACE_grant_table")), 0, -EACCES),
        (op, dict(domid=c("DOMID_SELF"), space=c("XENMAPSPACE_gmfn_foreign")), 0, -ENOSYS),
        (op, dict(domid=9, space=c("XENMAPSPACE_grant_table")), 0, -ESRCH),
        (op, dict(domid=c("DOMID_SELF"), space=c("XENMAPSPACE_grant_table")), 1 << 16, -EDOM),
        (batch, dict(domid=c("DOMID_SELF"), space=c("XENMAPSPACE_gmfn_range"), size=1, idxs=u.scratch + 4096,
                     gpfns=u.scratch + 4096, errs=u.scratch + 4096), 0, -EOPNOTSUPP),
        (batch, dict(domid=c("DOMID_SELF"), space=c("XENMAPSPACE_grant_table"), size=1, idxs=u.scratch + 4096,
                     gpfns=u.scratch + 4096, errs=u.scratch + 4096), 0, -EACCES),
        (batch, dict(domid=c("DOMID_SELF"), space=c("XENMAPSPACE_grant_table"), size=1,
                     idxs=u.d.rt.xen_hole[0], gpfns=u.scratch, errs=u.scratch), 0, -EFAULT),
    ]
    for cmd, fields, start, rc in cases:
        name = "xen_add_to_physmap_batch" if cmd == batch else "xen_add_to_physmap"
        arg = u.struct(name, **fields)
        assert u.hypercall("memop", "memory_op", cmd | start << 6, arg) == rc, (name, fields, start)
    assert u.hypercall("memop", "memory_op", op, u.d.rt.xen_global_va) == -EFAULT
    assert host.invariants() == []
