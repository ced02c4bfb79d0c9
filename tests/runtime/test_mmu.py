"""examples/mmu.pv: the Xen backend's page-table hooks drive mmuext_op and
mmu_update with the right machine frames and entries; the hypervisor
validates them; the native backend writes real page tables."""

from __future__ import annotations

import pytest
from rtsupport import XEN_TARGETS, machine

from pvdsl.runtime.memory import PAGE_SHIFT, PGT_L4, PGT_WRITABLE
from pvdsl.runtime.mm import root_type
from pvdsl.runtime.paging import translate

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
