"""Synthetic save images and Xen's own stream verifier, for the migration
tests (tests/runtime/migration)."""

from __future__ import annotations

import os
import random
import struct
import subprocess
from pathlib import Path

from pvdsl.runtime.migration import (BROKEN, L1TAB, L2TAB, L3TAB, L4TAB, LPINTAB, NOTAB, WIDTHS, XALLOC, XTAB,
                                     DomainImage, Page, TscInfo, VcpuState, p2m_frame_count, p2m_frame_pages)
from pvdsl.runtime.migration import layout

XEN_LIB = Path("/usr/lib/xen-4.17")
VERIFIER = XEN_LIB / "bin" / "verify-stream-v2"


def verify_stream(path: Path, fmt: str) -> subprocess.CompletedProcess:
    """Xen 4.17's verify-stream-v2 on a file; Debian installs it without a
    module path, so its package directory goes on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=str(XEN_LIB / "lib" / "python"))
    return subprocess.run(["/usr/bin/python3", str(VERIFIER), "-f", fmt, "-i", str(path), "-v"],
                          env=env, capture_output=True, text=True, timeout=300)


def synthetic_image(width: int, *, nr_pfns: int = 700, nr_vcpus: int = 1, seed: int = 0) -> DomainImage:
    """A guest of nr_pfns pages of random bytes: page tables of every level
    the width has (the top level pinned), holes (XTAB), one BROKEN and one
    XALLOC page, its p2m list in pages of its own, vCPUs with every blob."""
    rng = random.Random(seed)
    g = WIDTHS[width]
    frames = p2m_frame_count(width, nr_pfns)
    p2m_frames = list(range(8, 8 + frames))
    mfns = rng.sample(range(0x1000, 0x1000 + 4 * nr_pfns), nr_pfns)
    types = {pfn: NOTAB for pfn in range(nr_pfns)}
    tables = [L1TAB, L2TAB, L3TAB, L4TAB][:g.levels]
    free = [pfn for pfn in range(nr_pfns) if pfn not in p2m_frames]
    rng.shuffle(free)
    for i, pfn in enumerate(free[:40]):
        types[pfn] = tables[i % len(tables)]
    types[free[40]] = tables[-1] | LPINTAB
    types[free[41]] = L1TAB | LPINTAB
    types[free[42]] = BROKEN
    types[free[43]] = XALLOC
    for pfn in free[44:54]:
        types[pfn] = XTAB
        mfns[pfn] = g.invalid_mfn
    p2m_pages = dict(zip(p2m_frames, p2m_frame_pages(width, mfns)))
    pages = []
    for pfn in range(nr_pfns):
        t = types[pfn]
        data = p2m_pages.get(pfn) or (rng.randbytes(layout.PAGE_SIZE) if t in layout.DATA_PAGE_TYPES else b"")
        pages.append(Page(pfn, t, data))
    vcpus = [VcpuState(0, rng.randbytes(g.basic_size), extended=rng.randbytes(112),
                       xsave=rng.randbytes(16 + 576), msrs=rng.randbytes(2 * layout.MSR_ENTRY_SIZE))]
    vcpus += [VcpuState(i, rng.randbytes(g.basic_size), extended=rng.randbytes(40)) for i in range(1, nr_vcpus)]
    return DomainImage(width=width, p2m=mfns, p2m_frames=p2m_frames, pages=pages,
                       shared_info=rng.randbytes(layout.PAGE_SIZE), vcpus=vcpus,
                       tsc=TscInfo(mode=1, khz=2_400_000, nsec=rng.getrandbits(63), incarnation=3),
                       cpuid_policy=rng.randbytes(3 * layout.CPUID_LEAF_SIZE),
                       msr_policy=rng.randbytes(2 * layout.MSR_ENTRY_SIZE))


def xl_config(name: str, vcpus: int, memory_pages: int) -> bytes:
    """A domain config as `xl save` stores it: libxl_domain_config's JSON."""
    import json

    return json.dumps({"c_info": {"type": "pv", "name": name},
                       "b_info": {"max_vcpus": vcpus, "max_memkb": memory_pages * 4,
                                  "target_memkb": memory_pages * 4, "type.pv": {}}}, indent=4).encode()


def records(data: bytes, start: int) -> list[tuple[int, int, int]]:
    """(offset, type, length) of the records of a stream (libxc or libxl
    framing) from `start` on, walking the framing alone; stops at a type-0
    record (END)."""
    out, at = [], start
    while at + 8 <= len(data):
        rtype, length = struct.unpack_from("<II", data, at)
        out.append((at, rtype, length))
        at += 8 + length + (-length % 8)
        if rtype == 0:
            break
    return out
