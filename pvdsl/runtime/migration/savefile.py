"""The wrappers around a libxc stream: libxl's stream and xl's save file.

A libxl v2 stream of a PV guest without a device model is its header, a
LIBXC_CONTEXT record (empty: libxc's stream follows it directly), the libxc
stream and a libxl END record (libxl_stream_write.c: emulator records come
only for HVM). `xl save` puts its header first: magic, byte order, the
STREAMv2 flag and as optional data the domain's config, the JSON of
libxl_domain_config_to_json with its NUL (flag JSON), or config-file text.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from . import layout as L
from .errors import StreamError
from .image import DomainImage
from .reader import Source, StreamReader, expect_eof, read_libxc
from .writer import StreamWriter, write_libxc

FORMATS = ("xl", "libxl", "libxc")

LIBXL_HEADER = L.LIBXL_HDR.pack(L.LIBXL_IDENT, L.LIBXL_VERSION, 0) + L.RHDR.pack(L.LIBXL_LIBXC_CONTEXT, 0)
LIBXL_TRAILER = L.RHDR.pack(L.LIBXL_END, 0)

# Records a libxl stream of a PV guest without a device model never holds.
_LIBXL_FOREIGN = {
    "EMULATOR_XENSTORE_DATA": "a device model's, and a PV guest without one has none",
    "EMULATOR_CONTEXT": "a device model's, and a PV guest without one has none",
    "CHECKPOINT_END": "only in a checkpointed (Remus/COLO) stream",
    "CHECKPOINT_STATE": "only on COLO's back channel",
}


class XlHeader(NamedTuple):
    mandatory_flags: int
    optional_flags: int
    config: bytes  # without the NUL a JSON config ends with
    config_json: bool


class SaveFile(NamedTuple):
    image: DomainImage
    config: bytes  # b"" for a libxl or libxc stream
    fmt: str  # "xl", "libxl" or "libxc"


def xl_header(config: bytes = b"", *, config_json: bool = True) -> bytes:
    """xl's save-file header with `config` as its optional data."""
    flags = L.XL_FLAG_STREAMV2
    data = bytes(config)
    if data and config_json:
        try:
            json.loads(data.decode())
        except (UnicodeDecodeError, ValueError):
            raise ValueError("config is not JSON (config_json=False for xl config-file text)") from None
        data += b"\0"  # xl stores the C string with its NUL
        flags |= L.XL_FLAG_JSON
    optional = L.XL_CONFIG_LEN.pack(len(data)) + data
    return L.XL_HDR.pack(L.XL_MAGIC, L.XL_BYTEORDER, flags, 0, len(optional)) + optional


