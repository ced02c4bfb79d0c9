"""Writing a libxc stream: record by record (live migration feeds pages in
rounds) or a whole DomainImage at once.

Speed matters: a 1 GiB guest is 262,144 pages. A PAGE_DATA record goes out
as two writes, its headers with the pfn words built by numpy in one, the
page bytes as they are (a memoryview is not copied) in the other.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from . import layout as L
from .image import DomainImage, Page, TscInfo, VcpuState, vcpu_blob_problem, vcpu_blobs
from .rules import RecordOrder, batch_problem, pfn_words, split_words, with_data

_PAD = bytes(L.REC_ALIGN)


class StreamWriter:
    """A libxc stream being written to the binary file-like object `f`.

    The constructor writes the image and domain headers and the static data
    (X86_PV_INFO, the CPU policy records, STATIC_DATA_END); then call
    write_p2m_frames once, write_pages for every batch of every round (a
    pfn may come again in a later round: the last copy wins), write_tsc_info,
    write_shared_info, write_vcpu per online vCPU, and end(). Out of order
    or malformed records raise ValueError before anything is written.
    `trailer` is written after END (the libxl END of an enclosing stream).
    """

    def __init__(self, f, width: int, *, version: int = 3, xen_version: tuple[int, int] = L.XEN_VERSION,
                 cpuid_policy: bytes = b"", msr_policy: bytes = b"", trailer: bytes = b"",
                 max_vcpus: int = 1 << 32):
        if width not in L.WIDTHS:
            raise ValueError(f"guest width {width} is neither 4 nor 8")
        if version not in L.STREAM_VERSIONS:
            raise ValueError(f"stream version {version} is not one of {L.STREAM_VERSIONS}")
        self.f = f
        self.layout = L.WIDTHS[width]
        self.order = RecordOrder(version, max_vcpus)
        self.trailer = trailer
        self.offset = 0  # bytes written so far
        major, minor = xen_version
        self._write(L.IHDR.pack(L.IHDR_MARKER, L.IHDR_ID, version, 0, 0, 0)
                    + L.DHDR.pack(L.DHDR_TYPE_X86_PV, L.PAGE_SHIFT, 0, major, minor))
        self._record("X86_PV_INFO", L.X86_PV_INFO_BODY.pack(width, self.layout.levels, 0, 0))
        for name, blob, unit in (("X86_CPUID_POLICY", cpuid_policy, L.CPUID_LEAF_SIZE),
                                 ("X86_MSR_POLICY", msr_policy, L.MSR_ENTRY_SIZE)):
            if blob:  # libxc leaves out an empty policy
                if len(blob) % unit:
                    raise ValueError(f"{name}: {len(blob)} bytes is not a whole number of {unit}-byte entries")
                self._record(name, blob)
        if version >= 3:
            self._record("STATIC_DATA_END")

    def write_p2m_frames(self, frames, max_pfn: int) -> None:
        """X86_PV_P2M_FRAMES: the pfns of the frames holding the guest's p2m
        list, which covers pfns 0..max_pfn."""
        frames = list(frames)
        want = max_pfn // self.layout.pfns_per_frame + 1
        if not 0 <= max_pfn <= 0xFFFFFFFF or len(frames) != want:
            raise ValueError(f"X86_PV_P2M_FRAMES: {len(frames)} frames for max pfn {max_pfn:#x}, which takes {want}")
        if any(not 0 <= pfn <= max_pfn for pfn in frames):
            raise ValueError(f"X86_PV_P2M_FRAMES: a frame beyond the p2m (max {max_pfn:#x})")
        self._admit("X86_PV_P2M_FRAMES")
        self.order.max_pfn = max_pfn
        self._record("X86_PV_P2M_FRAMES", L.P2M_FRAMES_HDR.pack(0, max_pfn),
                     np.asarray(frames, dtype="<u8").tobytes(), admitted=True)

    def write_pages(self, pfns, types, data=b"") -> None:
        """One PAGE_DATA record: up to 1024 pfns with their types (one
        XEN_DOMCTL_PFINFO_* value for all, or one each) and `data`, the
        pages of those that carry data (NOTAB, page tables), in pfn order,
        as one bytes-like object of 4096 bytes a page."""
        words = pfn_words(pfns, types)
        if not 1 <= len(words) <= L.MAX_BATCH_PAGES:
            raise ValueError(f"PAGE_DATA: {len(words)} pages; a record holds 1 to {L.MAX_BATCH_PAGES}")
        data = memoryview(data).cast("B")
        self._admit("PAGE_DATA")
        bad = batch_problem(words, self.order.max_pfn, self.layout.levels)
        if bad:
            raise ValueError(f"PAGE_DATA: {bad[1]}")
        nr_data = int(np.count_nonzero(with_data(split_words(words)[1])))
        if data.nbytes != nr_data * L.PAGE_SIZE:
            raise ValueError(f"PAGE_DATA: {data.nbytes} bytes of data for {nr_data} pages that carry data")
        length = L.PAGE_DATA_HDR.size + 8 * len(words) + data.nbytes  # a multiple of 8: no padding
        self._write(L.RHDR.pack(L.PAGE_DATA, length) + L.PAGE_DATA_HDR.pack(len(words), 0)
                    + words.astype("<u8").tobytes())
        if nr_data:
            self._write(data)

    def write_page_list(self, pages: Iterable[Page]) -> None:
        """Pages (pfn, type, data) as PAGE_DATA records of up to 1024 each."""
        batch: list[Page] = []
        for page in pages:
            batch.append(page)
            if len(batch) == L.MAX_BATCH_PAGES:
                self._write_batch(batch)
                batch = []
        if batch:
            self._write_batch(batch)

    def _write_batch(self, batch: list[Page]) -> None:
        self.write_pages([p.pfn for p in batch], [p.type for p in batch], b"".join(p.data for p in batch))

    def write_tsc_info(self, tsc: TscInfo) -> None:
        self._record("X86_TSC_INFO", L.TSC_INFO_BODY.pack(tsc.mode, tsc.khz, tsc.nsec, tsc.incarnation, 0))

    def write_shared_info(self, shared_info: bytes) -> None:
        if len(shared_info) != L.PAGE_SIZE:
            raise ValueError(f"SHARED_INFO: {len(shared_info)} bytes, not {L.PAGE_SIZE}")
        self._record("SHARED_INFO", shared_info)

    def write_vcpu(self, vcpu: VcpuState) -> None:
        """An online vCPU's records; libxc sends no record for an empty blob."""
        blobs = [(kind, blob) for kind, blob in vcpu_blobs(vcpu) if blob or kind == "X86_PV_VCPU_BASIC"]
        for kind, blob in blobs:
            problem = vcpu_blob_problem(self.layout.width, kind, len(blob))
            if problem:
                raise ValueError(f"{kind} of vcpu {vcpu.vcpu_id}: {problem}")
        for kind, blob in blobs:
            self._record(kind, L.VCPU_HDR.pack(vcpu.vcpu_id, 0), blob, vcpu_id=vcpu.vcpu_id)

    def end(self) -> None:
        """END, then the trailer."""
        self._record("END")
        if self.trailer:
            self._write(self.trailer)

    def _admit(self, name: str, vcpu_id: int | None = None) -> None:
        problem = self.order.admit(name, vcpu_id)
        if problem:
            raise ValueError(f"{name}: {problem}")

    def _record(self, name: str, *parts: bytes, vcpu_id: int | None = None, admitted: bool = False) -> None:
        if not admitted:
            self._admit(name, vcpu_id)
        body = b"".join(parts)
        pad = -len(body) % L.REC_ALIGN
        self._write(L.RHDR.pack(L.RECORD_TYPES[name], len(body)) + body + _PAD[:pad])

    def _write(self, data) -> None:
        self.f.write(data)
        self.offset += memoryview(data).nbytes


def write_libxc(f, image: DomainImage, *, version: int = 3, xen_version: tuple[int, int] = L.XEN_VERSION,
                trailer: bytes = b"") -> None:
    """The whole image as a libxc stream, in the order libxc's saver writes
    a non-live save: every pfn once, in pfn order."""
    w = StreamWriter(f, image.width, version=version, xen_version=xen_version,
                     cpuid_policy=image.cpuid_policy, msr_policy=image.msr_policy, trailer=trailer)
    w.write_p2m_frames(image.p2m_frames, image.max_pfn)
    w.write_page_list(image.pages)
    w.write_tsc_info(image.tsc)
    w.write_shared_info(image.shared_info)
    for vcpu in image.vcpus:
        w.write_vcpu(vcpu)
    w.end()
