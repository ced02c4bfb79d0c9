"""gcc and pvdsl agree on the kernel calling convention.

gcc compiles C callers that call hooks through the generated header's table
struct (so gcc alone decides the argument registers: regparm(3) with 64-bit
values split low/high on i386, the SysV registers on x86_64, the stack for
what does not fit). The abstract interpreter then follows gcc's code into the
pvdsl hook the table slot holds and checks where the caller's constants end
up: in the stores the hook makes, in the instruction that consumes them, in
the hypercall's registers, and (for results) in the caller's stores of the
returned value. Any disagreement about which register carries which word
shows up as a constant in the wrong place.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cbuild import compile_c
from x86_absint import MODES, Elf, call_into, function_analysis

P = [0x10000, 0x20000, 0x30000, 0x40000]  # pointer arguments
V64 = 0x1122334455667788
LO, HI = V64 & 0xFFFFFFFF, V64 >> 32

CALLERS = {
    "native_mmu": """
void call_set_pte(void) { demo_mmu_ops.set_pte((pvdsl_u64 *)0x10000, 0x1122334455667788ULL); }
#if defined(PVDSL_I386)
void call_set_pte_atomic(void) { demo_mmu_ops.set_pte_atomic((pvdsl_u64 *)0x10000, 0x1122334455667788ULL); }
#endif
void call_pte_val(pvdsl_u64 *out) { *out = demo_mmu_ops.pte_val(0x1122334455667788ULL); }
void call_write_cr3(void) { demo_mmu_ops.write_cr3(0xabc000); }
""",
    "xen_mmu": """
void call_set_pte(void) { demo_mmu_ops.set_pte((pvdsl_u64 *)0x10000, 0x1122334455667788ULL); }
#if defined(PVDSL_I386)
void call_set_pte_atomic(void) { demo_mmu_ops.set_pte_atomic((pvdsl_u64 *)0x10000, 0x1122334455667788ULL); }
#endif
void call_flush_tlb_single(void) { demo_mmu_ops.flush_tlb_single(0x7000); }
void call_pte_val(pvdsl_u64 *out) { *out = demo_mmu_ops.pte_val(0x1122334455667788ULL); }
""",
    "native_cpu": """
void call_cpuid(void) {
    demo_cpu_ops.cpuid((pvdsl_u32 *)0x10000, (pvdsl_u32 *)0x20000, (pvdsl_u32 *)0x30000, (pvdsl_u32 *)0x40000);
}
void call_read_msr(pvdsl_u64 *out) { *out = demo_cpu_ops.read_msr(0xc0000080); }
void call_read_tsc(pvdsl_u64 *out) { *out = demo_cpu_ops.read_tsc(); }
""",
    "xen_cpu": """
void call_cpuid(void) {
    demo_cpu_ops.cpuid((pvdsl_u32 *)0x10000, (pvdsl_u32 *)0x20000, (pvdsl_u32 *)0x30000, (pvdsl_u32 *)0x40000);
}
void call_set_debugreg(void) { demo_cpu_ops.set_debugreg(-3, 0x1234); }
void call_get_debugreg(pvdsl_ulong *out) { *out = demo_cpu_ops.get_debugreg(7); }
""",
}


# Struct layouts are test_c_link's business (the header's _Static_asserts);
# here only the calls matter, so a layout assertion does not stop the check.
NO_LAYOUT_ASSERTS = "#define _Static_assert(cond, msg) extern int pvdsl_layout_assert_not_checked_here\n"


def compile_callers(build: Path, backend: str, arch: str, tmp: Path, source: str | None = None) -> Elf:
    src = NO_LAYOUT_ASSERTS + f'#include "{backend}.h"\n' + (source if source is not None else CALLERS[backend])
    return Elf.read(compile_c(src, arch, build, tmp / f"{backend}-{arch}-callers.o"))


def table_slots(elf: Elf) -> dict:
    """(table symbol, byte offset) -> the function symbol in that slot."""
    syms = elf.symbols()
    out = {}
    for off, (sym, addend, _t) in elf.relocations(".data").items():
        for name, s in syms.items():
            if s["section"] == ".data" and s["value"] <= off < s["value"] + s["size"]:
                out[(name, off - s["value"])] = (sym, addend)
    return out


class Run:
    """gcc's caller `fn`, followed into the pvdsl hook it calls."""

    def __init__(self, caller: Elf, fn: str, callee: Elf, arch: str):
        self.arch, self.mode = arch, MODES[arch]
        slots = table_slots(callee)
        self.callees: dict[int, tuple] = {}
        self.called: list[str] = []

        def on_call(site):
            if not site.indirect or site.symbol is None:
                return None
            target, addend = slots[(site.symbol, site.offset)]
            assert addend == 0
            sink = []
            after = call_into(callee, target, self.mode, site.state, sink, tail=site.tail)
            self.callees[site.address] = (target, sink[-1])
            return after

        self.caller = function_analysis(caller, fn, self.mode, on_call=on_call)
        assert len(self.callees) == 1, f"{fn}: expected one call through a table, saw {len(self.callees)}"
        (self.target, self.callee), = self.callees.values()

    def stores(self, where, size) -> list:
        """Values stored at `where` with `size`, callee stores first, in address order."""
        return [s.value for s in self.callee.stores + self.caller.stores if s.where == where and s.size == size]

    def at(self, pred):
        """The callee's state before the one instruction matching pred."""
        hits = [a for a, i in self.callee.insns.items() if pred(i) and a in self.callee.states]
        assert len(hits) == 1, [str(self.callee.insns[a]) for a in hits]
        return self.callee.states[hits[0]], self.callee.insns[hits[0]]

    def hypercall(self):
        sites = [c for c in self.callee.calls if c.symbol == "hypercall_page"]
        assert len(sites) == 1, sites
        return sites[0]


