"""Save images written and read back, in the xl, libxl and libxc formats,
each accepted by Xen 4.17's own verify-stream-v2 (installed by
tools/bootstrap: xen-utils-4.17)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from migrationsupport import records, synthetic_image, verify_stream, xl_config

from pvdsl.runtime.migration.rules import with_data

from pvdsl.runtime.migration import (FORMATS, L1TAB, L4TAB, NOTAB, WIDTHS, XTAB, DomainImage, Page, StreamWriter,
                                     TscInfo, VcpuState, begin_save_file, layout, open_save_file, p2m_frame_pages,
                                     read_libxc, read_save_file, write_libxc, write_save_file)

CASES = [(4, 1, 600), (4, 2, 600), (8, 1, 1300), (8, 2, 1300)]  # width, vCPUs, pfns (1300: two PAGE_DATA)


@pytest.fixture(scope="module")
def images():
    return {(w, n): synthetic_image(w, nr_pfns=pfns, nr_vcpus=n, seed=w * 10 + n) for w, n, pfns in CASES}


def _config(fmt, image):
    return xl_config("guest", len(image.vcpus), len(image.p2m)) if fmt == "xl" else b""


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("width,nr_vcpus", [(w, n) for w, n, _ in CASES])
def test_round_trip_accepted_by_xen(images, tmp_path, fmt, width, nr_vcpus):
    image = images[width, nr_vcpus]
    config = _config(fmt, image)
    path = tmp_path / f"guest.{fmt}"
    with open(path, "wb") as f:
        write_save_file(f, image, config, fmt)
    result = verify_stream(path, fmt)
    assert result.returncode == 0, result.stderr
    bits = 8 * width
    assert f"{bits}bit guest, {WIDTHS[width].levels} levels of pagetables" in result.stdout
    assert f"vcpu{nr_vcpus - 1} basic context, {WIDTHS[width].basic_size} bytes" in result.stdout
    assert "Libxc Image Header: Version 3, little endian" in result.stdout
    with open(path, "rb") as f:
        back = read_save_file(f)
    assert back == (image, config, fmt)


def test_the_stream_is_laid_out_as_libxc_writes_it(images):
    image = images[8, 2]
    buf = io.BytesIO()
    write_libxc(buf, image)
    data = buf.getvalue()
    assert data[:24] == bytes.fromhex("ffffffffffffffff" "58454e46" "00000003" "0000" "0000" "00000000")
    assert data[24:40] == (1).to_bytes(4, "little") + (12).to_bytes(2, "little") + bytes(2) + \
        (4).to_bytes(4, "little") + (17).to_bytes(4, "little")
    names = [layout.RECORD_NAMES[t] for _, t, _ in records(data, 40)]
    assert names == ["X86_PV_INFO", "X86_CPUID_POLICY", "X86_MSR_POLICY", "STATIC_DATA_END", "X86_PV_P2M_FRAMES",
                     "PAGE_DATA", "PAGE_DATA", "X86_TSC_INFO", "SHARED_INFO",
                     "X86_PV_VCPU_BASIC", "X86_PV_VCPU_EXTENDED", "X86_PV_VCPU_XSAVE", "X86_PV_VCPU_MSRS",
                     "X86_PV_VCPU_BASIC", "X86_PV_VCPU_EXTENDED", "END"]
    counts = [int.from_bytes(data[at + 8:at + 12], "little") for at, t, _ in records(data, 40) if t == layout.PAGE_DATA]
    assert counts == [1024, 1300 - 1024]
    assert all(at % 8 == 0 for at, _, _ in records(data, 40))
    page_data = next(at for at, t, _ in records(data, 40) if t == layout.PAGE_DATA)
    words = np.frombuffer(data, dtype="<u8", count=1024, offset=page_data + 16)
    for pfn in (0, 8, 100):  # the type in the top bits, as libxc's write_batch puts it
        assert int(words[pfn]) == pfn | (image.pages[pfn].type << 32)


def test_xl_header_is_xls(images):
    image = images[4, 1]
    config = _config("xl", image)
    buf = io.BytesIO()
    write_save_file(buf, image, config, "xl")
    data = buf.getvalue()
    assert data[:32] == b"Xen saved domain, xl format\n \0 \r"
    byteorder, mandatory, optional, opt_len = np.frombuffer(data, dtype="<u4", count=4, offset=32).tolist()
    assert (byteorder, mandatory, optional) == (0x01020304, 0x3, 0)  # JSON | STREAMv2
    assert opt_len == 4 + len(config) + 1
    assert int.from_bytes(data[48:52], "little") == len(config) + 1
    assert data[52:52 + len(config) + 1] == config + b"\0"
    assert data[48 + opt_len:48 + opt_len + 8] == b"LibxlFmt"
    assert json.loads(read_save_file(io.BytesIO(data)).config)["c_info"]["name"] == "guest"


def test_xl_config_text_and_no_config(images, tmp_path):
    image = images[4, 1]
    text = b'name = "guest"\nmemory = 4\nvcpus = 1\n'
    for config, as_json in ((text, False), (b"", True)):
        path = tmp_path / "guest.xl"
        with open(path, "wb") as f:
            write_save_file(f, image, config, "xl", config_json=as_json)
        assert verify_stream(path, "xl").returncode == 0
        with open(path, "rb") as f:
            assert read_save_file(f) == (image, config, "xl")
    with pytest.raises(ValueError, match="not JSON"):
        write_save_file(io.BytesIO(), image, text, "xl")
    with pytest.raises(ValueError, match="no room for a config"):
        write_save_file(io.BytesIO(), image, b"{}", "libxl")


def test_version_2_stream(images, tmp_path):
    image = images[8, 1]
    plain = DomainImage(**{**image.__dict__, "cpuid_policy": b"", "msr_policy": b""})
    path = tmp_path / "v2.libxc"
    with open(path, "wb") as f:
        write_libxc(f, plain, version=2)
    result = verify_stream(path, "libxc")
    assert result.returncode == 0 and "Version 2" in result.stdout and "Static data end" not in result.stdout
    with open(path, "rb") as f:
        assert read_libxc(f) == plain
    with pytest.raises(ValueError, match="X86_CPUID_POLICY: in a v2 stream"):
        write_libxc(io.BytesIO(), image, version=2)


def test_live_rounds(images, tmp_path):
    """A live migration's stream: every page, then two rounds of dirty
    pages (new contents, a page that became a page table, one ballooned
    out), then the vCPUs. The reader keeps the last copy of each pfn."""
    image = images[8, 2]
    rng = np.random.default_rng(7)
    final = list(image.pages)
    path = tmp_path / "live.xl"
    with open(path, "wb") as f:
        w = begin_save_file(f, 8, fmt="xl", config=_config("xl", image),
                            cpuid_policy=image.cpuid_policy, msr_policy=image.msr_policy)
        w.write_p2m_frames(image.p2m_frames, image.max_pfn)
        w.write_page_list(image.pages)
        for dirty in ([20, 21, 500, 1299], [21, 600, 601]):
            batch = []
            for pfn in dirty:
                kind = L1TAB if pfn == 601 else XTAB if pfn == 600 else NOTAB
                data = rng.bytes(4096) if kind != XTAB else b""
                batch.append(final[pfn]._replace(type=kind, data=data))
                final[pfn] = batch[-1]
            w.write_page_list(batch)
        w.write_tsc_info(image.tsc)
        w.write_shared_info(image.shared_info)
        for v in image.vcpus:
            w.write_vcpu(v)
        w.end()
    assert verify_stream(path, "xl").returncode == 0
    with open(path, "rb") as f:
        back = read_save_file(f)
    assert back.image == DomainImage(**{**image.__dict__, "pages": final})


def test_streaming_reader(images):
    image = images[4, 2]
    buf = io.BytesIO()
    write_save_file(buf, image, b"", "libxl")
    buf.seek(0)
    reader, config, fmt = open_save_file(buf)
    assert (config, fmt, reader.version, reader.xen_version) == (b"", "libxl", 3, (4, 17))
    seen, pages = [], 0
    for rec in reader:
        seen.append(rec.name)
        if rec.name == "PAGE_DATA":
            batch = rec.value
            with_data = [p for p in image.pages[int(batch.pfns[0]):int(batch.pfns[-1]) + 1] if p.data]
            assert bytes(batch.data) == b"".join(p.data for p in with_data)
            pages += len(batch.pfns)
    assert pages == len(image.pages) and seen[0] == "X86_PV_INFO" and seen[-1] == "END"


def test_the_reader_reads_pages_where_place_says(images):
    """StreamReader.place: a checked batch's pages go straight into the
    memory it names when that is exactly their size; otherwise (None, or a
    view of another size) into the reader's own buffer."""
    image = images[8, 1]
    buf = io.BytesIO()
    write_save_file(buf, image, b"", "libxl")
    for answer in ("exact", "none", "short"):
        buf.seek(0)
        reader, _config, _fmt = open_save_file(buf)
        given = []

        def place(pfns, types):
            n = int(np.count_nonzero(with_data(types)))
            mem = memoryview(bytearray(4096 * (n if answer == "exact" else n - 1)))
            given.append(mem)
            return None if answer == "none" else mem

        reader.place = place
        for rec in reader:
            if rec.name == "PAGE_DATA":
                batch = rec.value
                carried = [p for p in image.pages[int(batch.pfns[0]):int(batch.pfns[-1]) + 1] if p.data]
                assert bytes(batch.data) == b"".join(p.data for p in carried)
                assert batch.placed == (answer == "exact")
                if answer == "exact":
                    assert bytes(given[-1]) == bytes(batch.data)
        assert len(given) == 2  # once per PAGE_DATA record, after its pfns were checked


