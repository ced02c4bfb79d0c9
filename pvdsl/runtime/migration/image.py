"""A suspended x86 PV domain as the libxc stream carries it.

The stream holds no p2m table of its own: the guest's p2m list lives in
guest pages like any other, and X86_PV_P2M_FRAMES only says which pfns hold
it (restore rewrites those pages with the new machine frames at the end).
So `p2m` here is what those pages say, the source host's machine frame of
every pfn, and the image checks that the pages at `p2m_frames` spell it out.
Pages are as the stream sends them: page tables already canonicalised
(machine frames in their entries turned into pfns), which is the saver's
job, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import layout as L


class Page(NamedTuple):
    pfn: int
    type: int  # XEN_DOMCTL_PFINFO_* (layout.NOTAB, L1TAB | LPINTAB, XTAB ...)
    data: bytes  # PAGE_SIZE bytes for NOTAB and page tables, b"" for the others


@dataclass(frozen=True)
class TscInfo:
    """XEN_DOMCTL_{get,set}tscinfo: the TSC mode and the guest's clock."""
    mode: int = 0
    khz: int = 0
    nsec: int = 0
    incarnation: int = 0


@dataclass(frozen=True)
class VcpuState:
    """One online vCPU: the blobs of XEN_DOMCTL_getvcpucontext (basic),
    get_ext_vcpucontext, getvcpuextstate (xsave) and get_vcpu_msrs, as
    Xen hands them out. An empty blob is not sent, as libxc skips it."""
    vcpu_id: int
    basic: bytes  # vcpu_guest_context of the guest's width, cr3/gdt frames as pfns
    extended: bytes = b""
    xsave: bytes = b""
    msrs: bytes = b""


def p2m_frame_count(width: int, nr_pfns: int) -> int:
    """How many frames X86_PV_P2M_FRAMES lists for pfns 0..nr_pfns-1."""
    return (nr_pfns - 1) // L.WIDTHS[width].pfns_per_frame + 1


def p2m_frame_pages(width: int, p2m) -> list[bytes]:
    """The guest pages holding `p2m` as the guest's p2m list: one word per
    pfn, the unused tail of the last frame filled with the hole marker."""
    g = L.WIDTHS[width]
    words = np.full(p2m_frame_count(width, len(p2m)) * g.pfns_per_frame, g.invalid_mfn, dtype=g.p2m_dtype)
    words[:len(p2m)] = np.asarray(p2m, dtype=np.uint64).astype(g.p2m_dtype)
    raw = words.tobytes()
    return [raw[i:i + L.PAGE_SIZE] for i in range(0, len(raw), L.PAGE_SIZE)]


def p2m_from_pages(width: int, pages: list, nr_pfns: int) -> tuple[int, ...]:
    """The first nr_pfns entries of the p2m list held in `pages` (bytes-like)."""
    raw = b"".join(bytes(p) for p in pages)
    return tuple(np.frombuffer(raw, dtype=L.WIDTHS[width].p2m_dtype)[:nr_pfns].tolist())


def vcpu_blob_problem(width: int, kind: str, n: int) -> str | None:
    """What is wrong with a vCPU blob of n bytes, by restore's size checks
    (restore skips an empty one; the basic context must be there)."""
    if kind == "X86_PV_VCPU_BASIC" and n != L.WIDTHS[width].basic_size:
        return f"context of {n} bytes, but a {8 * width}-bit guest's vcpu_guest_context has {L.WIDTHS[width].basic_size}"
    if kind == "X86_PV_VCPU_EXTENDED" and n > L.EXTENDED_MAX:
        return f"context of {n} bytes, more than the {L.EXTENDED_MAX} of xen_domctl_ext_vcpucontext"
    if kind == "X86_PV_VCPU_XSAVE" and n < L.XSAVE_MIN:
        return f"context of {n} bytes, less than the {L.XSAVE_MIN} of its header"
    if kind == "X86_PV_VCPU_MSRS" and n % L.MSR_ENTRY_SIZE:
        return f"context of {n} bytes, not a whole number of {L.MSR_ENTRY_SIZE}-byte MSR entries"
    return None


def vcpu_blobs(v: VcpuState) -> tuple[tuple[str, bytes], ...]:
    """The records of one vCPU in the order libxc writes them."""
    return tuple(zip(L.VCPU_RECORDS, (v.basic, v.extended, v.xsave, v.msrs)))


