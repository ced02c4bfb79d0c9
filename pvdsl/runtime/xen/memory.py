"""Machine memory: one host buffer of 4 KiB machine frames, and the frame
table Xen keeps about each frame (owner, reference count, type, type count,
pinned/validated flags).

The buffer is an anonymous mmap (zero-filled, committed lazily by the host
kernel), exposed as a ctypes array so every vCPU's unicorn instance can map
it with `mem_map_ptr` at physical address 0 as one contiguous region:
mapping page by page would make unicorn slow, and one region means every
vCPU sees every write at once, as CPUs sharing RAM do.
"""

from __future__ import annotations

import ctypes
import mmap
import struct

import numpy as np

from ..errors import RuntimeSetupError

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

# Page types (Xen's PGT_*). A frame has one type at a time; its type count
# says how many users rely on that type. Page-table types are "validated"
# once every entry has been checked and referenced.
PGT_NONE = 0
PGT_L1 = 1
PGT_L2 = 2
PGT_L3 = 3
PGT_L4 = 4
PGT_WRITABLE = 5
PGT_SEG_DESC = 6
# Flag on PGT_L2: the L2 under a PAE L3's slot 3, whose top entries are
# Xen's (Xen's PGT_pae_xen_l2). It is part of the type, so such an L2 cannot
# also be used as an ordinary one.
PGT_XEN_L2_FLAG = 0x10
TYPE_NAMES = {PGT_NONE: "none", PGT_L1: "L1", PGT_L2: "L2", PGT_L3: "L3", PGT_L4: "L4",
              PGT_WRITABLE: "writable", PGT_SEG_DESC: "seg_desc", PGT_L2 | PGT_XEN_L2_FLAG: "L2(xen)"}

OWNER_FREE = -1

_mincore = ctypes.CDLL(None, use_errno=True).mincore
_mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
_mincore.restype = ctypes.c_int


def pt_level(ptype: int) -> int:
    """1..4 for a page-table type, 0 otherwise."""
    t = ptype & 0xF
    return t if PGT_L1 <= t <= PGT_L4 else 0


