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


def _swap(data: bytes, a: Rec, b: Rec) -> bytes:
    return data[:a.start] + data[b.start:b.end] + data[a.end:b.start] + data[a.start:a.end] + data[b.end:]


def _drop(data: bytes, r: Rec) -> bytes:
    return data[:r.start] + data[r.end:]


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
        return base, _swap(data, a, b), a.start, kind
    if kind == "end":
        at = draw(st.sampled_from(base.boundaries))
        return base, data[:at] + struct.pack("<II", 0, 0) + data[at:], at, kind
    r = draw(st.sampled_from([r for r in base.libxc if _droppable(base, r)]))
    return base, _drop(data, r), r.start, kind


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
def test_every_truncation_of_the_headers_and_record_headers(base):
    """Each proper prefix up to the first pfn word, and ending in any
    record's first 24 bytes or its last byte."""
    first_word = next(r.start for r in base.libxc if r.name == "PAGE_DATA") + 16
    cuts = set(range(first_word))
    for r in base.libxc[1:]:
        cuts |= {*range(r.start, min(r.start + 24, r.end)), r.end - 1}
    cuts |= set(range(base.libxc[-1].end, len(base.data)))
    for t in sorted(cuts):
        e = _check(base, base.data[:t], t)
        assert e.offset <= t


# ---- messages, in full ---------------------------------------------------------

def _small():
    return next(b for b in BASES if b.fmt == "libxc" and b.width == 4)


def _rec(base, name, nth=0):
    return [r for r in base.libxc if r.name == name][nth]


def _message(data: bytes) -> str:
    return str(_rejected(data))


def _patch(data: bytes, at: int, fmt: str, *values) -> bytes:
    raw = struct.pack(fmt, *values)
    return data[:at] + raw + data[at + len(raw):]


def test_message_pfn_beyond_the_p2m():
    base = _small()
    at = _rec(base, "PAGE_DATA").start + 16 + 8 * 5  # the word of pfn 5, a NOTAB page
    e = _rejected(_patch(base.data, at, "<Q", 0x12345))
    assert str(e) == f"stream:{at:#x}: PAGE_DATA record: pfn 0x12345 beyond the p2m (max 0x12b)"
    assert (e.record, e.offset, e.message) == ("PAGE_DATA", at, "pfn 0x12345 beyond the p2m (max 0x12b)")


def test_message_truncation_and_lengths():
    base = _small()
    page_data, shared, xsave = (_rec(base, n) for n in ("PAGE_DATA", "SHARED_INFO", "X86_PV_VCPU_XSAVE"))
    length = struct.unpack_from("<I", base.data, page_data.start + 4)[0]
    assert _message(base.data[:page_data.start + 10_000]) == \
        f"stream:{page_data.start:#x}: PAGE_DATA record: truncated: 10000 of {8 + length} bytes"
    assert _message(_patch(base.data, shared.start + 4, "<I", 0xFFFFFFFF)) == \
        f"stream:{shared.start:#x}: SHARED_INFO record: length 0xffffffff beyond restore's limit 0x8000000"
    # 128 MiB announced, 48 bytes there: read in chunks, nothing of that size allocated
    assert _message(_patch(base.data, xsave.start + 4, "<I", 0x7FFFFF8)[:xsave.start + 64]) == \
        f"stream:{xsave.start:#x}: X86_PV_VCPU_XSAVE record: truncated: 64 of 134217728 bytes"


def test_message_headers():
    base = _small()
    unknown = "neither xl's magic, \"LibxlFmt\" nor the libxc stream's marker"
    assert _message(_patch(base.data, 0, "<I", 0)) == \
        f"stream:0x0: file header: starts with 00 00 00 00 ff ff ff ff: {unknown}"
    assert _message(b"") == f"stream:0x0: file header: starts with nothing: {unknown}"
    assert _message(_patch(base.data, 12, ">I", 4)) == "stream:0xc: image header: version 4, not 2 or 3"
    assert _message(_patch(base.data, 24, "<I", 2)) == \
        "stream:0x18: domain header: domain type 0x2 (x86 HVM), not x86 PV"


def test_message_order():
    base = _small()
    d = base.data
    page_data, tsc, shared, end = (_rec(base, n) for n in ("PAGE_DATA", "X86_TSC_INFO", "SHARED_INFO", "END"))
    moved = page_data.start + (tsc.end - tsc.start)
    assert _message(_swap(d, page_data, tsc)) == \
        f"stream:{moved:#x}: PAGE_DATA record: after X86_TSC_INFO: all memory comes before the records that end the stream"
    assert _message(_drop(d, shared)) == \
        f"stream:{end.start - (shared.end - shared.start):#x}: END record: no SHARED_INFO before END"
    assert _message(d + struct.pack("<II", 0, 0)) == \
        f"stream:{len(d):#x}: END record: followed by more data: the stream ends here"
    assert _message(d[:end.start]) == f"stream:{end.start:#x}: END record: missing: the stream ends without one"


def test_message_vcpu_and_pfn_words():
    base = _small()
    basic = _rec(base, "X86_PV_VCPU_BASIC")
    assert _message(_patch(base.data, basic.start + 8, "<I", 40)) == \
        f"stream:{basic.start:#x}: X86_PV_VCPU_BASIC record: vcpu 40 beyond the domain's vCPUs (max 31)"
    words = _rec(base, "PAGE_DATA").start + 16
    assert _message(_patch(base.data, words + 8 * 7, "<Q", 7 | 1 << 55)) == (
        f"stream:{words + 8 * 7:#x}: PAGE_DATA record: reserved bits 0x80000000000000 set in pfn word 0x0080000000000007")
    assert _message(_patch(base.data, words + 8 * 9, "<Q", 3)) == \
        f"stream:{words + 8 * 9:#x}: PAGE_DATA record: pfn 0x3 twice in one record"
    assert _message(_patch(base.data, words - 8, "<I", 2000)) == \
        f"stream:{words - 8:#x}: PAGE_DATA record: count 2000; a record holds 1 to 1024 pages"


def test_message_wrappers():
    xl = next(b for b in BASES if b.fmt == "xl" and b.width == 4)
    assert _message(_patch(xl.data, 36, "<I", 1)) == \
        "stream:0x24: xl header: no STREAMv2 flag: a legacy stream follows, which is not read"
    libxl_at = L.XL_HDR.size + struct.unpack_from("<I", xl.data, 44)[0]
    assert _message(_patch(xl.data, libxl_at + 8, ">I", 3)) == f"stream:{libxl_at + 8:#x}: libxl header: version 3, not 2"
    libxl = next(b for b in BASES if b.fmt == "libxl" and b.width == 4)
    assert _message(libxl.data[:-8]) == \
        f"stream:{len(libxl.data) - 8:#x}: libxl END record: missing: the stream ends without one"
    assert _message(_patch(libxl.data, 16, "<I", 3)) == \
        "stream:0x10: EMULATOR_CONTEXT record: not in this stream: a device model's, and a PV guest without one has none"
