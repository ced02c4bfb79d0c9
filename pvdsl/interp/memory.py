"""Memories for the interpreter: a sparse page map, and the private stack.

`SparseMemory` is a ready-made `Memory` for tests and the fuzzer: the pages
someone mapped (or, with `zero_fill`, every page on first touch). The
interpreter itself uses `StackedMemory` when the caller gives no stack: its
frames live in a buffer of its own at the top of the address space, and every
other address goes to the caller's memory.
"""

from __future__ import annotations

from .state import MemoryFault

PAGE_SIZE = 4096
PAGE_MASK = PAGE_SIZE - 1
PRIVATE_STACK_BYTES = 256 * 1024
# The private stack ends this far below the top of the address space, away
# from the last page (which wrapping address arithmetic lands on).
PRIVATE_STACK_GAP = 1 << 20


class SparseMemory:
    """Guest memory as a map of 4 KiB pages. Reading or writing a byte of a
    page nobody mapped is a MemoryFault, unless `zero_fill` maps pages of
    zeros on demand. Pages in `read_only` refuse writes."""

    def __init__(self, zero_fill: bool = False, address_bits: int = 64):
        self.pages: dict[int, bytearray] = {}
        self.read_only: set[int] = set()
        self.zero_fill = zero_fill
        self.limit = 1 << address_bits

    def map(self, va: int, data: bytes | int, read_only: bool = False) -> None:
        """Map the pages covering [va, va + len) and store `data` there; an
        int maps that many zero bytes."""
        if isinstance(data, int):
            data = bytes(data)
        first, last = va // PAGE_SIZE, (va + max(len(data), 1) - 1) // PAGE_SIZE
        for page in range(first, last + 1):
            self.pages.setdefault(page, bytearray(PAGE_SIZE))
            if read_only:
                self.read_only.add(page)
        self._copy_in(va, data)

    def _page(self, page: int, va: int, n: int, write: bool) -> bytearray:
        buf = self.pages.get(page)
        if buf is None:
            if not self.zero_fill:
                raise MemoryFault(va, n, write)
            buf = self.pages[page] = bytearray(PAGE_SIZE)
        if write and page in self.read_only:
            raise MemoryFault(va, n, write)
        return buf

    def read(self, va: int, n: int) -> bytes:
        if va < 0 or va + n > self.limit:
            raise MemoryFault(va, n)
        off = va & PAGE_MASK
        if off + n <= PAGE_SIZE:
            return bytes(self._page(va >> 12, va, n, False)[off:off + n])
        out = bytearray()
        at = va
        while at < va + n:
            chunk = min(va + n - at, PAGE_SIZE - (at & PAGE_MASK))
            o = at & PAGE_MASK
            out += self._page(at >> 12, va, n, False)[o:o + chunk]
            at += chunk
        return bytes(out)

    def write(self, va: int, data: bytes) -> None:
        n = len(data)
        if va < 0 or va + n > self.limit:
            raise MemoryFault(va, n, True)
        for page in range(va >> 12, (va + max(n, 1) - 1 >> 12) + 1):
            self._page(page, va, n, True)  # every page first: a refused write changes nothing
        self._copy_in(va, data)

    def _copy_in(self, va: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            at = va + pos
            o = at & PAGE_MASK
            chunk = min(len(data) - pos, PAGE_SIZE - o)
            self.pages[at >> 12][o:o + chunk] = data[pos:pos + chunk]
            pos += chunk


class StackedMemory:
    """The caller's memory with the interpreter's private stack on top."""

    __slots__ = ("base", "buf", "lo", "hi")

    def __init__(self, lo: int, size: int):
        self.base = None
        self.buf = bytearray(size)
        self.lo, self.hi = lo, lo + size

    def read(self, va: int, n: int) -> bytes:
        lo = self.lo
        if lo <= va and va + n <= self.hi:
            return bytes(self.buf[va - lo:va - lo + n])
        if va < self.hi and va + n > lo:
            raise MemoryFault(va, n)  # straddles the end of the stack
        return self.base.read(va, n)

    def write(self, va: int, data: bytes) -> None:
        lo = self.lo
        if lo <= va and va + len(data) <= self.hi:
            self.buf[va - lo:va - lo + len(data)] = data
            return
        if va < self.hi and va + len(data) > lo:
            raise MemoryFault(va, len(data), True)
        self.base.write(va, data)


def private_stack_top(word_bits: int) -> int:
    return (1 << word_bits) - PRIVATE_STACK_GAP
