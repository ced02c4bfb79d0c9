"""The shipped backends (pvdsl/specs/backends/): native, xen, xen_dom0.

- `pvdsl check` of every file reports nothing;
- `pvdsl build pvdsl/specs/backends/*.pv --target all` succeeds, prints
  nothing on stderr, and builds every target each backend declares;
- the native hooks Linux patches inline have Linux's patch bytes as their
  templates (DESIGN.md "ABI facts");
- no object built for domu calls a privileged hypercall (xen.abi's
  `[privileged]` set), by the manifest and by the relocations against
  hypercall_page; no Xen object contains a privileged instruction;
- every table slot points at `<backend>_<hook>` (`<backend>_<table>_<hook>`
  for a hook name two tables share), in the table's order;
- exactly three backends, and one object per backend and target holds every
  table: the six 2.6.24/25 tables, and xen_dom0_ops for xen_dom0;
- the x86_64 Xen irq fast paths stay within Linux's xen-asm.S bar;
- backends.kernel's PARAVIRT_PATCH numbers agree with the tables' slots;
- the platform.h structs xen_dom0.pv declares lay out as gcc lays out Xen's.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import capstone
import pytest

from pvdsl.cli.main import main

REPO = Path(__file__).resolve().parents[2]
BACKENDS = REPO / "pvdsl" / "specs" / "backends"
FILES = sorted(p.name for p in BACKENDS.glob("*.pv"))
ARCHES = ("i386", "x86_64")

sys.path.insert(0, str(REPO / "tests" / "codegen"))
from x86_absint import MODES, fast_path_length, function_analysis  # noqa: E402
from x86_absint import Elf as AbsElf  # noqa: E402

# What the task asks for by name: backend -> the targets it must be built for.
REQUIRED_TARGETS = {
    "native": {"i386-native", "x86_64-native"},
    "xen": {"i386-domu", "i386-dom0", "x86_64-domu", "x86_64-dom0"},
    "xen_dom0": {"i386-dom0", "x86_64-dom0"},
}

# DESIGN.md "ABI facts": Linux's native patch bytes, by (backend, hook).
LINUX_PATCH_BYTES = {
    ("native", "irq_disable"): {"i386": "FA", "x86_64": "FA"},
    ("native", "irq_enable"): {"i386": "FB", "x86_64": "FB"},
    ("native", "save_fl"): {"i386": "9C 58", "x86_64": "9C 58"},
    ("native", "restore_fl"): {"i386": "50 9D", "x86_64": "57 9D"},
    ("native", "read_cr2"): {"i386": "0F 20 D0", "x86_64": "0F 20 D0"},
    ("native", "read_cr3"): {"i386": "0F 20 D8", "x86_64": "0F 20 D8"},
    ("native", "write_cr3"): {"i386": "0F 22 D8", "x86_64": "0F 22 DF"},
    ("native", "wbinvd"): {"i386": "0F 09", "x86_64": "0F 09"},
}

SIX_TABLES = {"pv_init_ops", "pv_time_ops", "pv_cpu_ops", "pv_irq_ops", "pv_apic_ops", "pv_mmu_ops"}

# Calls LLVM may emit into an object, which every kernel provides.
LIBRARY_CALLS = {"memset", "memcpy", "memmove"}

# Instructions a PV kernel may not execute (it is not in ring 0), and
# pvdsl's privileged intrinsics (popf included).
PRIVILEGED_MNEMONICS = {"cli", "sti", "hlt", "popf", "popfd", "popfq", "invlpg", "wbinvd", "invd", "rdmsr",
                        "wrmsr", "lgdt", "lidt", "lldt", "ltr", "clts", "sysexit", "sysret", "sysretq",
                        "swapgs", "iret", "iretd", "iretq", "in", "out", "rdpmc"}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.chdir(REPO), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main(list(argv))
    return status, out.getvalue()


def abi(spec: str, arch: str) -> dict:
    status, out = run("abi", spec, "--arch", arch, "--json")
    assert status == 0, out
    return json.loads(out)


def declared_backends() -> dict[str, dict]:
    """backend -> {"file", "arches", "roles", "extends"}, read from the sources."""
    decl = re.compile(r"^backend\s+(\w+)(?:\s+extends\s+(\w+))?\s+for\s+([\w\s,]+?)\s+roles\s+([\w\s,]+?)\s*\{",
                      re.M)
    out = {}
    for name in FILES:
        for m in decl.finditer((BACKENDS / name).read_text()):
            out[m.group(1)] = {"file": name, "extends": m.group(2),
                               "arches": [a.strip() for a in m.group(3).split(",")],
                               "roles": [r.strip() for r in m.group(4).split(",")]}
    return out


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """`pvdsl build pvdsl/specs/backends/*.pv --target all` as a user runs it,
    in a fresh interpreter so that stderr is exactly what the command prints."""
    out = tmp_path_factory.mktemp("backends-build")
    files = [str((BACKENDS / f).relative_to(REPO)) for f in FILES]
    proc = subprocess.run([sys.executable, "-m", "pvdsl.cli", "build", *files, "--target", "all", "-o", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, f"pvdsl build failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert proc.stderr == "", f"pvdsl build wrote to stderr:\n{proc.stderr}"
    return out


@pytest.fixture(scope="module")
def manifests(build) -> dict[str, dict]:
    """'<backend>-<target>' -> manifest."""
    return {p.name[:-len(".manifest.json")]: json.loads(p.read_text()) for p in build.glob("*.manifest.json")}


@pytest.fixture(scope="module")
def privileged() -> set[int]:
    numbers = set()
    for arch in ARCHES:
        for name, hc in abi("xen/abi.pv", arch)["hypercalls"].items():
            if hc["privileged"]:
                numbers.add(hc["number"])
    assert {7, 35, 36} <= numbers, numbers     # platform_op, sysctl, domctl
    return numbers


# ---- check ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_backend_file_checks_clean(name):
    status, out = run("check", str((BACKENDS / name).relative_to(REPO)))
    assert status == 0 and out == "", out


def test_the_named_backends_exist_with_their_targets():
    decls = declared_backends()
    assert set(decls) == set(REQUIRED_TARGETS), sorted(decls)      # no per-arch helpers any more
    for backend, targets in REQUIRED_TARGETS.items():
        assert backend in decls, f"no backend {backend} in {BACKENDS}"
        d = decls[backend]
        assert {f"{a}-{r}" for a in d["arches"] for r in d["roles"]} == targets, (backend, d)
    assert decls["xen_dom0"]["extends"] == "xen"
    # Only dom0 backends may reach platform_op; none of them can be built as domu.
    for backend, d in decls.items():
        if "dom0" in backend:
            assert d["roles"] == ["dom0"], (backend, d)


# ---- build ---------------------------------------------------------------------------

def test_build_makes_every_declared_target(build, manifests):
    decls = declared_backends()
    expected = {f"{b}-{a}-{r}" for b, d in decls.items() for a in d["arches"] for r in d["roles"]}
    assert set(manifests) == expected
    for key, m in manifests.items():
        for suffix in (".o", ".ll", ".s"):
            assert (build / f"{key}{suffix}").stat().st_size > 0, key
        assert set(m["runtime_library_calls"]) <= LIBRARY_CALLS, key
        assert sorted(m["undefined"]) == sorted((["hypercall_page"] if m["hypercalls_used"] else []) +
                                                m["runtime_library_calls"]), key
    for backend in decls:
        assert (build / f"{backend}.h").exists(), backend


def test_native_patch_templates_are_linux_bytes(manifests):
    for (backend, hook), by_arch in LINUX_PATCH_BYTES.items():
        for arch, want in by_arch.items():
            name = backend
            m = manifests[f"{name}-{arch}-native"]
            templates = {t["hook"]: t for t in m["patch_templates"]}
            assert hook in templates, f"{name}-{arch}: {hook} has no patch template"
            assert templates[hook]["bytes"] == want, (name, arch, hook, templates[hook]["bytes"], want)
            # The template is the whole hook but its ret, and touches no callee-saved register.
            assert templates[hook]["length"] == len(want.split())


def test_domu_objects_reach_no_privileged_hypercall(build, manifests, privileged):
    domu = [k for k, m in manifests.items() if m["role"] == "domu"]
    assert domu
    for key in domu:
        m = manifests[key]
        used = {h["number"] for h in m["hypercalls_used"]}
        assert not used & privileged, (key, sorted(used & privileged))
        # And the code itself: every call of hypercall_page + 32*N (PC-relative, addend -4).
        relocs = AbsElf.read(build / m["object"]).relocations(".text")
        called = {(addend + 4) // 32 for sym, addend, _t in relocs.values() if sym == "hypercall_page"}
        assert called == used, (key, called, used)
        assert not called & privileged, (key, sorted(called & privileged))


def test_dom0_backends_do_use_privileged_hypercalls(manifests, privileged):
    # The point of xen_dom0: it is the one place platform_op is called.
    for key, m in manifests.items():
        used = {h["number"] for h in m["hypercalls_used"]}
        if m["backend"] == "xen_dom0":
            assert 7 in used, key
        else:
            assert not used & privileged, key


def test_xen_objects_execute_no_privileged_instruction(build, manifests):
    for key, m in manifests.items():
        if m["role"] == "native":
            continue
        elf = AbsElf.read(build / m["object"])
        cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if m["arch"] == "x86_64" else capstone.CS_MODE_32)
        for hooks in m["tables"].values():
            for h in hooks:
                code = elf.function(h["symbol"])[0]
                assert code, (key, h["symbol"])
                for insn in cs.disasm(code, 0):
                    bad = insn.mnemonic in PRIVILEGED_MNEMONICS or \
                        (insn.mnemonic == "mov" and re.search(r"\b[cd]r\d", insn.op_str))
                    assert not bad, f"{key} {h['symbol']}: {insn.mnemonic} {insn.op_str}"


def test_table_slots_point_at_backend_hooks_in_order(manifests):
    tables = {arch: abi("linux/pvops_2_6_24.pv", arch)["tables"] for arch in ARCHES}
    dom0_table = {arch: abi(str((BACKENDS / "xen_dom0.pv").relative_to(REPO)), arch)["tables"]["xen_dom0_ops"]
                  for arch in ARCHES}
    for key, m in manifests.items():
        symbols = {s["name"]: s for s in m["symbols"]}
        # Hook names two of this object's tables share (lazy_mode_enter/leave
        # in pv_cpu_ops and pv_mmu_ops) get the table in their symbol.
        names: dict[str, int] = {}
        for table, slots in m["tables"].items():
            for s in slots:
                names[s["hook"]] = names.get(s["hook"], 0) + 1
        shared = {n for n, count in names.items() if count > 1}
        assert shared == {"lazy_mode_enter", "lazy_mode_leave"}, (key, shared)
        for table, slots in m["tables"].items():
            decl = dom0_table[m["arch"]] if table == "xen_dom0_ops" else tables[m["arch"]][table]
            assert [s["hook"] for s in slots] == [h["hook"] for h in decl], (key, table)
            assert [s["slot"] for s in slots] == list(range(len(decl))), (key, table)
            for s, h in zip(slots, decl):
                want = f"{m['backend']}_{table}_{s['hook']}" if s["hook"] in shared else f"{m['backend']}_{s['hook']}"
                assert s["symbol"] == want, (key, table, s)
                assert s["callee_save"] == h["callee_save"], (key, table, s)
                assert symbols[s["symbol"]]["kind"] == "hook", (key, s)
            assert symbols[table]["kind"] == "table" and symbols[table]["size"] == len(decl) * (
                8 if m["arch"] == "x86_64" else 4), (key, table)


def test_every_table_is_filled_on_both_arches(manifests):
    """One object per backend and target holds every table: the six
    2.6.24/25 tables (xen_dom0 also xen_dom0_ops), each slot filled."""
    for arch in ARCHES:
        for key in (f"native-{arch}-native", f"xen-{arch}-domu", f"xen-{arch}-dom0"):
            assert set(manifests[key]["tables"]) == SIX_TABLES, key
        dom0 = manifests[f"xen_dom0-{arch}-dom0"]
        assert set(dom0["tables"]) == SIX_TABLES | {"xen_dom0_ops"}
        assert dom0["tables"]["pv_apic_ops"][2]["source"] == "impl"          # apic_read, dom0's own
        assert dom0["tables"]["pv_time_ops"][2]["source"] == "impl"          # set_wallclock
        assert manifests[f"xen-{arch}-domu"]["tables"]["pv_time_ops"][2]["source"] == "impl"
    for key, m in manifests.items():
        for table, slots in m["tables"].items():
            for s in slots:
                assert s["source"] in ("impl", "table default", "inherited from xen"), (key, table, s)
    # The hooks whose signature differs per arch come from impls on both.
    per_arch = {"pv_cpu_ops": ["write_ldt_entry", "write_gdt_entry", "write_idt_entry", "write_msr", "read_pmc"],
                "pv_apic_ops": ["apic_write", "apic_write_atomic", "apic_read"], "pv_mmu_ops": ["alloc_pd"]}
    for key, m in manifests.items():
        for table, hooks in per_arch.items():
            sources = {s["hook"]: s["source"] for s in m["tables"][table]}
            for hook in hooks:
                assert sources[hook] in ("impl", "inherited from xen"), (key, table, hook)


@pytest.mark.parametrize("target", ["x86_64-domu", "x86_64-dom0"])
def test_xen_irq_fast_paths_meet_linux_bar(build, manifests, target):
    """DESIGN.md: xen-asm.S's irq_disable 2 instructions, irq_enable 4, save_fl
    4, counted with their ret."""
    m = manifests[f"xen-{target}"]
    elf = AbsElf.read(build / m["object"])
    for hook, bar in (("irq_disable", 2), ("irq_enable", 4), ("save_fl", 4)):
        n = fast_path_length(function_analysis(elf, f"xen_{hook}", MODES["x86_64"]))
        assert n is not None and n <= bar, f"xen_{hook}: {n} instructions on its fast path, Linux needs {bar}"


def test_paravirt_patch_numbers_match_table_slots():
    """backends.kernel's PATCH_* constants are PARAVIRT_PATCH(table.hook):
    the slots of the tables before it in struct paravirt_patch_template
    (init, time, cpu, irq, apic, mmu) plus the hook's slot."""
    order = ["pv_init_ops", "pv_time_ops", "pv_cpu_ops", "pv_irq_ops", "pv_apic_ops", "pv_mmu_ops"]
    wanted = {
        "PATCH_IRQ_SAVE_FL": ("pv_irq_ops", "save_fl"), "PATCH_IRQ_RESTORE_FL": ("pv_irq_ops", "restore_fl"),
        "PATCH_IRQ_DISABLE": ("pv_irq_ops", "irq_disable"), "PATCH_IRQ_ENABLE": ("pv_irq_ops", "irq_enable"),
        "PATCH_CPU_CLTS": ("pv_cpu_ops", "clts"), "PATCH_CPU_WBINVD": ("pv_cpu_ops", "wbinvd"),
        "PATCH_CPU_READ_TSC": ("pv_cpu_ops", "read_tsc"), "PATCH_CPU_IRQ_RETURN": ("pv_cpu_ops", "iret"),
        "PATCH_MMU_READ_CR2": ("pv_mmu_ops", "read_cr2"), "PATCH_MMU_READ_CR3": ("pv_mmu_ops", "read_cr3"),
        "PATCH_MMU_WRITE_CR3": ("pv_mmu_ops", "write_cr3"),
        "PATCH_MMU_FLUSH_TLB_SINGLE": ("pv_mmu_ops", "flush_tlb_single"),
    }
    per_arch = {"i386": {"PATCH_CPU_IRQ_ENABLE_SYSEXIT": ("pv_cpu_ops", "irq_enable_sysexit")},
                "x86_64": {"PATCH_CPU_IRQ_ENABLE_SYSCALL_RET": ("pv_cpu_ops", "irq_enable_syscall_ret"),
                           "PATCH_CPU_SWAPGS": ("pv_cpu_ops", "swapgs")}}
    for arch in ARCHES:
        tables = abi("linux/pvops_2_6_24.pv", arch)["tables"]
        consts = abi(str((BACKENDS / "kernel.pv").relative_to(REPO)), arch)["consts"]
        base, start = 0, {}
        for t in order:
            start[t] = base
            base += len(tables[t])
        for const, (table, hook) in {**wanted, **per_arch[arch]}.items():
            slot = next(h["slot"] for h in tables[table] if h["hook"] == hook)
            assert consts[const] == start[table] + slot, (arch, const, consts[const], start[table] + slot)


