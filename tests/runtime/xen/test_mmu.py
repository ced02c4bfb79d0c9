"""examples/mmu.pv: the Xen backend's page-table hooks drive mmuext_op and
mmu_update with the right machine frames and entries; the hypervisor
validates them; the native backend writes real page tables."""

from __future__ import annotations

import pytest
from rtsupport import XEN_TARGETS, machine

from pvdsl.runtime.xen.memory import PAGE_SHIFT, PGT_L4, PGT_WRITABLE
from pvdsl.runtime.xen.mm import root_type
from pvdsl.runtime.xen.paging import translate

MMU = "examples/mmu.pv"


@pytest.fixture(params=XEN_TARGETS)
def xen(request):
    m = machine(MMU, request.param)
    assert m.loaded.backend == "xen_mmu"
    return m


def spare_root(m) -> int:
    """A copy of the current root table in a frame outside the boot mapping,
    as a kernel would prepare a new address space."""
    d, mem = m.guest, m.hv.mem
    mfn = d.p2m[((d.kernel.v_end - d.kernel.virt_base) >> PAGE_SHIFT) + 20]
    mem.write(mfn << PAGE_SHIFT, mem.read(d.kernel.root_mfn << PAGE_SHIFT, 4096))
    return mfn


def test_write_cr3_switches_to_the_new_root(xen):
    d, mem = xen.guest, xen.hv.mem
    old, new = d.vcpus[0].guest_table, spare_root(xen)
    r = xen.call("demo_mmu_ops.write_cr3", new << PAGE_SHIFT)
    assert r.ok and r.hypercalls == [("mmuext_op", 0)] and not r.abi_violations
    assert xen.hv.events_of("new_baseptr", d.domid)[-1] == {"mfn": new}
    assert d.vcpus[0].guest_table == new
    assert xen.cpus[0].uc.reg_read(__import__("unicorn").x86_const.UC_X86_REG_CR3) == new << PAGE_SHIFT
    assert mem.ptype[new] == root_type(d.rt) and mem.validated[new]
    assert mem.tcount[old] >= 1  # still pinned
    # The guest keeps running on the new tables.
    assert xen.call("demo_mmu_ops.pte_val", 7).value == 7
    assert xen.hv.check_invariants() == []


def test_write_cr3_with_a_frame_that_is_no_page_table_fails(xen):
    d = xen.guest
    scratch_mfn = xen.symbol("scratch_ma") >> PAGE_SHIFT  # mapped writable: cannot become a page table
    r = xen.call("demo_mmu_ops.write_cr3", scratch_mfn << PAGE_SHIFT)
    assert r.hypercalls == [("mmuext_op", -22)]
    assert d.vcpus[0].guest_table == d.kernel.root_mfn


def test_set_pte_issues_mmu_update_with_the_machine_address_and_value(xen):
    d, mem = xen.guest, xen.hv.mem
    ptep, pte, mfn, va = xen.symbol("ptep"), xen.symbol("pte"), xen.symbol("mfn"), xen.symbol("va")
    r = xen.call("demo_mmu_ops.set_pte", ptep, pte)
    assert r.ok and r.hypercalls == [("mmu_update", 0)] and not r.abi_violations
    ev = xen.hv.events_of("pt_update", d.domid)[-1]
    assert ev["ptr"] == ptep and ev["val"] == pte and ev["level"] == 1
    expect = pte | (4 if d.rt.guest_ring == 3 else 0)  # Xen makes a 64-bit guest's entries user
    assert mem.u64(ptep) == expect
    assert translate(mem, d.rt, d.kernel.root_mfn, va) == mfn << PAGE_SHIFT
    assert mem.ptype[mfn] == PGT_WRITABLE and mem.tcount[mfn] == 1
    # The hooks see the new mapping at once (the model flushes the emulated TLB).
    assert xen.hv.check_invariants() == []


def test_set_pte_refuses_a_foreign_frame(xen):
    d, other = xen.guest, (xen.domu if xen.guest is xen.dom0 else xen.dom0)
    foreign = other.p2m[100]
    before = xen.hv.mem.u64(xen.symbol("ptep"))
    r = xen.call("demo_mmu_ops.set_pte", xen.symbol("ptep"), foreign << PAGE_SHIFT | 0x63)
    assert r.hypercalls == [("mmu_update", -22)]
    assert xen.hv.mem.u64(xen.symbol("ptep")) == before
    assert xen.hv.mem.owner[foreign] == other.domid


def test_set_pte_refuses_a_writable_mapping_of_a_page_table(xen):
    d = xen.guest
    r = xen.call("demo_mmu_ops.set_pte", xen.symbol("ptep"), d.kernel.root_mfn << PAGE_SHIFT | 0x63)
    assert r.hypercalls == [("mmu_update", -22)]
    r = xen.call("demo_mmu_ops.set_pte", xen.symbol("ptep"), d.kernel.root_mfn << PAGE_SHIFT | 0x61)
    assert r.hypercalls == [("mmu_update", 0)]  # read-only is fine