def _wrapping(fmt: str, config: bytes, config_json: bool) -> tuple[bytes, bytes]:
    """(what goes ahead of the libxc stream, what goes after it) in `fmt`."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
    if config and fmt != "xl":
        raise ValueError(f"a {fmt} stream has no room for a config; only xl's header carries one")
    if fmt == "libxc":
        return b"", b""
    return (xl_header(config, config_json=config_json) if fmt == "xl" else b"") + LIBXL_HEADER, LIBXL_TRAILER


def begin_save_file(f, width: int, *, fmt: str = "xl", config: bytes = b"", config_json: bool = True,
                    **stream) -> StreamWriter:
    """Writes the wrapper headers of `fmt` and returns the StreamWriter of
    the libxc stream inside; its end() writes the wrapper's end as well.
    `stream` goes to StreamWriter (version, xen_version, CPU policies)."""
    head, trailer = _wrapping(fmt, config, config_json)
    f.write(head)
    return StreamWriter(f, width, trailer=trailer, **stream)


def write_save_file(f, image: DomainImage, config: bytes = b"", fmt: str = "xl", *, config_json: bool = True,
                    version: int = 3) -> None:
    """The whole image in format `fmt`: xl (as `xl save` writes, config
    included), libxl (as libxl_domain_suspend writes) or libxc."""
    head, trailer = _wrapping(fmt, config, config_json)
    f.write(head)
    write_libxc(f, image, version=version, trailer=trailer)


def read_xl_header(src: Source) -> XlHeader:
    at = src.pos
    magic, order, mandatory, optional, opt_len = L.XL_HDR.unpack(src.take(L.XL_HDR.size, "xl header", at))
    bad = (magic != L.XL_MAGIC and (0, "bad magic: not an xl save file")
           or order != L.XL_BYTEORDER and (32, f"byte order {order:#010x}, not this host's {L.XL_BYTEORDER:#010x}")
           or mandatory & ~L.XL_MANDATORY_FLAGS and (36, f"unknown mandatory flags {mandatory & ~L.XL_MANDATORY_FLAGS:#x}")
           or not mandatory & L.XL_FLAG_STREAMV2 and (36, "no STREAMv2 flag: a legacy stream follows, which is not read")
           or optional and (40, f"unknown optional flags {optional:#x}"))
    if not bad and opt_len > L.REC_LENGTH_MAX:  # xl has no cap; a config is some KiB
        bad = (44, f"optional data length {opt_len:#x} beyond {L.REC_LENGTH_MAX:#x}")
    if bad:
        raise StreamError(bad[1], "xl header", at + bad[0])
    data = src.take(opt_len, "xl header", at)
    config = b""
    if opt_len:  # as xl's create_domain: a config length, the config, then what it skips
        if opt_len < L.XL_CONFIG_LEN.size:
            raise StreamError(f"{opt_len} bytes of optional data cannot hold the config length", "xl header", at + 44)
        (config_len,) = L.XL_CONFIG_LEN.unpack_from(data)
        if config_len > opt_len - L.XL_CONFIG_LEN.size:
            raise StreamError(f"config length {config_len:#x} beyond the optional data ({opt_len:#x} bytes)",
                              "xl header", at + L.XL_HDR.size)
        config = data[L.XL_CONFIG_LEN.size:L.XL_CONFIG_LEN.size + config_len]
    is_json = bool(mandatory & L.XL_FLAG_JSON)
    if is_json:
        if not config.endswith(b"\0") or b"\0" in config[:-1]:
            raise StreamError("JSON flag, but the config is no NUL-terminated string", "xl header",
                              at + L.XL_HDR.size + L.XL_CONFIG_LEN.size)
        config = config[:-1]
    return XlHeader(mandatory, optional, config, is_json)


def _libxl_record(src: Source, expected: str) -> tuple[str, int]:
    """(name, offset) of the next libxl record; every one this stream holds is empty."""
    at = src.pos
    if src.at_eof():
        raise StreamError("missing: the stream ends without one", expected, at)
    rtype, length = L.RHDR.unpack(src.take(L.RHDR.size, "record header", at))
    name = L.LIBXL_RECORD_NAMES.get(rtype)
    if name is None:
        raise StreamError(f"unknown libxl record type {rtype:#x}", "record header", at)
    if name in _LIBXL_FOREIGN:
        raise StreamError(f"not in this stream: {_LIBXL_FOREIGN[name]}", name, at)
    if length:
        raise StreamError(f"length {length:#x}, not 0", name, at + 4)
    return name, at


def read_libxl_header(src: Source) -> None:
    """The libxl header and the LIBXC_CONTEXT record ahead of libxc's stream."""
    at = src.pos
    ident, version, options = L.LIBXL_HDR.unpack(src.take(L.LIBXL_HDR.size, "libxl header", at))
    bad = (ident != L.LIBXL_IDENT and (0, f"ident {ident:#018x}, not {L.LIBXL_IDENT:#018x} (\"LibxlFmt\")")
           or version != L.LIBXL_VERSION and (8, f"version {version}, not {L.LIBXL_VERSION}")
           or options & L.LIBXL_OPT_BIG_ENDIAN and (12, "a big-endian stream; x86 streams are little-endian")
           or options & ~L.LIBXL_OPT_LEGACY and (12, f"reserved option bits {options & ~L.LIBXL_OPT_LEGACY:#x} set"))
    if bad:
        raise StreamError(bad[1], "libxl header", at + bad[0])
    name, rec_at = _libxl_record(src, "LIBXC_CONTEXT")
    if name != "LIBXC_CONTEXT":
        raise StreamError("before LIBXC_CONTEXT: the stream holds no domain", name, rec_at)


def _libxl_end(src: Source) -> None:
    """After libxc's END: libxl's END, then nothing."""
    name, at = _libxl_record(src, "libxl END")
    if name != "libxl END":
        raise StreamError("a second libxc stream: only a checkpointed stream has one", name, at)
    expect_eof(src, "libxl END")


def detect_format(src: Source) -> str:
    head = src.peek(8)
    """The format of a stream, by its first 8 bytes."""
    for fmt, magic in (("xl", L.XL_MAGIC[:8]), ("libxl", LIBXL_HEADER[:8]), ("libxc", b"\xff" * 8)):
        if head == magic:
            return fmt
    raise StreamError(f"starts with {head.hex(' ') or 'nothing'}: neither xl's magic, \"LibxlFmt\" nor the "
                      "libxc stream's marker", "file header", src.pos)


def _unwrap(f):
    """(source at the libxc stream, format, config, the check after libxc's END)."""
    src = Source(f)
    fmt = detect_format(src)
    config = read_xl_header(src).config if fmt == "xl" else b""
    if fmt != "libxc":
        read_libxl_header(src)
    return src, fmt, config, (_libxl_end if fmt != "libxc" else expect_eof)


def open_save_file(f, *, max_vcpus: int = 32) -> tuple[StreamReader, bytes, str]:
    """The streaming form of read_save_file: (the libxc stream's records,
    config, format), the wrapper headers read and checked."""
    src, fmt, config, after_end = _unwrap(f)
    return StreamReader(src, max_vcpus=max_vcpus, after_end=after_end), config, fmt


def read_save_file(f, *, max_vcpus: int = 32) -> SaveFile:
    """An xl save file, a libxl stream or a libxc stream, told apart by
    their first bytes, read and checked whole."""
    src, fmt, config, after_end = _unwrap(f)
    return SaveFile(read_libxc(src, max_vcpus=max_vcpus, after_end=after_end), config, fmt)