# ---- the platform.h structs xen_dom0.pv declares, against gcc ------------------------

PLATFORM_STRUCTS = {
    "dom0_xen_platform_op": ("struct xen_platform_op", ["cmd", "interface_version", "u"]),
    "dom0_xenpf_settime64": ("struct xenpf_settime64", ["secs", "nsecs", "mbz", "system_time"]),
    "dom0_xenpf_add_memtype": ("struct xenpf_add_memtype", ["mfn", "nr_mfns", "type", "handle", "reg"]),
    "dom0_xenpf_del_memtype": ("struct xenpf_del_memtype", ["handle", "reg"]),
    "dom0_xenpf_read_memtype": ("struct xenpf_read_memtype", ["reg", "mfn", "nr_mfns", "type"]),
    "dom0_xenpf_pcpuinfo": ("struct xenpf_pcpuinfo", ["xen_cpuid", "max_present", "flags", "apic_id", "acpi_id"]),
    "dom0_xenpf_firmware_info": ("struct xenpf_firmware_info", ["type", "index", "u"]),
}


def _gcc_layout(arch: str) -> dict[str, list[int]]:
    lines = ["#include <stdint.h>", "#include <stddef.h>", "#include <xen/xen.h>", "#include <xen/platform.h>",
             "unsigned long layout[] = {"]
    for _name, (ctype, fields) in PLATFORM_STRUCTS.items():
        lines.append(f"  sizeof({ctype}),")
        lines += [f"  offsetof({ctype}, {f})," for f in fields]
    lines.append("};")
    proc = subprocess.run(["gcc", "-m32" if arch == "i386" else "-m64", "-ffreestanding", "-S", "-o", "-", "-x", "c",
                           "-"], input="\n".join(lines), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    values = [int(v) for v in re.findall(r"^\s*\.(?:long|quad)\s+(\d+)", proc.stdout, re.M)]
    out, i = {}, 0
    for name, (_ctype, fields) in PLATFORM_STRUCTS.items():
        out[name] = values[i:i + 1 + len(fields)]
        i += 1 + len(fields)
    return out


@pytest.mark.parametrize("arch", ARCHES)
def test_dom0_platform_structs_match_gcc(arch):
    if shutil.which("gcc") is None or not Path("/usr/include/xen/platform.h").exists():
        pytest.skip("needs gcc and Debian's libxen-dev (/usr/include/xen/platform.h)")
    gcc = _gcc_layout(arch)
    structs = abi(str((BACKENDS / "xen_dom0.pv").relative_to(REPO)), arch)["structs"]
    for name, (_ctype, fields) in PLATFORM_STRUCTS.items():
        s = structs[name]
        ours = [s["size"]] + [s["fields"][f]["offset"] for f in fields]
        assert ours == gcc[name], (arch, name, ours, gcc[name])


@pytest.mark.parametrize("arch", ARCHES)
def test_generated_headers_compile(build, arch):
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    for header in sorted(build.glob("*.h")):
        proc = subprocess.run(["gcc", "-m32" if arch == "i386" else "-m64", "-ffreestanding", "-fsyntax-only",
                               "-x", "c", "-"], input=f'#include "{header}"\n', capture_output=True, text=True)
        assert proc.returncode == 0, f"{header.name} ({arch}):\n{proc.stderr}"
