"""A small abstract interpreter of x86 machine code, for tests.

It is deliberately independent of pvdsl (register names, clobber sets and the
hypercall convention are restated from DESIGN.md "ABI facts", not imported),
so it can catch the compiler disagreeing with the ABI.

Values (per register, per stack slot):
  ("entry", r)            the value register r had on function entry
  ("const", n)            a known constant (masked to the word)
  ("sp", off)             the address entry_sp + off
  ("stackarg", off, size) the caller's stack word at entry_sp + off (off > 0)
  ("retaddr",)            the return address
  ("zext32", v) / ("sext32", v)   32-bit zero / sign extension of v (64-bit mode)
  ("def", addr, r)        whatever instruction `addr` wrote into r
  None                    unknown
Stack memory is tracked per (offset from entry sp, size). A store through a
pointer that is not stack-derived is assumed not to touch the tracked stack
slots (the generated code is memory-safe: a pointer to a local only reaches
that local), and calls are assumed to leave the caller's frame alone.

The analysis is a forward dataflow fixpoint over all paths of one function
(jcc/jmp inside the function are followed, `ret` ends a path); at a join,
values that differ become unknown, so a property checked on the fixpoint
holds on every path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import capstone
from capstone import x86

# ---- registers -------------------------------------------------------------

_SUB64 = {
    "rax": ("eax", "ax", "al", "ah"), "rbx": ("ebx", "bx", "bl", "bh"), "rcx": ("ecx", "cx", "cl", "ch"),
    "rdx": ("edx", "dx", "dl", "dh"), "rsi": ("esi", "si", "sil"), "rdi": ("edi", "di", "dil"),
    "rbp": ("ebp", "bp", "bpl"), "rsp": ("esp", "sp", "spl"),
    **{f"r{n}": (f"r{n}d", f"r{n}w", f"r{n}b") for n in range(8, 16)},
}
_SUB32 = {"eax": ("ax", "al", "ah"), "ebx": ("bx", "bl", "bh"), "ecx": ("cx", "cl", "ch"),
          "edx": ("dx", "dl", "dh"), "esi": ("si",), "edi": ("di",), "ebp": ("bp",), "esp": ("sp",)}


@dataclass(frozen=True)
class Mode:
    bits: int
    gprs: tuple[str, ...]
    sp: str
    caller_saved: tuple[str, ...]  # what an ordinary call may clobber
    hypercall_args: tuple[str, ...]
    ret: str

    @property
    def word(self) -> int:
        return self.bits // 8

    def canon(self, name: str | None) -> str | None:
        if name is None:
            return None
        table = _SUB64 if self.bits == 64 else _SUB32
        if name in table:
            return name
        for full, subs in table.items():
            if name in subs:
                return full
        return None  # flags, rip, segment or control registers


# DESIGN.md "ABI facts": kernel caller-saved sets and Xen's hypercall registers.
X86_64 = Mode(64, tuple(_SUB64), "rsp",
              ("rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"),
              ("rdi", "rsi", "rdx", "r10", "r8"), "rax")
I386 = Mode(32, tuple(_SUB32), "esp", ("eax", "ecx", "edx"), ("ebx", "ecx", "edx", "esi", "edi"), "eax")
MODES = {"x86_64": X86_64, "i386": I386}
HYPERCALL_ENTRY_BYTES = 32


def mask(mode: Mode, n: int) -> int:
    return n & ((1 << mode.bits) - 1)


def simplify(mode: Mode, v):
    """Fold extensions of constants; an extension in 32-bit mode is the value."""
    if v is None or v[0] not in ("zext32", "sext32"):
        return v
    inner = v[1]
    if mode.bits == 32:
        return inner
    if inner is not None and inner[0] == "const":
        n = inner[1] & 0xFFFFFFFF
        if v[0] == "sext32" and n & 0x80000000:
            n -= 1 << 32
        return ("const", mask(mode, n))
    if inner is None:
        return None
    return v


# ---- state -------------------------------------------------------------------

@dataclass
class State:
    regs: dict
    sp: int | None
    mem: dict = field(default_factory=dict)  # (off, size) -> value
    mem_top: bool = False  # every stack byte may have been overwritten
    init: object = None  # (off, size) -> value of untouched stack memory

    def copy(self) -> "State":
        return State(dict(self.regs), self.sp, dict(self.mem), self.mem_top, self.init)

    def read_mem(self, off: int, size: int):
        if self.mem_top:
            return None
        if (off, size) in self.mem:
            return self.mem[(off, size)]
        if any(o < off + size and off < o + s for (o, s) in self.mem):
            return None
        return self.init(off, size) if self.init else None

    def write_mem(self, off: int, size: int, value) -> None:
        for (o, s) in list(self.mem):
            if (o, s) != (off, size) and o < off + size and off < o + s:
                self.mem[(o, s)] = None
        self.mem[(off, size)] = value

    def merge(self, other: "State") -> "State":
        regs = {r: v for r, v in self.regs.items() if other.regs.get(r) == v}
        sp = self.sp if self.sp == other.sp else None
        mem = {}
        for k in set(self.mem) | set(other.mem):
            a = self.mem.get(k, "missing")
            b = other.mem.get(k, "missing")
            mem[k] = a if a == b and a != "missing" else None
        return State(regs, sp, mem, self.mem_top or other.mem_top or sp is None, self.init)

    def same(self, other: "State") -> bool:
        return (self.regs == other.regs and self.sp == other.sp and self.mem == other.mem
                and self.mem_top == other.mem_top)


def entry_state(mode: Mode) -> State:
    w = mode.word

    def init(off, size):
        if (off, size) == (0, w):
            return ("retaddr",)
        if off >= w:
            return ("stackarg", off, size)
        return None

    return State({r: ("entry", r) for r in mode.gprs if r != mode.sp}, 0, {}, False, init)


# ---- one function ------------------------------------------------------------

@dataclass
class CallSite:
    address: int
    symbol: str | None  # relocation target, when the callee is a symbol
    offset: int | None  # the callee (or the memory holding it) is symbol + offset
    indirect: bool
    state: State  # just before the call
    tail: bool = False  # a jmp to another function

    @property
    def hypercall(self) -> int | None:
        """Xen hypercall number N for a call of hypercall_page + 32*N."""
        if self.symbol != "hypercall_page" or self.offset is None:
            return None
        assert self.offset % HYPERCALL_ENTRY_BYTES == 0, self.offset
        return self.offset // HYPERCALL_ENTRY_BYTES


@dataclass
class Store:
    address: int
    where: tuple  # ("stack", off) or (base value, disp)
    size: int
    value: object


@dataclass
class Exit:
    address: int
    kind: str  # "ret" | "tailcall"
    state: State


@dataclass
class Analysis:
    mode: Mode
    insns: dict  # address -> capstone insn
    states: dict  # address -> State before the instruction
    calls: list[CallSite]
    stores: list[Store]
    exits: list[Exit]
    problems: list[str]  # what the analysis cannot model (fails checks)

    def state_at(self, mnemonic: str) -> State:
        hits = [a for a, i in self.insns.items() if i.mnemonic == mnemonic and a in self.states]
        assert len(hits) == 1, f"expected one reachable '{mnemonic}', found {len(hits)}"
        return self.states[hits[0]]


_STRING_OP = re.compile(r"^(rep\w* )?(stos|movs|cmps|scas|lods|ins|outs)[bwdq]?$")
_TRAPS = {"ud2", "int3"}
_SYSTEM_CALLS = {"syscall", "sysenter", "int", "into", "vmcall", "vmmcall"}


_PC_RELATIVE = {2, 4}  # R_X86_64_PC32/PLT32 and R_386_PC32/PLT32 share the numbers


class Relocs:
    """Relocations of one code section: offset -> (symbol, addend, type)."""

    def __init__(self, relocs: dict):
        self.by_offset = relocs

    def inside(self, insn):
        """(symbol, offset from the symbol) that the instruction refers to. A
        PC-relative field is relative to its own end; the instruction's end
        is what the CPU adds (`call rel32`, `call *sym(%rip)`)."""
        for off in range(insn.address, insn.address + insn.size):
            if off in self.by_offset:
                sym, addend, rtype = self.by_offset[off]
                if rtype in _PC_RELATIVE:
                    return sym, addend + (insn.address + insn.size - off)
                return sym, addend
        return None


def analyse(code: bytes, base: int, mode: Mode, relocs: Relocs | None = None, state: State | None = None,
            on_call=None) -> Analysis:
    """Run the dataflow analysis over the function `code` loaded at `base`.

    `on_call(site) -> State | None` may replace the default effect of a call
    (return the state after it)."""
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if mode.bits == 64 else capstone.CS_MODE_32)
    cs.detail = True
    insns = {i.address: i for i in cs.disasm(code, base)}
    end = base + len(code)
    if sum(i.size for i in insns.values()) != len(code):
        raise ValueError(f"could not disassemble all {len(code)} bytes at {base:#x}")
    relocs = relocs or Relocs({})
    states: dict[int, State] = {}
    work = [base]
    states[base] = state.copy() if state else entry_state(mode)
    interp = _Interp(mode, cs, relocs, base, end, on_call)
    stray = set()
    while work:
        addr = work.pop()
        insn = insns[addr]
        for succ, st in interp.step(insn, states[addr].copy(), record=False):
            if succ not in insns:
                stray.add(f"{addr:#x}: control reaches {succ:#x}, outside the function's instructions")
                continue
            old = states.get(succ)
            new = st if old is None else old.merge(st)
            if old is None or not old.same(new):
                states[succ] = new
                work.append(succ)
    # One recording pass over the fixpoint.
    interp.calls, interp.stores, interp.exits, interp.problems = [], [], [], []
    for addr in sorted(states):
        interp.step(insns[addr], states[addr].copy(), record=True)
    return Analysis(mode, insns, states, interp.calls, interp.stores, interp.exits,
                    sorted(stray) + interp.problems)


class _Interp:
    def __init__(self, mode, cs, relocs, start, end, on_call):
        self.mode, self.cs, self.relocs, self.start, self.end, self.on_call = mode, cs, relocs, start, end, on_call
        self.calls, self.stores, self.exits, self.problems = [], [], [], []

    # -- operands --
    def reg(self, r) -> str | None:
        return self.mode.canon(self.cs.reg_name(r))

    def get(self, st: State, op):
        """Value of a reg/imm/mem operand, at the operand's size (word-size values only)."""
        w = self.mode.word
        if op.type == x86.X86_OP_IMM:
            return ("const", mask(self.mode, op.imm))
        if op.type == x86.X86_OP_REG:
            r = self.reg(op.reg)
            if r is None:
                return None
            if r == self.mode.sp:
                v = ("sp", st.sp) if st.sp is not None else None
            else:
                v = st.regs.get(r)
            if op.size == w:
                return v
            if op.size == 4 and self.mode.bits == 64:
                return ("low32", v) if v is not None and v[0] != "const" else (
                    ("const", v[1] & 0xFFFFFFFF) if v else None)
            return None
        if op.type == x86.X86_OP_MEM:
            where = self.address(st, op)
            if where is not None and where[0] == "stack" and st.sp is not None:
                return st.read_mem(where[1], op.size)
            return None
        return None

    def address(self, st: State, op):
        m = op.mem
        if m.segment != x86.X86_REG_INVALID or m.index != x86.X86_REG_INVALID:
            return None
        if m.base == x86.X86_REG_INVALID:
            return ("abs", m.disp)
        base = self.reg(m.base)
        if base is None:
            return None  # rip-relative and friends: not the stack
        bv = ("sp", st.sp) if base == self.mode.sp and st.sp is not None else (
            None if base == self.mode.sp else st.regs.get(base))
        if bv is None:
            return None
        if bv[0] == "sp":
            return ("stack", bv[1] + m.disp)
        if bv[0] == "const":
            return ("abs", mask(self.mode, bv[1] + m.disp))
        return (bv, m.disp)

    def set_reg(self, st: State, r: str, v) -> None:
        if r == self.mode.sp:
            st.sp = v[1] if v is not None and v[0] == "sp" else None
            if st.sp is None:
                st.mem_top = True
        else:
            st.regs[r] = simplify(self.mode, v)

    def write_dst(self, st: State, insn, op, v, record: bool) -> None:
        """Write v (a word-size value, or None) to a reg or mem operand."""
        w = self.mode.word
        if op.type == x86.X86_OP_REG:
            r = self.reg(op.reg)
            if r is None:
                return
            if op.size == w:
                self.set_reg(st, r, v)
            elif op.size == 4 and self.mode.bits == 64:
                # A 32-bit write zero-extends into the whole register.
                self.set_reg(st, r, ("zext32", v) if v is not None else ("def", insn.address, r))
            else:
                self.set_reg(st, r, ("def", insn.address, r))
            return
        if op.type == x86.X86_OP_MEM:
            self.store(st, insn, op, v, record)

    def store(self, st: State, insn, op, v, record: bool) -> None:
        where = self.address(st, op)
        if where is not None and where[0] == "stack":
            st.write_mem(where[1], op.size, v)
        elif self._maybe_stack(st, op):
            st.mem_top = True  # a store through an unknown sp: anything below may be gone
        if record:
            self.stores.append(Store(insn.address, where if where is not None else ("?",), op.size, v))

    def _maybe_stack(self, st, op) -> bool:
        m = op.mem
        return (m.segment == x86.X86_REG_INVALID and m.base != x86.X86_REG_INVALID
                and self.reg(m.base) == self.mode.sp and st.sp is None)

    def clobber(self, st: State, regs, addr: int) -> None:
        for r in regs:
            if r != self.mode.sp:
                st.regs[r] = ("def", addr, r)

    # -- one instruction: [(successor address, state)] --
    def step(self, insn, st: State, record: bool):
        mode, w = self.mode, self.mode.word
        mn = insn.mnemonic
        ops = list(insn.operands)
        nxt = insn.address + insn.size
        if mn in ("push",) and len(ops) == 1:
            v = self.get(st, ops[0]) if ops[0].size == w or ops[0].type == x86.X86_OP_IMM else None
            if st.sp is not None:
                st.sp -= w
                st.write_mem(st.sp, w, v)
            return [(nxt, st)]
        if mn in ("pushfq", "pushfd", "pushf"):
            if st.sp is not None:
                st.sp -= w
                st.write_mem(st.sp, w, ("def", insn.address, "flags"))
            return [(nxt, st)]
        if mn == "pop" and len(ops) == 1:
            v = st.read_mem(st.sp, w) if st.sp is not None else None
            if st.sp is not None:
                st.sp += w
            if ops[0].type == x86.X86_OP_REG and self.reg(ops[0].reg) == mode.sp:
                st.sp = None
                st.mem_top = True
            else:
                self.write_dst(st, insn, ops[0], v, record)
            return [(nxt, st)]
        if mn in ("popfq", "popfd", "popf"):
            if st.sp is not None:
                st.sp += w
            return [(nxt, st)]
        if mn in ("mov", "movabs") and len(ops) == 2:
            src = ops[1]
            v = self.get(st, src)
            if v is None and src.type == x86.X86_OP_REG and self.reg(src.reg) is None:
                v = ("def", insn.address, "special")  # mov %cr2, %rax: a fresh value
            if ops[0].type == x86.X86_OP_REG and ops[0].size == 4 and mode.bits == 64 and v is not None \
                    and v[0] == "low32":
                v = v[1]  # movl %edi, %ecx: the low half, zero-extended (below)
                self.write_dst(st, insn, ops[0], v, record)
                return [(nxt, st)]
            if ops[0].type == x86.X86_OP_REG and self.reg(ops[0].reg) is None:
                return [(nxt, st)]  # mov %rax, %cr3
            self.write_dst(st, insn, ops[0], v, record)
            return [(nxt, st)]
        if mn == "movsxd" and len(ops) == 2:
            v = self.get(st, ops[1])
            if v is not None and v[0] == "low32":
                v = v[1]
            self.write_dst(st, insn, ops[0], ("sext32", v) if v is not None else None, record)
            return [(nxt, st)]
        if mn == "lea" and len(ops) == 2 and ops[0].size == w:
            where = self.address(st, ops[1])
            v = ("sp", where[1]) if where and where[0] == "stack" else (
                ("const", where[1]) if where and where[0] == "abs" else None)
            self.set_reg(st, self.reg(ops[0].reg), v if v else ("def", insn.address, "lea"))
            return [(nxt, st)]
        if mn in ("xor", "sub") and len(ops) == 2 and ops[0].type == ops[1].type == x86.X86_OP_REG \
                and ops[0].reg == ops[1].reg and ops[0].size in (4, w):
            self.write_dst(st, insn, ops[0], ("const", 0), record)
            return [(nxt, st)]
        if mn in ("sub", "add") and len(ops) == 2 and ops[0].type == x86.X86_OP_REG \
                and self.reg(ops[0].reg) == mode.sp and ops[0].size == w:
            if ops[1].type == x86.X86_OP_IMM and st.sp is not None:
                st.sp += -ops[1].imm if mn == "sub" else ops[1].imm
            else:
                st.sp, st.mem_top = None, True
            return [(nxt, st)]
        if mn == "xchg" and len(ops) == 2 and all(o.type == x86.X86_OP_REG and o.size == w for o in ops):
            a, b = self.get(st, ops[0]), self.get(st, ops[1])
            self.write_dst(st, insn, ops[0], b, record)
            self.write_dst(st, insn, ops[1], a, record)
            return [(nxt, st)]
        if mn == "leave":
            bp = st.regs.get("rbp" if mode.bits == 64 else "ebp")
            st.sp = bp[1] if bp and bp[0] == "sp" else None
            v = st.read_mem(st.sp, w) if st.sp is not None else None
            if st.sp is not None:
                st.sp += w
            else:
                st.mem_top = True
            self.set_reg(st, "rbp" if mode.bits == 64 else "ebp", v)
            return [(nxt, st)]
        if mn == "ret":
            if ops:  # ret $n: callee pops arguments; not the kernel's convention
                if record:
                    self.problems.append(f"{insn.address:#x}: ret {ops[0].imm} pops arguments")
            if record:
                self.exits.append(Exit(insn.address, "ret", st))
            return []
        if mn == "call":
            return self.call(insn, st, ops, nxt, record)
        if mn == "jmp":
            op = ops[0]
            if op.type == x86.X86_OP_IMM and self.start <= op.imm < self.end and not self.relocs.inside(insn):
                return [(op.imm, st)]
            # A tail call: the callee's effect, then its ret is ours.
            after = self.call(insn, st, ops, None, record, tail=True)
            for _succ, s in after:
                if record:
                    self.exits.append(Exit(insn.address, "tailcall", s))
            return []
        if insn.group(x86.X86_GRP_JUMP):  # jcc, jrcxz, loop
            op = ops[0]
            if op.type != x86.X86_OP_IMM or not (self.start <= op.imm < self.end):
                if record:
                    self.problems.append(f"{insn.address:#x}: conditional jump out of the function")
                return [(nxt, st)]
            return [(op.imm, st.copy()), (nxt, st)]
        if mn in _TRAPS:
            return []
        # Anything else: every register it writes becomes a fresh value.
        if mn in _SYSTEM_CALLS or mn.split(" ")[0] in _SYSTEM_CALLS:
            self.clobber(st, mode.gprs, insn.address)
            return [(nxt, st)]
        if _STRING_OP.match(mn):
            st.mem_top = True
        _read, written = insn.regs_access()
        for r in written:
            full = self.mode.canon(self.cs.reg_name(r))
            if full is None:
                continue
            if full == mode.sp:
                st.sp, st.mem_top = None, True
            else:
                st.regs[full] = ("def", insn.address, full)
        for op in ops:
            if op.type == x86.X86_OP_MEM and op.access & capstone.CS_AC_WRITE:
                self.store(st, insn, op, ("def", insn.address, "mem"), record)
        return [(nxt, st)]

    def call(self, insn, st: State, ops, nxt, record: bool, tail: bool = False):
        op = ops[0]
        rel = self.relocs.inside(insn)
        symbol, offset = (rel if rel else (None, None))
        indirect = op.type != x86.X86_OP_IMM
        site = CallSite(insn.address, symbol, offset, indirect, st.copy(), tail)
        if record:
            self.calls.append(site)
        new = self.on_call(site) if self.on_call else None
        if new is None:
            new = st
            if site.hypercall is not None:
                # The hypercall page entry: Xen may change the argument
                # registers and returns in rax/eax; the 64-bit stub saves
                # rcx and r11 around `syscall`.
                self.clobber(new, (self.mode.ret, *self.mode.hypercall_args), insn.address)
            else:
                self.clobber(new, self.mode.caller_saved, insn.address)
            # Anything the callee pushes lives below our sp and is gone.
            if new.sp is not None:
                for k in [k for k in new.mem if k[0] < new.sp]:
                    del new.mem[k]
        return [(nxt, new)] if nxt is not None else [(None, new)]


