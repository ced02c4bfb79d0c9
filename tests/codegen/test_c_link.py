"""The generated C headers and objects, used from C as the kernel would.

Per backend and arch: gcc (kernel flags, -O2 -Wall -Wextra -Werror) compiles
a file that includes the backend's header - each header in its own
translation unit - and calls every hook both through its
PVDSL_CALL_<table>_<hook> macro and through the table struct; `ld -r` links
it with the backend's object and only the manifest's undefined symbols are
left; a full link (with a hypercall page and an entry point) leaves none, and
the linked image's tables, call sites (.pvsites) and patch records (.pvpatch)
point where they should.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import capstone
import pytest

from cbuild import (GCC_FLAGS, LD_EMULATION, WARN, assemble, compile_c, hypercall_page_source, nm, run,
                    xfail_if_known_header_bug)
from x86_absint import Elf

ARCHES = ("i386", "x86_64")
WORD = {"i386": 4, "x86_64": 8}
CALLER_SAVED = {"i386": ["eax", "ecx", "edx"],
                "x86_64": ["rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"]}
CALLEE_SAVE_CLOBBERS = {"i386": ["eax", "edx"], "x86_64": ["rax"]}
ARCH_MACRO = {"i386": "PVDSL_I386", "x86_64": "PVDSL_X86_64"}
# Where the image is linked: -mcmodel=kernel code needs the top 2 GiB.
LINK_BASE = {"i386": 0xC1000000, "x86_64": 0xFFFFFFFF81000000}


@pytest.fixture(scope="module")
def manifests(examples_build) -> dict:
    """backend -> {arch: manifest of one object of that arch}."""
    out = {}
    for mf in sorted(examples_build.glob("*.manifest.json")):
        m = json.loads(mf.read_text())
        out.setdefault(m["backend"], {}).setdefault(m["arch"], m)
    return out


def backends_and_arches():
    # Static parametrisation: the example backends (examples/*.pv) and both arches.
    repo = Path(__file__).resolve().parents[2]
    out = []
    for f in sorted((repo / "examples").glob("*.pv")):
        for m in re.finditer(r"^backend\s+(\w+)[^{]*?\bfor\s+([\w\s,]+?)\s+roles", f.read_text(), re.M):
            for a in (a.strip() for a in m.group(2).split(",")):
                out.append((m.group(1), a))
    return out


BACKEND_ARCH = backends_and_arches()
BACKENDS = sorted({b for b, _a in BACKEND_ARCH})


# ---- reading the header ----------------------------------------------------------------

def header_hooks(header: str, table: str) -> dict:
    """hook -> (return type, [param types]) from `struct <table> { ... };`."""
    body = re.search(rf"^struct {table} \{{\n(.*?)^\}};", header, re.S | re.M).group(1)
    out = {}
    for m in re.finditer(r"^\s+(.+?)\s*\(PVDSL_HOOK \*(\w+)\)\((.*)\);$", body, re.M):
        params = [] if m.group(3) == "void" else [p.strip() for p in m.group(3).split(",")]
        out[m.group(2)] = (m.group(1), params)
    return out


def arg_for(param: str, i: int) -> str:
    if "*" in param:
        return "(void *)pvdsl_test_buf"
    return f"({param.rsplit(' ', 1)[0]}){0x1000 + 0x11 * i}"


def caller_source(backend: str, arch: str, manifest: dict, header: str) -> str:
    """C that calls every hook twice: through the macro and through the table."""
    lines = [f'#include "{backend}.h"', "",
             "pvdsl_u64 pvdsl_test_buf[16];", "volatile unsigned long pvdsl_test_sink;", ""]
    n = 0
    for table, slots in manifest["tables"].items():
        hooks = header_hooks(header, table)
        for s in slots:
            ret, params = hooks[s["hook"]]
            args = ", ".join(arg_for(p, i) for i, p in enumerate(params))
            for how, call in (("macro", f"PVDSL_CALL_{table}_{s['hook']}({args})"),
                              ("table", f"{table}.{s['hook']}({args})")):
                lines.append(f"void call_{how}_{table}_{s['hook']}(void) {{")
                if ret == "void":
                    lines.append(f"    {call};")
                else:
                    lines.append(f"    pvdsl_test_sink += (unsigned long)({call});")
                lines.append("}")
                n += 1
    assert n, backend
    lines += ["", "void kernel_entry(void) {"]
    for table, slots in manifest["tables"].items():
        for s in slots:
            lines.append(f"    call_macro_{table}_{s['hook']}();")
            lines.append(f"    call_table_{table}_{s['hook']}();")
    lines += ["    for (;;) { }", "}", ""]
    return "\n".join(lines)


# ---- the header alone ------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_header_alone_compiles(examples_build, backend, arch, tmp_path):
    """The header is valid C for both -m32 and -m64, whatever the backend's arches."""
    c = tmp_path / "h.c"
    c.write_text(f'#include "{backend}.h"\n')
    r = run(["gcc", *GCC_FLAGS[arch], *WARN, "-std=gnu11", "-fsyntax-only", "-I", examples_build, c])
    if r.returncode:
        xfail_if_known_header_bug(r.stderr, examples_build)
    assert r.returncode == 0, r.stderr


