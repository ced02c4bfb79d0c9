"""What a libxc stream of an x86 PV guest may contain, and in which order.

The writer and the reader share these rules: the writer refuses (ValueError)
to produce what the reader would reject (StreamError). The order is the one
libxc's saver writes and restore depends on (xg_sr_save.c save(),
x86_pv_static_data / start_of_stream / end_of_checkpoint; the spec's strict
order X86_PV_INFO, X86_PV_P2M_FRAMES, PAGE_DATA, vCPU records):

    X86_PV_INFO
    [X86_CPUID_POLICY] [X86_MSR_POLICY]      v3 only
    STATIC_DATA_END                          v3 only (v2: implied here)
    X86_PV_P2M_FRAMES
    PAGE_DATA ...                            live rounds may resend a pfn
    X86_TSC_INFO, SHARED_INFO, per vCPU BASIC [EXTENDED] [XSAVE] [MSRS]
    END

A stream is plain, not checkpointed: each record of the tail comes once.
"""

from __future__ import annotations

import numpy as np

from . import layout as L

_TAIL = ("X86_TSC_INFO", "SHARED_INFO") + L.VCPU_RECORDS


class RecordOrder:
    """Admits records one at a time; `admit` returns why one may not come
    next (and then changes nothing), or None."""

    def __init__(self, version: int, max_vcpus: int):
        self.version = version
        self.max_vcpus = max_vcpus
        self.seen: set[str] = set()
        self.vcpus: dict[int, set[str]] = {}
        self.max_pfn: int | None = None  # from X86_PV_P2M_FRAMES

    def admit(self, name: str, vcpu_id: int | None = None) -> str | None:
        problem = self._problem(name, vcpu_id)
        if problem is None:
            self.seen.add(name)
            if vcpu_id is not None:
                self.vcpus.setdefault(vcpu_id, set()).add(name)
        return problem

    def _problem(self, name: str, vcpu_id: int | None) -> str | None:
        seen = self.seen
        if "END" in seen:
            return "after END"
        if name in L.FOREIGN_RECORDS:
            return f"not in a plain x86 PV stream: {L.FOREIGN_RECORDS[name]}"
        if name == "X86_PV_INFO":
            return "sent twice" if name in seen else ("not the first record" if seen else None)
        if "X86_PV_INFO" not in seen:
            return "before X86_PV_INFO, which must be the first record"
        if name in ("X86_CPUID_POLICY", "X86_MSR_POLICY", "STATIC_DATA_END"):
            if self.version < 3:
                return f"in a v{self.version} stream: it came with v3"
            if name in seen:
                return "sent twice"
            if "STATIC_DATA_END" in seen:
                return "after STATIC_DATA_END"
            return None
        if self.version >= 3 and "STATIC_DATA_END" not in seen and name != "END":
            return "before STATIC_DATA_END, which a v3 stream sends after its static data"
        if name == "X86_PV_P2M_FRAMES":
            return "sent twice" if name in seen else None
        if "X86_PV_P2M_FRAMES" not in seen and name != "END":
            return "before X86_PV_P2M_FRAMES"
        if name == "PAGE_DATA":
            late = [r for r in _TAIL if r in seen]
            return f"after {late[0]}: all memory comes before the records that end the stream" if late else None
        if name in ("X86_TSC_INFO", "SHARED_INFO"):
            return "sent twice" if name in seen else None
        if name in L.VCPU_RECORDS:
            if not 0 <= vcpu_id < self.max_vcpus:
                return f"vcpu {vcpu_id} beyond the domain's vCPUs (max {self.max_vcpus - 1})"
            blobs = self.vcpus.get(vcpu_id, set())
            if name in blobs:
                return f"vcpu {vcpu_id} sent twice"
            if name != "X86_PV_VCPU_BASIC" and "X86_PV_VCPU_BASIC" not in blobs:
                return f"vcpu {vcpu_id} before its X86_PV_VCPU_BASIC"
            return None
        if name == "END":
            return self._missing()
        raise AssertionError(name)

    def _missing(self) -> str | None:
        needed_all = ("STATIC_DATA_END",) * (self.version >= 3) + ("X86_PV_P2M_FRAMES", "X86_TSC_INFO", "SHARED_INFO")
        for needed in needed_all:
            if needed not in self.seen:
                return f"no {needed} before END"
        if "X86_PV_VCPU_BASIC" not in self.vcpus.get(0, ()):
            return "no X86_PV_VCPU_BASIC for vcpu 0 before END"
        return None


def pfn_words(pfns, types) -> np.ndarray:
    """PAGE_DATA's pfn words: each type (a XEN_DOMCTL_PFINFO_* value) in the
    top bits of its pfn, as libxc's write_batch builds them."""
    pfns = np.asarray(pfns, dtype=np.uint64)
    types = np.broadcast_to(np.asarray(types, dtype=np.uint64), pfns.shape)
    return pfns | (types << np.uint64(L.TYPE_SHIFT))


def split_words(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pfns, types) of pfn words."""
    types = ((words >> np.uint64(L.TYPE_SHIFT)) & np.uint64(L.TYPE_MASK)).astype(np.uint32)
    return words & np.uint64(L.PFN_MASK), types


# A type is a nibble in bits 28-31 (split_words masks the rest): tables
# indexed by it, rather than a set membership test per page.
_KNOWN = np.array([t << 28 in L.KNOWN_PAGE_TYPES for t in range(16)])
_WITH_DATA = np.array([t << 28 in L.DATA_PAGE_TYPES for t in range(16)])


def with_data(types: np.ndarray) -> np.ndarray:
    """Which of `types` (as split_words gives them) carry a page of data in the stream."""
    return _WITH_DATA[types >> np.uint32(28)]


def batch_problem(words: np.ndarray, max_pfn: int, levels: int) -> tuple[int, str] | None:
    """(index, why) of the first bad pfn word of one PAGE_DATA record, or
    None. Bad: reserved bits set, a type restore does not know, a page
    table deeper than the guest's levels, a pfn beyond the p2m, a pfn twice
    in one record (libxc builds a batch from a bitmap: never)."""
    pfns, types = split_words(words)
    reserved = (words & np.uint64(L.PFN_RESERVED_MASK)) != 0
    unknown = ~_KNOWN[types >> np.uint32(28)]
    too_deep = with_data(types) & (((types & np.uint32(L.LTABTYPE_MASK)) >> np.uint32(28)) > levels)
    beyond = pfns > np.uint64(max_pfn)
    twice = np.ones(len(pfns), dtype=bool)
    twice[np.unique(pfns, return_index=True)[1]] = False
    bad = reserved | unknown | too_deep | beyond | twice
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    pfn, t, word = int(pfns[i]), int(types[i]), int(words[i])
    if reserved[i]:
        why = f"reserved bits {word & L.PFN_RESERVED_MASK:#x} set in pfn word {word:#018x}"
    elif unknown[i]:
        why = f"pfn {pfn:#x} has unknown type {t >> 28:#x}"
    elif too_deep[i]:
        why = f"pfn {pfn:#x} is {L.page_type_name(t)} in a {levels}-level guest"
    elif beyond[i]:
        why = f"pfn {pfn:#x} beyond the p2m (max {max_pfn:#x})"
    else:
        why = f"pfn {pfn:#x} twice in one record"
    return i, why
