"""LLVM itself: verify, optimise and emit. The only module that touches
llvmlite.binding (through `llvm` below)."""

from __future__ import annotations

import llvmlite.binding as llvm

from ..arch import Arch

llvm.initialize_native_target()
llvm.initialize_native_asmprinter()
llvm.initialize_native_asmparser()  # inline asm (hypercall calls, intrinsics) is parsed by LLVM

OPT_LEVEL = 2


class LLVMError(Exception):
    """LLVM rejected a module: a pvdsl bug, reported with the IR at fault."""


def target_machine(arch: Arch):
    """A new TargetMachine for each module: LLVM keeps per-module state in
    one (section uniquing counters, ...), and a shared one makes the output
    depend on what was compiled before."""
    target = llvm.Target.from_triple(arch.llvm_triple)
    return target.create_target_machine(cpu="", features=arch.llvm_features, opt=OPT_LEVEL, reloc="static",
                                        codemodel=arch.llvm_code_model)


def parse_and_verify(ir_text: str, name: str = "module"):
    """Parse textual IR with LLVM and run its verifier."""
    try:
        mod = llvm.parse_assembly(ir_text)
        mod.name = name
        mod.verify()
    except RuntimeError as err:
        raise LLVMError(f"LLVM rejected the IR of {name}: {err}") from None
    return mod


def optimise(mod, arch: Arch, tm=None) -> None:
    tm = tm or target_machine(arch)
    pto = llvm.create_pipeline_tuning_options(speed_level=OPT_LEVEL)
    pb = llvm.create_pass_builder(tm, pto)
    pm = pb.getModulePassManager()
    pm.run(mod, pb)
    mod.verify()


def emit_object(mod, arch: Arch, tm=None) -> bytes:
    return (tm or target_machine(arch)).emit_object(mod)


def emit_assembly(mod, arch: Arch, tm=None) -> str:
    return (tm or target_machine(arch)).emit_assembly(mod)
