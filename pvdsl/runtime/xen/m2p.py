"""Xen's machine-to-phys table, where PV guests read it.

A PV kernel turns a machine frame into its own page number by reading
machine_to_phys_mapping[mfn] straight from memory: Xen keeps the table in
its own frames and maps it read-only into every PV address space at
MACH2PHYS_VIRT_START (XENMEM_machphys_mapping reports the range). A 64-bit
guest reads 8-byte entries; a 32-bit one reads the compat table of 4-byte
entries at its own MACH2PHYS_VIRT_START. Xen writes both on every update
(set_gpfn_from_mfn), an invalid entry as all ones.

`MachToPhys` is that pair of tables: indexable like the list the model
used to keep (reads come from a Python copy), every store written through
to both tables in machine memory. xenspace.py maps them.
"""

from __future__ import annotations

import struct

from .memory import PAGE_SHIFT, PAGE_SIZE

M2P_INVALID = -1
WIDTHS = (8, 4)  # a 64-bit guest's entries, a 32-bit guest's (compat)


def table_pages(nframes: int, width: int) -> int:
    return -(-nframes * width // PAGE_SIZE)


def m2p_overhead(nframes: int) -> int:
    """Frames both tables take for a machine of `nframes` frames."""
    return sum(table_pages(nframes, w) for w in WIDTHS)


class MachToPhys:
    def __init__(self, hv):
        self.mem = hv.mem
        n = self.mem.nframes
        self._values = [M2P_INVALID] * n
        self.frames: dict[int, list[int]] = {}
        for w in WIDTHS:
            self.frames[w] = [hv.alloc_xen_page() for _ in range(table_pages(n, w))]
            for m in self.frames[w]:
                self.mem.write(m << PAGE_SHIFT, b"\xff" * PAGE_SIZE)
        # Where entry `mfn` of each table lives: (frame base address per page, width).
        self._bases = [([m << PAGE_SHIFT for m in self.frames[w]], w) for w in WIDTHS]
        self._tables = [(bases, w, "<Q" if w == 8 else "<I", (1 << (8 * w)) - 1) for bases, w in self._bases]

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, mfn: int) -> int:
        return self._values[mfn]

    def __setitem__(self, mfn: int, pfn: int) -> None:
        if self._values[mfn] == pfn:
            return  # already so (a freed frame is invalid, and stays so when allocated again)
        self._values[mfn] = pfn
        mm = self.mem.mm
        for bases, w, fmt, mask in self._tables:
            at = mfn * w
            struct.pack_into(fmt, mm, bases[at >> PAGE_SHIFT] + (at & (PAGE_SIZE - 1)), pfn & mask)

    def invalidate_run(self, mfn0: int, n: int) -> None:
        """Entries mfn0 .. mfn0+n-1 invalid, writing the tables only if one
        is not already (a freed frame's entry is, and a new extent's usually)."""
        if self._values[mfn0:mfn0 + n].count(M2P_INVALID) != n:
            self.set_run(mfn0, None, n)

    def set_run(self, mfn0: int, pfn0: int | None, n: int) -> None:
        """Entries mfn0 .. mfn0+n-1 set to pfn0 .. pfn0+n-1 at once (a domain
        built from consecutive frames), or invalid for pfn0 None (a domain
        destroyed), through to both tables."""
        import numpy as np

        self._values[mfn0:mfn0 + n] = range(pfn0, pfn0 + n) if pfn0 is not None else [M2P_INVALID] * n
        view = np.frombuffer(self.mem.mm, dtype=np.uint8)
        for bases, w, _fmt, mask in self._tables:
            if pfn0 is None:
                values = np.full(n, mask, dtype="<u8" if w == 8 else "<u4")
            else:
                values = (np.arange(pfn0, pfn0 + n, dtype=np.uint64) & mask).astype("<u8" if w == 8 else "<u4")
            raw = values.view(np.uint8)
            at, done = mfn0 * w, 0
            while done < len(raw):  # a table's frames need not be consecutive
                base = bases[at >> PAGE_SHIFT] + (at & (PAGE_SIZE - 1))
                k = min(len(raw) - done, PAGE_SIZE - (at & (PAGE_SIZE - 1)))
                view[base:base + k] = raw[done:done + k]
                done += k
                at += k


__all__ = ["M2P_INVALID", "MachToPhys", "m2p_overhead"]
