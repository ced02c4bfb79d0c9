"""The numbers in pvdsl/runtime/migration/layout.py against Xen itself:
gcc on Xen 4.17's public headers (libxen-dev) for the C layouts, the stream
tools' own Python modules (xen-utils-4.17) for the stream's constants."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from migrationsupport import XEN_LIB

from pvdsl.runtime.migration import WIDTHS, layout as L

GCC_FLAG = {4: "-m32", 8: "-m64"}


def _gcc_asserts(flag: str, includes: list[str], asserts: list[str], defines: tuple[str, ...] = ()):
    """Compiles `_Static_assert`s against Xen's headers: gcc fails, naming
    the assertion, where a number here differs from the C layout."""
    src = "#include <stdint.h>\n" + "".join(f"#include <{h}>\n" for h in includes)
    src += "".join(f'_Static_assert({a}, "{a}");\n' for a in asserts)
    proc = subprocess.run(["gcc", flag, "-std=gnu11", "-ffreestanding", "-fsyntax-only", *defines, "-x", "c", "-"],
                          input=src, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_basic_context_is_vcpu_guest_context_of_the_width(width):
    """X86_PV_VCPU_BASIC's blob is exactly what restore requires: the
    guest width's struct vcpu_guest_context, as a guest of that width
    compiles it, and as the toolstack's foreign headers lay it out (the
    types xg_sr_restore_x86_pv.c takes sizeof of)."""
    size = WIDTHS[width].basic_size
    _gcc_asserts(GCC_FLAG[width], ["xen/xen.h"], [f"sizeof(struct vcpu_guest_context) == {size}"],
                 ("-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__",))
    foreign = {4: "vcpu_guest_context_x86_32_t", 8: "vcpu_guest_context_x86_64_t"}[width]
    _gcc_asserts("-m64", ["xen/foreign/x86_32.h", "xen/foreign/x86_64.h"], [f"sizeof({foreign}) == {size}"])


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_basic_context_size_agrees_with_the_runtime(width):
    from pvdsl.runtime.xen.xenabi import xen_abi

    assert xen_abi(WIDTHS[width].arch).size("vcpu_guest_context") == WIDTHS[width].basic_size


def test_page_types_and_blob_entries_are_xens():
    types = {"NOTAB": L.NOTAB, "L1TAB": L.L1TAB, "L2TAB": L.L2TAB, "L3TAB": L.L3TAB, "L4TAB": L.L4TAB,
             "LPINTAB": L.LPINTAB, "LTABTYPE_MASK": L.LTABTYPE_MASK, "LTAB_MASK": L.TYPE_MASK,
             "BROKEN": L.BROKEN, "XALLOC": L.XALLOC, "XTAB": L.XTAB}
    _gcc_asserts("-m64", ["xen/domctl.h"],
                 [f"XEN_DOMCTL_PFINFO_{n} == {v:#x}u" for n, v in types.items()]
                 + [f"sizeof(xen_domctl_vcpu_msr_t) == {L.MSR_ENTRY_SIZE}",
                    f"sizeof(xen_msr_entry_t) == {L.MSR_ENTRY_SIZE}",
                    f"sizeof(xen_cpuid_leaf_t) == {L.CPUID_LEAF_SIZE}",
                    f"sizeof(((struct xen_domctl_ext_vcpucontext *)0)->size) == 4"],
                 ("-D__XEN_TOOLS__",))


def test_record_layouts_are_libxcs():
    """The sizes xg_sr_common.c's build assertions pin."""
    assert (L.IHDR.size, L.DHDR.size, L.RHDR.size) == (24, 16, 8)
    assert (L.PAGE_DATA_HDR.size, L.X86_PV_INFO_BODY.size, L.P2M_FRAMES_HDR.size, L.VCPU_HDR.size,
            L.TSC_INFO_BODY.size) == (8, 8, 8, 8, 24)
    assert (L.LIBXL_HDR.size, L.XL_HDR.size) == (16, 48)


_DUMP = """
import json
from xen.migration import libxc, libxl, xl
pick = lambda mod, prefixes: {n: getattr(mod, n) for n in dir(mod) if n.startswith(prefixes)}
print(json.dumps({"libxc": pick(libxc, ("REC_TYPE_", "PAGE_DATA_", "IHDR_", "DHDR_", "X86_")),
                  "libxl": pick(libxl, ("REC_TYPE_", "HDR_")),
                  "xl": {"MAGIC": xl.MAGIC, "HEADER_FORMAT": xl.HEADER_FORMAT,
                         "STREAMV2": xl.MANDATORY_FLAG_STREAMV2}}))
"""


@pytest.fixture(scope="module")
def xen_tables():
    env = dict(os.environ, PYTHONPATH=str(XEN_LIB / "lib" / "python"))
    out = subprocess.run(["/usr/bin/python3", "-c", _DUMP], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_constants_are_the_stream_tools(xen_tables):
    xc, xl_ = xen_tables["libxc"], xen_tables["libxl"]
    ours = {name.lower(): number for name, number in L.RECORD_TYPES.items()}
    ours["tsc_info"] = ours.pop("x86_tsc_info")
    assert ours == {n.removeprefix("REC_TYPE_"): v for n, v in xc.items() if n.startswith("REC_TYPE_")}
    assert (xc["IHDR_MARKER"], xc["IHDR_IDENT"], xc["IHDR_OPT_BE"], xc["DHDR_TYPE_x86_pv"]) == \
        (L.IHDR_MARKER, L.IHDR_ID, L.IHDR_OPT_BIG_ENDIAN, L.DHDR_TYPE_X86_PV)
    assert xc["IHDR_FORMAT"].replace("!", ">") == L.IHDR.format
    assert "<" + xc["DHDR_FORMAT"] == L.DHDR.format and "<" + xc["X86_TSC_INFO_FORMAT"] == L.TSC_INFO_BODY.format
    assert "<" + xc["X86_PV_INFO_FORMAT"] == L.X86_PV_INFO_BODY.format
    for name in ("NOTAB", "L1TAB", "L2TAB", "L3TAB", "L4TAB", "LPINTAB", "BROKEN", "XALLOC", "XTAB"):
        assert xc["PAGE_DATA_TYPE_" + name] == getattr(L, name) << L.TYPE_SHIFT, name
    assert (xc["PAGE_DATA_PFN_MASK"], xc["PAGE_DATA_PFN_RESZ_MASK"]) == (L.PFN_MASK, L.PFN_RESERVED_MASK)
    libxl_ours = {name.removeprefix("libxl ").lower(): n for n, name in L.LIBXL_RECORD_NAMES.items()}
    assert libxl_ours == {n.removeprefix("REC_TYPE_"): v for n, v in xl_.items() if n.startswith("REC_TYPE_")}
    assert (xl_["HDR_IDENT"], xl_["HDR_VERSION"], xl_["HDR_OPT_LEGACY"]) == (L.LIBXL_IDENT, L.LIBXL_VERSION,
                                                                           L.LIBXL_OPT_LEGACY)
    assert xl_["HDR_FORMAT"].replace("!", ">") == L.LIBXL_HDR.format
    x = xen_tables["xl"]
    assert x["MAGIC"].encode() == L.XL_MAGIC and x["STREAMV2"] == L.XL_FLAG_STREAMV2
    assert "<32s" + x["HEADER_FORMAT"].removeprefix("=") == L.XL_HDR.format
