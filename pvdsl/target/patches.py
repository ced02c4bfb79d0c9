"""Patch templates: hooks whose whole body is a short instruction sequence.

A loader may copy a template's bytes over a call site of the hook instead of
calling it, as Linux's paravirt patching does (cli `FA`, save_fl `9C 58`...).
The template is the generated code itself, read back from the object: the
function minus its final `ret`, when it is short enough to fit the call site,
has no branch, call or relocation, and does not touch the stack beyond a
balanced push/pop.
"""

from __future__ import annotations

from dataclasses import dataclass

import capstone
from capstone import x86

from ..arch import Arch
from .elf import ObjectFile

_MODES = {32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}
# Linux's indirect paravirt call site: `call *table+off`, ff 14 25 disp32 on
# x86_64 and ff 15 disp32 on i386.
CALL_SITE_BYTES = {32: 6, 64: 7}
_FLOW_GROUPS = {x86.X86_GRP_JUMP, x86.X86_GRP_CALL, x86.X86_GRP_RET, x86.X86_GRP_INT, x86.X86_GRP_IRET,
                x86.X86_GRP_BRANCH_RELATIVE}


@dataclass(frozen=True)
class PatchTemplate:
    table: str
    hook: str
    slot: int
    symbol: str
    code: bytes
    clobbers: tuple[str, ...]  # registers the bytes write (flags aside)
    clobber_mask: int  # bit i = arch.caller_saved[i]

    def to_json(self) -> dict:
        return {"table": self.table, "hook": self.hook, "slot": self.slot, "symbol": self.symbol,
                "bytes": self.code.hex(" ").upper(), "length": len(self.code),
                "clobbers": list(self.clobbers), "clobber_mask": self.clobber_mask}


def disassembler(arch: Arch) -> capstone.Cs:
    cs = capstone.Cs(capstone.CS_ARCH_X86, _MODES[arch.word_bits])
    cs.detail = True
    return cs


def _full_reg(cs, reg_id: int, arch: Arch) -> str | None:
    """The architectural register a (sub)register belongs to, as named in the arch table."""
    name = cs.reg_name(reg_id)
    if name is None:
        return None
    aliases = {"al": "ax", "ah": "ax", "bl": "bx", "bh": "bx", "cl": "cx", "ch": "cx", "dl": "dx",
               "dh": "dx", "sil": "si", "dil": "di", "bpl": "bp", "spl": "sp"}
    base = aliases.get(name, name)
    if base.startswith("r") and base[1:].rstrip("bwd").isdigit():  # r8b, r10d ...
        base = base.rstrip("bwd")
    elif len(base) == 3 and base[0] in "re":
        base = base[1:]
    full = ("r" if arch.word_bits == 64 else "e") + base if len(base) == 2 else base
    return full


def written_registers(cs, code: bytes, arch: Arch, address: int = 0) -> set[str]:
    regs = set()
    for insn in cs.disasm(code, address):
        _read, written = insn.regs_access()
        for r in written:
            full = _full_reg(cs, r, arch)
            if full and full not in ("rflags", "eflags", "flags", arch.stack_pointer, "rip", "eip"):
                regs.add(full)
    return regs


def find_templates(obj: ObjectFile, hooks, arch: Arch) -> list[PatchTemplate]:
    cs = disassembler(arch)
    relocated = {}
    for rel in obj.relocations():
        relocated.setdefault(rel.section, []).append(rel.offset)
    symbols = {s.name: s for s in obj.symbols()}
    out = []
    for hook in hooks:
        sym = symbols.get(hook.symbol)
        if sym is None or not sym.size:
            continue
        code = obj.function_bytes(hook.symbol)
        if any(sym.value <= off < sym.value + sym.size for off in relocated.get(sym.section, ())):
            continue
        insns = list(cs.disasm(code, 0))
        if not insns or sum(i.size for i in insns) != len(code) or insns[-1].mnemonic != "ret":
            continue
        body = insns[:-1]
        if not body or any(set(i.groups) & _FLOW_GROUPS for i in body):
            continue
        size = sum(i.size for i in body)
        if size > CALL_SITE_BYTES[arch.word_bits] or not _balanced_stack(body):
            continue
        gprs = set(arch.caller_saved) | set(arch.callee_saved)
        written = written_registers(cs, code[:size], arch) & gprs  # %cr3 and friends are the point
        mask = sum(1 << i for i, r in enumerate(arch.caller_saved) if r in written)
        extra = written - set(arch.caller_saved)
        if extra:  # writes a callee-saved register: not a template
            continue
        out.append(PatchTemplate(hook.table, hook.hook, hook.slot, hook.symbol, code[:size],
                                 tuple(r for r in arch.caller_saved if r in written), mask))
    return out


def _balanced_stack(insns) -> bool:
    depth = 0
    for i in insns:
        if i.mnemonic.startswith("push"):
            depth += 1
        elif i.mnemonic.startswith("pop"):
            depth -= 1
        elif any(op.type == x86.X86_OP_REG and op.reg in (x86.X86_REG_RSP, x86.X86_REG_ESP)
                 for op in i.operands):
            return False
        if depth < 0:
            return False
    return depth == 0