def _asserts_by_arch(header: str) -> dict:
    """arch -> set of _Static_assert lines inside `#if defined(PVDSL_<ARCH>)`."""
    out = {a: set() for a in ARCHES}
    stack = []
    for line in header.splitlines():
        s = line.strip()
        m = re.match(r"#\s*if defined\((PVDSL_\w+)\)$", s)
        if m:
            stack.append(next((a for a, mac in ARCH_MACRO.items() if mac == m.group(1)), None))
        elif s.startswith("#if"):
            stack.append(None)
        elif s.startswith("#endif"):
            stack.pop()
        elif s.startswith("_Static_assert") and stack and stack[-1]:
            out[stack[-1]].add(s)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_header_asserts_every_struct_field_and_table(examples_build, manifests, backend):
    header = (examples_build / f"{backend}.h").read_text()
    asserts = _asserts_by_arch(header)
    missing = []
    for arch, m in manifests[backend].items():
        have = asserts[arch]
        for name, s in m["structs"].items():
            kind = s["kind"]
            want = [f'_Static_assert(sizeof({kind} {name}) == {s["size"]}, "{name}: size on {arch}");',
                    f'_Static_assert(_Alignof({kind} {name}) == {s["align"]}, "{name}: alignment on {arch}");']
            want += [f'_Static_assert(__builtin_offsetof({kind} {name}, {f}) == {fl["offset"]}, '
                     f'"{name}.{f}: offset on {arch}");' for f, fl in s["fields"].items()]
            missing += [w for w in want if w not in have]
        for table, slots in m["tables"].items():
            w = f'_Static_assert(sizeof(struct {table}) == {WORD[arch] * len(slots)}, ' \
                f'"{table}: {len(slots)} slots on {arch}");'
            if w not in have:
                missing.append(w)
    assert manifests[backend]
    assert not missing, "\n".join(missing[:20])


def test_header_asserts_fire_on_a_wrong_layout(examples_build, tmp_path):
    """-fpack-struct changes vcpu_info's layout: the header must refuse it."""
    c = tmp_path / "h.c"
    c.write_text('#include "xen.h"\n')
    r = run(["gcc", *GCC_FLAGS["x86_64"], "-fpack-struct", "-fsyntax-only", "-I", examples_build, c])
    assert r.returncode != 0 and '"vcpu_info: size on x86_64"' in r.stderr, r.stderr


# ---- calls, ld -r, full link ------------------------------------------------------------------

def _build_caller(examples_build, manifests, backend, arch, tmp_path, known) -> tuple[dict, Path]:
    m = manifests[backend][arch]
    header = (examples_build / f"{backend}.h").read_text()
    caller = compile_c(caller_source(backend, arch, m, header), arch, examples_build, tmp_path / "caller.o",
                       known=known)
    return m, caller


