"""The shipped Linux pv_ops tables (pvdsl/specs/linux/).

Linux 6.1: the order, callee_save flags, argument counts and types of every
table member must equal arch/x86/include/asm/paravirt_types.h of Debian's
linux-headers-6.1.0-<N>-common, parsed here (linux_header_support.py), for
x86_64 and for i386. Linux 2.6.24/25: there is no header to install, so the
tests pin what the spec documents (pvdsl/specs/linux/README.md).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest

import linux_header_support as lh
from pvdsl.cli.main import main

REPO = Path(__file__).resolve().parents[2]
LINUX_SPECS = REPO / "pvdsl" / "specs" / "linux"
SPEC_6_1 = LINUX_SPECS / "pvops_6_1.pv"
SPEC_2_6_24 = LINUX_SPECS / "pvops_2_6_24.pv"
ARCHES = ("x86_64", "i386")


def require_header() -> Path:
    found = lh.find_header()
    if found is None:
        pytest.fail(f"no {lh.HEADER_GLOB}: install Debian's {lh.HEADER_PACKAGE} package "
                    f"(apt-get install --no-install-recommends {lh.HEADER_PACKAGE}, the newest N that "
                    f"`apt-cache search linux-headers | grep common` lists; tools/bootstrap does this)")
    return found


@pytest.fixture(scope="module")
def header() -> Path:
    return require_header()


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main(list(argv))
    return status, out.getvalue()


def assert_matches_header(spec: Path, header: Path, arch: str) -> None:
    problems = lh.compare(spec, header, arch)
    assert not problems, (f"{spec} differs from {header} on {arch} ({len(problems)} "
                          f"difference{'s' if len(problems) != 1 else ''}):\n  " + "\n  ".join(problems))


# ---- every Linux spec checks clean ---------------------------------------------------

@pytest.mark.parametrize("spec", sorted(p.name for p in LINUX_SPECS.glob("*.pv")))
def test_spec_checks_clean(spec):
    # One file per run: each version's tables are a program of their own (two
    # versions declare the same table names, which one program may not).
    status, out = run("check", str(LINUX_SPECS / spec))
    assert (status, out) == (0, "")


# ---- Linux 6.1 against Debian's headers ----------------------------------------------

@pytest.mark.parametrize("arch", ARCHES)
def test_config_decides_every_conditional_member(header, arch):
    undecided = lh.undecided_conditions(header, arch)
    assert not undecided, "\n".join(undecided)


@pytest.mark.parametrize("arch", ARCHES)
def test_6_1_tables_match_paravirt_types_h(header, arch):
    assert_matches_header(SPEC_6_1, header, arch)


def test_6_1_header_shape(header):
    """The parser read what the header holds: a guard against a parser that
    silently reads too little (both sides would then agree on too little)."""
    k = lh.kernel_tables(header, "x86_64")
    assert list(k) == list(lh.TABLES_6_1)
    names = {t: [m.name for m in ms] for t, ms in k.items()}
    assert names["pv_irq_ops"] == ["save_fl", "irq_disable", "irq_enable", "safe_halt", "halt"]
    assert names["pv_mmu_ops"][-4:] == ["lazy_mode_enter", "lazy_mode_leave", "lazy_mode_flush", "set_fixmap"]
    assert {m.name for ms in k.values() for m in ms if m.callee_save} >= {
        "save_fl", "irq_disable", "irq_enable", "read_cr2", "pte_val", "make_pte", "queued_spin_unlock",
        "vcpu_is_preempted"}
    assert len(names["pv_cpu_ops"]) >= 30 and len(names["pv_mmu_ops"]) >= 44
    i386 = lh.kernel_tables(header, "i386")
    assert [m.name for m in i386["pv_cpu_ops"]] == ["io_delay"]
    assert i386["pv_irq_ops"] == []


def test_debian_amd64_config_is_the_assumed_one():
    path = lh.find_config()
    if path is None:
        pytest.skip(f"no {lh.CONFIG_GLOB} (Debian's {lh.CONFIG_PACKAGE}, not needed otherwise): the x86_64 "
                    f"config in linux_header_support.py stays unchecked")
    real = lh.read_kconfig(path)
    cfg = lh.CONFIGS["x86_64"]
    wrong = [f"{name}: assumed {value}, {path} has {real.get(name, 'unset')}"
             for name, value in cfg["on"].items() if real.get(name) not in ("y", str(value))]
    wrong += [f"{name}: assumed unset, {path} has {real[name]}" for name in sorted(cfg["off"]) if name in real]
    assert not wrong, "\n".join(wrong)


# ---- a wrong spec is caught, and the message says where ------------------------------

def scratch_spec(tmp_path: Path, edit) -> Path:
    """A copy of pvops_6_1.pv with one edit; it still imports linux.types from the library."""
    text = SPEC_6_1.read_text()
    changed = edit(text)
    assert changed != text, "the edit did not apply"
    path = tmp_path / "pvops_6_1.pv"
    path.write_text(changed)
    return path


def swap_lines(text: str, a: str, b: str) -> str:
    lines = text.split("\n")
    i = next(n for n, line in enumerate(lines) if line.strip().startswith(a + "("))
    j = next(n for n, line in enumerate(lines) if line.strip().startswith(b + "("))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def test_wrong_order_fails_with_a_clear_message(header, tmp_path):
    bad = scratch_spec(tmp_path, lambda t: swap_lines(t, "read_cr0", "write_cr0"))
    with pytest.raises(AssertionError) as err:
        assert_matches_header(bad, header, "x86_64")
    message = str(err.value)
    # Both slots are named, with both hooks, and both files with lines.
    read_line = next(n for n, l in enumerate(header.read_text().splitlines(), 1) if "(*read_cr0)" in l)
    assert re.search(rf"pv_cpu_ops slot 3 \(x86_64\): hook name differs: kernel 'read_cr0' "
                     rf"\({re.escape(str(header))}:{read_line}\) vs spec 'write_cr0' \({re.escape(str(bad))}:\d+\)",
                     message), message
    assert re.search(r"pv_cpu_ops slot 4 \(x86_64\): hook name differs: kernel 'write_cr0' .* vs spec 'read_cr0'",
                     message), message
    assert "2 differences" in message
    # The real spec, unchanged, passes.
    assert_matches_header(SPEC_6_1, header, "x86_64")


def test_wrong_flag_count_and_type_fail_with_clear_messages(header, tmp_path):
    def edit(t: str) -> str:
        t = t.replace("read_cr2() -> ulong [callee_save] when x86_64;", "read_cr2() -> ulong when x86_64;")
        t = t.replace("kick(cpu: s32);", "kick(cpu: s32, why: u32);")
        return t.replace("load_gs_index(idx: u32)", "load_gs_index(idx: ulong)")

    bad = scratch_spec(tmp_path, edit)
    problems = lh.compare(bad, header, "x86_64")
    assert len(problems) == 3, problems
    [cs] = [p for p in problems if p.startswith("pv_mmu_ops.read_cr2")]
    [count] = [p for p in problems if p.startswith("pv_lock_ops.kick")]
    [ty] = [p for p in problems if p.startswith("pv_cpu_ops.load_gs_index")]
    assert cs.startswith("pv_mmu_ops.read_cr2 (slot 7, x86_64): callee_save differs: kernel True (")
    assert "struct paravirt_callee_save) vs spec False (" + str(bad) in cs
    assert count.startswith("pv_lock_ops.kick (slot 3, x86_64): argument count differs: kernel 1 (")
    assert "vs spec 2 (" + str(bad) in count
    assert ty.startswith("pv_cpu_ops.load_gs_index (slot 12, x86_64): argument 1 ('idx') type differs: "
                         "kernel 'unsigned int' (pvdsl u32; " + str(header))
    assert ty.endswith(f"vs spec ulong ({bad}:{lh.spec_line(bad, 'pv_cpu_ops', 'load_gs_index', 'x86_64')})")


def test_missing_header_names_the_package(monkeypatch):
    monkeypatch.setattr(lh, "HEADER_GLOB", "/nonexistent/linux-headers-*-common/paravirt_types.h")
    assert lh.find_header() is None
    with pytest.raises(pytest.fail.Exception) as err:
        require_header()
    assert "linux-headers-6.1.0-<N>-common" in str(err.value) and "apt-get install" in str(err.value)


def test_the_header_parser_reads_c():
    pp = lh.preprocess("""
        struct pv_lazy_ops { void (*enter)(void); void (*leave)(void); };
        struct pv_x_ops {
            void (*a)(void);       /* a comment with (*fake)(void); inside */
        #if CONFIG_PGTABLE_LEVELS >= 5 && !defined(CONFIG_X86_32)
            struct paravirt_callee_save b;
        #elif defined CONFIG_SMP
            int (*c)(unsigned long x, const struct mm_struct *mm, pte_t);
        #else
            u64 (*d)(void);
        #endif
            struct pv_lazy_ops lazy;
            void (*set_fixmap)(unsigned /* enum fixed_addresses */ idx,
                               phys_addr_t phys, pgprot_t flags);
        };
    """, {"on": {"CONFIG_SMP": 1, "CONFIG_PGTABLE_LEVELS": 4}, "off": set()})
    got = lh.struct_members(pp, "pv_x_ops")
    assert [(m.name, m.callee_save) for m in got] == [
        ("a", False), ("c", False), ("lazy_enter", False), ("lazy_leave", False), ("set_fixmap", False)]
    assert got[1].ret == "int" and got[1].args == ("unsigned long", "struct mm_struct*", "pte_t")
    assert [lh.pv_type(t) for t in got[1].args] == ["ulong", "ptr<mm_struct>", "u64"]
    assert got[4].args == ("unsigned", "phys_addr_t", "pgprot_t")
    assert [m.line for m in got] == [4, 8, 2, 2, 13]  # nested members: their line in the nested struct


# ---- Linux 2.6.24/25 (no header to compare with: what the spec documents) --------------

def tables_of(spec: Path, arch: str) -> dict[str, list[dict]]:
    return lh.pvdsl_tables(spec, arch)


def names(slots: list[dict]) -> list[str]:
    return [s["hook"] for s in slots]


F9_TABLES = ["pv_init_ops", "pv_time_ops", "pv_cpu_ops", "pv_irq_ops", "pv_apic_ops", "pv_mmu_ops"]


@pytest.mark.parametrize("arch", ARCHES)
def test_2_6_24_has_the_f9_tables(arch):
    got = tables_of(SPEC_2_6_24, arch)
    assert sorted(got) == sorted(F9_TABLES)
    for table, slots in got.items():
        assert [s["slot"] for s in slots] == list(range(len(slots))), table


@pytest.mark.parametrize("arch", ARCHES)
def test_2_6_24_pv_irq_ops_is_unchanged(arch):
    irq = tables_of(SPEC_2_6_24, arch)["pv_irq_ops"]
    assert [(s["hook"], s["callee_save"], [a["type"] for a in s["args"]], s["ret"]) for s in irq] == [
        ("init_IRQ", False, [], "void"),
        ("save_fl", True, [], "ulong"),
        ("restore_fl", True, ["ulong"], "void"),
        ("irq_disable", True, [], "void"),
        ("irq_enable", True, [], "void"),
        ("safe_halt", False, [], "void"),
        ("halt", False, [], "void"),
    ]


@pytest.mark.parametrize("arch", ARCHES)
def test_2_6_24_callee_save_only_on_the_irq_flag_hooks(arch):
    # No PV_CALLEE_SAVE thunks existed yet; only the four irq flag hooks had
    # call sites that let the callee clobber no more than eax (README.md).
    flagged = {(t, s["hook"]) for t, slots in tables_of(SPEC_2_6_24, arch).items() for s in slots if s["callee_save"]}
    assert flagged == {("pv_irq_ops", h) for h in ("save_fl", "restore_fl", "irq_disable", "irq_enable")}


def test_2_6_24_per_arch_members():
    i386, x64 = tables_of(SPEC_2_6_24, "i386"), tables_of(SPEC_2_6_24, "x86_64")
    only_x64 = {"read_cr8", "write_cr8", "load_gs_index", "swapgs", "irq_enable_syscall_ret", "read_tscp", "load_sp0"}
    only_i386 = {"irq_enable_sysexit", "load_esp0"}
    assert only_x64 <= set(names(x64["pv_cpu_ops"])) and not only_x64 & set(names(i386["pv_cpu_ops"]))
    assert only_i386 <= set(names(i386["pv_cpu_ops"])) and not only_i386 & set(names(x64["pv_cpu_ops"]))
    pae = {"set_pte_atomic", "set_pte_present", "pte_clear", "pmd_clear", "kmap_atomic_pte"}
    assert pae <= set(names(i386["pv_mmu_ops"])) and not pae & set(names(x64["pv_mmu_ops"]))
    four_level = {"pud_val", "make_pud", "set_pgd"}
    assert four_level <= set(names(x64["pv_mmu_ops"])) and not four_level & set(names(i386["pv_mmu_ops"]))
    for arch_tables in (i386, x64):
        # The nested struct pv_lazy_ops closes pv_cpu_ops and pv_mmu_ops in 2.6.24/25.
        assert names(arch_tables["pv_cpu_ops"])[-2:] == ["lazy_mode_enter", "lazy_mode_leave"]
        assert names(arch_tables["pv_mmu_ops"])[-2:] == ["lazy_mode_enter", "lazy_mode_leave"]
        # The irq hooks are the same on both arches.
        assert names(arch_tables["pv_irq_ops"]) == names(i386["pv_irq_ops"])


def test_2_6_24_pae_page_table_values_are_u64_on_i386():
    mmu = {s["hook"]: s for s in tables_of(SPEC_2_6_24, "i386")["pv_mmu_ops"]}
    assert mmu["set_pte"]["args"][1]["type"] == "u64"
    assert mmu["pte_val"]["ret"] == "u64" and mmu["pte_val"]["args"][0]["type"] == "u64"
    assert mmu["make_pmd"]["ret"] == "u64"


def test_versions_share_the_table_names():
    """pvdsl abidiff compares tables by name: 6.1's are a subset of 2.6.24's."""
    old = set(tables_of(SPEC_2_6_24, "x86_64"))
    new = set(tables_of(SPEC_6_1, "x86_64"))
    assert new - old == {"pv_lock_ops"}


def test_scratch_copy_of_the_library_resolves_imports(tmp_path):
    # The scratch copies above rely on this: linux.types comes from the library.
    copy = tmp_path / "copy.pv"
    shutil.copy(SPEC_6_1, copy)
    assert run("check", str(copy)) == (0, "")


def test_6_1_tables_in_paravirt_patch_template_order(header):
    # PARAVIRT_PATCH numbers a patch site by its offset in struct
    # paravirt_patch_template, so the order of the tables matters there too.
    template = lh.patch_template(lh.preprocess(header.read_text(), lh.CONFIGS["x86_64"]))
    assert list(tables_of(SPEC_6_1, "x86_64")) == list(template.values())


def test_readme_slot_counts_are_the_specs():
    """pvdsl/specs/linux/README.md's table of slot counts, against pvdsl abi."""
    readme = (LINUX_SPECS / "README.md").read_text()
    columns = [(SPEC_2_6_24, "i386"), (SPEC_2_6_24, "x86_64"), (SPEC_6_1, "i386"), (SPEC_6_1, "x86_64")]
    got = {col: {t: len(s) for t, s in tables_of(*col).items()} for col in columns}
    rows = re.findall(r"^\| (pv_\w+) \|(.*)\|$", readme, re.M)
    assert {r[0] for r in rows} == {t for counts in got.values() for t in counts}
    for table, cells in rows:
        for col, cell in zip(columns, cells.split("|")):
            want = None if cell.strip() == "–" else int(cell)
            assert got[col].get(table) == want, (table, col[0].name, col[1], cell)


def test_an_undecided_config_option_is_reported(header, monkeypatch):
    on = dict(lh.CONFIGS["x86_64"]["on"])
    del on["CONFIG_X86_IOPL_IOPERM"]
    monkeypatch.setitem(lh.CONFIGS, "x86_64", {"on": on, "off": set(lh.CONFIGS["x86_64"]["off"])})
    [msg] = lh.undecided_conditions(header, "x86_64")
    assert re.fullmatch(rf"{re.escape(str(header))}:\d+: `#ifdef CONFIG_X86_IOPL_IOPERM` \(struct pv_cpu_ops\) "
                        r"reads CONFIG_X86_IOPL_IOPERM, which the x86_64 config of .* neither sets nor unsets", msg)
