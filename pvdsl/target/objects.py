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
# Library functions every Linux kernel provides: LLVM may call them for large
# copies and zeroing; they are listed in the manifest. libgcc's helpers
# (__udivdi3 ...) are not among them: i386 kernels do not link libgcc.
KERNEL_LIBRARY = frozenset({"memset", "memcpy", "memmove"})
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


RECORD_TYPE = "{ ptr, ptr, i32, i8, i8, i16, [16 x i8] }"


def record_layout(word_bytes: int) -> tuple[int, int, int, int]:
    """(record size, offset of length, of clobber mask, of bytes) in .pvpatch."""
    head = 2 * word_bytes + 4
    return head + 4 + TEMPLATE_MAX_BYTES, head, head + 2, head + 4


def _pvpatch_ir(lowered: Lowered, templates: dict[str, PatchTemplate], word_bits: int) -> str:
    """IR for the `.pvpatch` records, one per hook in slot order:
    {ptr hook, ptr table, i32 slot, u8 length, u8 0, u16 clobber mask,
    u8 bytes[16]}; length 0 means the hook has no template."""
    records = []
    for h in lowered.hooks:
        t = templates.get(h.symbol)
        code = t.code if t else b""
        data = ", ".join(f"i8 {b}" for b in code + bytes(TEMPLATE_MAX_BYTES - len(code)))
        records.append(f"{RECORD_TYPE} {{ ptr @{h.symbol}, ptr @{h.table}, i32 {h.slot}, i8 {len(code)}, i8 0, "
                       f"i16 {t.clobber_mask if t else 0}, [16 x i8] [{data}] }}")
    # One array, so the object has exactly one .pvpatch section.
    return (f"\n@__pvpatch = private constant [{len(records)} x {RECORD_TYPE}] [{', '.join(records)}], "
            f"section \"{PVPATCH_SECTION}\", align {word_bits // 8}\n"
            f"@llvm.used = appending global [1 x ptr] [ptr @__pvpatch], section \"llvm.metadata\"\n")


def _fill_records(obj: ObjectFile, lowered: Lowered, templates: dict[str, PatchTemplate], word: int) -> bytes:
    """The object with each template's length, clobber mask and bytes written
    into its (zeroed) record: the code is emitted once, then read back."""
    sec = obj.elf.get_section_by_name(PVPATCH_SECTION)
    size, at_len, at_mask, at_bytes = record_layout(word)
    data = bytearray(obj.data)
    for i, h in enumerate(lowered.hooks):
        t = templates.get(h.symbol)
        if t is None:
            continue
        base = sec["sh_offset"] + i * size
        data[base + at_len] = len(t.code)
        data[base + at_mask:base + at_mask + 2] = t.clobber_mask.to_bytes(2, "little")
        data[base + at_bytes:base + at_bytes + len(t.code)] = t.code
    return bytes(data)


def compile_lowered(lowered: Lowered, want_asm: bool = True) -> Compiled:
    arch = lowered.target.arch
    name = f"{lowered.backend}-{lowered.target.name}"
    mod = machine.parse_and_verify(str(lowered.module), name)
    machine.optimise(mod, arch)
    ir_text = str(mod)
    # Zeroed .pvpatch records are appended to the optimised IR, so the code
    # in this one emission is the code the templates are read from.
    final = machine.parse_and_verify(ir_text + _pvpatch_ir(lowered, {}, arch.word_bits), name)
    emitted = ObjectFile(machine.emit_object(final, arch))
    templates = [t for t in find_templates(emitted, lowered.hooks, arch) if len(t.code) <= TEMPLATE_MAX_BYTES]
    by_symbol = {t.symbol: t for t in templates}
    obj = _fill_records(emitted, lowered, by_symbol, arch.word_bytes)
    final_ir = ir_text + _pvpatch_ir(lowered, by_symbol, arch.word_bits)
    # The assembly shows the records as the object has them (filled in).
    asm = machine.emit_assembly(machine.parse_and_verify(final_ir, name), arch) if want_asm and templates else (
        machine.emit_assembly(final, arch) if want_asm else "")
    compiled = Compiled(lowered, final_ir, asm, obj, templates)
    # Symbols and sections are those of the emitted object: filling in the
    # records changed bytes inside .pvpatch only.
    _check_object(compiled, emitted, lowered.target)
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
            if sym.name in KERNEL_LIBRARY:
                if sym.name not in low.undefined:
                    low.undefined.append(sym.name)
                    low.library_calls.append(sym.name)
            elif sym.name not in allowed_undefined:
                hint = " (a 64-bit division or modulo on i386: divide in 32 bits or by a power of two)" \
                    if sym.name in ("__udivdi3", "__divdi3", "__umoddi3", "__moddi3") else ""
                raise BuildError(f"{low.backend}-{target.name}: the object needs '{sym.name}', which the "
                                 f"kernel does not provide (LLVM emitted a runtime library call){hint}")
        elif sym.name not in expected_global:
            raise BuildError(f"{low.backend}-{target.name}: unexpected global symbol '{sym.name}'")
    defined = {s.name for s in c.symbols if s.section is not None}
    missing = expected_global - defined
    if missing:
        raise BuildError(f"{low.backend}-{target.name}: symbols missing from the object: {sorted(missing)}")

