"""From a lowered backend to verified IR, optimised code, an ELF object with
its `.pvpatch` section, and the facts the manifest reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arch import Target
from ..codegen.module import Lowered
from . import machine
from .elf import ObjectFile
from .patches import PatchTemplate, find_templates

PVPATCH_SECTION = ".pvpatch"
TEMPLATE_MAX_BYTES = 16


class BuildError(Exception):
    """The object LLVM produced breaks a rule the kernel relies on."""


@dataclass
class Compiled:
    lowered: Lowered
    ir_text: str  # optimised IR, as written to .ll
    asm: str
    obj: bytes
    templates: list[PatchTemplate] = field(default_factory=list)
    symbols: list = field(default_factory=list)


def _pvpatch_ir(lowered: Lowered, templates: list[PatchTemplate], word_bits: int) -> str:
    """IR for the `.pvpatch` records: {ptr hook, ptr table, i32 slot, i8 length,
    i8 0, i16 clobber mask, [16 x i8] bytes} each."""
    if not templates:
        return ""
    rec = "{ ptr, ptr, i32, i8, i8, i16, [16 x i8] }"
    records = []
    for t in templates:
        padded = t.code + bytes(TEMPLATE_MAX_BYTES - len(t.code))
        data = ", ".join(f"i8 {b}" for b in padded)
        records.append(f"{rec} {{ ptr @{t.symbol}, ptr @{t.table}, i32 {t.slot}, i8 {len(t.code)}, i8 0, "
                       f"i16 {t.clobber_mask}, [16 x i8] [{data}] }}")
    # One array, so the object has exactly one .pvpatch section.
    n = len(records)
    return (f"\n@__pvpatch = private constant [{n} x {rec}] [{', '.join(records)}], "
            f"section \"{PVPATCH_SECTION}\", align {word_bits // 8}\n"
            f"@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section \"llvm.metadata\"\n")


def compile_lowered(lowered: Lowered) -> Compiled:
    arch = lowered.target.arch
    name = f"{lowered.backend}-{lowered.target.name}"
    mod = machine.parse_and_verify(str(lowered.module), name)
    machine.optimise(mod, arch)
    ir_text = str(mod)
    first = ObjectFile(machine.emit_object(mod, arch))
    templates = [t for t in find_templates(first, lowered.hooks, arch) if len(t.code) <= TEMPLATE_MAX_BYTES]
    final_ir = ir_text + _pvpatch_ir(lowered, templates, arch.word_bits)
    # The records are data appended to already optimised IR: the code is the
    # code the templates were read from.
    final = machine.parse_and_verify(final_ir, name) if templates else mod
    obj = machine.emit_object(final, arch)
    compiled = Compiled(lowered, final_ir, machine.emit_assembly(final, arch), obj, templates)
    _check_object(compiled, ObjectFile(obj), lowered.target)
    return compiled


def _check_object(c: Compiled, obj: ObjectFile, target: Target) -> None:
    low = c.lowered
    arch = target.arch
    if obj.elf_class != arch.elf_class or obj.machine != arch.elf_machine:
        raise BuildError(f"{low.backend}-{target.name}: LLVM wrote ELF{obj.elf_class} {obj.machine}, "
                         f"expected ELF{arch.elf_class} {arch.elf_machine}")
    expected_global = {h.symbol for h in low.hooks} | set(low.tables) | set(low.percpu) | set(low.variables)
    allowed_undefined = set(low.undefined)
    c.symbols = obj.symbols()
    for sym in c.symbols:
        if sym.binding != "STB_GLOBAL" and sym.binding != "STB_WEAK":
            continue
        if sym.section is None:
            if sym.name not in allowed_undefined:
                raise BuildError(f"{low.backend}-{target.name}: the object needs '{sym.name}', which the "
                                 "kernel does not provide (LLVM emitted a runtime library call)")
        elif sym.name not in expected_global:
            raise BuildError(f"{low.backend}-{target.name}: unexpected global symbol '{sym.name}'")
    defined = {s.name for s in c.symbols if s.section is not None}
    missing = expected_global - defined
    if missing:
        raise BuildError(f"{low.backend}-{target.name}: symbols missing from the object: {sorted(missing)}")
    for t in c.templates:
        if obj.function_bytes(t.symbol)[:len(t.code)] != t.code:
            raise BuildError(f"{t.symbol}: code changed between the two emissions")
