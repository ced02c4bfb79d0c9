"""The generated machine code, read back with capstone.

(a) Every hypercall call site puts its arguments in Xen's registers
    (x86_64 rdi, rsi, rdx, r10, r8; i386 ebx, ecx, edx, esi, edi) and calls
    hypercall_page + 32*N for the right N.
(b) Every hook keeps the registers its convention says it keeps, on every
    path: a callee_save hook everything but the callee-clobber set (x86_64
    rax; i386 eax, edx), an ordinary hook the C callee-saved set.

The register facts are restated from DESIGN.md ("ABI facts") in x86_absint,
not imported from pvdsl.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import pytest

from x86_absint import MODES, Elf, analyse, fast_path_length, function_analysis, preservation_violations

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.stem for p in (REPO / "examples").glob("*.pv"))
TARGETS = [f"{a}-{r}" for a in ("i386", "x86_64") for r in ("native", "domu", "dom0")]

# DESIGN.md "ABI facts": kernel argument registers, callee-saved sets and the
# callee_save clobber sets.
KERNEL_ARGS = {"x86_64": ("rdi", "rsi", "rdx", "rcx", "r8", "r9"), "i386": ("eax", "edx", "ecx")}
CALLEE_SAVED = {"x86_64": ("rbx", "rbp", "r12", "r13", "r14", "r15"), "i386": ("ebx", "esi", "edi", "ebp")}
CALLEE_SAVE_CLOBBERS = {"x86_64": ("rax",), "i386": ("eax", "edx")}
# xen.h / sched.h / DESIGN.md hypercall numbers and constants.
HYPERCALL_NUMBERS = {"mmu_update": 1, "set_debugreg": 8, "get_debugreg": 9, "xen_version": 17, "mmuext_op": 26,
                     "sched_op": 29}
DOMID_SELF = 0x7FF0
SCHEDOP_block = 1
MMUEXT_NEW_BASEPTR = 5
MMUEXT_INVLPG_LOCAL = 7


def must_keep(arch: str, callee_save: bool) -> list[str]:
    mode = MODES[arch]
    if callee_save:
        return [r for r in mode.gprs if r != mode.sp and r not in CALLEE_SAVE_CLOBBERS[arch]]
    return list(CALLEE_SAVED[arch])


# ---- the built objects ---------------------------------------------------------------

def _load(out: Path) -> dict:
    built = {}
    for mf in sorted(out.glob("*.manifest.json")):
        m = json.loads(mf.read_text())
        built[mf.name[:-len(".manifest.json")]] = (m, Elf.read(out / m["object"]))
    return built


@pytest.fixture(scope="module")
def built(examples_build) -> dict:
    """'<backend>-<target>' -> (manifest, Elf) for every example object."""
    objs = _load(examples_build)
    assert objs, "the examples built nothing"
    return objs


def _select(built: dict, example: str, target: str) -> dict:
    return {k: v for k, v in built.items() if v[0]["target"] == target and Path(v[0]["source"]).stem == example}


# ---- (a) hypercall argument registers -----------------------------------------------

STACK = "a pointer to a local"


def E(arch: str, i: int):
    """The entry value of the i-th kernel argument register."""
    return ("entry", KERNEL_ARGS[arch][i])


def sext32(arch: str, v):
    return v if arch == "i386" else ("sext32", v)


def expected_hypercalls(backend: str, hook: str, arch: str):
    """(hypercall name, [argument values], {(struct offset, size): value}) for
    each hook the examples implement with a hypercall; None for the rest.
    Struct offsets are relative to the first argument (a pointer to a local)."""
    w = 8 if arch == "x86_64" else 4
    table = {
        # examples/irq.pv: force_evtchn_callback() is xen_version(0, null).
        ("xen", "restore_fl"): ("xen_version", [0, 0], {}),
        ("xen", "irq_enable"): ("xen_version", [0, 0], {}),
        ("xen", "safe_halt"): ("sched_op", [SCHEDOP_block, 0], {}),
        ("xen", "halt"): ("sched_op", [SCHEDOP_block, 0], {}),
        # examples/mmu.pv: mmuext_op(&op, 1, null, DOMID_SELF) with op.cmd set;
        # mmuext_op is {u32 cmd; ulong arg1; ulong arg2} (12 / 24 bytes).
        ("xen_mmu", "write_cr3"): ("mmuext_op", [STACK, 1, 0, DOMID_SELF], {(0, 4): MMUEXT_NEW_BASEPTR}),
        ("xen_mmu", "flush_tlb_single"): ("mmuext_op", [STACK, 1, 0, DOMID_SELF],
                                          {(0, 4): MMUEXT_INVLPG_LOCAL, (w, w): E(arch, 0)}),
        # mmu_update(&u, 1, null, DOMID_SELF), u = {u64 ptr = ptep; u64 val = pte};
        # on i386 the pte arrives in edx (low) and ecx (high), after ptep in eax.
        ("xen_mmu", "set_pte"): ("mmu_update", [STACK, 1, 0, DOMID_SELF],
                                 {(0, 8): E(arch, 0), (8, 8): E(arch, 1)} if arch == "x86_64" else
                                 {(0, 4): E(arch, 0), (4, 4): 0, (8, 4): E(arch, 1), (12, 4): E(arch, 2)}),
        ("xen_mmu", "set_pte_atomic"): ("mmu_update", [STACK, 1, 0, DOMID_SELF],
                                        {(0, 4): E(arch, 0), (4, 4): 0, (8, 4): E(arch, 1), (12, 4): E(arch, 2)}),
        # examples/cpu.pv: the s32 register number is sign-extended to a word.
        ("xen_cpu", "get_debugreg"): ("get_debugreg", [sext32(arch, E(arch, 0))], {}),
        ("xen_cpu", "set_debugreg"): ("set_debugreg", [sext32(arch, E(arch, 0)), E(arch, 1)], {}),
    }
    return table.get((backend, hook))


def _as_value(x):
    return ("const", x) if isinstance(x, int) else x


def hypercall_mismatches(analysis, arch: str, expected) -> list[str]:
    """Compare the hypercall call sites of one function with the expectation."""
    name, args, memory = expected
    mode = MODES[arch]
    sites = [c for c in analysis.calls if c.symbol == "hypercall_page"]
    out = []
    if len(sites) != 1:
        return [f"expected one call of hypercall_page, found {len(sites)}"]
    site = sites[0]
    if site.indirect:
        out.append("the hypercall is an indirect call")
    if site.hypercall != HYPERCALL_NUMBERS[name]:
        out.append(f"calls hypercall_page entry {site.hypercall}, expected {name} = {HYPERCALL_NUMBERS[name]}")
    for reg, want in zip(mode.hypercall_args, args):
        got = site.state.regs.get(reg)
        if want is STACK:
            if not (got and got[0] == "sp"):
                out.append(f"{reg} = {got!r}, expected a pointer to a local")
                continue
            for (off, size), value in memory.items():
                stored = site.state.read_mem(got[1] + off, size)
                if stored != _as_value(value):
                    out.append(f"[{reg}+{off}] ({size} bytes) = {stored!r}, expected {_as_value(value)!r}")
        elif got != _as_value(want):
            out.append(f"{reg} = {got!r}, expected {_as_value(want)!r}")
    return out


def _hypercall_cases():
    for t in TARGETS:
        if t.endswith("native"):
            continue
        yield t


@pytest.mark.parametrize("target", list(_hypercall_cases()))
def test_hypercall_arguments_are_in_xen_registers(built, target):
    arch = target.split("-")[0]
    checked, problems = 0, []
    for key, (m, elf) in built.items():
        if m["target"] != target:
            continue
        for hooks in m["tables"].values():
            for h in hooks:
                exp = expected_hypercalls(m["backend"], h["hook"], arch)
                a = function_analysis(elf, h["symbol"], MODES[arch])
                if exp is None:
                    if any(c.symbol == "hypercall_page" for c in a.calls):
                        problems.append(f"{key} {h['symbol']}: makes a hypercall this test does not know of; "
                                        "add its expected arguments")
                    continue
                checked += 1
                problems += [f"{key} {h['symbol']}: {p}" for p in hypercall_mismatches(a, arch, exp)]
    assert checked >= 9, f"only {checked} hypercalling hooks found for {target}"
    assert not problems, "\n".join(problems)


def test_hypercall_sites_agree_with_manifest(built):
    """Every hypercall the manifest lists is made somewhere in the object, at
    hypercall_page + 32*N, and no other one is made; native objects make none."""
    for key, (m, elf) in built.items():
        mode = MODES[m["arch"]]
        used = {h["name"]: h["number"] for h in m["hypercalls_used"]}
        for h in m["hypercalls_used"]:
            assert h["entry_offset"] == 32 * h["number"], (key, h)
            assert HYPERCALL_NUMBERS.get(h["name"], h["number"]) == h["number"], (key, h)
        made = set()
        for hooks in m["tables"].values():
            for h in hooks:
                a = function_analysis(elf, h["symbol"], mode)
                for c in a.calls:
                    if c.symbol == "hypercall_page":
                        assert not c.indirect and not c.tail, (key, h["symbol"], c.address)
                        made.add(c.hypercall)
        assert made == set(used.values()), (key, made, used)
        if m["role"] == "native":
            assert not used and "hypercall_page" not in m["undefined"], key
        # The relocation itself: hypercall_page + 32*N, PC-relative (addend -4).
        text_relocs = elf.relocations(".text")
        hc = [(s, a) for s, a, _t in text_relocs.values() if s == "hypercall_page"]
        assert {(a + 4) // 32 for _s, a in hc} == set(used.values()), (key, hc)
        assert all((a + 4) % 32 == 0 for _s, a in hc), (key, hc)


@pytest.mark.parametrize("target", ["x86_64-domu", "x86_64-dom0"])
def test_xen_fast_paths_meet_linux_hand_written_bar(built, target):
    """DESIGN.md: Linux's xen-asm.S fast paths, counted with their ret:
    irq_disable 2 instructions, irq_enable 4, save_fl 4."""
    m, elf = built[f"xen-{target}"]
    for hook, bar in (("irq_disable", 2), ("irq_enable", 4), ("save_fl", 4)):
        n = fast_path_length(function_analysis(elf, f"xen_{hook}", MODES["x86_64"]))
        assert n is not None and n <= bar, f"xen_{hook}: {n} instructions on its fast path, Linux needs {bar}"


# ---- (b) register preservation on every path -------------------------------------------

def preservation_report(built_objs: dict) -> tuple[int, list[str]]:
    checked, problems = 0, []
    for key, (m, elf) in built_objs.items():
        arch = m["arch"]
        assert list(m["conventions"]["callee_save_clobbers"]) == list(CALLEE_SAVE_CLOBBERS[arch]), key
        for hooks in m["tables"].values():
            for h in hooks:
                a = function_analysis(elf, h["symbol"], MODES[arch])
                keep = must_keep(arch, h["callee_save"])
                checked += 1
                problems += [f"{key} {h['symbol']} ({'callee_save' if h['callee_save'] else 'ordinary'}): {v}"
                             for v in preservation_violations(a, keep)]
    return checked, problems


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("example", EXAMPLES)
def test_hooks_preserve_registers_on_every_path(built, example, target):
    objs = _select(built, example, target)
    if not objs:
        pytest.skip(f"examples/{example}.pv has no backend for {target}")
    checked, problems = preservation_report(objs)
    assert checked and not problems, "\n".join(problems)


def test_callee_save_hooks_were_checked(built):
    """The preservation test above saw the callee_save hooks the specs declare
    (pv_irq_ops flag hooks, demo_mmu_ops.read_cr2), for every backend."""
    seen = {(m["backend"], m["target"], h["hook"]) for m, _e in built.values()
            for hooks in m["tables"].values() for h in hooks if h["callee_save"]}
    for t in TARGETS:
        be = ("native", "native_mmu") if t.endswith("native") else ("xen", "xen_mmu")
        for hook in ("save_fl", "restore_fl", "irq_disable", "irq_enable"):
            assert (be[0], t, hook) in seen, (be[0], t, hook)
        assert (be[1], t, "read_cr2") in seen


def _shipped_backend_specs() -> list[Path]:
    specs = REPO / "pvdsl" / "specs"
    return sorted(p for p in specs.rglob("*.pv")
                  if any(line.lstrip().startswith("backend ") for line in p.read_text().splitlines()))


def test_shipped_library_backends_preserve_registers(tmp_path):
    files = _shipped_backend_specs()
    if not files:
        pytest.skip("the shipped library (pvdsl/specs) declares no backends yet")
    from pvdsl.cli.main import main

    with contextlib.chdir(REPO):
        status = main(["build", *[str(f.relative_to(REPO)) for f in files], "--target", "all",
                       "-o", str(tmp_path), "-q", "--emit", "obj,manifest"])
    assert status == 0
    checked, problems = preservation_report(_load(tmp_path))
    assert checked and not problems, "\n".join(problems)


# ---- the checkers can fail ----------------------------------------------------------

def assemble(src: str, arch: str, tmp_path: Path, name: str = "f") -> tuple[Elf, str]:
    s = tmp_path / f"{name}.s"
    o = tmp_path / f"{name}.o"
    s.write_text(f".text\n.globl {name}\n.type {name},@function\n{name}:\n{src}\n.size {name}, .-{name}\n")
    subprocess.run(["as", "--64" if arch == "x86_64" else "--32", "-o", str(o), str(s)], check=True)
    return Elf.read(o), name


def violations_of(src: str, arch: str, tmp_path: Path, callee_save: bool = True) -> list[str]:
    elf, name = assemble(src, arch, tmp_path)
    return preservation_violations(function_analysis(elf, name, MODES[arch]), must_keep(arch, callee_save))


def test_checker_reports_rcx_clobbered_on_one_branch(tmp_path):
    v = violations_of("""
        testl %edi, %edi
        je 1f
        movl $1, %ecx
    1:  xorl %eax, %eax
        ret""", "x86_64", tmp_path)
    assert v and all("rcx" in x for x in v), v


def test_checker_accepts_saved_and_restored_registers(tmp_path):
    assert violations_of("""
        pushq %rcx
        pushq %r11
        testl %edi, %edi
        je 1f
        movl $1, %ecx
        movq %rcx, %r11
        subq $16, %rsp
        movq %rdi, 8(%rsp)
        movl $0, %edi
        movq 8(%rsp), %rdi
        addq $16, %rsp
    1:  popq %r11
        popq %rcx
        movl $1, %eax
        ret""", "x86_64", tmp_path) == []


def test_checker_reports_swapped_restores(tmp_path):
    v = violations_of("""
        pushq %rsi
        pushq %rdi
        movl $3, %esi
        movl $4, %edi
        popq %rsi
        popq %rdi
        ret""", "x86_64", tmp_path)
    assert any("rsi" in x for x in v) and any("rdi" in x for x in v), v


def test_checker_reports_unbalanced_stack(tmp_path):
    v = violations_of("""
        testl %edi, %edi
        jne 1f
        pushq %rbx
    1:  ret""", "x86_64", tmp_path)
    assert any("stack pointer" in x for x in v), v


def test_checker_reports_call_clobbers(tmp_path):
    # An ordinary call may clobber every caller-saved register; the 64-bit
    # hypercall stub only Xen's argument registers and rax.
    v = violations_of("call other\nret", "x86_64", tmp_path)
    assert {"rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"} <= {x.split()[2] for x in v}, v
    v = violations_of("call hypercall_page+544\nret", "x86_64", tmp_path)
    assert {x.split()[2] for x in v} == {"rdi", "rsi", "rdx", "r10", "r8"}, v


def test_checker_reports_i386_ecx_and_ebp(tmp_path):
    # callee_save on i386: ecx must survive (only eax and edx may change),
    # and ebp is callee-saved anyway.
    v = violations_of("""
        testl %eax, %eax
        je 1f
        movl %ecx, %ebp
        xorl %ecx, %ecx
    1:  xorl %edx, %edx
        ret""", "i386", tmp_path)
    assert {x.split()[2] for x in v} == {"ecx", "ebp"}, v
    assert violations_of("movl %ecx, %ebp\nret", "i386", tmp_path, callee_save=False) != []
    assert violations_of("movl $1, %ecx\nret", "i386", tmp_path, callee_save=False) == []


def test_hypercall_checker_reports_wrong_registers(tmp_path):
    # mmuext_op(&op, 1, null, DOMID_SELF) with the count in rdx instead of rsi.
    src = """
        subq $24, %rsp
        movl $5, (%rsp)
        movq %rsp, %rdi
        movl $1, %edx
        xorl %esi, %esi
        movl $32752, %r10d
        call hypercall_page+832
        addq $24, %rsp
        ret"""
    elf, name = assemble(src, "x86_64", tmp_path)
    a = function_analysis(elf, name, MODES["x86_64"])
    bad = hypercall_mismatches(a, "x86_64", expected_hypercalls("xen_mmu", "write_cr3", "x86_64"))
    assert any(x.startswith("rsi") for x in bad) and any(x.startswith("rdx") for x in bad), bad
    # The same with the registers right passes, and a wrong op.cmd or
    # hypercall number is reported.
    good = src.replace("movl $1, %edx\n        xorl %esi, %esi", "movl $1, %esi\n        xorl %edx, %edx")
    elf, name = assemble(good, "x86_64", tmp_path, "g")
    a = function_analysis(elf, name, MODES["x86_64"])
    assert hypercall_mismatches(a, "x86_64", expected_hypercalls("xen_mmu", "write_cr3", "x86_64")) == []
    bad = hypercall_mismatches(a, "x86_64", expected_hypercalls("xen_mmu", "flush_tlb_single", "x86_64"))
    assert any("[rdi+0]" in x for x in bad), bad
    elf, name = assemble(good.replace("+832", "+800"), "x86_64", tmp_path, "h")
    a = function_analysis(elf, name, MODES["x86_64"])
    assert any("entry 25" in x for x in hypercall_mismatches(
        a, "x86_64", expected_hypercalls("xen_mmu", "write_cr3", "x86_64")))


def test_analysis_follows_loops_to_a_fixpoint():
    # x86_64: xor ecx,ecx; 1: inc rcx; cmp rcx,rdi; jb 1b; ret  -- rcx is
    # written in the loop: a callee_save violation, found without hanging.
    code = bytes.fromhex("31c9" "48ffc1" "4839f9" "72f8" "c3")
    a = analyse(code, 0, MODES["x86_64"])
    v = preservation_violations(a, must_keep("x86_64", True))
    assert len(v) == 1 and "rcx" in v[0], v