def test_flush_tlb_single_is_an_invlpg_request(xen):
    r = xen.call("demo_mmu_ops.flush_tlb_single", xen.symbol("va"))
    assert r.ok and r.hypercalls == [("mmuext_op", 0)]
    assert xen.hv.events_of("tlb_flush", xen.guest.domid)[-1] == {"scope": "local"}


def test_set_pte_atomic_on_i386():
    m = machine(MMU, "i386-domu")
    r = m.call("demo_mmu_ops.set_pte_atomic", m.symbol("ptep"), m.symbol("pte"))
    assert r.ok and r.hypercalls == [("mmu_update", 0)]
    assert m.hv.mem.u64(m.symbol("ptep")) == m.symbol("pte")


def test_pte_val_splits_64_bits_on_i386():
    m = machine(MMU, "i386-domu")
    r = m.call("demo_mmu_ops.pte_val", 0x8000_0001_2345_6789)
    assert r.value == 0x8000_0001_2345_6789
    assert m.call("demo_mmu_ops.pte_val", 0x8000_0001_2345_6789, patched=True).value in (0x8000_0001_2345_6789,)


def test_count_present_reads_a_page_table(xen):
    d = xen.guest
    r = xen.call("demo_mmu_ops.count_present", d.kernel.pt_va, d.rt.top_entries)
    root = d.kernel.root_mfn << PAGE_SHIFT
    want = sum(xen.hv.mem.u64(root + 8 * i) & 1 for i in range(d.rt.top_entries))
    assert r.ok and r.value == want


@pytest.mark.parametrize("target", ["i386-native", "x86_64-native"])
def test_native_mmu_writes_real_page_tables(target):
    m = machine(MMU, target)
    d, mem = m.guest, m.hv.mem
    cr3 = m.call("demo_mmu_ops.read_cr3").value
    assert cr3 == d.kernel.root_mfn << PAGE_SHIFT
    r = m.call("demo_mmu_ops.set_pte", m.symbol("ptep"), m.symbol("pte"))
    assert r.ok and mem.u64(m.symbol("pte_ma")) == m.symbol("pte")
    r = m.call("demo_mmu_ops.flush_tlb_single", m.symbol("va"))
    assert r.ok  # invlpg in ring 0
    assert m.call("demo_mmu_ops.write_cr3", cr3).ok  # mov to cr3 in ring 0
    assert translate(mem, d.rt, d.kernel.root_mfn, m.symbol("va")) == m.symbol("mfn") << PAGE_SHIFT


def test_pinning_and_types_are_tracked(xen):
    d, mem = xen.guest, xen.hv.mem
    root = d.kernel.root_mfn
    assert mem.pinned[root] and mem.ptype[root] == root_type(d.rt)
    if d.rt.levels == 4:
        assert mem.ptype[root] == PGT_L4


# ---- foreign mappings: a privileged domain maps another's frames ----
# (privcmd's IOCTL_PRIVCMD_MMAPBATCH, the save/restore tools), issued by
# generated code on dom0's and the domU's emulated vCPUs (grantsupport.py).

