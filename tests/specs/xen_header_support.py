"""Compare a pvdsl Xen ABI spec with Xen's real public headers, through gcc.

For each arch, one C file includes the headers (as a 32-bit or 64-bit PV guest
sees them) and lists, in one `unsigned long long` array, every value the spec
states: hypercall numbers (`__HYPERVISOR_<name>`), constants (the header macro
or enumerator of the same name), and struct sizes, alignments, field offsets
and field sizes (`sizeof`/`_Alignof`/`offsetof`). gcc computes them at compile
time; nothing runs. The array is read back from the object file with
pyelftools, so every mismatch of a run is reported at once, each naming the
item, both values, the .pv file (with line) and the header file.

An item the headers lack on an arch (an undeclared macro, a missing struct or
member) makes gcc report an error on that item's line; those lines are taken
out and the file compiled again, and the item is reported as missing, unless
the tables below say why the headers lack it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

from pvdsl.diagnostics import Diagnostics
from pvdsl.sema.abi import abi_of
from pvdsl.sema.program import check_paths

ARCHES = ("i386", "x86_64")
GCC_ARCH_FLAG = {"i386": "-m32", "x86_64": "-m64"}
DEBIAN_PACKAGE = "libxen-dev"
# Xen 4.17's interface version (xen-compat.h __XEN_LATEST_INTERFACE_VERSION__).
# Without it a guest gets the 0x00000000 legacy interface (old vcpu_time_info,
# no mem_flags, no guest-handle structs).
INTERFACE_VERSION = "0x00040e00"

# Everything the spec draws on. Included in this order after <stdint.h>.
INCLUDES = (
    "xen.h",                    # also arch-x86/xen.h and xen-x86_32.h / xen-x86_64.h
    "arch-x86/xen-mca.h",
    "memory.h",
    "grant_table.h",
    "event_channel.h",
    "sched.h",
    "vcpu.h",
    "physdev.h",
    "platform.h",
    "features.h",
    "callback.h",
    "nmi.h",
    "version.h",
    "io/ring.h",
    "io/fbif.h",
    "io/kbdif.h",
    "io/xs_wire.h",
)
# Headers that only one guest width includes (searched first for that arch,
# never for the other when locating a name).
ARCH_HEADERS = {"i386": ("arch-x86/xen-x86_32.h",), "x86_64": ("arch-x86/xen-x86_64.h", "arch-x86_64.h")}
COMMON_HEADERS = ("arch-x86/xen.h",) + INCLUDES

# Constants of the spec that no Xen header defines, with the C expression the
# test compares them against instead, and where that value comes from.
NO_HEADER_MACRO = {
    # name: (C expression, where the value comes from, header of that expression or None)
    "X86_EFLAGS_IF": ("(1ull << 9)", "EFLAGS.IF is bit 9: Intel SDM vol. 1, 3.4.3; Linux "
                      "arch/x86/include/uapi/asm/processor-flags.h X86_EFLAGS_IF_BIT", None),
    "PAGE_SHIFT": ("XEN_PAGE_SHIFT", "Xen's 4K page on x86", "io/ring.h"),
    "PAGE_SIZE": ("(1ull << XEN_PAGE_SHIFT)", "Xen's 4K page on x86", "io/ring.h"),
}

# Names the headers define for one guest width only.
HEADER_ARCHES = {
    # xen-x86_64.h: set_segment_base is an x86/64 hypercall.
    "SEGBASE_FS": ("x86_64",),
    "SEGBASE_GS_USER": ("x86_64",),
    "SEGBASE_GS_KERNEL": ("x86_64",),
    "SEGBASE_GS_USER_SEL": ("x86_64",),
    # xen-x86_32.h: xen_callback_t is `unsigned long` on x86_64 (xen-x86_64.h).
    "struct xen_callback": ("i386",),
}

# Hypercall numbers of xen.h that are placeholders, not hypercalls: x86 uses
# __HYPERVISOR_arch_0 as __HYPERVISOR_mca (arch-x86/xen-mca.h) and none of
# the others.
HYPERCALL_PLACEHOLDERS = tuple(f"arch_{i}" for i in range(8))
# Hypercalls defined outside xen.h: name -> header.
EXTRA_HYPERCALLS = {"mca": "arch-x86/xen-mca.h"}

# Constant families the issue asks for: every guest-visible object-like macro
# of these prefixes must be in the spec.
REQUIRED_CONST_PREFIXES = ("XENMEM_", "MMUEXT_", "SCHEDOP_", "SHUTDOWN_", "EVTCHNOP_", "VCPUOP_",
                           "PHYSDEVOP_", "XENPF_", "VIRQ_", "DOMID_", "XENFEAT_", "SIF_", "GNTTABOP_",
                           "GNTTAB_", "GNTST_", "GTF_", "GNTMAP_", "GNTCOPY_")


class HeaderSetupError(Exception):
    """The headers or the compiler are missing or unusable."""


def find_xen_headers() -> Path:
    """The directory holding Xen's public headers (`xen.h`, `io/`, `arch-x86/`)."""
    root = Path(os.environ.get("PVDSL_XEN_INCLUDE", "/usr/include")) / "xen"
    if not (root / "xen.h").is_file() or not (root / "arch-x86" / "xen-x86_32.h").is_file():
        raise HeaderSetupError(
            f"Xen's public headers are not installed: {root}/xen.h not found. Install the Debian "
            f"package {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE}; tools/bootstrap does), or "
            f"set PVDSL_XEN_INCLUDE to the directory that contains xen/xen.h.")
    return root


