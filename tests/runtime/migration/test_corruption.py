"""Corrupt streams: every one the reader is given is rejected with a
StreamError naming the part at fault and its offset, never a traceback.

Stream v2 has no checksums: a flipped bit inside a page's data, a register
blob, the shared info page, a CPU policy, the TSC values, a p2m frame number
that still names a NOTAB page, or the Xen version in the domain header
leaves a valid stream, which no reader can tell from the original. So the
property test only corrupts what the format constrains: framing (record
types, lengths, padding), header fields, PAGE_DATA counts and pfn words
(reserved bits, pfns, and type bits where the new type is unknown, carries
data where the old did not or the reverse, is too deep a page table, or
lands on a p2m frame), vCPU ids and reserved fields; it reorders, drops or
duplicates only records whose place or presence the format fixes (two
PAGE_DATA records may swap, an optional record may go: both stay valid).
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from migrationsupport import records, synthetic_image, xl_config

from pvdsl.runtime.migration import FORMATS, StreamError, layout as L, read_save_file, write_save_file

PARTS = (set(L.RECORD_NAMES.values()) | set(L.LIBXL_RECORD_NAMES.values())
         | {"image header", "domain header", "record header", "libxl header", "xl header", "file header"})
_RANK = {"X86_PV_INFO": 0, "X86_CPUID_POLICY": 1, "X86_MSR_POLICY": 1, "STATIC_DATA_END": 2,
         "X86_PV_P2M_FRAMES": 3, "PAGE_DATA": 4, "END": 6}  # the rest (tail records): 5


@dataclass(frozen=True)
class Rec:
    start: int
    end: int  # past the padding
    name: str
    vcpu: int | None


@dataclass
class Base:
    """A valid stream and a map of it: where each part starts, and the bits
    and records whose corruption the format constrains."""
    fmt: str
    width: int
    data: bytes
    p2m_frames: tuple[int, ...]
    starts: list[int] = field(default_factory=list)
    bits: list[tuple[int, int]] = field(default_factory=list)  # (byte offset, bit)
    libxc: list[Rec] = field(default_factory=list)
    boundaries: list[int] = field(default_factory=list)  # where a record may be inserted

    def flip(self, at: int, size: int, skip=()):
        self.bits += [(at + b // 8, b % 8) for b in range(8 * size) if b not in skip]


def _map(fmt: str, image, data: bytes) -> Base:
    base = Base(fmt, image.width, data, image.p2m_frames)
    at = 0
    if fmt == "xl":
        base.starts.append(0)
        base.flip(0, 36 + 4, skip={36 * 8 + 0})  # magic, byte order, mandatory flags bar JSON (text is valid too)
        base.flip(40, 12)  # optional flags, optional data length, config length
        at = L.XL_HDR.size + struct.unpack_from("<I", data, 44)[0]
    if fmt != "libxc":
        base.starts.append(at)
        base.flip(at, 16, skip={15 * 8 + 1})  # the LEGACY option is valid
        at += 16
        base.starts.append(at)
        base.boundaries.append(at)
        base.flip(at, 8)  # LIBXC_CONTEXT
        at += 8
    base.starts += [at, at + 24]
    base.flip(at, 24)  # image header
    base.flip(at + 24, 8)  # domain header, but the Xen version
    levels = L.WIDTHS[image.width].levels
    for start, rtype, length in records(data, at + 40):
        name = L.RECORD_NAMES[rtype]
        end = start + 8 + length + (-length % 8)
        vcpu = struct.unpack_from("<I", data, start + 8)[0] if name in L.VCPU_RECORDS else None
        base.libxc.append(Rec(start, end, name, vcpu))
        base.starts.append(start)
        base.boundaries.append(start)
        base.flip(start, 8)
        if name in ("X86_PV_INFO", "X86_PV_P2M_FRAMES") or vcpu is not None:
            base.flip(start + 8, 8)
        elif name == "X86_TSC_INFO":
            base.flip(start + 8 + 20, 4)
        elif name == "PAGE_DATA":
            base.flip(start + 8, 8)
            count = struct.unpack_from("<I", data, start + 8)[0]
            for i in range(count):
                word_at = start + 16 + 8 * i
                word = struct.unpack_from("<Q", data, word_at)[0]
                pfn, t = word & L.PFN_MASK, (word >> 32) & L.TYPE_MASK
                base.flip(word_at, 8, skip={b for b in range(60, 64) if not _type_flip_detectable(
                    t, t ^ (1 << (b - 32)), levels, pfn in image.p2m_frames)})
    after = base.libxc[-1].end
    if fmt != "libxc":
        base.starts.append(after)
        base.boundaries.append(after)
        base.flip(after, 8)  # libxl END
    base.boundaries.append(len(data))
    return base


def _type_flip_detectable(old: int, new: int, levels: int, p2m_frame: bool) -> bool:
    return (new not in L.KNOWN_PAGE_TYPES or (new in L.DATA_PAGE_TYPES) != (old in L.DATA_PAGE_TYPES)
            or L.page_table_level(new) > levels or p2m_frame)


def _droppable(base: Base, r: Rec) -> bool:
    """Records whose absence is an error: all but the CPU policies and the
    optional vCPU blobs (a vCPU's basic context, where more of it follows)."""
    if r.name in ("X86_CPUID_POLICY", "X86_MSR_POLICY", "X86_PV_VCPU_EXTENDED", "X86_PV_VCPU_XSAVE",
                  "X86_PV_VCPU_MSRS"):
        return False
    if r.name == "X86_PV_VCPU_BASIC":
        return r.vcpu == 0 or any(o.vcpu == r.vcpu and o.name != r.name for o in base.libxc)
    return True


def _swap_detectable(a: Rec, b: Rec) -> bool:
    ra, rb = _RANK.get(a.name, 5), _RANK.get(b.name, 5)
    if ra != rb:
        return True
    return a.vcpu is not None and a.vcpu == b.vcpu and "X86_PV_VCPU_BASIC" in (a.name, b.name)


def _bases() -> list[Base]:
    out = []
    for width, nr_pfns, nr_vcpus in ((4, 300, 1), (8, 1100, 2)):
        image = synthetic_image(width, nr_pfns=nr_pfns, nr_vcpus=nr_vcpus, seed=width)
        for fmt in FORMATS:
            buf = io.BytesIO()
            write_save_file(buf, image, xl_config("g", nr_vcpus, nr_pfns) if fmt == "xl" else b"", fmt)
            out.append(_map(fmt, image, buf.getvalue()))
    return out


BASES = _bases()


def _rejected(data: bytes) -> StreamError:
    with pytest.raises(StreamError) as info:
        read_save_file(io.BytesIO(data))
    return info.value


def _check(base: Base, data: bytes, first_change: int) -> StreamError:
    """The reader rejects `data`: at or after the start of the part that
    holds the first changed byte (all before it is the valid original),
    naming a part of the format, in the documented form."""
    e = _rejected(data)
    floor = max(s for s in base.starts if s <= first_change)
    assert floor <= e.offset <= len(data), (str(e), floor)
    assert e.record in PARTS, str(e)
    assert re.fullmatch(rf"stream:{e.offset:#x}: {re.escape(e.record)}( record)?: .+", str(e), re.S), str(e)
    return e


@st.composite
def corruptions(draw):
    base = draw(st.sampled_from(BASES))
    kind = draw(st.sampled_from(["truncate", "flip", "flip", "flip", "swap", "end", "drop"]))
    data = base.data
    if kind == "truncate":
        t = draw(st.integers(0, len(data) - 1))
        return base, data[:t], t, kind
    if kind == "flip":
        at, bit = draw(st.sampled_from(base.bits))
        mutated = bytearray(data)
        mutated[at] ^= 1 << bit
        return base, bytes(mutated), at, kind
    if kind == "swap":
        pairs = [(a, b) for i, a in enumerate(base.libxc) for b in base.libxc[i + 1:] if _swap_detectable(a, b)]
        a, b = draw(st.sampled_from(pairs))
        mutated = data[:a.start] + data[b.start:b.end] + data[a.end:b.start] + data[a.start:a.end] + data[b.end:]
        return base, mutated, a.start, kind
    if kind == "end":
        at = draw(st.sampled_from(base.boundaries))
        return base, data[:at] + struct.pack("<II", 0, 0) + data[at:], at, kind
    r = draw(st.sampled_from([r for r in base.libxc if _droppable(base, r)]))
    return base, data[:r.start] + data[r.end:], r.start, kind


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(corruptions())
def test_every_detectable_corruption_is_rejected(case):
    base, data, first_change, kind = case
    e = _check(base, data, first_change)
    if kind == "truncate":
        assert e.offset <= first_change


def test_the_map_covers_every_kind_of_field():
    base = next(b for b in BASES if b.fmt == "xl" and b.width == 8)
    assert len(base.bits) > 1024 * 60  # every pfn word of the first PAGE_DATA, most of its bits
    assert {r.name for r in base.libxc} >= {"PAGE_DATA", "X86_PV_VCPU_MSRS", "STATIC_DATA_END"}


@pytest.mark.parametrize("base", BASES, ids=lambda b: f"{b.fmt}-{8 * b.width}")
def test_every_truncation_of_the_headers_and_small_records(base):
    """Each proper prefix up to the first page of data, and within the
    records after the last one."""
    first_data = next(r.start for r in base.libxc if r.name == "PAGE_DATA") + 16
    tail = next(r.start for r in base.libxc if r.name == "X86_TSC_INFO")
    for t in [*range(first_data), *range(tail, len(base.data))]:
        e = _check(base, base.data[:t], t)
        assert e.offset <= t


# ---- messages, in full ---------------------------------------------------------

def _small():
    return next(b for b in BASES if b.fmt == "libxc" and b.width == 4)


def _rec(base, name, nth=0):
    return [r for r in base.libxc if r.name == name][nth]


def _patch(data: bytes, at: int, fmt: str, *values) -> bytes:
    raw = struct.pack(fmt, *values)
    return data[:at] + raw + data[at + len(raw):]


def test_message_pfn_beyond_the_p2m():
    base = _small()
    page_data = _rec(base, "PAGE_DATA")
    at = page_data.start + 16 + 8 * 5  # pfn 5, a NOTAB page
    e = _rejected(_patch(base.data, at, "<Q", 0x12345))
    assert str(e) == f"stream:{at:#x}: PAGE_DATA record: pfn 0x12345 beyond the p2m (max 0x12b)"
    assert (e.record, e.offset) == ("PAGE_DATA", at)


def test_message_truncated_page_data():
    base = _small()
    page_data = _rec(base, "PAGE_DATA")
    e = _rejected(base.data[:page_data.start + 10_000])
    length = struct.unpack_from("<I", base.data, page_data.start + 4)[0]
    assert str(e) == f"stream:{page_data.start:#x}: PAGE_DATA record: truncated: 10000 of {8 + length} bytes"


def test_message_huge_length_allocates_nothing():
    base = _small()
    r = _rec(base, "SHARED_INFO")
    e = _rejected(_patch(base.data, r.start + 4, "<I", 0xFFFFFFFF))
    assert str(e) == f"stream:{r.start:#x}: SHARED_INFO record: length 0xffffffff beyond restore's limit 0x8000000"
    r = _rec(base, "X86_PV_VCPU_XSAVE")
    e = _rejected(_patch(base.data, r.start + 4, "<I", 0x7FFFFF8)[:r.start + 64])
    assert str(e) == f"stream:{r.start:#x}: X86_PV_VCPU_XSAVE record: truncated: 56 of 134217728 bytes"


def test_message_bad_marker_and_unknown_file():
    base = _small()
    e = _rejected(_patch(base.data, 0, "<I", 0))
    assert str(e) == "stream:0x0: file header: starts with 00 00 00 00 ff ff ff ff: neither xl's magic, " \
                     "\"LibxlFmt\" nor the libxc stream's marker"
    e = _rejected(_patch(base.data, 12, ">I", 4))
    assert str(e) == "stream:0xc: image header: version 4, not 2 or 3"
    e = _rejected(b"")
    assert str(e) == "stream:0x0: file header: starts with nothing: neither xl's magic, \"LibxlFmt\" nor the " \
                     "libxc stream's marker"


def test_message_order():
    base = _small()
    tsc, shared = _rec(base, "X86_TSC_INFO"), _rec(base, "SHARED_INFO")
    page_data = _rec(base, "PAGE_DATA")
    d = base.data
    swapped = d[:page_data.start] + d[tsc.start:tsc.end] + d[page_data.end:tsc.start] + d[page_data.start:page_data.end] + d[tsc.end:]
    e = _rejected(swapped)
    moved = page_data.start + (tsc.end - tsc.start)
    assert str(e) == (f"stream:{moved:#x}: PAGE_DATA record: after X86_TSC_INFO: all memory comes before the "
                      "records that end the stream")
    e = _rejected(d[:shared.start] + d[shared.end:])
    end = _rec(base, "END")
    assert str(e) == f"stream:{end.start - (shared.end - shared.start):#x}: END record: no SHARED_INFO before END"
    e = _rejected(d + struct.pack("<II", 0, 0))
    assert str(e) == f"stream:{len(d):#x}: END record: followed by more data: the stream ends here"
    e = _rejected(d[:end.start])
    assert str(e) == f"stream:{end.start:#x}: END record: missing: the stream ends without one"


def test_message_vcpu_and_pages():
    base = _small()
    basic = _rec(base, "X86_PV_VCPU_BASIC")
    e = _rejected(_patch(base.data, basic.start + 8, "<I", 40))
    assert str(e) == f"stream:{basic.start:#x}: X86_PV_VCPU_BASIC record: vcpu 40 beyond the domain's vCPUs (max 31)"
    page_data = _rec(base, "PAGE_DATA")
    at = page_data.start + 16 + 8 * 7
    e = _rejected(_patch(base.data, at, "<Q", 7 | 1 << 55))
    assert str(e) == f"stream:{at:#x}: PAGE_DATA record: reserved bits 0x80000000000000 set in pfn word 0x0080000000000007"
    e = _rejected(_patch(base.data, page_data.start + 16 + 8 * 9, "<Q", 3))
    assert str(e) == f"stream:{page_data.start + 16 + 8 * 9:#x}: PAGE_DATA record: pfn 0x3 twice in one record"
    e = _rejected(_patch(base.data, page_data.start + 8, "<I", 2000))
    assert str(e) == f"stream:{page_data.start + 8:#x}: PAGE_DATA record: count 2000; a record holds 1 to 1024 pages"


def test_message_wrappers():
    xl = next(b for b in BASES if b.fmt == "xl" and b.width == 4)
    e = _rejected(_patch(xl.data, 36, "<I", 1))
    assert str(e) == "stream:0x24: xl header: no STREAMv2 flag: a legacy stream follows, which is not read"
    libxl_at = L.XL_HDR.size + struct.unpack_from("<I", xl.data, 44)[0]
    e = _rejected(_patch(xl.data, libxl_at + 8, ">I", 3))
    assert str(e) == f"stream:{libxl_at + 8:#x}: libxl header: version 3, not 2"
    libxl = next(b for b in BASES if b.fmt == "libxl" and b.width == 4)
    e = _rejected(libxl.data[:-8])
    assert str(e) == f"stream:{len(libxl.data) - 8:#x}: libxl END record: missing: the stream ends without one"
    e = _rejected(_patch(libxl.data, 16, "<I", 3))
    assert str(e) == ("stream:0x10: EMULATOR_CONTEXT record: not in this stream: a device model's, "
                      "and a PV guest without one has none")
