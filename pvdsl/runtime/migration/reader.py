"""Reading a libxc stream strictly: record by record, or into a DomainImage.

Every field restore or the stream verifier looks at is checked, and more:
the order of rules.py, reserved fields and padding zero, every pfn sent by
END. Whatever the bytes, the only exception is StreamError (an OSError of
the file itself aside). No length field is trusted for an allocation: a
record's length is checked against its type's limits first, and large
bodies are read in chunks, so memory grows only with bytes that arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from . import layout as L
from .errors import StreamError
from .image import DomainImage, Page, TscInfo, VcpuState, p2m_from_pages, vcpu_blob_problem
from .rules import RecordOrder, batch_problem, split_words, with_data

_CHUNK = 1 << 20
_MAX_PAGE_DATA = L.PAGE_DATA_HDR.size + L.MAX_BATCH_PAGES * (8 + L.PAGE_SIZE)


class Source:
    """A binary file-like object read exactly, with the offset of the next
    byte; `peek` looks ahead without consuming (format detection)."""

    def __init__(self, f, offset: int = 0):
        self.f = f
        self.pos = offset
        self._ahead = b""

    def peek(self, n: int) -> bytes:
        while len(self._ahead) < n:
            more = self.f.read(n - len(self._ahead))
            if not more:
                break
            self._ahead += more
        return self._ahead[:n]

    def take(self, n: int, record: str, at: int) -> bytes:
        """Exactly n bytes, else StreamError at `at` (the record's start)."""
        parts, got = [], 0
        if self._ahead:
            parts.append(self._ahead[:n])
            self._ahead = self._ahead[n:]
            got = len(parts[0])
        while got < n:
            more = self.f.read(min(n - got, _CHUNK))
            if not more:
                raise StreamError(f"truncated: {self.pos - at + got} of {self.pos - at + n} bytes", record, at)
            parts.append(more)
            got += len(more)
        self.pos += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def take_into(self, buf: memoryview, record: str, at: int) -> None:
        """Fill buf (no copy through Python objects: page data)."""
        n, got = buf.nbytes, 0
        if self._ahead:
            head = self._ahead[:n]
            buf[:len(head)] = head
            self._ahead = self._ahead[len(head):]
            got = len(head)
        while got < n:
            r = self.f.readinto(buf[got:])
            if not r:
                raise StreamError(f"truncated: {self.pos - at + got} of {self.pos - at + n} bytes", record, at)
            got += r
        self.pos += n

    def at_eof(self) -> bool:
        return not self.peek(1)


class P2mFrames(NamedTuple):
    max_pfn: int
    frames: tuple[int, ...]  # pfns of the pages holding the guest's p2m list


class PageBatch(NamedTuple):
    pfns: np.ndarray  # uint64
    types: np.ndarray  # uint32, XEN_DOMCTL_PFINFO_*
    data: memoryview  # the pages of the pfns with data, in order; valid until the next record is read
    placed: bool = False  # data was read where StreamReader.place said: it is already where it goes


class VcpuBlob(NamedTuple):
    vcpu_id: int
    data: bytes


class Record(NamedTuple):
    name: str  # layout.RECORD_NAMES
    offset: int
    value: object  # GuestWidth, P2mFrames, PageBatch, TscInfo, VcpuBlob, bytes or None


def expect_eof(src: Source, record: str = "END") -> None:
    """Nothing may follow the last record."""
    if not src.at_eof():
        raise StreamError("followed by more data: the stream ends here", record, src.pos)


class StreamReader:
    """The records of a libxc stream, checked, in order (iterate it once).

    The image and domain headers are read at once (`version`,
    `xen_version`). `max_vcpus` is the vCPU count of the domain to restore
    into; libxc bounds vCPU ids by it. `after_end` checks what follows END
    (default: nothing may).
    """

    def __init__(self, f, *, max_vcpus: int = 32, after_end: Callable[[Source], None] = expect_eof):
        self.src = f if isinstance(f, Source) else Source(f)
        self.after_end = after_end
        self.layout: L.GuestWidth | None = None
        self._buf = memoryview(bytearray(L.MAX_BATCH_PAGES * L.PAGE_SIZE))
        self._sent = np.zeros(0, dtype=np.uint8)  # per pfn: 0 never sent, else 1 + type nibble
        self._frames: tuple[int, ...] = ()
        # place(pfns, types): where a checked PAGE_DATA record's pages may be
        # read straight into (a writable memoryview of exactly their size),
        # or None for the reader's own buffer.
        self.place: Callable[[np.ndarray, np.ndarray], memoryview | None] | None = None
        self._read_headers()
        self.order = RecordOrder(self.version, max_vcpus)

    def _read_headers(self) -> None:
        src = self.src
        base = src.pos
        marker, ident, version, options, res1, res2 = L.IHDR.unpack(src.take(L.IHDR.size, "image header", base))
        bad = (marker != L.IHDR_MARKER and (0, f"marker {marker:#018x}, not {L.IHDR_MARKER:#018x}: "
                                               "not a migration v2 stream")
               or ident != L.IHDR_ID and (8, f"id {ident:#010x}, not {L.IHDR_ID:#010x} (\"XENF\")")
               or version not in L.STREAM_VERSIONS and (12, f"version {version}, not 2 or 3")
               or options & L.IHDR_OPT_BIG_ENDIAN and (16, "a big-endian stream; x86 streams are little-endian")
               or options and (16, f"reserved option bits {options:#06x} set")
               or (res1 or res2) and (18, "reserved fields not zero"))
        if bad:
            raise StreamError(bad[1], "image header", base + bad[0])
        self.version = version
        at = src.pos
        gtype, page_shift, res, major, minor = L.DHDR.unpack(src.take(L.DHDR.size, "domain header", at))
        bad = (gtype != L.DHDR_TYPE_X86_PV
               and (0, f"domain type {gtype:#x} ({L.DHDR_TYPE_NAMES.get(gtype, 'reserved')}), not x86 PV")
               or page_shift != L.PAGE_SHIFT and (4, f"page shift {page_shift}, not {L.PAGE_SHIFT}")
               or res and (6, "reserved field not zero"))
        if bad:
            raise StreamError(bad[1], "domain header", at + bad[0])
        self.xen_version = (major, minor)

    def __iter__(self) -> Iterator[Record]:
        while True:
            rec = self._next()
            yield rec
            if rec.name == "END":
                return

    def _next(self) -> Record:
        src = self.src
        at = src.pos
        if src.at_eof():
            raise StreamError("missing: the stream ends without one", "END", at)
        rtype, length = L.RHDR.unpack(src.take(L.RHDR.size, "record header", at))
        name = L.RECORD_NAMES.get(rtype)
        if name is None:
            raise StreamError(f"unknown record type {rtype:#x}", "record header", at)
        if length > L.REC_LENGTH_MAX:
            raise StreamError(f"length {length:#x} beyond restore's limit {L.REC_LENGTH_MAX:#x}", name, at)
        fail = _Fail(name, at)
        if name in L.VCPU_RECORDS:
            value = self._vcpu(name, length, fail)
        else:
            fail.unless(self.order.admit(name))
            value = getattr(self, "_" + name.lower())(length, fail)
        pad = -length % L.REC_ALIGN
        if pad:
            pad_at = src.pos
            if any(src.take(pad, name, at)):
                raise StreamError("padding not zero", name, pad_at)
        if name == "END":
            self._check_complete(fail)
            self.after_end(src)
        return Record(name, at, value)

    def _body(self, length: int, fail: _Fail, exact: int | None = None, unit: int = 0) -> bytes:
        """The body of a record of `exact` bytes, or of a whole non-zero
        number of `unit`-byte entries."""
        if exact is not None and length != exact:
            fail(f"length {length:#x}, not {exact:#x}", 4)
        if unit and (not length or length % unit):
            fail(f"length {length:#x}, not a whole non-zero number of {unit}-byte entries", 4)
        return self.src.take(length, fail.name, fail.at)

    def _end(self, length, fail):
        self._body(length, fail, exact=0)

    _static_data_end = _end

    def _x86_pv_info(self, length, fail):
        width, levels, res1, res2 = L.X86_PV_INFO_BODY.unpack(self._body(length, fail, exact=8))
        if width not in L.WIDTHS:
            fail(f"guest width {width} is neither 4 nor 8", 8)
        if levels != L.WIDTHS[width].levels:
            fail(f"{levels} page-table levels with guest width {width}; restore takes only {L.WIDTHS[width].levels}", 9)
        if res1 or res2:
            fail("reserved fields not zero", 10)
        self.layout = L.WIDTHS[width]
        return self.layout

    def _x86_cpuid_policy(self, length, fail):
        return self._body(length, fail, unit=L.CPUID_LEAF_SIZE)

    def _x86_msr_policy(self, length, fail):
        return self._body(length, fail, unit=L.MSR_ENTRY_SIZE)

    def _x86_pv_p2m_frames(self, length, fail):
        if length < L.P2M_FRAMES_HDR.size:
            fail(f"length {length:#x}, less than its {L.P2M_FRAMES_HDR.size}-byte header", 4)
        start, end = L.P2M_FRAMES_HDR.unpack(self.src.take(L.P2M_FRAMES_HDR.size, fail.name, fail.at))
        if start:
            fail(f"start pfn {start:#x}: a stream sends the whole p2m, from pfn 0", 8)
        want = L.P2M_FRAMES_HDR.size + 8 * (end // self.layout.pfns_per_frame + 1)
        if length != want:
            fail(f"length {length:#x}, but the frames of pfns 0..{end:#x} take {want:#x}", 4)
        frames = np.frombuffer(self.src.take(length - L.P2M_FRAMES_HDR.size, fail.name, fail.at), dtype="<u8")
        beyond = np.flatnonzero(frames > np.uint64(end))
        if len(beyond):
            i = int(beyond[0])
            fail(f"p2m frame {i} at pfn {int(frames[i]):#x} beyond the p2m (max {end:#x})", 16 + 8 * i)
        self.order.max_pfn = end
        self._frames = tuple(frames.tolist())
        return P2mFrames(end, self._frames)

    def _page_data(self, length, fail):
        src, at = self.src, fail.at
        if not L.PAGE_DATA_HDR.size + 8 <= length <= _MAX_PAGE_DATA:
            fail(f"length {length:#x} outside {L.PAGE_DATA_HDR.size + 8:#x}..{_MAX_PAGE_DATA:#x}", 4)
        count, res = L.PAGE_DATA_HDR.unpack(src.take(L.PAGE_DATA_HDR.size, fail.name, at))
        if not 1 <= count <= L.MAX_BATCH_PAGES:
            fail(f"count {count}; a record holds 1 to {L.MAX_BATCH_PAGES} pages", 8)
        if res:
            fail("reserved field not zero", 12)
        if length < L.PAGE_DATA_HDR.size + 8 * count:
            fail(f"length {length:#x} too short for {count} pfns", 4)
        words = np.frombuffer(src.take(8 * count, fail.name, at), dtype="<u8")
        bad = batch_problem(words, self.order.max_pfn, self.layout.levels)
        if bad:
            fail(bad[1], 16 + 8 * bad[0])
        pfns, types = split_words(words)
        nr_data = int(np.count_nonzero(with_data(types)))
        want = L.PAGE_DATA_HDR.size + 8 * count + L.PAGE_SIZE * nr_data
        if length != want:
            fail(f"length {length:#x}, but {count} pfns with {nr_data} pages of data take {want:#x}", 4)
        into = self.place(pfns, types) if self.place is not None else None
        data = into if into is not None and into.nbytes == nr_data * L.PAGE_SIZE else self._buf[:nr_data * L.PAGE_SIZE]
        src.take_into(data, fail.name, at)
        self._mark_sent(pfns, types)
        return PageBatch(pfns, types, data, data is into)

    def _mark_sent(self, pfns: np.ndarray, types: np.ndarray) -> None:
        top = int(pfns.max())
        if top >= len(self._sent):  # grow as pfns arrive, not as X86_PV_P2M_FRAMES claims
            size = min(self.order.max_pfn + 1, max(top + 1, 2 * len(self._sent)))
            self._sent = np.concatenate([self._sent, np.zeros(size - len(self._sent), dtype=np.uint8)])
        self._sent[pfns] = (types >> np.uint32(28)).astype(np.uint8) + 1

    def _x86_tsc_info(self, length, fail):
        mode, khz, nsec, incarnation, res = L.TSC_INFO_BODY.unpack(self._body(length, fail, exact=24))
        if res:
            fail("reserved field not zero", 28)
        return TscInfo(mode, khz, nsec, incarnation)

    def _shared_info(self, length, fail):
        return self._body(length, fail, exact=L.PAGE_SIZE)

    def _vcpu(self, name, length, fail):
        if length < L.VCPU_HDR.size:
            fail(f"length {length:#x}, less than its {L.VCPU_HDR.size}-byte header", 4)
        vcpu_id, res = L.VCPU_HDR.unpack(self.src.take(L.VCPU_HDR.size, name, fail.at))
        fail.unless(self.order.admit(name, vcpu_id))
        if res:
            fail("reserved field not zero", 12)
        size = length - L.VCPU_HDR.size
        if size or name == "X86_PV_VCPU_BASIC":  # restore skips an empty blob
            problem = vcpu_blob_problem(self.layout.width, name, size)
            if problem:
                fail(f"vcpu {vcpu_id}: {problem}", 4)
        return VcpuBlob(vcpu_id, self.src.take(size, name, fail.at))

    def _check_complete(self, fail: _Fail) -> None:
        max_pfn = self.order.max_pfn
        sent = self._sent[:max_pfn + 1]
        missing = np.flatnonzero(sent == 0)
        if len(sent) <= max_pfn or len(missing):
            pfn = int(missing[0]) if len(missing) else len(sent)
            fail(f"pfn {pfn:#x} never sent: a stream sends every pfn up to the p2m's max {max_pfn:#x}")
        for i, pfn in enumerate(self._frames):
            t = (int(sent[pfn]) - 1) << 28
            if t != L.NOTAB:
                fail(f"p2m frame {i} (pfn {pfn:#x}) ends as {L.page_type_name(t)}, not a NOTAB page")


class _Fail:
    """Raises the StreamError of one record."""

    def __init__(self, name: str, at: int):
        self.name, self.at = name, at

    def __call__(self, message: str, field: int = 0):
        raise StreamError(message, self.name, self.at + field)

    def unless(self, problem: str | None) -> None:
        if problem:
            self(problem)


def read_libxc(f, *, max_vcpus: int = 32, after_end: Callable[[Source], None] = expect_eof) -> DomainImage:
    """A whole libxc stream as the image it leaves: the last copy of every
    page, the vCPUs by id."""
    reader = StreamReader(f, max_vcpus=max_vcpus, after_end=after_end)
    pages: dict[int, tuple[int, bytes]] = {}
    vcpus: dict[int, dict[str, bytes]] = {}
    found: dict[str, object] = {}
    for rec in reader:
        value = rec.value
        if rec.name == "PAGE_DATA":
            data, j = value.data, 0
            for pfn, t in zip(value.pfns.tolist(), value.types.tolist()):
                if t in L.DATA_PAGE_TYPES:
                    pages[pfn] = (t, bytes(data[j:j + L.PAGE_SIZE]))
                    j += L.PAGE_SIZE
                else:
                    pages[pfn] = (t, b"")
        elif rec.name in L.VCPU_RECORDS:
            vcpus.setdefault(value.vcpu_id, {})[rec.name] = value.data
        else:
            found[rec.name] = value
    g, p2m_frames = reader.layout, found["X86_PV_P2M_FRAMES"]
    nr_pfns = p2m_frames.max_pfn + 1
    p2m = p2m_from_pages(g.width, [pages[pfn][1] for pfn in p2m_frames.frames], nr_pfns)
    blobs = {kind: kind.removeprefix("X86_PV_VCPU_").lower() for kind in L.VCPU_RECORDS}
    return DomainImage(
        width=g.width, p2m=p2m, p2m_frames=p2m_frames.frames,
        pages=tuple(Page(pfn, *pages[pfn]) for pfn in range(nr_pfns)),
        shared_info=found["SHARED_INFO"], tsc=found["X86_TSC_INFO"],
        vcpus=tuple(VcpuState(i, **{blobs[k]: b for k, b in vcpus[i].items()}) for i in sorted(vcpus)),
        cpuid_policy=found.get("X86_CPUID_POLICY", b""), msr_policy=found.get("X86_MSR_POLICY", b""))