# ---- checks ------------------------------------------------------------------

def preservation_violations(a: Analysis, must_keep) -> list[str]:
    """Every way a path can return with a must-keep register not holding its
    entry value, or with the stack pointer not back where it was."""
    out = list(a.problems)
    if not a.exits:
        out.append("no path returns")
    for e in a.exits:
        if e.state.sp != 0:
            out.append(f"{e.address:#x} ({e.kind}): stack pointer is {e.state.sp} bytes from its entry value")
        for r in must_keep:
            v = e.state.regs.get(r)
            if v != ("entry", r):
                what = "an unknown value" if v is None else repr(v)
                out.append(f"{e.address:#x} ({e.kind}): {r} may hold {what}, not its entry value")
    return out


# ---- ELF (pyelftools; deliberately not pvdsl.target.elf) -----------------------

class Elf:
    def __init__(self, data: bytes):
        import io

        from elftools.elf.elffile import ELFFile

        self.data = data
        self.elf = ELFFile(io.BytesIO(data))
        self.bits = self.elf.elfclass

    @classmethod
    def read(cls, path) -> "Elf":
        with open(path, "rb") as f:
            return cls(f.read())

    def section_bytes(self, name: str) -> bytes:
        sec = self.elf.get_section_by_name(name)
        return b"" if sec is None else sec.data()

    def section_addr(self, name: str) -> int:
        return self.elf.get_section_by_name(name)["sh_addr"]

    def symbols(self) -> dict:
        """name -> dict(section, value, size, bind, type); section None if undefined."""
        from elftools.elf.sections import SymbolTableSection

        out = {}
        for sec in self.elf.iter_sections():
            if not isinstance(sec, SymbolTableSection):
                continue
            for sym in sec.iter_symbols():
                if not sym.name or sym["st_info"]["type"] in ("STT_FILE", "STT_SECTION"):
                    continue
                shndx = sym["st_shndx"]
                where = None if shndx == "SHN_UNDEF" else (
                    self.elf.get_section(shndx).name if isinstance(shndx, int) else str(shndx))
                out[sym.name] = dict(section=where, value=sym["st_value"], size=sym["st_size"],
                                     bind=sym["st_info"]["bind"], type=sym["st_info"]["type"])
        return out

    def relocations(self, section: str) -> dict:
        """offset -> (symbol, addend, type) for the relocations that patch
        `section`; REL addends (i386) are read from the patched bytes."""
        from elftools.elf.relocation import RelocationSection

        data = self.section_bytes(section)
        out = {}
        for sec in self.elf.iter_sections():
            if not isinstance(sec, RelocationSection) or self.elf.get_section(sec["sh_info"]).name != section:
                continue
            symtab = self.elf.get_section(sec["sh_link"])
            for rel in sec.iter_relocations():
                sym = symtab.get_symbol(rel["r_info_sym"])
                name = sym.name or (self.elf.get_section(sym["st_shndx"]).name
                                    if sym["st_info"]["type"] == "STT_SECTION" else "")
                if rel.is_RELA():
                    addend = rel["r_addend"]
                else:
                    size = 8 if self.bits == 64 else 4
                    addend = int.from_bytes(data[rel["r_offset"]:rel["r_offset"] + size], "little", signed=True)
                out[rel["r_offset"]] = (name, addend, rel["r_info_type"])
        return out

    def function(self, name: str) -> tuple[bytes, int, str]:
        """(code, offset in its section, section name) of a defined function."""
        sym = self.symbols()[name]
        data = self.section_bytes(sym["section"])
        base = sym["value"] - (self.section_addr(sym["section"]) if self.elf["e_type"] != "ET_REL" else 0)
        return data[base:base + sym["size"]], sym["value"], sym["section"]