@pytest.mark.parametrize("backend, arch", BACKEND_ARCH)
def test_ld_r_leaves_only_the_documented_undefined_symbols(examples_build, manifests, backend, arch, tmp_path):
    known = []
    m, caller = _build_caller(examples_build, manifests, backend, arch, tmp_path, known)
    combined = tmp_path / "combined.o"
    r = run(["ld", "-m", LD_EMULATION[arch], "-r", "-o", combined, caller, examples_build / m["object"]])
    assert r.returncode == 0, r.stderr
    assert nm(combined, "-u") == set(m["undefined"])
    # Every hook was called through its macro: each call site is recorded.
    sites = Elf.read(combined).section_bytes(".pvsites")
    assert sites, "no .pvsites records"
    assert not known, known


def _records(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("backend, arch", BACKEND_ARCH)
def test_full_link_resolves_everything(examples_build, manifests, backend, arch, tmp_path):
    known = []
    m, caller = _build_caller(examples_build, manifests, backend, arch, tmp_path, known)
    w = WORD[arch]
    objs = [caller, examples_build / m["object"]]
    if "hypercall_page" in m["undefined"]:
        objs.append(assemble(hypercall_page_source(arch), arch, tmp_path / "hypercall_page.o"))
    image = tmp_path / "image"
    r = run(["ld", "-m", LD_EMULATION[arch], "-e", "kernel_entry", f"-Ttext-segment={LINK_BASE[arch]:#x}",
             "-z", "noexecstack", "-o", image, *objs])
    assert r.returncode == 0, r.stderr
    assert "truncated" not in r.stderr and "undefined" not in r.stderr, r.stderr
    assert nm(image, "-u") == set()
    elf = Elf.read(image)
    syms = elf.symbols()
    assert elf.elf["e_entry"] == syms["kernel_entry"]["value"]

    def read(addr: int, n: int) -> bytes:
        for sec in elf.elf.iter_sections():
            if sec["sh_addr"] <= addr < sec["sh_addr"] + sec["sh_size"] and sec["sh_type"] == "SHT_PROGBITS":
                off = addr - sec["sh_addr"]
                return sec.data()[off:off + n]
        raise KeyError(hex(addr))

    def word(addr: int) -> int:
        return int.from_bytes(read(addr, w), "little")

    # Tables: slot i holds the address of slot i's hook.
    by_slot = {}
    for table, slots in m["tables"].items():
        base = syms[table]["value"]
        for s in slots:
            assert word(base + w * s["slot"]) == syms[s["symbol"]]["value"], (table, s)
            by_slot[(base, s["slot"])] = (table, s)
    # .pvsites (the header's call macros): each record names a `call *slot`
    # of the right table and slot, with the convention's clobber mask.
    rec_size = 2 * w + 8
    sites = _records(elf.section_bytes(".pvsites"), rec_size)
    called = set()
    for rec in sites:
        site, table_addr = int.from_bytes(rec[:w], "little"), int.from_bytes(rec[w:2 * w], "little")
        slot, length, callee_save, mask = struct.unpack_from("<IBBH", rec, 2 * w)
        table, s = by_slot[(table_addr, slot)]
        code = read(site, length)
        expect = (b"\xff\x15" if arch == "i386" else b"\xff\x14\x25") + \
            ((table_addr + w * slot) & 0xFFFFFFFF).to_bytes(4, "little")
        assert code == expect, (table, s["hook"], code.hex())
        assert callee_save == int(s["callee_save"]), (table, s["hook"])
        allowed = CALLEE_SAVE_CLOBBERS[arch] if s["callee_save"] else CALLER_SAVED[arch]
        assert mask == sum(1 << CALLER_SAVED[arch].index(r) for r in allowed), (table, s["hook"], mask)
        called.add((table, s["hook"]))
    macros = _asm_macros(examples_build / f"{backend}.h", arch)
    macro_calls = {(t, s["hook"]) for t, slots in m["tables"].items() for s in slots
                   if f"PVDSL_CALL_{t}_{s['hook']}" in macros}
    assert called == macro_calls and called, (called ^ macro_calls)
    # .pvpatch: one record per hook, its hook and table pointers resolved.
    size = 2 * w + 24
    hooks = [(t, s) for t, slots in m["tables"].items() for s in slots]
    patch = _records(elf.section_bytes(".pvpatch"), size)
    assert len(patch) == len(hooks)
    for rec, (t, s) in zip(patch, hooks):
        assert int.from_bytes(rec[:w], "little") == syms[s["symbol"]]["value"]
        assert int.from_bytes(rec[w:2 * w], "little") == syms[t]["value"]
    # Hypercalls land on the page entry that loads their number into eax.
    if "hypercall_page" in m["undefined"]:
        page = syms["hypercall_page"]["value"]
        assert page % 4096 == 0
        cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32 if arch == "i386" else capstone.CS_MODE_64)
        numbers = {h["number"] for h in m["hypercalls_used"]}
        seen = set()
        for hooks in m["tables"].values():
            for s in hooks:
                code = read(syms[s["symbol"]]["value"], syms[s["symbol"]]["size"])
                for insn in cs.disasm(code, syms[s["symbol"]]["value"]):
                    if insn.mnemonic == "call":
                        target = int(insn.op_str, 16)
                        n, rest = divmod(target - page, 32)
                        assert rest == 0 and n in numbers, (s["symbol"], insn)
                        stub = _first_mov(cs, read(target, 16), target)
                        assert stub in (f"mov eax, {n:#x}", f"mov eax, {n}"), (target, stub)
                        seen.add(n)
        assert seen == numbers
    assert not known, known