def test_writer_refuses_what_the_reader_rejects(images):
    image = images[4, 1]
    w = StreamWriter(io.BytesIO(), 4)
    with pytest.raises(ValueError, match="PAGE_DATA: before X86_PV_P2M_FRAMES"):
        w.write_pages([0], NOTAB, bytes(4096))
    w.write_p2m_frames(image.p2m_frames, image.max_pfn)
    with pytest.raises(ValueError, match=r"PAGE_DATA: pfn 0x258 beyond the p2m \(max 0x257\)"):
        w.write_pages([600], NOTAB, bytes(4096))
    with pytest.raises(ValueError, match="PAGE_DATA: pfn 0x3 is L4TAB in a 3-level guest"):
        w.write_pages([3], L4TAB, bytes(4096))
    with pytest.raises(ValueError, match="PAGE_DATA: 1025 pages; a record holds 1 to 1024"):
        w.write_pages(range(1025), XTAB)
    with pytest.raises(ValueError, match="PAGE_DATA: 4096 bytes of data for 2 pages that carry data"):
        w.write_pages([1, 2], NOTAB, bytes(4096))
    with pytest.raises(ValueError, match="X86_PV_VCPU_BASIC of vcpu 0: context of 5168 bytes, but a 32-bit"):
        w.write_vcpu(VcpuState(0, bytes(5168)))
    with pytest.raises(ValueError, match="END: no X86_TSC_INFO before END"):
        w.end()
    with pytest.raises(ValueError, match="every pfn has a page"):
        DomainImage(**{**image.__dict__, "pages": image.pages[:-1]})
    with pytest.raises(ValueError, match="do not hold the p2m"):
        DomainImage(**{**image.__dict__, "p2m": (0,) + image.p2m[1:]})


