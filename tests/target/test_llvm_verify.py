"""Every .ll that `pvdsl build` writes is real LLVM IR: re-parsed by LLVM,
verified, and compiled again (with a target machine configured here from
DESIGN.md, not pvdsl's) into exactly the object that was written next to it.

Known bug (reported): pvdsl.target.machine caches one TargetMachine per arch,
and LLVM's ELF lowering keeps per-module state in it (the llvm.used pointer
set, the unique-section counter). A later module can then inherit a stale
"used" mark: a table lands in `.data.<table>` with SHF_GNU_RETAIN, percpu data
gets the R flag, OS/ABI becomes GNU. A fresh TargetMachine per module (what
this test uses) is deterministic. When an object shows exactly that
signature the test reports XFAIL naming it; any other difference fails.
"""

from __future__ import annotations

import json
import re

import llvmlite.binding as llvm
import pytest

TARGETS = [f"{a}-{r}" for a in ("i386", "x86_64") for r in ("native", "domu", "dom0")]
TRIPLE = {"i386": "i686-pc-linux-gnu", "x86_64": "x86_64-pc-linux-gnu"}
PERCPU_ADDRSPACE = {"i386": 257, "x86_64": 256}  # %fs / %gs


def fresh_machine(arch: str):
    """A new target machine for each module (see the module docstring)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    # The kernel's model: static, no SSE/MMX/x87, -mcmodel=kernel on x86_64.
    return llvm.Target.from_triple(TRIPLE[arch]).create_target_machine(
        cpu="", features="-sse,-sse2,-mmx,-x87,-avx", opt=2, reloc="static",
        codemodel="kernel" if arch == "x86_64" else "default")


def stale_target_machine_symptoms(obj: bytes) -> list[str]:
    """The signature of the cached-TargetMachine bug in one object."""
    import io

    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(obj))
    out = []
    names = [s.name for s in elf.iter_sections()]
    for sec in elf.iter_sections():
        if sec["sh_flags"] & 0x200000 and sec.name != ".pvpatch":  # SHF_GNU_RETAIN
            out.append(f"{sec.name} has SHF_GNU_RETAIN")
        if sec.name.startswith(".data.") and sec.name != ".data..percpu":
            out.append(f"data in its own section {sec.name}")
    if elf["e_ident"]["EI_OSABI"] != "ELFOSABI_SYSV" and ".pvpatch" not in names:
        out.append("OS/ABI GNU without any SHF_GNU_RETAIN section of its own")
    return out


def parse_and_verify(text: str):
    mod = llvm.parse_assembly(text)
    mod.verify()
    return mod


def _lls(build, target):
    out = []
    for mf in sorted(build.glob("*.manifest.json")):
        m = json.loads(mf.read_text())
        if m["target"] == target:
            out.append((m, build / (m["object"][:-2] + ".ll")))
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_every_ll_parses_verifies_and_is_the_object(examples_build, target):
    arch = target.split("-")[0]
    files = _lls(examples_build, target)
    assert files, f"nothing built for {target}"
    known = []
    for m, ll in files:
        text = ll.read_text()
        mod = parse_and_verify(text)
        assert mod.triple == TRIPLE[arch], ll.name
        obj = fresh_machine(arch).emit_object(mod)
        assert not stale_target_machine_symptoms(obj), "a fresh target machine must give a clean object"
        written = (examples_build / m["object"]).read_bytes()
        if obj != written:
            symptoms = stale_target_machine_symptoms(written)
            assert symptoms, f"{ll.name} does not compile to {m['object']}"
            known.append(f"{m['object']}: {'; '.join(symptoms)}")
    assert not known, "output depends on earlier compilations: " + " | ".join(known)


def test_all_written_ll_files_were_checked(examples_build):
    checked = {(m["object"][:-2] + ".ll") for t in TARGETS for m, _ll in _lls(examples_build, t)}
    assert checked == {p.name for p in examples_build.glob("*.ll")}


@pytest.mark.parametrize("target", TARGETS)
def test_ir_carries_the_kernel_conventions(examples_build, target):
    arch = target.split("-")[0]
    for m, ll in _lls(examples_build, target):
        text = ll.read_text()
        mod = parse_and_verify(text)
        # No debug info: goldens and objects do not depend on where they were built.
        assert "!dbg" not in text and "DILocation" not in text and "llvm.dbg" not in text, ll.name
        hooks = {h["symbol"] for hs in m["tables"].values() for h in hs}
        defined = {f.name: f for f in mod.functions if not f.is_declaration}
        assert hooks <= set(defined), ll.name
        for name, f in defined.items():
            attrs = b" ".join(f.attributes).decode()
            assert {"noredzone", "noimplicitfloat", "nounwind"} <= set(attrs.split()), (ll.name, name, attrs)
        for name in hooks:
            sig = re.search(rf"^define [^@]*@{name}\((.*?)\)", text, re.M).group(1)
            params = [p.strip() for p in sig.split(",")] if sig else []
            inreg = [" inreg" in f" {p}" for p in params]
            if arch == "x86_64":
                assert not any(inreg), (ll.name, name, sig)
            else:
                # regparm(3): leading words fit in eax, edx, ecx; an i64 takes two;
                # from the first that does not fit on, the stack.
                free, want = 3, []
                for p in params:
                    words = 2 if p.startswith("i64") else 1
                    fits = bool(want == [] or want[-1]) and words <= free
                    want.append(fits)
                    free -= words if fits else 0
                assert inreg == want, (ll.name, name, sig)
        for name in m["percpu"]:
            g = re.search(rf"^@{name} = .*$", text, re.M).group(0)
            assert f"addrspace({PERCPU_ADDRSPACE[arch]})" in g and 'section ".data..percpu"' in g, g


def test_verification_can_fail(examples_build):
    text = (examples_build / "xen-x86_64-domu.ll").read_text()
    parse_and_verify(text)
    # A block without its terminator is caught by the verifier (or the parser).
    broken = re.sub(r"(define void @xen_irq_disable\(\)[^{]*\{\n(?:.*\n)*?)  ret void\n", r"\1", text, count=1)
    assert broken != text
    with pytest.raises(RuntimeError):
        parse_and_verify(broken)
    # A value used with the wrong type is a parse error.
    with pytest.raises(RuntimeError):
        parse_and_verify(text.replace("[7 x ptr] [ptr @xen_init_IRQ", "[7 x i32] [ptr @xen_init_IRQ", 1))