def function_analysis(elf: Elf, name: str, mode: Mode, **kw) -> Analysis:
    code, base, section = elf.function(name)
    rel = Relocs(elf.relocations(section))
    return analyse(code, base, mode, rel, **kw)


# ---- calls across objects: a gcc caller into a pvdsl callee ---------------------------

def _shift(v, delta: int):
    """A value seen from a frame whose entry sp is `delta` bytes higher."""
    if v is None:
        return None
    if v[0] == "sp":
        return ("sp", v[1] + delta)
    if v[0] in ("zext32", "sext32", "low32"):
        return (v[0], _shift(v[1], delta))
    return v


def call_into(callee: Elf, name: str, mode: Mode, site_state: State, sink: list, tail: bool = False) -> State:
    """The caller's state after calling `name` in `callee` with the caller's
    registers and stack as they are at the call. The callee's analysis is
    appended to `sink`. Works for a `call` (the return address is pushed) and
    for a tail `jmp` (pass a state whose sp already points at a return address)."""
    w = mode.word
    caller_sp = site_state.sp
    assert caller_sp is not None, "call with an unknown stack pointer"
    # Callee offset k is caller offset k + delta: a call pushes a return
    # address below the caller's sp; a tail jmp reuses the caller's own.
    delta = caller_sp if tail else caller_sp - w

    def init(off, size):
        if (off, size) == (0, w):
            return ("retaddr",)
        if off >= w:
            return _shift(site_state.read_mem(off + delta, size), -delta)
        return None

    start = State({r: _shift(v, -delta) for r, v in site_state.regs.items()}, 0, {}, False, init)
    a = function_analysis(callee, name, mode, state=start)
    sink.append(a)
    rets = [e.state for e in a.exits]
    assert rets, f"{name} never returns"
    out = rets[0]
    for other in rets[1:]:
        out = out.merge(other)
    after = site_state.copy()
    after.regs = {r: _shift(v, delta) for r, v in out.regs.items()}
    for (off, size), v in out.mem.items():
        if off >= w:
            after.write_mem(off + delta, size, _shift(v, delta))
    return after


def fast_path_length(a: Analysis) -> int | None:
    """Instructions (the ret included) on the shortest path from entry to a ret."""
    from collections import deque

    start = min(a.insns)
    dist, queue, best = {start: 1}, deque([start]), None
    while queue:
        addr = queue.popleft()
        insn = a.insns[addr]
        if insn.mnemonic == "ret":
            best = dist[addr] if best is None else min(best, dist[addr])
            continue
        nxt = addr + insn.size
        if insn.mnemonic == "jmp":
            succ = [insn.operands[0].imm] if insn.operands[0].type == x86.X86_OP_IMM else []
        elif insn.group(x86.X86_GRP_JUMP):
            succ = [insn.operands[0].imm, nxt]
        else:
            succ = [nxt]
        for s in succ:
            if s in a.insns and s not in dist:
                dist[s] = dist[addr] + 1
                queue.append(s)
    return best