def C(n: int, mode) -> tuple:
    return ("const", n & ((1 << mode.bits) - 1))


def out_param(arch: str):
    return ("entry", "eax" if arch == "i386" else "rdi")  # the caller's own first argument


def def_of(arch: str, insn_addr: int, reg32: str):
    """What a store of 32-bit register `reg32` holds after instruction
    `insn_addr` wrote it."""
    if arch == "i386":
        return ("def", insn_addr, reg32)
    return ("low32", ("def", insn_addr, "r" + reg32[1:]))


def check_u64_at(run: Run, where_lo, where_hi, where64, value: int):
    m = run.mode
    if run.arch == "i386":
        assert run.stores(where_lo, 4) == [C(value & 0xFFFFFFFF, m)], run.stores(where_lo, 4)
        assert run.stores(where_hi, 4) == [C(value >> 32, m)], run.stores(where_hi, 4)
    else:
        assert run.stores(where64, 8) == [C(value, m)], run.stores(where64, 8)


def struct_at(site, ptr_reg: str, off: int, size: int):
    p = site.state.regs.get(ptr_reg)
    assert p and p[0] == "sp", p
    return site.state.read_mem(p[1] + off, size)


# ---- the checks, per backend and hook ---------------------------------------------------

def check_native_mmu(arch, caller, callee):
    m = MODES[arch]
    r = Run(caller, "call_set_pte", callee, arch)
    assert r.target == "native_mmu_set_pte"
    check_u64_at(r, ("abs", P[0]), ("abs", P[0] + 4), ("abs", P[0]), V64)
    if arch == "i386":
        r = Run(caller, "call_set_pte_atomic", callee, arch)
        assert r.target == "native_mmu_set_pte_atomic"
        check_u64_at(r, ("abs", P[0]), ("abs", P[0] + 4), None, V64)
        # PAE: the high half first, as Linux's set_pte_atomic does.
        order = [s.where for s in r.callee.stores if s.where[0] == "abs"]
        assert order == [("abs", P[0] + 4), ("abs", P[0])], order
    r = Run(caller, "call_pte_val", callee, arch)
    check_u64_at(r, (out_param(arch), 0), (out_param(arch), 4), (out_param(arch), 0), V64)
    r = Run(caller, "call_write_cr3", callee, arch)
    st, insn = r.at(lambda i: i.mnemonic == "mov" and i.op_str.startswith("cr3"))
    src = insn.op_str.split(", ")[1]
    assert st.regs.get(m.canon(src)) == C(0xABC000, m), (insn, st.regs.get(m.canon(src)))