class MachineMemory:
    def __init__(self, nframes: int, prealloc: bool = False):
        """prealloc: have the host kernel commit every frame now (as QEMU's
        -mem-prealloc does), as a real machine's RAM is there from power-on;
        otherwise frames are committed on first touch, which is cheap to
        start but makes the first write into each frame cost a page fault."""
        if nframes <= 0:
            raise RuntimeSetupError("machine memory must have at least one frame")
        self.nframes = nframes
        self.size = nframes * PAGE_SIZE
        flags = mmap.MAP_SHARED | (mmap.MAP_POPULATE if prealloc else 0)
        try:
            self.mm = mmap.mmap(-1, self.size, flags=flags)
        except OSError as err:
            raise RuntimeSetupError(f"cannot map {self.size >> 20} MiB of machine memory: {err.strerror}") from None
        self._array = (ctypes.c_ubyte * self.size).from_buffer(self.mm)
        self.host_address = ctypes.addressof(self._array)
        self._words = np.frombuffer(self.mm, dtype=np.uint64).reshape(nframes, PAGE_SIZE // 8)
        # The frame table (Xen's struct page_info, one field per list).
        self.owner = [OWNER_FREE] * nframes  # domid, OWNER_FREE, or DOMID_XEN
        self.count = [0] * nframes  # general references (Xen's count_info)
        self.allocated = bytearray(nframes)  # the owner's allocation reference (PGC_allocated)
        self.ptype = bytearray(nframes)
        self.tcount = [0] * nframes  # type references
        self.validated = bytearray(nframes)
        self.pinned = bytearray(nframes)
        self.xenheap = bytearray(nframes)  # Xen's page shared with a guest (shared_info): not in tot_pages
        self.is_free = bytearray(b"\x01") * nframes
        self.free_frames = nframes
        self._hint = 0
        self._unscrubbed: list[int] = []  # released, not yet zeroed (scrub)
        self._unscrubbed_runs: list[tuple[int, int]] = []  # the same, [lo, hi) at a time

    # ---- allocation (Xen's heap) ----
    def alloc(self, order: int = 0) -> int | None:
        """The first free, naturally aligned run of 2**order frames, or None."""
        n = 1 << order
        if n > self.free_frames:
            return None
        if self._unscrubbed or self._unscrubbed_runs:
            self.scrub()
        if order == 0:  # the common case (a balloon's extents), without the run search
            pos = self.is_free.find(1, self._hint)
            if pos < 0:
                pos = self.is_free.find(1)
            self.is_free[pos] = 0
            self.free_frames -= 1
            self._hint = pos + 1
            return pos
        pattern = b"\x01" * n
        for start in (self._hint, 0):
            pos = start - start % n
            while True:
                pos = self.is_free.find(pattern, pos)
                if pos < 0:
                    break
                if pos % n:
                    pos += n - pos % n
                    continue
                self.is_free[pos:pos + n] = bytes(n)
                self.free_frames -= n
                self._hint = pos + n if order == 0 else self._hint
                return pos
        return None

    def release(self, mfn: int) -> None:
        """Back to the heap, to be scrubbed (Xen scrubs freed pages before
        reuse) by the next `scrub`, which alloc and read call first."""
        self._unscrubbed.append(mfn)
        self.owner[mfn] = OWNER_FREE
        self.count[mfn] = 0
        self.allocated[mfn] = 0
        self.ptype[mfn] = PGT_NONE
        self.tcount[mfn] = 0
        self.validated[mfn] = 0
        self.pinned[mfn] = 0
        self.xenheap[mfn] = 0
        self.is_free[mfn] = 1
        self.free_frames += 1
        self._hint = min(self._hint, mfn)

    def release_run(self, lo: int, hi: int) -> None:
        """`release` of frames lo .. hi-1, a slice at a time (a destroyed
        domain's frames: a GiB is 262,144 of them)."""
        n = hi - lo
        self._unscrubbed_runs.append((lo, hi))
        self.owner[lo:hi] = [OWNER_FREE] * n
        self.count[lo:hi] = [0] * n
        self.tcount[lo:hi] = [0] * n
        zeros = bytes(n)
        for table in (self.allocated, self.validated, self.pinned, self.xenheap):
            table[lo:hi] = zeros
        self.ptype[lo:hi] = bytes([PGT_NONE]) * n
        self.is_free[lo:hi] = b"\x01" * n
        self.free_frames += n
        self._hint = min(self._hint, lo)

    def scrub(self) -> None:
        """Zero the frames released since the last scrub. A frame the host
        kernel holds in RAM is zeroed in place and stays there, as a real
        machine's RAM does: the next domain's first write into it (a
        restore, a migration arriving) then costs no page fault, which on a
        virtualised host is several times the copy itself. Frames not in
        RAM (never touched, or swapped out) go back to the host with
        madvise(MADV_REMOVE) and read as zeros; so a balloon that gives
        back a GiB of frames the guest never touched touches none of them."""
        for lo, hi in self._unscrubbed_runs:
            self._zero_run(lo, hi)
        self._unscrubbed_runs.clear()
        frames = self._unscrubbed
        if not frames:
            return
        frames.sort()
        start = prev = frames[0]
        for m in frames[1:]:
            if m != prev + 1:
                self._zero_run(start, prev + 1)
                start = m
            prev = m
        self._zero_run(start, prev + 1)
        frames.clear()

    def _zero_run(self, lo: int, hi: int) -> None:
        held = self.in_ram(lo, hi)
        edges = np.flatnonzero(np.diff(held.view(np.int8), prepend=np.int8(-1), append=np.int8(-1))).tolist()
        for a, b in zip(edges[:-1], edges[1:]):
            if held[a]:
                # Only the frames that hold something: one never written maps
                # the host's zero page, and writing zeros would allocate it.
                words = self._words[lo + a:lo + b]
                words[words.any(axis=1)] = 0
            else:
                self.mm.madvise(mmap.MADV_REMOVE, (lo + a) << PAGE_SHIFT, (b - a) << PAGE_SHIFT)

    def in_ram(self, lo: int, hi: int) -> np.ndarray:
        """For each frame of [lo, hi): whether the host holds it in RAM (mincore)."""
        vec = np.zeros(hi - lo, dtype=np.uint8)
        if _mincore(ctypes.c_void_p(self.host_address + (lo << PAGE_SHIFT)), ctypes.c_size_t((hi - lo) << PAGE_SHIFT),
                    vec.ctypes.data_as(ctypes.c_void_p)) != 0:
            return np.zeros(hi - lo, dtype=bool)  # unknown: give them back, which is always right
        return (vec & 1).astype(bool)

    def valid(self, mfn: int) -> bool:
        return 0 <= mfn < self.nframes

    # ---- bytes at machine addresses ----
    def read(self, maddr: int, n: int) -> bytes:
        if self._unscrubbed or self._unscrubbed_runs:
            self.scrub()  # a freed frame reads as zeros from the moment it is free
        return self.mm[maddr:maddr + n]

    def write(self, maddr: int, data: bytes) -> None:
        self.mm[maddr:maddr + len(data)] = data

    def u8(self, maddr: int) -> int:
        return self.mm[maddr]

    def u32(self, maddr: int) -> int:
        return struct.unpack_from("<I", self.mm, maddr)[0]

    def u64(self, maddr: int) -> int:
        return struct.unpack_from("<Q", self.mm, maddr)[0]

    def set_u8(self, maddr: int, v: int) -> None:
        self.mm[maddr] = v & 0xFF

    def set_u32(self, maddr: int, v: int) -> None:
        struct.pack_into("<I", self.mm, maddr, v & 0xFFFFFFFF)

    def set_u64(self, maddr: int, v: int) -> None:
        struct.pack_into("<Q", self.mm, maddr, v & 0xFFFFFFFFFFFFFFFF)

    def uint(self, maddr: int, size: int) -> int:
        return int.from_bytes(self.mm[maddr:maddr + size], "little")

    def set_uint(self, maddr: int, size: int, v: int) -> None:
        self.mm[maddr:maddr + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def page(self, mfn: int) -> memoryview:
        return memoryview(self.mm)[mfn << PAGE_SHIFT:(mfn + 1) << PAGE_SHIFT]

    def describe(self, mfn: int) -> str:
        return (f"mfn {mfn:#x}: owner {self.owner[mfn]} count {self.count[mfn]} type "
                f"{TYPE_NAMES.get(self.ptype[mfn], self.ptype[mfn])}/{self.tcount[mfn]}"
                f"{' validated' if self.validated[mfn] else ''}{' pinned' if self.pinned[mfn] else ''}")