@dataclass(frozen=True)
class DomainImage:
    width: int  # 4 (i386 PAE) or 8 (x86_64)
    p2m: tuple[int, ...]  # saved machine frame of each pfn; GuestWidth.invalid_mfn for a hole
    p2m_frames: tuple[int, ...]  # pfns of the pages holding the p2m list
    pages: tuple[Page, ...]  # one per pfn 0..len(p2m)-1, in pfn order
    shared_info: bytes
    vcpus: tuple[VcpuState, ...]  # online vCPUs by id; vCPU 0 always
    tsc: TscInfo = field(default_factory=TscInfo)
    cpuid_policy: bytes = b""  # xen_cpuid_leaf_t[]; empty: no X86_CPUID_POLICY record
    msr_policy: bytes = b""  # xen_msr_entry_t[]; empty: no X86_MSR_POLICY record

    def __post_init__(self):
        for name in ("p2m", "p2m_frames", "pages", "vcpus"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problem = self._problem()
        if problem:
            raise ValueError(f"DomainImage: {problem}")

    @property
    def layout(self) -> L.GuestWidth:
        return L.WIDTHS[self.width]

    @property
    def levels(self) -> int:
        return self.layout.levels

    @property
    def max_pfn(self) -> int:
        return len(self.p2m) - 1

    def _problem(self) -> str | None:
        if self.width not in L.WIDTHS:
            return f"guest width {self.width} is neither 4 nor 8"
        g = self.layout
        if not self.p2m:
            return "an empty p2m"
        top = g.invalid_mfn
        if any(not 0 <= m <= top for m in self.p2m):
            return f"a p2m entry outside a {8 * g.width}-bit guest word"
        if len(self.p2m_frames) != p2m_frame_count(self.width, len(self.p2m)):
            return (f"{len(self.p2m_frames)} p2m frames for {len(self.p2m)} pfns, "
                    f"which take {p2m_frame_count(self.width, len(self.p2m))}")
        if len(self.pages) != len(self.p2m):
            return f"{len(self.pages)} pages for {len(self.p2m)} pfns: every pfn has a page (XTAB for a hole)"
        for i, (pfn, t, data) in enumerate(self.pages):
            if pfn != i:
                return f"page {i} is pfn {pfn:#x}: pages go one per pfn, in pfn order"
            if t not in L.KNOWN_PAGE_TYPES:
                return f"pfn {pfn:#x} has unknown type {t:#x}"
            if L.page_table_level(t) > g.levels:
                return f"pfn {pfn:#x} is {L.page_type_name(t)} in a {g.levels}-level guest"
            want = L.PAGE_SIZE if t in L.DATA_PAGE_TYPES else 0
            if len(data) != want:
                return f"pfn {pfn:#x} ({L.page_type_name(t)}) has {len(data)} bytes, not {want}"
        for i, pfn in enumerate(self.p2m_frames):
            if not 0 <= pfn <= self.max_pfn or self.pages[pfn].type != L.NOTAB:
                return f"p2m frame {i} (pfn {pfn:#x}) is not a NOTAB page of the domain"
        held = p2m_from_pages(self.width, [self.pages[pfn].data for pfn in self.p2m_frames], len(self.p2m))
        if held != self.p2m:
            return "the pages at p2m_frames do not hold the p2m"
        if len(self.shared_info) != L.PAGE_SIZE:
            return f"shared_info of {len(self.shared_info)} bytes, not {L.PAGE_SIZE}"
        ids = [v.vcpu_id for v in self.vcpus]
        if not ids or ids[0] != 0 or ids != sorted(set(ids)):
            return f"vCPU ids {ids}: vCPU 0 first, then increasing, each once"
        for v in self.vcpus:
            for kind, blob in vcpu_blobs(v):
                problem = (blob or kind == "X86_PV_VCPU_BASIC") and vcpu_blob_problem(self.width, kind, len(blob))
                if problem:
                    return f"vCPU {v.vcpu_id} {kind}: {problem}"
        if len(self.cpuid_policy) % L.CPUID_LEAF_SIZE or len(self.msr_policy) % L.MSR_ENTRY_SIZE:
            return "a CPU policy that is not whole leaves / MSR entries"
        return None
