"""The numbers of Xen's migration stream v2, in one place.

Sources (Xen 4.17): docs/specs/libxc-migration-stream.pandoc and
libxl-migration-stream.pandoc; tools/libs/guest/xg_sr_stream_format.h (the
C layouts, REC_LENGTH_MAX), xg_sr_common.h (which page types carry data),
xg_sr_restore_x86_pv.c (the size checks on vCPU blobs); public/domctl.h
(XEN_DOMCTL_PFINFO_*); tools/xl/xl.h (the save-file header); and the stream
tools' own tables in xen/migration/{libxc,libxl}.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

# ---- the libxc stream ------------------------------------------------------

# Image header: always big-endian, whatever the stream's byte order.
IHDR = struct.Struct(">QIIHHI")  # marker, id, version, options, reserved, reserved
IHDR_MARKER = 0xFFFFFFFFFFFFFFFF
IHDR_ID = 0x58454E46  # "XENF"
IHDR_OPT_BIG_ENDIAN = 1 << 0  # bits 1-15 reserved
STREAM_VERSIONS = (2, 3)  # what restore accepts; Xen 4.17 writes 3

# Everything after the image header is in the stream's byte order, which is
# little-endian for every x86 host.
DHDR = struct.Struct("<IHHII")  # type, page_shift, reserved, xen_major, xen_minor
DHDR_TYPE_X86_PV = 1
DHDR_TYPE_NAMES = {1: "x86 PV", 2: "x86 HVM", 3: "x86 PVH", 4: "ARM"}
XEN_VERSION = (4, 17)

RHDR = struct.Struct("<II")  # type, body length
REC_ALIGN = 8
REC_LENGTH_MAX = 128 << 20  # restore's cap on a record body

END = 0x00
PAGE_DATA = 0x01
X86_PV_INFO = 0x02
X86_PV_P2M_FRAMES = 0x03
X86_PV_VCPU_BASIC = 0x04
X86_PV_VCPU_EXTENDED = 0x05
X86_PV_VCPU_XSAVE = 0x06
SHARED_INFO = 0x07
X86_TSC_INFO = 0x08
X86_PV_VCPU_MSRS = 0x0C
CHECKPOINT = 0x0E
STATIC_DATA_END = 0x10
X86_CPUID_POLICY = 0x11
X86_MSR_POLICY = 0x12

RECORD_NAMES = {
    END: "END", PAGE_DATA: "PAGE_DATA", X86_PV_INFO: "X86_PV_INFO",
    X86_PV_P2M_FRAMES: "X86_PV_P2M_FRAMES", X86_PV_VCPU_BASIC: "X86_PV_VCPU_BASIC",
    X86_PV_VCPU_EXTENDED: "X86_PV_VCPU_EXTENDED", X86_PV_VCPU_XSAVE: "X86_PV_VCPU_XSAVE",
    SHARED_INFO: "SHARED_INFO", X86_TSC_INFO: "X86_TSC_INFO", 0x09: "HVM_CONTEXT",
    0x0A: "HVM_PARAMS", 0x0B: "TOOLSTACK", X86_PV_VCPU_MSRS: "X86_PV_VCPU_MSRS",
    0x0D: "VERIFY", CHECKPOINT: "CHECKPOINT", 0x0F: "CHECKPOINT_DIRTY_PFN_LIST",
    STATIC_DATA_END: "STATIC_DATA_END", X86_CPUID_POLICY: "X86_CPUID_POLICY",
    X86_MSR_POLICY: "X86_MSR_POLICY",
}
RECORD_TYPES = {name: number for number, name in RECORD_NAMES.items()}

# Records a plain (not checkpointed) stream of an x86 PV guest never holds,
# and why; the reader names the reason instead of a bare "unexpected".
FOREIGN_RECORDS = {
    "HVM_CONTEXT": "an HVM guest's record",
    "HVM_PARAMS": "an HVM guest's record",
    "TOOLSTACK": "deprecated, never written by a released libxc",
    "VERIFY": "libxc's debug verify mode, which this reader does not take",
    "CHECKPOINT": "only in a checkpointed (Remus/COLO) stream, which this reader does not take",
    "CHECKPOINT_DIRTY_PFN_LIST": "only sent back by a COLO secondary",
}

VCPU_RECORDS = ("X86_PV_VCPU_BASIC", "X86_PV_VCPU_EXTENDED", "X86_PV_VCPU_XSAVE", "X86_PV_VCPU_MSRS")

PAGE_DATA_HDR = struct.Struct("<II")  # count, reserved
MAX_BATCH_PAGES = 1024  # libxc's MAX_BATCH_SIZE
X86_PV_INFO_BODY = struct.Struct("<BBHI")  # guest width, pt levels, reserved, reserved
P2M_FRAMES_HDR = struct.Struct("<II")  # start pfn, end pfn (inclusive)
VCPU_HDR = struct.Struct("<II")  # vcpu id, reserved
TSC_INFO_BODY = struct.Struct("<IIQII")  # mode, khz, nsec, incarnation, reserved
CPUID_LEAF_SIZE = 24  # xen_cpuid_leaf_t: leaf, subleaf, a, b, c, d
MSR_ENTRY_SIZE = 16  # xen_msr_entry_t and xen_domctl_vcpu_msr_t: idx, flags, val
EXTENDED_MAX = 128  # restore copies the blob into xen_domctl_ext_vcpucontext
XSAVE_MIN = 16  # xfeature_mask and xcr0_accum ahead of the xsave area

# PAGE_DATA pfn words: the XEN_DOMCTL_PFINFO_* type (a 32-bit value whose top
# nibble is the type) shifted up by 32, reserved bits 52-59, the pfn below.
PFN_MASK = (1 << 52) - 1
PFN_RESERVED_MASK = ((1 << 60) - 1) & ~PFN_MASK
TYPE_SHIFT = 32

# ---- page types: XEN_DOMCTL_PFINFO_* (public/domctl.h) --------------------

NOTAB = 0x0 << 28
L1TAB = 0x1 << 28
L2TAB = 0x2 << 28
L3TAB = 0x3 << 28
L4TAB = 0x4 << 28
LPINTAB = 0x8 << 28  # flag: the page table is pinned
BROKEN = 0xD << 28
XALLOC = 0xE << 28
XTAB = 0xF << 28
LTABTYPE_MASK = 0x7 << 28
TYPE_MASK = 0xF << 28

PAGE_TYPE_NAMES = {NOTAB: "NOTAB", BROKEN: "BROKEN", XALLOC: "XALLOC", XTAB: "XTAB"}
for _level, _t in ((1, L1TAB), (2, L2TAB), (3, L3TAB), (4, L4TAB)):
    PAGE_TYPE_NAMES[_t] = f"L{_level}TAB"
    PAGE_TYPE_NAMES[_t | LPINTAB] = f"L{_level}TAB|LPINTAB"
del _level, _t
KNOWN_PAGE_TYPES = frozenset(PAGE_TYPE_NAMES)
# Only normal pages and page tables have 4096 bytes of data in the stream.
DATA_PAGE_TYPES = frozenset(t for t in KNOWN_PAGE_TYPES if t not in (BROKEN, XALLOC, XTAB))


def page_type_name(t: int) -> str:
    return PAGE_TYPE_NAMES.get(t, f"{t:#x}")


def page_table_level(t: int) -> int:
    """1..4 for a page table, 0 for anything else."""
    return (t & LTABTYPE_MASK) >> 28 if t in DATA_PAGE_TYPES else 0


# ---- what differs between a 32-bit and a 64-bit guest ---------------------

@dataclass(frozen=True)
class GuestWidth:
    width: int  # bytes of a guest word: X86_PV_INFO's guest_width
    levels: int  # X86_PV_INFO's pt_levels (restore takes no other pairing)
    arch: str  # pvdsl's name for the guest arch
    basic_size: int  # sizeof(vcpu_guest_context) for this width: X86_PV_VCPU_BASIC's blob
    p2m_dtype: str  # numpy dtype of one entry of the guest's p2m list

    @property
    def invalid_mfn(self) -> int:
        """The p2m's hole marker: all ones in a guest word."""
        return (1 << (8 * self.width)) - 1

    @property
    def pfns_per_frame(self) -> int:
        return PAGE_SIZE // self.width