def find_gcc() -> str:
    gcc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("gcc")
    if gcc is None:
        raise HeaderSetupError("gcc is needed to lay out Xen's headers (apt-get install gcc)")
    return gcc


# ---- the spec side -------------------------------------------------------------

@dataclass
class SpecFacts:
    """What a spec states on one arch, each value with where it is stated."""

    path: str
    hypercalls: dict[str, tuple[int, int]] = field(default_factory=dict)   # name -> (number, line)
    consts: dict[str, tuple[int, int]] = field(default_factory=dict)       # name -> (value, line)
    # name -> {"kind", "size", "align", "line", "fields": {f: (offset, size, line)}}
    structs: dict[str, dict] = field(default_factory=dict)


def spec_facts(spec: Path) -> dict[str, SpecFacts]:
    diags = Diagnostics()
    program = check_paths([spec], diags)
    if diags.has_errors:
        raise AssertionError(f"{spec} does not check:\n{diags.render()}")
    decls = [d for u in program.units for d in u.module.decls]
    const_lines = {d.name: d.name_span.line for d in decls if type(d).__name__ == "ConstDecl"}
    out = {}
    for arch in ARCHES:
        view = program.view(arch)
        abi = abi_of(view)
        facts = SpecFacts(str(spec))
        for name, h in abi["hypercalls"].items():
            facts.hypercalls[name] = (h["number"], view.hypercalls[name].decl.name_span.line)
        for name, value in abi["consts"].items():
            if isinstance(value, bool):
                continue
            facts.consts[name] = (value, const_lines.get(name, 0))
        for name, s in abi["structs"].items():
            decl = view.structs[name].decl
            field_lines = {}
            for fd in decl.fields:
                if not fd.when or arch in fd.when:
                    field_lines[fd.name] = fd.span.line
            facts.structs[name] = {
                "kind": s["kind"], "size": s["size"], "align": s["align"], "line": decl.name_span.line,
                "fields": {f: (v["offset"], v["size"], field_lines.get(f, 0)) for f, v in s["fields"].items()},
                "field_types": {f: v["type"] for f, v in s["fields"].items()},
            }
        out[arch] = facts
    return out


def nested_structs(facts: dict[str, SpecFacts]) -> dict[str, tuple[str, str]]:
    """pvdsl structs that stand for C's anonymous nested ones, by the naming
    rule of xen/abi.pv: `<outer>_<field>` is the type of `<outer>.<field>`."""
    nested = {}
    for f in facts.values():
        for outer, s in f.structs.items():
            for fname, ftype in s["field_types"].items():
                if ftype == f"{outer}_{fname}":
                    nested[ftype] = (outer, fname)
    return nested


