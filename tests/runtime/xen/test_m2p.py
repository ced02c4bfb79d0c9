"""Xen's machine-to-phys table where the guests read it (pvdsl/runtime/m2p.py,
mapped by xenspace.py): loads by generated code on each arch's vCPU, in
the guest kernel's own ring, see machine_to_phys_mapping[mfn] at
MACH2PHYS_VIRT_START (8-byte entries for a 64-bit guest, the 4-byte
compat table for a 32-bit one), kept current on every update; the table
cannot be written from the guest."""

from __future__ import annotations

import pytest
from grantsupport import Host

from pvdsl.runtime.xen.m2p import MachToPhys, m2p_overhead


@pytest.fixture(params=["x86_64", "i386"])
def host(request):
    return Host(request.param)


def m2p_entry(k, mfn: int) -> int:
    """machine_to_phys_mapping[mfn] as the guest kernel loads it."""
    width = k.d.rt.word
    value, fault = k.peek(k.c("MACH2PHYS_VIRT_START") + mfn * width)
    assert fault is None, fault.describe()
    return value & ((1 << (8 * width)) - 1)


def test_a_guest_reads_its_own_frames_pfn(host):
    for k in (host.domu, host.dom0):
        _va, mfn = k.page("a page of the kernel")
        assert m2p_entry(k, mfn) == k.d.pfn_of[mfn]
        first = min(k.d.p2m.values())
        assert m2p_entry(k, first) == k.d.pfn_of[first]


def test_a_frame_nobody_owns_reads_as_all_ones(host):
    hv, u = host.hv, host.domu
    free = next(m for m in range(hv.mem.nframes) if hv.mem.is_free[m])
    assert m2p_entry(u, free) == (1 << (8 * u.d.rt.word)) - 1


def test_updates_show_at_once_and_the_guest_cannot_write(host):
    hv, u = host.hv, host.domu
    c = u.c
    mfn = u.spare_mfn()
    pfn = u.d.pfn_of[mfn]
    assert m2p_entry(u, mfn) == pfn
    # Giving the frame back makes its entry invalid (set_gpfn_from_mfn).
    extents = u.scratch + 1024
    u.put(extents, mfn.to_bytes(u.word, "little"))
    res = u.struct("xen_memory_reservation", extent_start=extents, nr_extents=1, domid=c("DOMID_SELF"))
    assert u.hypercall("memop", "memory_op", c("XENMEM_decrease_reservation"), res) == 1
    assert m2p_entry(u, mfn) == (1 << (8 * u.d.rt.word)) - 1
    # Read-only: a store faults and changes nothing.
    _va, own = u.page("another page")
    fault = u.poke(c("MACH2PHYS_VIRT_START") + own * u.d.rt.word, 0)
    assert fault is not None and fault.vector == 14
    assert m2p_entry(u, own) == u.d.pfn_of[own]
    assert host.invariants() == []


def test_both_tables_are_xens_frames_on_top_of_the_memory_asked_for(host):
    hv = host.hv
    m2p = hv.m2p
    assert isinstance(m2p, MachToPhys) and len(m2p) == hv.mem.nframes
    frames = m2p.frames[8] + m2p.frames[4]
    assert len(frames) == m2p_overhead(hv.mem.nframes)
    assert all(hv.mem.owner[m] == hv.domid_xen and m in hv.xen_pages for m in frames)
    assert hv.mem.nframes == (48 << 20) // 4096 + len(frames)  # Host asks for 48 MiB
