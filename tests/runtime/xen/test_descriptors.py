"""Segment descriptors: Xen's check_descriptor rules for what a PV guest
installs (update_descriptor, set_gdt), the CPU's checks for a data segment
load, and SEGBASE_GS_USER_SEL, on both guest arches."""

from __future__ import annotations

import random

import pytest

from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.xen.descriptors import check_descriptor, data_segment_refusal, descriptor_base
from pvdsl.runtime.errors import EINVAL
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.xen.memory import PGT_SEG_DESC
from pvdsl.runtime.xen.paging import GuestMemory

DATA_DPL0 = 0x00CF92000000FFFF  # flat 4G read/write data, DPL 0
DATA_DPL3 = 0x00CFF2000000FFFF
CODE64_DPL3 = 0x00AFFA000000FFFF  # L set
TSS = 0x00008900A0000067
LDT = 0x0000820000000FFF
INTERRUPT_GATE = 0x0000EE0000100000
NOT_PRESENT_GATE = 0x00006C00E0080000  # a call gate into Xen, but not present


def gate(target: int, dpl: int = 3, extra: int = 0) -> int:
    """A present call gate (type 0xC) to `target`, offset 0x1234."""
    return (0x8C00 | dpl << 13 | extra) << 32 | target << 16 | 0x1234


class Guest:
    def __init__(self, arch: str):
        self.hv = Hypervisor(24 * MIB)
        self.d = build_pv_domain(self.hv, arch, 16 * MIB, 0, True)
        self.v = self.d.vcpus[0]
        self.c = self.d.abi.c
        self.ring = self.d.rt.guest_ring

    def hypercall(self, name: str, *args: int) -> int:
        return self.hv.hypercall(self.v, self.d.abi.hypercalls[name].number, list(args))

    def free_frame(self, pfn_from_end: int = 1) -> int:
        """A frame of the domain outside its boot mapping: no writable mapping of it exists."""
        return self.d.p2m[self.d.kernel.nr_pages - pfn_from_end]

    def update_descriptor(self, ma: int, desc: int) -> int:
        if self.d.rt.word == 4:
            return self.hypercall("update_descriptor", ma & 0xFFFFFFFF, ma >> 32, desc & 0xFFFFFFFF, desc >> 32)
        return self.hypercall("update_descriptor", ma, desc)

    def set_gdt(self, frames: list[int], entries: int) -> int:
        k = self.d.kernel
        va = k.alloc(4096, 4096, "frame list")
        GuestMemory(self.hv.mem, self.d.rt, self.v.guest_table).write(
            va, b"".join(self.d.rt.pack_word(f) for f in frames))
        return self.hypercall("set_gdt", va, entries)


@pytest.fixture(scope="module", params=["i386", "x86_64"])
def guest(request) -> Guest:
    return Guest(request.param)


def test_check_descriptor_rules(guest):
    d, ring = guest.d, guest.ring
    compat = d.rt.word == 4
    assert check_descriptor(d, DATA_DPL0) == DATA_DPL0 | ring << 45  # no DPL-0 segment reaches the CPU
    assert check_descriptor(d, DATA_DPL3) == DATA_DPL3
    assert check_descriptor(d, NOT_PRESENT_GATE) == NOT_PRESENT_GATE  # a not-present one always faults: safe
    assert check_descriptor(d, 0) == 0
    assert check_descriptor(d, 0x0000800000000000) == 0x0000800000000000  # type 0: a 64-bit gate's upper half
    for refused in (TSS, LDT, INTERRUPT_GATE, INTERRUPT_GATE | 1 << 40):  # and a trap gate
        assert check_descriptor(d, refused) is None
    assert (check_descriptor(d, CODE64_DPL3) is None) == compat  # no 64-bit code segment for a 32-bit guest
    # A flat segment reaching into Xen's range is widened to 4G for a 32-bit guest, left alone otherwise.
    below_hole = 0x00CF92000000FFFF & ~(0xF << 48 | 0xFFFF) | 0xF << 48 | 0x57FF
    into_hole = below_hole + 1
    assert check_descriptor(d, below_hole) == below_hole | ring << 45
    widened = check_descriptor(d, into_hole)
    assert widened == (DATA_DPL0 | ring << 45 if compat else into_hole | ring << 45)
    # Call gates: only to guest selectors, DPL forced to 0, the original DPL kept in the target's RPL.
    assert check_descriptor(d, gate(0x0010)) == gate(0x0010 | 3, dpl=0)
    assert check_descriptor(d, gate(0x0010, dpl=0)) == gate(0x0010 | ring, dpl=0)
    assert check_descriptor(d, gate(0x0007)) == gate(0x0007, dpl=0)  # an LDT selector
    flat_cs = guest.c("FLAT_KERNEL_CS")
    assert check_descriptor(d, gate(flat_cs)) == gate(flat_cs | 3, dpl=0)
    assert check_descriptor(d, gate(0xE008)) is None  # Xen's own ring-0 code
    assert check_descriptor(d, gate(guest.c("FIRST_RESERVED_GDT_ENTRY") << 3)) is None
    # Reserved bits: the parameter count is one only a 32-bit gate may have.
    assert (check_descriptor(d, gate(0x0010, extra=2)) is None) != compat
    assert check_descriptor(d, gate(0x0010, extra=0x20)) is None