# basic_size is what xg_sr_restore_x86_pv.c requires (sizeof
# vcpu_guest_context_x86_32_t / _x86_64_t); tests/runtime/migration
# checks it against gcc -m32/-m64 on Xen's headers and against the runtime's
# own layout of the struct.
WIDTHS = {
    4: GuestWidth(width=4, levels=3, arch="i386", basic_size=2800, p2m_dtype="<u4"),
    8: GuestWidth(width=8, levels=4, arch="x86_64", basic_size=5168, p2m_dtype="<u8"),
}

# ---- the libxl stream and xl's save-file header ---------------------------

LIBXL_HDR = struct.Struct(">QII")  # ident, version, options: big-endian
LIBXL_IDENT = 0x4C6962786C466D74  # "LibxlFmt"
LIBXL_VERSION = 2
LIBXL_OPT_BIG_ENDIAN = 1 << 0
LIBXL_OPT_LEGACY = 1 << 1  # written by convert-legacy-stream; bits 2-31 reserved

LIBXL_END = 0x00
LIBXL_LIBXC_CONTEXT = 0x01
LIBXL_RECORD_NAMES = {
    LIBXL_END: "libxl END", LIBXL_LIBXC_CONTEXT: "LIBXC_CONTEXT",
    0x02: "EMULATOR_XENSTORE_DATA", 0x03: "EMULATOR_CONTEXT",
    0x04: "CHECKPOINT_END", 0x05: "CHECKPOINT_STATE",
}

XL_MAGIC = b"Xen saved domain, xl format\n \0 \r"
XL_HDR = struct.Struct("<32sIIII")  # magic, byteorder, mandatory, optional flags, optional data length
XL_BYTEORDER = 0x01020304  # written in the host's (little-endian) order
XL_FLAG_JSON = 1 << 0  # the config in the optional data is JSON
XL_FLAG_STREAMV2 = 1 << 1  # a libxl v2 stream follows
XL_MANDATORY_FLAGS = XL_FLAG_JSON | XL_FLAG_STREAMV2
XL_CONFIG_LEN = struct.Struct("<I")