@pytest.mark.parametrize("dom0_arch, domu_arch", [("x86_64", "x86_64"), ("i386", "i386"), ("x86_64", "i386")])
def test_dom0_maps_a_domu_frame_with_foreigndom(dom0_arch, domu_arch):
    from grantsupport import PTE_RO, PTE_RW, Host

    from pvdsl.runtime.errors import EINVAL, ESRCH

    host = Host(dom0_arch, domu_arch)
    d0, u, mem = host.dom0, host.domu, host.hv.mem
    c = d0.c
    page_va, mfn = u.page("domU page")
    assert u.poke(page_va, 0xFEED) is None
    h0, _ = d0.page("where dom0 maps it")
    ptr = d0.pte_maddr(h0) | c("MMU_NORMAL_PT_UPDATE")
    count, tcount = mem.count[mfn], mem.tcount[mfn]
    assert d0.hypercall("mmu", "mmu_update", ptr, mfn << PAGE_SHIFT | PTE_RW, u.d.domid) == 0
    # dom0's own loads and stores reach the domU's frame (with dom0's rules
    # for the entry: a 64-bit dom0 runs in ring 3, whatever the domU is).
    assert d0.peek(h0) == (0xFEED, None)
    assert d0.poke(h0 + 8, 0xBEEF) is None and u.peek(page_va + 8) == (0xBEEF, None)
    assert (mem.count[mfn], mem.tcount[mfn]) == (count + 1, tcount + 1)
    assert host.invariants() == []
    # The entry holds the references: clearing it gives them back.
    assert d0.hypercall("mmu", "mmu_update", ptr, 0, c("DOMID_SELF")) == 0
    assert (mem.count[mfn], mem.tcount[mfn]) == (count, tcount)
    # A page table of the domU only read-only; cache attributes are dom0's to choose.
    table = u.d.p2m[u.d.kernel.pt_pfns[-1]]
    assert d0.hypercall("mmu", "mmu_update", ptr, table << PAGE_SHIFT | PTE_RW, u.d.domid) == -EINVAL
    assert d0.hypercall("mmu", "mmu_update", ptr, table << PAGE_SHIFT | PTE_RO, u.d.domid) == 0
    assert d0.hypercall("mmu", "mmu_update", ptr, mfn << PAGE_SHIFT | PTE_RW | 0x18, u.d.domid) == 0
    # Not the named domain's frame, no such domain, itself by id.
    own = d0.spare_mfn()
    assert d0.hypercall("mmu", "mmu_update", ptr, own << PAGE_SHIFT | PTE_RW, u.d.domid) == -EINVAL
    assert d0.hypercall("mmu", "mmu_update", ptr, mfn << PAGE_SHIFT | PTE_RW, 9) == -ESRCH
    assert d0.hypercall("mmu", "mmu_update", ptr, own << PAGE_SHIFT | PTE_RW, d0.d.domid) == -ESRCH
    # update_va_mapping_otherdomain does the same by virtual address.
    assert d0.hypercall("set_va_other", "update_va_mapping_otherdomain", h0, mfn << PAGE_SHIFT | PTE_RW,
                        u.d.domid) == 0
    assert d0.peek(h0 + 8) == (0xBEEF, None)
    assert d0.hypercall("mmu", "mmu_update", ptr, 0, c("DOMID_SELF")) == 0
    assert host.invariants() == []


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_a_domu_may_not_map_foreign_frames(arch):
    from grantsupport import PTE_RW, Host

    from pvdsl.runtime.errors import EINVAL, EPERM

    host = Host(arch)
    d0, u = host.dom0, host.domu
    c = u.c
    frame = d0.spare_mfn()
    hu, _ = u.page("where the domU tries")
    ptr = u.pte_maddr(hu) | c("MMU_NORMAL_PT_UPDATE")
    assert u.hypercall("mmu", "mmu_update", ptr, frame << PAGE_SHIFT | PTE_RW, d0.d.domid) == -EPERM
    assert u.hypercall("mmu", "mmu_update", ptr, frame << PAGE_SHIFT | PTE_RW, c("DOMID_SELF")) == -EINVAL
    assert u.hypercall("set_va_other", "update_va_mapping_otherdomain", hu, frame << PAGE_SHIFT | PTE_RW,
                       d0.d.domid) == -EPERM
    assert u.peek(hu)[1] is None  # its own page is still mapped there
    assert host.invariants() == []


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_host_side_foreign_mapping_helpers(arch):
    from grantsupport import Host

    from pvdsl.runtime.errors import EINVAL, EPERM, ESRCH
    from pvdsl.runtime.xen.hypercalls.mmu import domain_frame, foreign_map, foreign_unmap, read_frame, write_frame

    host = Host(arch)
    hv, d0, u = host.hv, host.dom0, host.domu
    page_va, mfn = u.page("domU page")
    pfn = u.d.pfn_of[mfn]
    assert domain_frame(hv, 1, pfn) == mfn and domain_frame(hv, 1, 1 << 40) is None and domain_frame(hv, 9, 0) is None
    assert write_frame(hv, 1, pfn, (0xABCD).to_bytes(8, "little"), 64)
    assert u.peek(page_va + 64) == (0xABCD, None)
    assert u.poke(page_va + 72, 0x1234) is None
    assert read_frame(hv, 1, pfn, 72, 8) == (0x1234).to_bytes(8, "little")
    assert read_frame(hv, 1, pfn, 4090, 8) is None and read_frame(hv, 1, 1 << 40) is None
    assert not write_frame(hv, 1, pfn, b"x" * 8, 4092) and not write_frame(hv, 9, pfn, b"x")
    h0, _ = d0.page("where dom0 maps it")
    assert foreign_map(hv, d0.d, 1, mfn, h0) == 0
    assert d0.peek(h0 + 64) == (0xABCD, None)
    assert foreign_map(hv, d0.d, 1, hv.mem.nframes + 3, h0) == -EINVAL
    assert foreign_map(hv, d0.d, 9, mfn, h0) == -ESRCH
    assert foreign_map(hv, u.d, 0, d0.spare_mfn(), u.page("x")[0]) == -EPERM
    assert foreign_map(hv, d0.d, 1, mfn, d0.d.rt.xen_global_va) == -EINVAL
    assert foreign_unmap(hv, d0.d, h0) == 0
    assert d0.peek(h0)[1] is not None
    assert host.invariants() == []