def _zero_guest_stream(f, nr_pfns: int) -> None:
    """A 64-bit guest of nr_pfns zero pages but its p2m list, streamed a
    batch at a time from one shared buffer of zeros."""
    g = WIDTHS[8]
    frames = list(range(nr_pfns // g.pfns_per_frame))
    p2m_pages = p2m_frame_pages(8, range(0x100000, 0x100000 + nr_pfns))
    w = begin_save_file(f, 8, fmt="libxl")
    w.write_p2m_frames(frames, nr_pfns - 1)
    zeros = memoryview(bytes(1024 * 4096))
    w.write_pages(range(len(frames)), NOTAB, b"".join(p2m_pages))
    for start in range(len(frames), nr_pfns, 1024):
        pfns = range(start, min(start + 1024, nr_pfns))
        w.write_pages(pfns, NOTAB, zeros[:len(pfns) * 4096])
    w.write_tsc_info(TscInfo())
    w.write_shared_info(bytes(4096))
    w.write_vcpu(VcpuState(0, bytes(g.basic_size)))
    w.end()


def test_one_gib_of_zero_pages(tmp_path):
    nr_pfns = 262_144
    path = tmp_path / "big.libxl"
    with open(path, "wb") as f:
        _zero_guest_stream(f, nr_pfns)
    assert path.stat().st_size > nr_pfns * 4096
    sent, zero = 0, True
    with open(path, "rb") as f:
        reader, _, _ = open_save_file(f)
        for rec in reader:
            if rec.name == "PAGE_DATA":
                sent += len(rec.value.pfns)
                if rec.value.pfns[0] >= 512:
                    zero &= not np.frombuffer(rec.value.data, dtype=np.uint64).any()
    assert sent == nr_pfns and zero
    assert verify_stream(path, "libxl").returncode == 0