def c_type(name: str, kind: str, nested: dict[str, tuple[str, str]], kinds: dict[str, str]) -> str:
    if name in nested:
        outer, fname = nested[name]
        return f"__typeof__((({c_type(outer, kinds[outer], nested, kinds)} *)0)->{fname})"
    return f"{kind} {name}"


# ---- the C side ----------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    kind: str           # hypercall | const | candidate | size | align | offset | fsize
    name: str           # hypercall/const name, or struct name
    member: str         # field name ("" for the others)
    c_expr: str
    spec_value: int | None
    spec_line: int

    @property
    def label(self) -> str:
        return {
            "hypercall": f"hypercall '{self.name}' number",
            "const": f"const '{self.name}'",
            "candidate": f"header macro '{self.name}'",
            "size": f"sizeof(struct {self.name})",
            "align": f"alignment of struct {self.name}",
            "offset": f"offset of {self.name}.{self.member}",
            "fsize": f"size of {self.name}.{self.member}",
        }[self.kind]


def items_for(facts: SpecFacts, nested, kinds, candidates: list[str]) -> list[Item]:
    items = []
    for name, (number, line) in sorted(facts.hypercalls.items()):
        items.append(Item("hypercall", name, "", f"__HYPERVISOR_{name}", number, line))
    for name, (value, line) in sorted(facts.consts.items()):
        expr = NO_HEADER_MACRO[name][0] if name in NO_HEADER_MACRO else name
        items.append(Item("const", name, "", expr, value, line))
    for name in candidates:
        items.append(Item("candidate", name, "", name, None, 0))
    for name, s in sorted(facts.structs.items()):
        ct = c_type(name, s["kind"], nested, kinds)
        items.append(Item("size", name, "", f"sizeof({ct})", s["size"], s["line"]))
        items.append(Item("align", name, "", f"_Alignof({ct})", s["align"], s["line"]))
        for fname, (offset, size, line) in s["fields"].items():
            items.append(Item("offset", name, fname, f"offsetof({ct}, {fname})", offset, line))
            items.append(Item("fsize", name, fname, f"sizeof((({ct} *)0)->{fname})", size, line))
    return items


PRELUDE = f"""\
/* Generated by tests/specs/xen_header_support.py: values gcc computes from
   Xen's public headers, for comparison with pvdsl/specs/xen/abi.pv. */
#define __XEN_INTERFACE_VERSION__ {INTERFACE_VERSION}
#include <stdint.h>
#include <stddef.h>
""" + "".join(f"#include <xen/{h}>\n" for h in INCLUDES)


def c_source(items: list[Item], absent: set[int]) -> tuple[str, dict[int, int]]:
    """The C file and a map from its line numbers to item indexes."""
    lines = PRELUDE.splitlines()
    lines.append("const unsigned long long pvdsl_xen_values[] = {")
    line_of = {}
    for i, item in enumerate(items):
        expr = "0" if i in absent else f"(unsigned long long)({item.c_expr})"
        lines.append(f"    {expr}, /* {i} */")
        line_of[len(lines)] = i
    lines.append("};")
    return "\n".join(lines) + "\n", line_of


_DIAG = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:\d+:)? (?P<sev>error|note): (?P<msg>.*)$", re.M)


def _errors_by_line(stderr: str, c_name: str) -> tuple[dict[int, str], list[str]]:
    """gcc's errors by line of the generated file. An error inside a header
    macro belongs to the line whose "in expansion of macro" note names the
    generated file; an error that reaches no line of it is returned apart."""
    by_line: dict[int, str] = {}
    stray: list[str] = []
    pending = None
    for m in _DIAG.finditer(stderr):
        in_c = m.group("file").endswith(c_name)
        if m.group("sev") == "error":
            if pending is not None:
                stray.append(pending)
                pending = None
            if in_c:
                by_line.setdefault(int(m.group("line")), m.group("msg"))
            else:
                pending = m.group(0)
        elif pending is not None and in_c:
            by_line.setdefault(int(m.group("line")), pending)
            pending = None
    if pending is not None:
        stray.append(pending)
    return by_line, stray


