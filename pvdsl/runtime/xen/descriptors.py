"""Segment descriptors, from two sides.

Xen's side: what a PV guest may put in a GDT or LDT frame (check_descriptor
in xen/arch/x86/pv/descriptor-tables.c). Every frame handed to set_gdt is
checked entry by entry when it is first typed as a descriptor page, and
every update_descriptor checks the one descriptor it writes:

- a not-present descriptor always faults when used, so it is accepted as is;
- a DPL below the guest kernel's ring is raised to it (no DPL-0 segment ever
  reaches the CPU);
- code and data segments are accepted, with no base or limit check; for a
  32-bit guest a 64-bit (L) code segment is refused, and a flat segment
  whose limit reaches into Xen's range is widened to 4 GiB (older PAE
  kernels stop at the hole);
- a system descriptor of type 0 is harmless (the upper half of a 64-bit
  call gate) and accepted unchanged;
- a call gate is accepted only if its target selector is a guest one (GDT
  below Xen's reserved entries, the LDT, or Xen's flat kernel code
  selector); its DPL is forced to 0 so that using it traps to Xen, which
  emulates it (the original DPL is kept in the target selector's RPL); its
  reserved bits must be zero;
- every other system descriptor (TSS, LDT, task/interrupt/trap gates) is refused.

The CPU's side: what loading a selector into a data segment register
(DS, ES, FS, GS) checks in protected mode (Intel SDM vol. 2, MOV; vol. 3,
5.5-5.6), for the runtime's own segment reloads, which unicorn would
otherwise fault outside its run loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from .paging import walk

# Bits of a descriptor's high word (Xen's _SEGMENT_*).
SEG_ACCESSED = 1 << 8
SEG_WRITABLE_OR_READABLE = 1 << 9
SEG_CONFORMING = 1 << 10
SEG_CODE = 1 << 11
SEG_S = 1 << 12  # code or data (clear: a system descriptor)
SEG_DPL = 3 << 13
SEG_P = 1 << 15
SEG_L = 1 << 21
SEG_G = 1 << 23
SEG_TYPE = 0xF << 8
TYPE_CALL_GATE = 0xC << 8

VECTOR_GP, VECTOR_NP, VECTOR_PF = 13, 11, 14


def _is_compat(d) -> bool:
    """A 32-bit PV guest (Xen's is_pv_32bit_domain)."""
    return d.rt.word == 4


def gate_selector_ok(d, sel: int) -> bool:
    """Xen's guest_gate_selector_okay: a gate may only lead to a guest
    segment, never to one of Xen's private ones."""
    c = d.abi.c
    return (sel >> 3) < c("FIRST_RESERVED_GDT_ENTRY") or sel == c("FLAT_KERNEL_CS") or bool(sel & 4)


def check_descriptor(d, desc: int) -> int | None:
    """The descriptor as Xen stores it for domain `d`, or None if Xen
    refuses it (the hypercall then fails with -EINVAL)."""
    a, b = desc & 0xFFFFFFFF, (desc >> 32) & 0xFFFFFFFF
    if not b & SEG_P:
        return desc
    dpl = max((b >> 13) & 3, d.rt.guest_ring)
    b = (b & ~SEG_DPL) | dpl << 13
    if b & SEG_S:
        if _is_compat(d):
            if b & SEG_L:
                return None
            limit = ((b & 0xF0000) | (a & 0xFFFF)) + 1
            if b & SEG_G:
                limit <<= 12
            if descriptor_base(desc) == 0 and limit > d.rt.xen_hole[0]:
                a |= 0xFFFF
                b |= 0xF0000
        return b << 32 | a
    if b & SEG_TYPE == 0:
        return desc  # accepted untouched, DPL included
    if b & SEG_TYPE != TYPE_CALL_GATE:
        return None
    target = a >> 16
    if not gate_selector_ok(d, target):
        return None
    b &= ~SEG_DPL
    a = (a & 0xFFFF) | ((target & ~3) | dpl) << 16
    if b & (0xE0 if _is_compat(d) else 0xFF):
        return None
    return b << 32 | a


def descriptor_base(desc: int) -> int:
    a, b = desc & 0xFFFFFFFF, (desc >> 32) & 0xFFFFFFFF
    return (b & 0xFF000000) | (b & 0xFF) << 16 | a >> 16


def data_segment_refusal(desc: int, selector: int, cpl: int) -> tuple[int, str] | None:
    """(vector, why) if the CPU refuses `desc` for a data segment register
    at privilege `cpl`, in the order the CPU checks; None if it loads."""
    b = (desc >> 32) & 0xFFFFFFFF
    rpl, dpl = selector & 3, (b >> 13) & 3
    if not b & SEG_S:
        return VECTOR_GP, "a system descriptor"
    if b & SEG_CODE and not b & SEG_WRITABLE_OR_READABLE:
        return VECTOR_GP, "an execute-only code segment"
    if not (b & SEG_CODE and b & SEG_CONFORMING) and (dpl < cpl or dpl < rpl):
        return VECTOR_GP, f"DPL {dpl} is more privileged than CPL {cpl} / RPL {rpl}"
    if not b & SEG_P:
        return VECTOR_NP, "the descriptor is not present"
    return None


def descriptor_address(selector: int, gdt: tuple[int, int], ldt: tuple[int, int]) -> tuple[int | None, str]:
    """The linear address of the descriptor `selector` names, given the
    (base, limit) of the GDT and LDT; (None, why) if it is outside them."""
    base, limit = ldt if selector & 4 else gdt
    index = selector & ~7
    if index + 7 > limit:
        table = "LDT" if selector & 4 else "GDT"
        return None, f"index {selector >> 3} is beyond the {table} limit ({limit + 1} bytes)"
    return base + index, ""


@dataclass
class SegmentLoad:
    """What loading a selector into a data segment register would do."""

    selector: int
    desc: int | None = None  # the descriptor it loads
    maddr: int | None = None  # where that descriptor is in machine memory
    vector: int | None = None  # the fault it raises instead (#GP, #NP, or #PF reading the table)
    reason: str = ""
    address: int | None = None  # the descriptor's linear address, when it has one

    @property
    def ok(self) -> bool:
        return self.vector is None


def load_data_segment(mem, rt, root_mfn: int, selector: int, cpl: int, gdt: tuple[int, int],
                      ldt: tuple[int, int], set_accessed: bool = True) -> SegmentLoad:
    """Check a non-null `selector` for a data segment register as the CPU
    does, reading the descriptor tables through the page tables rooted at
    `root_mfn` (the CPU's implicit, supervisor read). With `set_accessed`, a
    loadable descriptor gets its accessed bit, as the CPU sets it."""
    out = SegmentLoad(selector)
    va, why = descriptor_address(selector, gdt, ldt)
    if va is None:
        out.vector, out.reason = VECTOR_GP, why
        return out
    out.address = va
    w = walk(mem, rt, root_mfn, va)
    if w.maddr is None:
        out.vector, out.reason = VECTOR_PF, f"the descriptor at {va:#x} is not mapped ({w.reason})"
        return out
    desc = mem.u64(w.maddr)
    refusal = data_segment_refusal(desc, selector, cpl)
    if refusal is not None:
        out.vector, out.reason = refusal
        return out
    if set_accessed and not desc >> 32 & SEG_ACCESSED:
        desc |= SEG_ACCESSED << 32
        mem.set_u64(w.maddr, desc)
    out.desc, out.maddr = desc, w.maddr
    return out


__all__ = ["check_descriptor", "descriptor_base", "data_segment_refusal", "load_data_segment", "SegmentLoad",
           "descriptor_address", "gate_selector_ok"]
