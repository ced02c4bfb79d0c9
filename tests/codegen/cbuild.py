"""gcc, as and ld around the generated headers and objects, for tests."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

# The kernel's flags (the issue: -m32 -mregparm=3 -ffreestanding -fno-pic /
# -m64 -mcmodel=kernel -mno-red-zone -ffreestanding). Debian's gcc defaults to
# PIE, which -mcmodel=kernel refuses, so x86_64 needs -fno-pic as well.
GCC_FLAGS = {
    "i386": ["-m32", "-mregparm=3", "-ffreestanding", "-fno-pic"],
    "x86_64": ["-m64", "-mcmodel=kernel", "-mno-red-zone", "-ffreestanding", "-fno-pic"],
}
WARN = ["-Wall", "-Wextra", "-Werror"]
LD_EMULATION = {"i386": "elf_i386", "x86_64": "elf_x86_64"}
AS_FLAG = {"i386": "--32", "x86_64": "--64"}


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True)


# ---- the known header bug ----------------------------------------------------------------

def _base(type_text: str) -> str:
    return type_text.split("[")[0]


def per_arch_type_fields(build: Path) -> dict:
    """struct -> [field] whose type differs between the i386 and x86_64
    manifests, plus the structs that contain such a struct."""
    structs = {}
    for mf in build.glob("*.manifest.json"):
        m = json.loads(mf.read_text())
        for name, s in m["structs"].items():
            structs.setdefault(name, {})[m["arch"]] = s
    bad = {}
    for name, per in structs.items():
        if len(per) == 2:
            a, b = per["i386"]["fields"], per["x86_64"]["fields"]
            diff = [f for f in a if f in b and a[f]["type"] != b[f]["type"]]
            if diff:
                bad[name] = diff
    changed = True
    while changed:  # a struct holding one of those is wrong on one arch too
        changed = False
        for name, per in structs.items():
            if name in bad:
                continue
            for s in per.values():
                inner = [f for f, fl in s["fields"].items() if _base(fl["type"]) in bad]
                if inner:
                    bad[name] = inner
                    changed = True
                    break
    return bad


_ASSERT = re.compile(r'static assertion failed: "(\w+)(?:\.\w+)?: (?:size|offset|alignment) on \w+"')


def known_header_bug(stderr: str, build: Path) -> str | None:
    """If gcc failed only because of the known bug (one arch's type emitted
    for a field whose type differs per arch, which the header's own
    _Static_asserts catch), say so; None for any other failure."""
    errors = [line for line in stderr.splitlines() if ": error:" in line]
    if not errors:
        return None
    bad = per_arch_type_fields(build)
    named = set()
    for line in errors:
        m = _ASSERT.search(line)
        if not m or m.group(1) not in bad:
            return None
        named.add(m.group(1))
    return ("known bug: the header declares a field whose type differs per arch with one arch's type on "
            "both (" + ", ".join(f"{s}.{'/'.join(bad[s])}" for s in sorted(named)) + ")")


def xfail_if_known_header_bug(stderr: str, build: Path) -> None:
    """The per-arch field bug, once an expected failure, is now a plain failure."""
    known = known_header_bug(stderr, build)
    assert not known, known


# Neutralises the header's layout assertions (for a retry past the known bug).
NO_LAYOUT_ASSERTS = "#define _Static_assert(cond, msg) extern int pvdsl_layout_assert_not_checked_here\n"


def compile_c(source: str, arch: str, build: Path, out: Path, extra: list[str] = (),
              known: list | None = None) -> Path:
    """gcc -c with the kernel flags. With `known` (a list), a failure that is
    only the known header bug is appended to it and the file is compiled
    again without the layout assertions, so the caller can run its other
    checks and report XFAIL at the end; without it, such a failure is XFAIL."""
    c = out.with_suffix(".c")
    c.write_text(source)
    cmd = ["gcc", *GCC_FLAGS[arch], "-O2", *WARN, *extra, "-I", build, "-c", c, "-o", out]
    r = run(cmd)
    if r.returncode != 0:
        bug = known_header_bug(r.stderr, build)
        assert not bug, bug
    assert r.returncode == 0, f"gcc {arch} failed on {c.name}:\n{r.stderr}"
    return out


def assemble(source: str, arch: str, out: Path) -> Path:
    s = out.with_suffix(".s")
    s.write_text(source)
    r = run(["as", AS_FLAG[arch], "-o", out, s])
    assert r.returncode == 0, r.stderr
    return out


def nm(path: Path, *flags: str) -> set[str]:
    r = run(["nm", *flags, path])
    assert r.returncode == 0, r.stderr
    return {line.split()[-1] for line in r.stdout.splitlines() if line.strip()}


def hypercall_page_source(arch: str) -> str:
    """The hypercall page as Xen fills it (DESIGN.md): 128 entries of 32 bytes."""
    stub = ("push %rcx; push %r11; mov $N,%eax; syscall; pop %r11; pop %rcx; ret" if arch == "x86_64"
            else "mov $N,%eax; int $0x82; ret")
    lines = ['.section .text.hypercall_page,"ax",@progbits', ".balign 4096", ".globl hypercall_page",
             ".type hypercall_page,@object", "hypercall_page:"]
    for n in range(128):
        lines += [f".balign 32", "\t" + stub.replace("$N", f"${n}").replace("; ", "\n\t")]
    lines += [".balign 32", ".size hypercall_page, 4096", '.section .note.GNU-stack,"",@progbits', ""]
    return "\n".join(lines)
