"""A list of machine frames seen as one linear buffer, and pixel formats.

A framebuffer lives in frames scattered over machine memory; the guest's
kernel sees them at consecutive virtual addresses (vmalloc) and the backend
through the directory the guest wrote. Both move pixels through this view:
consecutive frames are merged into runs, and a rectangle whose rows lie in one
run is a zero-copy strided numpy view of machine memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..xen.memory import PAGE_SHIFT, PAGE_SIZE


@dataclass(frozen=True)
class Run:
    start: int  # offset in the buffer
    maddr: int  # machine address of that offset
    length: int


class FrameSpan:
    def __init__(self, mem, mfns: list[int]):
        self.mem = mem
        self.mfns = list(mfns)
        self.size = len(self.mfns) * PAGE_SIZE
        self.machine = np.frombuffer(mem.mm, dtype=np.uint8)
        runs: list[Run] = []
        for i, mfn in enumerate(self.mfns):
            if runs and runs[-1].maddr + runs[-1].length == mfn << PAGE_SHIFT:
                last = runs[-1]
                runs[-1] = Run(last.start, last.maddr, last.length + PAGE_SIZE)
            else:
                runs.append(Run(i * PAGE_SIZE, mfn << PAGE_SHIFT, PAGE_SIZE))
        self.runs = runs

    def _run_of(self, offset: int) -> Run:
        lo, hi = 0, len(self.runs) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.runs[mid].start <= offset:
                lo = mid
            else:
                hi = mid - 1
        return self.runs[lo]

    def _pieces(self, offset: int, n: int):
        if offset < 0 or n < 0 or offset + n > self.size:
            raise ValueError(f"bytes {offset}..{offset + n} outside a buffer of {self.size}")
        while n > 0:
            r = self._run_of(offset)
            k = min(n, r.start + r.length - offset)
            yield offset, r.maddr + offset - r.start, k
            offset += k
            n -= k

    def read(self, offset: int, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.uint8)
        for off, maddr, k in self._pieces(offset, n):
            out[off - offset:off - offset + k] = self.machine[maddr:maddr + k]
        return out

    def write(self, offset: int, data) -> None:
        data = np.frombuffer(bytes(data), dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
        for off, maddr, k in self._pieces(offset, len(data)):
            self.machine[maddr:maddr + k] = data[off - offset:off - offset + k]

    def rows(self, offset: int, nrows: int, row_bytes: int, stride: int) -> np.ndarray:
        """`nrows` rows of `row_bytes` each, `stride` apart from `offset`, as
        an (nrows, row_bytes) array: a view of machine memory when they lie
        in one run (writes go to the frames), else a copy."""
        end = offset + (nrows - 1) * stride + row_bytes
        r = self._run_of(offset)
        if end <= r.start + r.length and offset >= r.start:
            base = r.maddr + offset - r.start
            return np.lib.stride_tricks.as_strided(self.machine[base:], shape=(nrows, row_bytes),
                                                   strides=(stride, 1))
        out = np.empty((nrows, row_bytes), dtype=np.uint8)
        for i in range(nrows):
            out[i] = self.read(offset + i * stride, row_bytes)
        return out

    def write_rows(self, offset: int, block: np.ndarray, stride: int) -> None:
        nrows, row_bytes = block.shape
        view = self.rows(offset, nrows, row_bytes, stride)
        if np.shares_memory(view, self.machine):
            view[...] = block
            return
        for i in range(nrows):
            self.write(offset + i * stride, block[i])


# ---- pixel formats: Linux's xenfb is true colour, red at bit 16 for 32/24 ----
BYTES = {8: 1, 16: 2, 24: 3, 32: 4}


def to_rgb(raw: np.ndarray, depth: int, width: int) -> np.ndarray:
    """(rows, >= width * bytes) guest pixels -> (rows, width, 3) RGB."""
    b = BYTES[depth]
    px = raw[:, :width * b].reshape(raw.shape[0], width, b)  # a view when the rows are (rows of frames)
    if depth in (24, 32):
        # Channel by channel into a new array: one pass over memory each, no
        # fancy-index gather (several times slower on a full screen).
        out = np.empty((raw.shape[0], width, 3), dtype=np.uint8)
        out[:, :, 0], out[:, :, 1], out[:, :, 2] = px[:, :, 2], px[:, :, 1], px[:, :, 0]
        return out
    if depth == 16:  # RGB565
        v = px[:, :, 0].astype(np.uint16) | px[:, :, 1].astype(np.uint16) << 8
        r, g, bl = (v >> 11) & 31, (v >> 5) & 63, v & 31
        return np.stack([(r << 3 | r >> 2), (g << 2 | g >> 4), (bl << 3 | bl >> 2)], axis=-1).astype(np.uint8)
    v = px[:, :, 0].astype(np.uint16)  # RGB332
    r, g, bl = v >> 5 & 7, v >> 2 & 7, v & 3
    return np.stack([r * 255 // 7, g * 255 // 7, bl * 255 // 3], axis=-1).astype(np.uint8)


def from_rgb(rgb: np.ndarray, depth: int) -> np.ndarray:
    """(rows, width, 3) RGB -> (rows, width * bytes) guest pixels."""
    rows, width, _ = rgb.shape
    if depth == 32:
        out = np.zeros((rows, width, 4), dtype=np.uint8)
        out[:, :, 0], out[:, :, 1], out[:, :, 2] = rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0]
    elif depth == 24:
        out = np.ascontiguousarray(rgb[:, :, ::-1])
    elif depth == 16:
        r, g, b = (rgb[:, :, i].astype(np.uint16) for i in range(3))
        v = (r >> 3) << 11 | (g >> 2) << 5 | b >> 3
        out = np.stack([v & 0xFF, v >> 8], axis=-1).astype(np.uint8)
    else:
        r, g, b = (rgb[:, :, i].astype(np.uint16) for i in range(3))
        out = ((r * 7 + 127) // 255 << 5 | (g * 7 + 127) // 255 << 2 | (b * 3 + 127) // 255).astype(np.uint8)
        out = out[:, :, None]
    return out.reshape(rows, -1)