def compile_values(items: list[Item], arch: str, workdir: Path, header_root: Path) -> tuple[list[int], dict[int, str]]:
    """gcc's value of every item on `arch`; items it could not compute are
    returned with their first error message instead."""
    gcc = find_gcc()
    inc = workdir / "include"
    inc.mkdir(parents=True, exist_ok=True)
    link = inc / "xen"
    if not link.exists():
        link.symlink_to(header_root, target_is_directory=True)
    gcc_include = subprocess.run([gcc, "-print-file-name=include"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    absent: dict[int, str] = {}
    for _attempt in range(3):
        src, line_of = c_source(items, set(absent))
        c_file = workdir / f"xen_abi_{arch}.c"
        obj = workdir / f"xen_abi_{arch}.o"
        c_file.write_text(src)
        # Freestanding, with only gcc's own <stdint.h>/<stddef.h> and the Xen
        # headers on the include path: no libc headers (the 32-bit ones need
        # not be installed).
        cmd = [gcc, GCC_ARCH_FLAG[arch], "-std=gnu11", "-ffreestanding", "-nostdinc", "-isystem", gcc_include,
               "-I", str(inc), "-fmax-errors=0", "-c", str(c_file), "-o", str(obj)]
        run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
        if run.returncode == 0:
            return _read_array(obj, len(items)), absent
        by_line, stray = _errors_by_line(run.stderr, c_file.name)
        new = {}
        for line, msg in by_line.items():
            idx = line_of.get(line)
            if idx is None:
                stray.append(f"{c_file}:{line}: {msg}")
            else:
                new[idx] = msg
        if stray or not new:
            raise HeaderSetupError(f"gcc {GCC_ARCH_FLAG[arch]} could not compile the Xen headers:\n"
                                   f"{' '.join(cmd)}\n{run.stderr[:4000]}")
        absent.update(new)
    raise HeaderSetupError(f"gcc kept failing on {c_file}:\n{run.stderr[:4000]}")


def _read_array(obj: Path, count: int) -> list[int]:
    with open(obj, "rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        (sym,) = symtab.get_symbol_by_name("pvdsl_xen_values")
        data = elf.get_section(sym["st_shndx"]).data()[sym["st_value"]:sym["st_value"] + sym["st_size"]]
    assert len(data) == 8 * count, (len(data), count)
    return [int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8)]


# ---- where the headers define a name ----------------------------------------------

class HeaderIndex:
    def __init__(self, root: Path):
        self.root = root
        self.text = {}
        for rel in COMMON_HEADERS + tuple(h for hs in ARCH_HEADERS.values() for h in hs):
            p = root / rel
            if p.is_file():
                self.text[rel] = p.read_text(errors="replace")

    def _order(self, arch: str) -> list[str]:
        other = {h for a, hs in ARCH_HEADERS.items() if a != arch for h in hs}
        first = list(ARCH_HEADERS[arch])
        return first + [h for h in self.text if h not in first and h not in other]

    def locate(self, arch: str, name: str, struct: bool = False) -> str | None:
        if struct:
            pats = [rf"\b(?:struct|union)\s+{re.escape(name)}\s*\{{"]
        else:
            pats = [rf"^\s*#\s*define\s+{re.escape(name)}\b", rf"^\s*{re.escape(name)}\s*(?:=|,|$)"]
        for rel in self._order(arch):
            if rel not in self.text:
                continue
            for pat in pats:
                if re.search(pat, self.text[rel], re.M):
                    return str(self.root / rel)
        return None

    def macro_candidates(self, prefixes) -> list[str]:
        """Object-like macros of these prefixes in any header (guarded or not)."""
        names = set()
        for text in self.text.values():
            for m in re.finditer(r"^\s*#\s*define\s+([A-Za-z_]\w*)(?!\()", text, re.M):
                if m.group(1).startswith(prefixes):
                    names.add(m.group(1))
        return sorted(names)


# ---- the comparison ----------------------------------------------------------------

@dataclass
class Report:
    spec: str
    mismatches: list[str] = field(default_factory=list)
    # arch -> header macros of REQUIRED_CONST_PREFIXES a guest sees
    visible_candidates: dict[str, set[str]] = field(default_factory=dict)
    facts: dict[str, SpecFacts] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)      # arch -> values compared
    stated: dict[str, int] = field(default_factory=dict)       # arch -> values the spec states
    # arch -> items the headers define for the other guest width only (HEADER_ARCHES)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def compare(spec: Path, workdir: Path) -> Report:
    """Compare every hypercall number, constant and struct layout of `spec`
    with the Xen headers, on both arches."""
    header_root = find_xen_headers()
    index = HeaderIndex(header_root)
    facts = spec_facts(spec)
    nested = nested_structs(facts)
    kinds = {n: s["kind"] for f in facts.values() for n, s in f.structs.items()}
    candidates = index.macro_candidates(REQUIRED_CONST_PREFIXES)
    report = Report(str(spec), facts=facts)
    for arch in ARCHES:
        items = items_for(facts[arch], nested, kinds, candidates)
        values, absent = compile_values(items, arch, workdir / arch, header_root)
        report.visible_candidates[arch] = {it.name for i, it in enumerate(items)
                                           if it.kind == "candidate" and i not in absent}
        report.checked[arch] = sum(1 for i, it in enumerate(items) if it.kind != "candidate" and i not in absent)
        report.stated[arch] = sum(1 for it in items if it.kind != "candidate")
        report.skipped[arch] = []
        for i, item in enumerate(items):
            if item.kind == "candidate":
                continue
            msg = _check_item(item, arch, values[i], absent.get(i), spec, index, nested)
            if msg is _SKIPPED:
                report.skipped[arch].append(item.label)
            elif msg:
                report.mismatches.append(msg)
    return report


def _header_of(item: Item, arch: str, index: HeaderIndex, nested) -> str:
    if item.kind == "hypercall":
        where = index.locate(arch, f"__HYPERVISOR_{item.name}")
    elif item.kind == "const" and item.name in NO_HEADER_MACRO:
        _expr, source, rel = NO_HEADER_MACRO[item.name]
        return f"{source}; {index.root / rel}" if rel else f"{source}; no Xen header defines it"
    elif item.kind == "const":
        where = index.locate(arch, item.name)
    else:
        top = item.name
        while top in nested:
            top = nested[top][0]
        where = index.locate(arch, top, struct=True)
    return where or f"(not found under {index.root})"


_SKIPPED = "skipped"


def _check_item(item: Item, arch: str, value: int, error: str | None, spec: Path, index, nested) -> str | None:
    spec_at = f"{spec}:{item.spec_line}"
    header = _header_of(item, arch, index, nested)
    if error is not None:
        key = item.name if item.kind in ("hypercall", "const") else f"struct {item.name}"
        top = item.name
        while top in nested:
            top = nested[top][0]
        if arch not in HEADER_ARCHES.get(key, HEADER_ARCHES.get(f"struct {top}", ARCHES)):
            return _SKIPPED     # the headers define it for the other guest width only
        return (f"{arch}: {item.label}: {spec_at} says {item.spec_value}, but gcc cannot compute "
                f"`{item.c_expr}` from the headers ({header}): {error}")
    expected = item.spec_value % (1 << 64)
    if value != expected:
        return (f"{arch}: {item.label}: {spec_at} says {_fmt(item.spec_value)}, "
                f"the header says {_fmt(value)} (`{item.c_expr}` in {header})")
    return None


def _fmt(v: int) -> str:
    return str(v) if -16 < v < 16 else f"{v} ({v:#x})"


def xen_h_hypercalls(root: Path) -> dict[str, int]:
    """__HYPERVISOR_<name> numbers of xen.h (literal definitions only)."""
    text = (root / "xen.h").read_text()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^#define __HYPERVISOR_(\w+)\s+(\d+)\b", text, re.M)}