def _asm_macros(header: Path, arch: str) -> set[str]:
    """Names of the PVDSL_CALL_ macros that are an inline-asm call site on `arch`."""
    out, guard = set(), None
    for line in header.read_text().splitlines():
        g = re.match(r"#if defined\((PVDSL_\w+)\)$", line)
        if g:
            guard = g.group(1)
        elif line.startswith("#endif"):
            guard = None
        else:
            d = re.match(r"#define (PVDSL_CALL_\w+)\(.*__asm__", line)
            if d and guard == ARCH_MACRO[arch]:
                out.add(d.group(1))
    return out


def _first_mov(cs, code: bytes, addr: int) -> str | None:
    return next((f"mov {i.op_str}" for i in cs.disasm(code, addr) if i.mnemonic == "mov"), None)


def test_two_headers_in_one_translation_unit(examples_build, tmp_path):
    c = tmp_path / "two.c"
    c.write_text('#include "xen.h"\n#include "xen_mmu.h"\n')
    r = run(["gcc", *GCC_FLAGS["x86_64"], "-fsyntax-only", "-I", examples_build, c])
    assert r.returncode == 0, r.stderr


PER_ARCH_ARRAY = """module arr;

struct words {
    w: ulong[sizeof(ulong) * 8];
}

table t_ops { f(p: ptr<words>) -> ulong; }

backend b for i386, x86_64 roles native {
    impl t_ops.f(p: ptr<words>) -> ulong { return p->w[1]; }
}
"""


def test_header_field_whose_type_differs_per_arch(tmp_path):
    import contextlib

    from pvdsl.cli.main import main

    spec = tmp_path / "arr.pv"
    spec.write_text(PER_ARCH_ARRAY)
    with contextlib.chdir(tmp_path):
        assert main(["build", "arr.pv", "--target", "all", "-q", "-o", "out"]) == 0
    c = tmp_path / "u.c"
    c.write_text('#include "b.h"\n')
    for arch in ARCHES:
        r = run(["gcc", *GCC_FLAGS[arch], *WARN, "-fsyntax-only", "-I", tmp_path / "out", c])
        assert r.returncode == 0, f"{arch}: {r.stderr}"