def check_xen_mmu(arch, caller, callee):
    m = MODES[arch]
    ptr_reg = m.hypercall_args[0]
    for fn in ("call_set_pte", "call_set_pte_atomic") if arch == "i386" else ("call_set_pte",):
        site = Run(caller, fn, callee, arch).hypercall()
        assert site.hypercall == 1  # mmu_update
        if arch == "i386":
            got = [struct_at(site, ptr_reg, o, 4) for o in (0, 4, 8, 12)]
            assert got == [C(P[0], m), C(0, m), C(LO, m), C(HI, m)], got
        else:
            got = [struct_at(site, ptr_reg, o, 8) for o in (0, 8)]
            assert got == [C(P[0], m), C(V64, m)], got
    site = Run(caller, "call_flush_tlb_single", callee, arch).hypercall()
    assert site.hypercall == 26  # mmuext_op
    w = m.word
    assert struct_at(site, ptr_reg, 0, 4) == C(7, m)  # MMUEXT_INVLPG_LOCAL
    assert struct_at(site, ptr_reg, w, w) == C(0x7000, m)
    r = Run(caller, "call_pte_val", callee, arch)
    check_u64_at(r, (out_param(arch), 0), (out_param(arch), 4), (out_param(arch), 0), V64)


def check_cpuid(arch, caller, callee):
    r = Run(caller, "call_cpuid", callee, arch)
    cpuid = next(a for a, i in r.callee.insns.items() if i.mnemonic == "cpuid")
    for p, reg in zip(P, ("eax", "ebx", "ecx", "edx")):
        got = r.stores(("abs", p), 4)
        # xen_cpu masks CPUID.1:ECX afterwards with a read-modify-write.
        assert got[:1] == [def_of(arch, cpuid, reg)], (hex(p), reg, got)


def check_native_cpu(arch, caller, callee):
    m = MODES[arch]
    check_cpuid(arch, caller, callee)
    r = Run(caller, "call_read_msr", callee, arch)
    st, insn = r.at(lambda i: i.mnemonic == "rdmsr")
    assert st.regs.get(m.canon("ecx")) == C(0xC0000080, m)
    if arch == "i386":  # the u64 result comes back in edx:eax
        assert r.stores((out_param(arch), 0), 4) == [("def", insn.address, "eax")]
        assert r.stores((out_param(arch), 4), 4) == [("def", insn.address, "edx")]
    r = Run(caller, "call_read_tsc", callee, arch)
    _st, insn = r.at(lambda i: i.mnemonic == "rdtsc")
    if arch == "i386":
        assert r.stores((out_param(arch), 0), 4) == [("def", insn.address, "eax")]
        assert r.stores((out_param(arch), 4), 4) == [("def", insn.address, "edx")]


def check_xen_cpu(arch, caller, callee):
    m = MODES[arch]
    check_cpuid(arch, caller, callee)
    site = Run(caller, "call_set_debugreg", callee, arch).hypercall()
    assert site.hypercall == 8
    a0, a1 = m.hypercall_args[:2]
    assert (site.state.regs.get(a0), site.state.regs.get(a1)) == (C(-3, m), C(0x1234, m))
    r = Run(caller, "call_get_debugreg", callee, arch)
    site = r.hypercall()
    assert site.hypercall == 9 and site.state.regs.get(a0) == C(7, m)
    # The hypercall's result (rax/eax) is what the caller stores.
    assert r.stores((out_param(arch), 0), m.word) == [("def", site.address, m.ret)]


CHECKS = {"native_mmu": check_native_mmu, "xen_mmu": check_xen_mmu, "native_cpu": check_native_cpu,
          "xen_cpu": check_xen_cpu}


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
@pytest.mark.parametrize("backend", sorted(CHECKS))
def test_gcc_caller_and_pvdsl_hook_agree(examples_build, tmp_path, backend, arch):
    target = f"{arch}-native" if backend.startswith("native") else f"{arch}-domu"
    manifest = json.loads((examples_build / f"{backend}-{target}.manifest.json").read_text())
    callee = Elf.read(examples_build / manifest["object"])
    caller = compile_callers(examples_build, backend, arch, tmp_path)
    CHECKS[backend](arch, caller, callee)


def test_the_abi_check_catches_a_swapped_register_pair(examples_build, tmp_path):
    """If the caller put the pte's halves the other way round (as a
    convention mismatch would), the check fails."""
    arch = "i386"
    src = CALLERS["native_mmu"].replace("0x1122334455667788ULL)", "0x5566778811223344ULL)", 1)
    caller = compile_callers(examples_build, "native_mmu", arch, tmp_path, src)
    callee = Elf.read(examples_build / "native_mmu-i386-native.o")
    with pytest.raises(AssertionError):
        check_native_mmu(arch, caller, callee)
    # And calling the wrong slot is noticed too.
    src = CALLERS["native_mmu"].replace("demo_mmu_ops.write_cr3(", "demo_mmu_ops.flush_tlb_single(")
    caller = compile_callers(examples_build, "native_mmu", arch, tmp_path, src)
    with pytest.raises(AssertionError):
        check_native_mmu(arch, caller, callee)