def test_update_descriptor(guest):
    mfn = guest.free_frame(3)
    ma = mfn << 12
    assert guest.update_descriptor(ma + 8, DATA_DPL0) == 0
    assert guest.hv.mem.u64(ma + 8) == DATA_DPL0 | guest.ring << 45
    assert guest.update_descriptor(ma + 4, DATA_DPL3) == -EINVAL  # not aligned
    assert guest.update_descriptor(ma + 16, gate(0xE008)) == -EINVAL
    assert guest.hv.mem.u64(ma + 16) == 0
    assert guest.update_descriptor(1 << 60, DATA_DPL3) == -EINVAL  # no such frame
    other = next(m for m in range(guest.hv.mem.nframes) if guest.hv.mem.owner[m] != guest.d.domid)
    assert guest.update_descriptor(other << 12, DATA_DPL3) == -EINVAL  # not the domain's frame
    root = guest.v.guest_table
    assert guest.update_descriptor(root << 12, DATA_DPL3) == -EINVAL  # a page table is no descriptor page
    # A frame in use as the GDT stays a descriptor page; what is written is checked the same way.
    assert guest.set_gdt([mfn], 16) == 0
    assert guest.hv.mem.ptype[mfn] == PGT_SEG_DESC
    assert guest.update_descriptor(ma + 24, DATA_DPL0) == 0
    assert guest.hv.mem.u64(ma + 24) == DATA_DPL0 | guest.ring << 45
    assert guest.update_descriptor(ma + 32, TSS) == -EINVAL


def test_set_gdt_validates_every_descriptor_of_its_frames(guest):
    mem = guest.hv.mem
    bad, good = guest.free_frame(5), guest.free_frame(6)
    mem.set_u64((bad << 12) + 8 * 100, TSS)
    mem.set_u64((good << 12) + 8 * 3, DATA_DPL0)
    mem.set_u64((good << 12) + 8 * 4, gate(0x0010))
    before = list(guest.v.gdt_frames)
    assert guest.set_gdt([bad], 512) == -EINVAL
    assert guest.v.gdt_frames == before and mem.tcount[bad] == 0
    assert guest.set_gdt([good], 16) == 0
    assert guest.v.gdt_frames == [good]
    assert mem.u64((good << 12) + 8 * 3) == DATA_DPL0 | guest.ring << 45
    assert mem.u64((good << 12) + 8 * 4) == gate(0x0010 | 3, dpl=0)
    assert guest.set_gdt([good], guest.c("FIRST_RESERVED_GDT_ENTRY") + 1) == -EINVAL


def test_data_segment_refusal_follows_the_cpu():
    assert data_segment_refusal(DATA_DPL3, 0x2B, 3) is None
    assert data_segment_refusal(DATA_DPL0, 0x2B, 3)[0] == 13  # DPL below CPL
    assert data_segment_refusal(DATA_DPL3, 0x28, 0) is None  # ring 0 may load a DPL-3 segment
    assert data_segment_refusal(TSS, 0x28, 0) == (13, "a system descriptor")
    assert data_segment_refusal(0x00CF98000000FFFF, 0x08, 0)[1] == "an execute-only code segment"
    assert data_segment_refusal(0x00CF9E000000FFFF, 0x0B, 3) is None  # conforming readable code: no DPL check
    assert data_segment_refusal(DATA_DPL3 & ~(1 << 47), 0x2B, 3)[0] == 11  # not present: #NP, after the rest
    assert descriptor_base(0x12CFF2345678FFFF) == 0x12345678


def test_guest_controlled_values_never_raise():
    """Random arguments to the hypercalls that touch descriptors: always an
    errno or success, never an exception, and the host's invariants hold."""
    rng = random.Random(7)
    for arch in ("i386", "x86_64"):
        guest = Guest(arch)
        frames = [guest.free_frame(i) for i in range(8, 12)]
        for _ in range(400):
            kind = rng.randrange(3)
            word = (1 << 8 * guest.d.rt.word) - 1
            if kind == 0:
                ma = rng.choice([rng.getrandbits(64), rng.choice(frames) << 12 | rng.randrange(4096)])
                rc = guest.update_descriptor(ma, rng.getrandbits(64))
            elif kind == 1:
                rc = guest.set_gdt([rng.choice(frames + [rng.getrandbits(32)])], rng.randrange(0, 9000))
            else:
                rc = guest.hypercall("set_segment_base", rng.randrange(6), rng.getrandbits(64) & word)
            assert isinstance(rc, int) and -200 < rc <= 0, rc
        assert guest.hv.check_invariants() == []
