"""Xen's own part of every PV guest's address space.

Xen lives in a range the guest may not map (x86_64: L4 slots 256-271; the
i386 emulation here: the hypervisor hole above 0xF5800000, which sits in the
L2 under L3 slot 3). Whenever Xen validates such a top-level table it writes
its own entries into those slots, so every address space of every domain
sees:

- a global page with Xen's entry stub (the `iret` that drops a vCPU into the
  guest's ring: the emulator starts each vCPU there once);
- per domain, per vCPU: a 16-page GDT window (pages 0-13: the guest's GDT
  frames from set_gdt; page 14: Xen's reserved descriptors with the flat
  FLAT_KERNEL_* selectors) and a Xen stack page holding the iret frame;
- the machine-to-phys table of the arch's entry width (m2p.py) at
  MACH2PHYS_VIRT_START, read-only and readable from the guest kernel's ring
  (user pages: a 64-bit PV kernel runs in ring 3), as Xen maps it.

All these frames are owned by DOMID_XEN and are supervisor-only, so a 64-bit
guest kernel (ring 3) cannot touch them. They are mapped read-only: the i386
guest kernel runs in ring 1, a supervisor ring, and the CPU writes nothing
there (descriptors are installed with their accessed bit set).
"""

from __future__ import annotations

import struct

from ..archinfo import GDT_WINDOW_PAGES, RtArch
from ..errors import RuntimeSetupError
from .memory import PAGE_SHIFT, PAGE_SIZE
from .paging import _PAGE_USER, ENTRY_BYTES, KERNEL_PAGE, KERNEL_PAGE_RO, TABLE_ENTRY, make_entry
from .xenabi import xen_abi

GUEST_READABLE = KERNEL_PAGE_RO | _PAGE_USER  # the M2P: any ring may read it, none may write

FIRST_RESERVED_GDT_PAGE = 14  # arch-x86/xen.h
VCPU_WINDOW_PAGES = 32  # GDT window (16) + Xen stack (1), rounded up
MAX_VCPUS = 512 // VCPU_WINDOW_PAGES  # one per-domain L1 table


class XenSpace:
    """The frames and tables of Xen's range, for one guest arch."""

    def __init__(self, hv, rt: RtArch):
        self.hv = hv
        self.rt = rt
        self.gdt_mfn = hv.alloc_xen_page()
        self.stub_mfn = hv.alloc_xen_page()
        mem = hv.mem
        for idx, desc in rt.gdt_reserved.items():
            mem.set_u64((self.gdt_mfn << PAGE_SHIFT) + idx * 8, desc)
        mem.write(self.stub_mfn << PAGE_SHIFT, rt.iret)
        self.stub_va = rt.xen_global_va
        # Tables below the Xen slot that maps the global page.
        self.global_slot, self.global_top = self._tables_for(rt.xen_global_va)
        self._map(self.global_top, rt.xen_global_va, self.stub_mfn)
        # The M2P: slot index -> the Xen-owned table below it.
        self.m2p_slots: dict[int, int] = {}
        self.m2p_va = xen_abi(rt.name).c("MACH2PHYS_VIRT_START")
        for i, frame in enumerate(hv.m2p.frames[rt.word]):
            va = self.m2p_va + i * PAGE_SIZE
            slot = self._slot_of(va)
            if slot not in self.m2p_slots:
                self.m2p_slots[slot] = self.hv.alloc_xen_page()
            self._map(self.m2p_slots[slot], va, frame, GUEST_READABLE, TABLE_ENTRY)

    def _slot_of(self, va: int) -> int:
        """The index of `va` in the Xen-owned slot table (L4 on x86_64, the
        hole's L2 on i386)."""
        return (va >> (39 if self.rt.xen_slot_level == 4 else 21)) & 511

    def _tables_for(self, va: int) -> tuple[int, int]:
        """(index in the Xen-owned slot table, mfn of the table that slot
        points to): L3 for x86_64, L1 for the i386 hole."""
        return self._slot_of(va), self.hv.alloc_xen_page()

    def _map(self, top_mfn: int, va: int, mfn: int, flags: int = KERNEL_PAGE_RO, inter: int = KERNEL_PAGE) -> None:
        """Map one page below a slot table: walks (creating Xen-owned tables,
        linked with `inter`) from the slot's table down to the L1."""
        mem = self.hv.mem
        table = top_mfn
        levels = [30, 21] if self.rt.xen_slot_level == 4 else []
        for shift in levels:
            at = (table << PAGE_SHIFT) + ((va >> shift) & 511) * ENTRY_BYTES
            e = mem.u64(at)
            if not e & 1:
                nxt = self.hv.alloc_xen_page()
                mem.set_u64(at, make_entry(nxt, inter))
                e = mem.u64(at)
            table = (e >> PAGE_SHIFT) & 0xFFFFFFFFFF
        mem.set_u64((table << PAGE_SHIFT) + ((va >> 12) & 511) * ENTRY_BYTES,
                    make_entry(mfn, flags) if mfn >= 0 else 0)

    # ---- per domain ----
    def setup_domain(self, d) -> None:
        if len(d.vcpus) > MAX_VCPUS:
            raise RuntimeSetupError(f"at most {MAX_VCPUS} vCPUs per domain")
        d.xen_perdomain_slot, d.xen_perdomain_top = self._tables_for(self.rt.xen_perdomain_va)
        for v in d.vcpus:
            self._map(d.xen_perdomain_top, self.gdt_window(v) + FIRST_RESERVED_GDT_PAGE * PAGE_SIZE, self.gdt_mfn)
            stack = self.hv.alloc_xen_page()
            d.xen_stack_mfn[v.vcpu_id] = stack
            self._map(d.xen_perdomain_top, self.xen_stack_va(v), stack)

    def slot_entry(self, d, idx: int) -> int:
        """What Xen writes into slot `idx` of a validated top-level table."""
        if idx == self.global_slot:
            return make_entry(self.global_top, KERNEL_PAGE)
        if idx == d.xen_perdomain_slot:
            return make_entry(d.xen_perdomain_top, KERNEL_PAGE)
        if idx in self.m2p_slots:
            return make_entry(self.m2p_slots[idx], TABLE_ENTRY)
        return 0

    def gdt_window(self, v) -> int:
        return self.rt.xen_perdomain_va + v.vcpu_id * VCPU_WINDOW_PAGES * PAGE_SIZE

    def gdt_limit(self) -> int:
        return (FIRST_RESERVED_GDT_PAGE + 1) * PAGE_SIZE - 1

    def xen_stack_va(self, v) -> int:
        return self.gdt_window(v) + GDT_WINDOW_PAGES * PAGE_SIZE

    def map_gdt_frames(self, v, frames: list[int]) -> None:
        """Show the guest's GDT frames in pages 0..13 of the vCPU's window."""
        d = v.domain
        for i in range(FIRST_RESERVED_GDT_PAGE):
            mfn = frames[i] if i < len(frames) else -1
            self._map(d.xen_perdomain_top, self.gdt_window(v) + i * PAGE_SIZE, mfn)

    def write_iret_frame(self, v, rip: int, cs: int, flags: int, sp: int, ss: int) -> int:
        """Put an iret frame at the top of the vCPU's Xen stack; returns the
        stack pointer Xen's stub starts with."""
        d = v.domain
        fmt = "<5Q" if self.rt.word == 8 else "<5I"
        frame = struct.pack(fmt, rip, cs, flags, sp, ss)
        top = PAGE_SIZE - 64
        self.hv.mem.write((d.xen_stack_mfn[v.vcpu_id] << PAGE_SHIFT) + top, frame)
        return self.xen_stack_va(v) + top
