"""Pages in batches, between machine memory and PAGE_DATA records, without
a Python object per page: a gigabyte is 262,144 of them, and per-page
Python work would cost more than writing the bytes. Machine memory is one
numpy array of frames; a batch of normal pages is one fancy-index copy out
(save) or in (restore). Page tables, holes and anything odd take the
per-page path in saverestore.py, which checks and translates them.
"""

from __future__ import annotations

import numpy as np

from ..migration import layout as L
from ..migration.rules import with_data
from ..xen.memory import PAGE_SIZE


class Frames:
    """Machine memory and the frame table of one host, as arrays."""

    def __init__(self, mem):
        self.mem = mem
        self.frames = np.frombuffer(mem.mm, dtype=np.uint8).reshape(-1, PAGE_SIZE)
        self.ptype = np.frombuffer(mem.ptype, dtype=np.uint8)


def runs(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index ranges where both a and b go up by one: a slice
    copy each, with no temporary array (a fancy-index copy of a batch makes
    a 4 MiB temporary, and on a virtualised host a fresh 4 MiB costs more
    in page faults than the copy itself). A domain is built from 2 MiB
    extents, so a batch is a run or two."""
    if not len(a):
        return []
    breaks = np.nonzero((np.diff(a) != 1) | (np.diff(b) != 1))[0] + 1
    edges = [0, *breaks.tolist(), len(a)]
    return list(zip(edges[:-1], edges[1:]))


def model_p2m(d, nr: int) -> np.ndarray:
    """Xen's view of the domain's frames by pfn (-1: none)."""
    return d.p2m.by_pfn(nr)


def read_batch(hv, d, fr: Frames, pfns: np.ndarray, p2m: np.ndarray, xen: np.ndarray):
    """(types, data) of `pfns` as PAGE_DATA carries them: `p2m` is the
    guest's list (its hole marker for none), `xen` model_p2m. data holds
    the pages with data, in pfn order; page tables canonical."""
    from .saverestore import SaveRestoreError, page_of

    invalid = L.WIDTHS[d.rt.word].invalid_mfn
    mfns = p2m[pfns]
    hole = mfns == invalid
    listed = mfns.astype(np.int64)
    bad = (hole & (xen[pfns] != -1)) | (~hole & (listed != xen[pfns]))
    if bad.any():
        pfn = int(pfns[np.argmax(bad)])
        page_of(hv, d, pfn, int(p2m[pfn]))  # raises with the reason
        raise SaveRestoreError(f"pfn {pfn:#x}: the guest's p2m list and Xen disagree", "p2m")
    types = np.zeros(len(pfns), dtype=np.uint32)
    types[hole] = L.XTAB
    with_data = ~hole
    frames = listed[with_data]
    special = np.nonzero(fr.ptype[frames])[0]  # typed frames: page tables, descriptor pages ...
    if not len(special) and len(frames) and frames[-1] - frames[0] == len(frames) - 1 and \
            (len(frames) == 1 or (np.diff(frames) == 1).all()):
        # One run of consecutive frames (how the builder lays a domain out):
        # the stream takes them straight from machine memory, uncopied.
        return types, fr.frames[frames[0]:frames[-1] + 1]
    data = fr.frames[frames]
    rows = np.nonzero(with_data)[0]
    for r in special.tolist():
        i = int(rows[r])
        page = page_of(hv, d, int(pfns[i]), int(mfns[i]))
        types[i] = page.type
        data[r] = np.frombuffer(page.data, dtype=np.uint8)
    return types, data


def write_batch(hv, d, fr: Frames, pfns, types, data, inc) -> None:
    """One PAGE_DATA batch into the domain `inc` (saverestore.Incoming) is
    filling: normal pages over frames with no type in one copy, the rest
    one by one through `inc.page`."""
    pfns = np.asarray(pfns, dtype=np.int64)
    types = np.asarray(types, dtype=np.uint32)
    pages = np.frombuffer(data, dtype=np.uint8).reshape(-1, PAGE_SIZE) if len(data) else None
    has = with_data(types)
    row = np.cumsum(has) - 1
    xen = inc.frame_of(pfns)
    plain = has & (types == L.NOTAB) & (xen >= 0)
    plain[plain] = fr.ptype[xen[plain]] == 0
    at = np.flatnonzero(plain)
    rows, frames = row[at], xen[at]
    for a, b in runs(rows, frames):
        fr.frames[frames[a]:frames[a] + b - a] = pages[rows[a]:rows[a] + b - a]
    for i in np.nonzero(~plain)[0].tolist():
        inc.page(int(pfns[i]), int(types[i]), pages[row[i]].tobytes() if has[i] else b"")
