"""The reference interpreter's view of guest memory during one execution.

Watched pages (percpu areas, the backend's variables, the buffers behind
pointer arguments) start from their bytes *before* the compiled run and
take the interpreter's writes and the hypervisor's recorded effects; any
other mapped page is read from the machine as it is, and a write to it is
kept apart: it is memory the spec itself makes the hook touch.
"""

from __future__ import annotations

from ..interp import MemoryFault

PAGE = 4096
OFF = PAGE - 1


class OverlayMemory:
    def __init__(self, before: dict[int, bytes], translate, live_read):
        self.before = before
        self.pages: dict[int, bytearray] = {}
        self.outside: dict[int, bytearray] = {}  # unwatched pages the interpreter wrote
        self._translate = translate  # page va -> machine address, or None when unmapped
        self._live_read = live_read  # (machine address, n) -> bytes
        self.generation = 0  # writes so far (inputs set with set_input do not count)
        self.log: list | None = None  # when a list: ("r" | "w", va, bytes) per access, in order

    def _page(self, page: int, write: bool, size: int, va: int):
        buf = self.pages.get(page)
        if buf is not None:
            return buf
        base = self.before.get(page)
        if base is not None:
            if not write:
                return base
            buf = self.pages[page] = bytearray(base)
            return buf
        buf = self.outside.get(page)
        if buf is not None:
            return buf
        ma = self._translate(page, write)
        if ma is None:
            raise MemoryFault(va, size, write=write)
        data = self._live_read(ma, PAGE)
        if not write:
            return data
        buf = self.outside[page] = bytearray(data)
        return buf

    def read(self, va: int, n: int) -> bytes:
        off = va & OFF
        if off + n <= PAGE:
            data = bytes(self._page(va - off, False, n, va)[off:off + n])
        else:
            out, at, left = bytearray(), va, n
            while left:
                off = at & OFF
                take = min(left, PAGE - off)
                out += self._page(at - off, False, left, at)[off:off + take]
                at, left = at + take, left - take
            data = bytes(out)
        if self.log is not None:
            self.log.append(("r", va, data))
        return data

    def replay(self, log: list) -> bool:
        """Make the accesses of `log` again if every read would see the same
        bytes it saw (reads of bytes the log itself wrote are its own): then
        apply its writes and return True; else change nothing, return False."""
        written: dict[int, int] = {}
        try:
            for kind, va, data in log:
                if kind == "w":
                    for i, b in enumerate(data):
                        written[va + i] = b
                    continue
                now = bytearray(self.read(va, len(data)))
                for i in range(len(data)):
                    b = written.get(va + i)
                    if b is not None:
                        now[i] = b
                if now != data:
                    return False
        except MemoryFault:
            return False
        for kind, va, data in log:
            if kind == "w":
                self.write(va, data)
        return True

    def set_input(self, va: int, value: int) -> None:
        """One input byte of the next example (vcpu_info's mask, pending)."""
        self._page(va & ~OFF, True, 1, va)[va & OFF] = value

    def write(self, va: int, data: bytes) -> None:
        self.generation += 1
        if self.log is not None:
            self.log.append(("w", va, bytes(data)))
        off = va & OFF
        if off + len(data) <= PAGE:  # the common case: one page
            self._page(va - off, True, len(data), va)[off:off + len(data)] = data
            return
        pos = 0
        while pos < len(data):
            off = va & OFF
            take = min(len(data) - pos, PAGE - off)
            buf = self._page(va - off, True, len(data), va)
            buf[off:off + take] = data[pos:pos + take]
            va, pos = va + take, pos + take

    def apply(self, effects) -> None:
        """The hypervisor's writes to watched pages during a hypercall."""
        for page, off, data in effects:
            self.write(page + off, data)

    def final(self, page: int) -> bytes:
        buf = self.pages.get(page)
        return bytes(buf) if buf is not None else self.before[page]


class LiveMemory:
    """Guest memory as it is: the interpreter acting as the guest kernel
    itself (for laws, whose hooks talk to the real hypervisor model)."""

    def __init__(self, translate, mm):
        self._translate = translate
        self._mm = mm

    def _ma(self, va: int, n: int, write: bool) -> int:
        ma = self._translate(va & ~OFF, write)
        if ma is None:
            raise MemoryFault(va, n, write=write)
        return ma + (va & OFF)

    def read(self, va: int, n: int) -> bytes:
        out = bytearray()
        while n:
            take = min(n, PAGE - (va & OFF))
            ma = self._ma(va, take, False)
            out += self._mm[ma:ma + take]
            va, n = va + take, n - take
        return bytes(out)

    def write(self, va: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            take = min(len(data) - pos, PAGE - (va & OFF))
            ma = self._ma(va, take, True)
            self._mm[ma:ma + take] = data[pos:pos + take]
            va, pos = va + take, pos + take
