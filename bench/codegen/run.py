"""Code generation benchmark: pvdsl against gcc -O2 on hand-written C.

    python3 bench/codegen/run.py                    # 7 timed runs after 1 warm-up
    python3 bench/codegen/run.py --runs 9 --json /tmp/codegen.json

Needs what `pvdsl build` needs (llvmlite, pyelftools, capstone) and gcc with
i386 and x86_64 support (Debian's gcc does both). Prints three tables, each
with PASS/MISS against its target; exits 0 whatever the verdicts (this is a
measurement, not a test).

(a) Build time. Every backend of examples/*.pv and pvdsl/specs/**/*.pv, for
    each of the 6 targets it is declared for, built by pvdsl in this process
    (the whole `pvdsl build`: check, lower, optimise, emit every output and
    write it; and the code generation alone: lower + compile_lowered per
    object), against gcc -O2 -c compiling bench/codegen/c/<backend>.c, the
    hand-written C equivalent, once per target, one process per object (so
    gcc's numbers include process start-up; an empty-file compile per arch
    is measured too, to estimate it). pvdsl is also run as a subprocess,
    start-up included, for a like-for-like line. Medians of --runs runs after
    --warmup runs, pvdsl and gcc interleaved in alternating order; wall time
    (the target) and CPU time (this process + waited-for children), since a
    shared machine's load moves wall times. Target: pvdsl/gcc <= 1.0.

(b) Static instruction counts per hook: capstone over the symbol ranges of
    the objects, both pvdsl's and gcc's. A hook is what its table slot points
    to (read from the table's relocations), plus every function of the same
    object it calls or jumps to (for gcc: the callee-save thunk plus the C
    function it calls); alignment nops are not counted. Also the fast path:
    the fewest instructions from the hook's entry to the `ret` that leaves
    it, over every path that makes no call out of the object (a hypercall)
    and takes no backward branch;
    conditional jumps may go either way, so for `if pending { hypercall }`
    it is the not-pending path, for a loop the early exit or one iteration.
    Calls to functions of the same object (the thunk's call of its C
    function) are followed and counted. Where every path makes a hypercall
    (marked *), the shortest path is counted with the call as one
    instruction. Target: pvdsl <= gcc on every hook, static and fast path.

(c) The Xen irq hooks of examples/irq.pv on x86_64-domu against Linux's
    hand-written fast paths (DESIGN.md "ABI facts", x86_64 xen-asm.S, counted
    with their ret): irq_disable 2, irq_enable 4, save_fl 4. Target: equal.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
C_DIR = HERE / "c"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    import capstone
    from capstone import x86 as cs_x86
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    from elftools.elf.sections import SymbolTableSection

    from pvdsl.arch import TARGETS
    from pvdsl.codegen.module import lower_backend
    from pvdsl.diagnostics import Diagnostics
    from pvdsl.sema.program import check_paths, check_text
    from pvdsl.target.build import build_program, write_files
    from pvdsl.target.objects import compile_lowered
except ImportError as err:  # pragma: no cover - environment problem, say what is missing
    sys.exit(f"bench/codegen/run.py: cannot import {err.name!r} ({err}); install pvdsl "
             "(`pip install -e .`) plus capstone and pyelftools")

# The baseline's flags, as the brief states them (the kernel's model).
GCC_FLAGS = {
    "i386": ["-m32", "-mregparm=3", "-ffreestanding", "-fno-pic", "-mno-sse", "-mno-mmx"],
    "x86_64": ["-m64", "-mcmodel=kernel", "-mno-red-zone", "-ffreestanding", "-fno-pic", "-mno-sse",
               "-mno-mmx"],
}
GCC_COMMON = ["-O2", "-c"]

# DESIGN.md, "ABI facts": Linux's hand-written Xen fast paths (x86_64
# xen-asm.S), counted with their ret.
LINUX_XEN_FAST = {"irq_disable": 2, "irq_enable": 4, "save_fl": 4}

# The save_fl phrasing that reaches 4 instructions (part c), and the one it
# replaces in examples/irq.pv. Compiled in memory only.
SAVE_FL_NOW = "return xen_vcpu_info.evtchn_upcall_mask == 0 ? X86_EFLAGS_IF : 0;"
SAVE_FL_ALT = "return ((xen_vcpu_info.evtchn_upcall_mask as ulong) - 1) & X86_EFLAGS_IF;"

INF = float("inf")
# PC-relative relocation types (R_386_PC32/PLT32; R_X86_64_PC32/PLT32/GOTPCREL/GOTPCRELX/REX_GOTPCRELX).
_PC_RELATIVE = {32: {2, 4}, 64: {2, 4, 9, 41, 42}}


# --------------------------------------------------------------------------
# Sources and jobs
# --------------------------------------------------------------------------

def check(files: list[Path], fatal: bool = True):
    diags = Diagnostics()
    program = check_paths(files, diags)
    if diags.has_errors and fatal:
        sys.exit(f"bench/codegen/run.py: {' '.join(map(str, files))} do(es) not check:\n" + diags.render())
    return program, diags


def _has_backend(program) -> bool:
    return any(type(d).__name__ == "BackendDecl" for u in program.roots for d in u.module.decls)


@dataclass
class Group:
    """Spec files checked and built together, as one `pvdsl build FILES`."""

    files: list[Path]
    program: object


def discover() -> tuple[list[Group], list[Path]]:
    """The shipped backends: examples/*.pv as one program (what
    `pvdsl build examples/*.pv` builds; file by file if they do not check
    together), and every file of pvdsl/specs/**/*.pv that declares a backend,
    each on its own (library modules need not check together: two of them
    may declare the same table for different kernels). Returns the groups
    and the library files skipped for declaring no backend (paths relative
    to the repository)."""
    examples = [f.relative_to(ROOT) for f in sorted((ROOT / "examples").glob("*.pv"))]
    groups = []
    program, diags = check(examples, fatal=False)
    if not diags.has_errors:
        groups.append(Group(examples, program))
    else:
        groups += [Group([f], check([f])[0]) for f in examples]
    skipped = []
    for f in sorted((ROOT / "pvdsl" / "specs").rglob("*.pv")):
        f = f.relative_to(ROOT)
        program, diags = check([f], fatal=False)
        if not _has_backend(program):
            skipped.append(f)
            continue
        if diags.has_errors:
            check([f])  # exits with the diagnostics
        groups.append(Group([f], program))
    return groups, skipped


@dataclass
class Job:
    backend: str
    target: str  # e.g. x86_64-domu
    arch: str
    source: str  # the .pv file the backend is in
    group: int  # index into the groups

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.target}"


def jobs_of(groups: list[Group]) -> list[Job]:
    """What `pvdsl build --target all` builds: every backend of every root
    file, for every target it is declared for (same loop as build_program)."""
    out = []
    for g, group in enumerate(groups):
        for unit in group.program.roots:
            for decl in unit.module.decls:
                if type(decl).__name__ != "BackendDecl":
                    continue
                for target in TARGETS.values():
                    if target.arch.name in decl.arches and target.role in decl.roles:
                        out.append(Job(decl.name, target.name, target.arch.name, str(unit.path), g))
    return out


# --------------------------------------------------------------------------
# (a) timing
# --------------------------------------------------------------------------

def _cpu_now() -> float:
    """CPU seconds used so far by this process and by its waited-for
    children (gcc's driver, cc1 and as; a pvdsl subprocess)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ru.ru_utime + ru.ru_stime


class Clock:
    """Wall time (the measurement) and CPU time (less sensitive to other
    load on the machine), started at creation."""

    def __init__(self):
        self.wall0, self.cpu0 = time.perf_counter(), _cpu_now()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall0, _cpu_now() - self.cpu0


def time_pvdsl_build(groups: list[Group], out_dir: Path, emit=None):
    """The whole `pvdsl build FILES --target all -o DIR [--emit ...]`, once
    per group, in this process: check, lower, optimise, emit (by default
    objects/IR/asm/manifests/headers), write."""
    clock = Clock()
    built = []
    for group in groups:
        program, _diags = check(group.files)
        result = build_program(program, list(TARGETS.values()), out_dir, *([emit] if emit else []))
        write_files(result.files)
        built += [f"{b}-{t}" for b, t, _c in result.built]
    return clock.stop(), built


def time_pvdsl_codegen(groups: list[Group], jobs: list[Job]):
    """Code generation alone, per object: lower_backend (AST -> LLVM IR) and
    compile_lowered (LLVM parse+verify, optimise, emit object and assembly,
    .pvpatch templates, object checks)."""
    per, compiled = {}, {}
    clock = Clock()
    for job in jobs:
        target = TARGETS[job.target]
        view = groups[job.group].program.view(job.arch)
        one = Clock()
        compiled[job.name] = compile_lowered(lower_backend(view, view.backends[job.backend], target))
        per[job.name] = one.stop()
    return clock.stop(), per, compiled


def gcc_command(gcc: str, arch: str, src: Path, out: Path) -> list[str]:
    return [gcc, *GCC_COMMON, *GCC_FLAGS[arch], str(src), "-o", str(out)]


def run_gcc(cmd: list[str]) -> tuple[float, float]:
    clock = Clock()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = clock.stop()
    if proc.returncode != 0:
        sys.exit(f"bench/codegen/run.py: gcc failed: {' '.join(cmd)}\n{proc.stderr}")
    return dt


def time_gcc_set(gcc: str, jobs: list[Job], out_dir: Path):
    """One gcc process per object, one after the other (make -j1)."""
    per = {}
    clock = Clock()
    for job in jobs:
        per[job.name] = run_gcc(gcc_command(gcc, job.arch, C_DIR / f"{job.backend}.c",
                                            out_dir / f"{job.name}.o"))
    return clock.stop(), per


def pvdsl_commands(groups: list[Group], out_dir: Path) -> list[list[str]]:
    return [[sys.executable, "-m", "pvdsl.cli", "build", *map(str, g.files), "--target", "all", "-o",
             str(out_dir), "-q"] for g in groups]


def time_pvdsl_subprocess(groups: list[Group], out_dir: Path) -> tuple[float, float]:
    """`pvdsl build` as a command, once per group."""
    clock = Clock()
    for cmd in pvdsl_commands(groups, out_dir):
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            sys.exit(f"bench/codegen/run.py: {' '.join(cmd)} failed:\n{proc.stderr}")
    return clock.stop()


def codegen_breakdown(groups: list[Group], jobs: list[Job]) -> tuple[list[dict], float] | None:
    """One extra, untimed pass of the code generation with pvdsl's stage
    functions wrapped in timers (at run time; nothing in pvdsl/ changes).
    Returns the stages (ms, calls) and the total, or None if pvdsl's
    internals no longer have these names."""
    from pvdsl.target import elf as pv_elf
    from pvdsl.target import machine as pv_machine
    from pvdsl.target import objects as pv_objects

    # (module, attribute, label, overlaps): overlapping stages run inside others.
    stages = [
        (pv_machine, "parse_and_verify", "LLVM parse + verify IR text", False),
        (pv_machine, "optimise", "LLVM optimise (new pass manager, O2)", False),
        (pv_machine, "emit_object", "LLVM emit object", False),
        (pv_machine, "emit_assembly", "LLVM emit assembly (.s)", False),
        (pv_objects, "ObjectFile", "open the ELF object (pyelftools)", False),
        (pv_objects, "find_templates", "find patch templates (ELF + capstone)", False),
        (pv_objects, "_check_object", "check the object's symbols (ELF)", False),
        (pv_elf.ObjectFile, "symbols", "  of which: ELF symbol table reads", True),
    ]
    if not all(hasattr(mod, attr) for mod, attr, _l, _o in stages):
        return None
    acc = {label: [0.0, 0] for _m, _a, label, _o in stages}
    originals = []

    def timed(fn, label):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                acc[label][0] += time.perf_counter() - t0
                acc[label][1] += 1
        return wrapper

    lower_s = 0.0
    t_all = time.perf_counter()
    try:
        for mod, attr, label, _o in stages:
            orig = getattr(mod, attr)
            originals.append((mod, attr, orig))
            setattr(mod, attr, timed(orig, label))
        t_all = time.perf_counter()
        for job in jobs:
            view = groups[job.group].program.view(job.arch)
            t0 = time.perf_counter()
            lowered = lower_backend(view, view.backends[job.backend], TARGETS[job.target])
            lower_s += time.perf_counter() - t0
            compile_lowered(lowered)
        total = time.perf_counter() - t_all
    finally:
        for mod, attr, orig in reversed(originals):
            setattr(mod, attr, orig)
    rows = [{"stage": "lower (AST -> llvmlite IR)", "ms": lower_s * 1000, "calls": len(jobs), "overlaps": False}]
    rows += [{"stage": label, "ms": acc[label][0] * 1000, "calls": acc[label][1], "overlaps": o}
             for _m, _a, label, o in stages]
    other = total * 1000 - sum(r["ms"] for r in rows if not r["overlaps"])
    rows.insert(len(rows) - 1, {"stage": "other (IR to text, .pvpatch IR, bookkeeping)", "ms": other,
                                "calls": None, "overlaps": False})
    return rows, total * 1000


# --------------------------------------------------------------------------
# (b) objects: symbols, relocations, capstone, paths
# --------------------------------------------------------------------------

@dataclass
class Func:
    name: str
    section: str
    start: int
    size: int
    insns: list = field(default_factory=list)
    index: dict = field(default_factory=dict)  # address -> position in insns


@dataclass(frozen=True)
class Flow:
    kind: str  # "intra" | "local" (another function of the object) | "external"
    func: str | None = None
    addr: int | None = None
    symbol: str | None = None


class Obj:
    """A relocatable object seen as functions of instructions."""

    def __init__(self, data: bytes, label: str):
        self.label = label
        elf = ELFFile(io.BytesIO(data))
        self.bits = elf.elfclass
        self.sec_data: dict[str, bytes] = {}
        names_by_index = {}
        for i, sec in enumerate(elf.iter_sections()):
            names_by_index[i] = sec.name
            if sec["sh_type"] == "SHT_PROGBITS":
                self.sec_data[sec.name] = sec.data()
        self.symbols: dict[str, tuple[str | None, int, int, str]] = {}  # name -> (section, value, size, type)
        for sec in elf.iter_sections():
            if not isinstance(sec, SymbolTableSection):
                continue
            for sym in sec.iter_symbols():
                typ = sym["st_info"]["type"]
                if not sym.name or typ in ("STT_FILE", "STT_SECTION"):
                    continue
                shndx = sym["st_shndx"]
                where = names_by_index.get(shndx) if isinstance(shndx, int) else None
                self.symbols[sym.name] = (where, sym["st_value"], sym["st_size"], typ)
        # section -> offset -> (symbol or section name, is_section, addend, pc_relative)
        self.relocs: dict[str, dict[int, tuple[str, bool, int, bool]]] = {}
        pc_types = _PC_RELATIVE[self.bits]
        for sec in elf.iter_sections():
            if not isinstance(sec, RelocationSection):
                continue
            symtab = elf.get_section(sec["sh_link"])
            target = elf.get_section(sec["sh_info"]).name
            table = self.relocs.setdefault(target, {})
            raw = self.sec_data.get(target, b"")
            for rel in sec.iter_relocations():
                sym = symtab.get_symbol(rel["r_info_sym"])
                is_section = sym["st_info"]["type"] == "STT_SECTION"
                name = elf.get_section(sym["st_shndx"]).name if is_section else sym.name
                off = rel["r_offset"]
                if rel.is_RELA():
                    addend = rel["r_addend"]
                else:  # REL (i386): the addend is in the patched bytes
                    addend = int.from_bytes(raw[off:off + 4], "little", signed=True) if raw else 0
                table[off] = (name, is_section, addend, rel["r_info_type"] in pc_types)
        self.funcs: dict[str, Func] = {}
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if self.bits == 64 else capstone.CS_MODE_32)
        md.detail = True
        md.syntax = capstone.CS_OPT_SYNTAX_ATT  # as in the .s files pvdsl writes
        for name, (sec, value, size, typ) in self.symbols.items():
            if typ != "STT_FUNC" or sec is None or size == 0:
                continue
            code = self.sec_data[sec][value:value + size]
            f = Func(name, sec, value, size)
            f.insns = list(md.disasm(code, value))
            decoded = sum(i.size for i in f.insns)
            if decoded != size:
                raise RuntimeError(f"{label}: capstone decoded {decoded} of {size} bytes of {name}")
            f.index = {i.address: n for n, i in enumerate(f.insns)}
            self.funcs[name] = f

    def func_at(self, section: str, offset: int) -> str | None:
        for f in self.funcs.values():
            if f.section == section and f.start <= offset < f.start + f.size:
                return f.name
        return None

    def pointer_at(self, symbol: str, index: int) -> str | None:
        """The function a table slot points to (through its relocation)."""
        sec, value, _size, _typ = self.symbols[symbol]
        off = value + index * (self.bits // 8)
        rel = self.relocs.get(sec, {}).get(off)
        if rel is None:
            return None
        name, is_section, addend, _pc = rel
        if is_section:
            return self.func_at(name, addend)
        return name if addend == 0 and name in self.funcs else None

    def reloc_in(self, f: Func, insn) -> tuple[str, bool, int] | None:
        """The relocation patching this instruction, if any: (symbol or
        section, is_section, the offset from it the instruction refers to)."""
        for off in range(insn.address, insn.address + insn.size):
            rel = self.relocs.get(f.section, {}).get(off)
            if rel is not None:
                name, is_section, addend, pc = rel
                # PC-relative: S + A - P, relative to the end of the instruction.
                return name, is_section, addend + (insn.address + insn.size - off if pc else 0)
        return None

    def text(self, f: Func, insn) -> str:
        """The instruction as AT&T text, the relocation's target appended."""
        out = f"{insn.mnemonic} {insn.op_str}".strip()
        rel = self.reloc_in(f, insn)
        if rel is not None:
            name, _is_section, dest = rel
            out += f" <{name}{dest:+#x}>" if dest else f" <{name}>"
        return out

    def flow(self, f: Func, insn) -> Flow:
        """Where a call or jump goes."""
        rel = self.reloc_in(f, insn)
        if rel is not None:
            name, is_section, dest = rel
            if is_section:
                fn = self.func_at(name, dest)
                if fn is None:
                    return Flow("external", symbol=f"{name}+{dest:#x}")
                return Flow("local", func=fn, addr=dest)
            if name in self.funcs:
                return Flow("local", func=name, addr=self.funcs[name].start + dest)
            shown = name if dest == 0 else f"{name}{dest:+#x}"
            return Flow("external", symbol=shown)
        ops = insn.operands
        if not ops or ops[0].type != cs_x86.X86_OP_IMM:
            return Flow("external", symbol=f"indirect: {insn.op_str}")
        dest = ops[0].imm
        if f.start <= dest < f.start + f.size:
            return Flow("intra", func=f.name, addr=dest)
        fn = self.func_at(f.section, dest)
        return Flow("local", func=fn, addr=dest) if fn else Flow("external", symbol=hex(dest))

    # ---- counts ----
    def reachable(self, entry: str) -> list[str]:
        """The entry function and every function of this object it calls or
        jumps to, transitively."""
        seen, todo = [], [entry]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.append(name)
            f = self.funcs[name]
            for insn in f.insns:
                if _is_call(insn) or _is_jump(insn):
                    fl = self.flow(f, insn)
                    if fl.kind == "local":
                        todo.append(fl.func)
        return seen

    def static_count(self, entry: str) -> int:
        return sum(1 for n in self.reachable(entry) for i in self.funcs[n].insns if not is_padding(i, self.bits))

    def padding_count(self, entry: str) -> int:
        return sum(1 for n in self.reachable(entry) for i in self.funcs[n].insns if is_padding(i, self.bits))

    def fast_path(self, entry: str, allow_calls: bool) -> tuple[float, list[str]]:
        """Fewest instructions from `entry` to the ret that leaves it: no
        backward branch taken; no call out of the object unless allowed.
        Returns (count, the instructions of that path)."""
        memo: dict[tuple[str, int], tuple[float, list[str]]] = {}
        active: set[str] = set()

        def from_entry(name: str) -> tuple[float, list[str]]:
            if name in active:  # recursion: not a fast path
                return INF, []
            active.add(name)
            try:
                return at(name, self.funcs[name].start)
            finally:
                active.discard(name)

        def at(name: str, addr: int) -> tuple[float, list[str]]:
            key = (name, addr)
            if key in memo:
                return memo[key]
            f = self.funcs[name]
            pos = f.index.get(addr)
            if pos is None:  # fell off the end or jumped into the middle of an instruction
                return INF, []
            insn = f.insns[pos]
            text = self.text(f, insn)
            nxt = f.insns[pos + 1].address if pos + 1 < len(f.insns) else None

            def then(cost_path):
                c, p = cost_path
                if is_padding(insn, self.bits):  # executed, but padding: not counted
                    return c, p
                return 1 + c, [text] + p

            def go_next():
                return at(name, nxt) if nxt is not None else (INF, [])

            best: tuple[float, list[str]] = (INF, [])
            if _is_ret(insn):
                best = (1, [text])
            elif insn.mnemonic in ("ud2", "int3") or insn.group(cs_x86.X86_GRP_IRET):
                best = (INF, [])
            elif _is_call(insn):
                fl = self.flow(f, insn)
                if fl.kind == "local":
                    c1, p1 = from_entry(fl.func) if fl.addr == self.funcs[fl.func].start else at(fl.func, fl.addr)
                    c2, p2 = go_next()
                    best = (1 + c1 + c2, [text] + [f"  {x}" for x in p1] + p2)
                elif allow_calls:
                    best = then(go_next())
            elif _is_jump(insn):
                fl = self.flow(f, insn)
                conditional = insn.mnemonic != "jmp"
                options = [then(go_next())] if conditional else []
                if fl.kind == "intra":
                    if fl.addr > insn.address:  # forward only
                        options.append(then(at(name, fl.addr)))
                elif fl.kind == "local":  # tail call into another function of the object
                    options.append(then(at(fl.func, fl.addr)))
                elif allow_calls:  # tail call out of the object
                    options.append((1, [text]))
                best = min(options, key=lambda cp: cp[0], default=(INF, []))
            else:
                best = then(go_next())
            memo[key] = best
            return best

        return from_entry(entry)


def is_padding(insn, bits: int) -> bool:
    """Alignment padding: nop in all its lengths (`nopw %cs:...`, `xchg
    %ax,%ax`) and the `lea 0(%reg),%reg` idiom gcc pads i386 code with.
    Not counted as instructions of a hook."""
    if insn.id == cs_x86.X86_INS_NOP:
        return True
    if insn.id != cs_x86.X86_INS_LEA or bits != 32:  # on x86_64 a 32-bit lea zero-extends: not a nop
        return False
    mems = [o for o in insn.operands if o.type == cs_x86.X86_OP_MEM]
    regs = [o for o in insn.operands if o.type == cs_x86.X86_OP_REG]
    if len(mems) != 1 or len(regs) != 1:
        return False
    mem = mems[0].mem
    return mem.base == regs[0].reg and mem.index == 0 and mem.disp == 0 and mem.segment == 0


def _is_ret(insn) -> bool:
    return insn.group(cs_x86.X86_GRP_RET)


def _is_call(insn) -> bool:
    return insn.group(cs_x86.X86_GRP_CALL)


def _is_jump(insn) -> bool:
    return insn.group(cs_x86.X86_GRP_JUMP)


@dataclass
class HookCount:
    static: int
    fast: int
    fast_needs_call: bool  # every path makes a hypercall: shortest path shown with the call
    entry: str
    path: list[str]


def count_hook(obj: Obj, entry: str) -> HookCount:
    c, p = obj.fast_path(entry, allow_calls=False)
    needs_call = c == INF
    if needs_call:
        c, p = obj.fast_path(entry, allow_calls=True)
    return HookCount(obj.static_count(entry), int(c) if c != INF else -1, needs_call, entry, p)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(headers: list[str], rows: list[list], right: set[int] | None = None) -> str:
    right = right if right is not None else set(range(1, len(headers)))
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(vals):
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in cells])


def fmt_fast(n: int, needs_call: bool) -> str:
    return f"{n}*" if needs_call else str(n)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="timed runs (median reported; default 7)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    ap.add_argument("--subprocess-runs", type=int, default=3,
                    help="timed runs of `python3 -m pvdsl.cli build` as a subprocess (default 3; 0 to skip)")
    ap.add_argument("--gcc", default=os.environ.get("CC", "gcc"), help="the gcc to compare with (default: $CC or gcc)")
    ap.add_argument("--json", metavar="FILE", help="also write every number measured to FILE")
    ap.add_argument("--show-paths", action="store_true", help="print the fast path of every hook, both compilers")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be >= 1 and --warmup >= 0")
    gcc = shutil.which(args.gcc)
    if gcc is None:
        sys.exit(f"bench/codegen/run.py: '{args.gcc}' not found")
    gcc_version = subprocess.run([gcc, "--version"], stdout=subprocess.PIPE, text=True).stdout.splitlines()[0]

    os.chdir(ROOT)  # spec paths (and diagnostics) relative to the repository
    groups, skipped = discover()
    files = [f for g in groups for f in g.files]
    jobs = jobs_of(groups)
    if not jobs:
        sys.exit("bench/codegen/run.py: no backend found in examples/*.pv or pvdsl/specs/**/*.pv")
    missing_c = sorted({j.backend for j in jobs if not (C_DIR / f"{j.backend}.c").exists()})
    if missing_c:
        sys.exit("bench/codegen/run.py: no hand-written C equivalent for backend(s) "
                 f"{', '.join(missing_c)}: write bench/codegen/c/<backend>.c")
    backends = sorted({j.backend for j in jobs}, key=[j.backend for j in jobs].index)
    started = time.perf_counter()

    print(f"pvdsl codegen benchmark: {len(backends)} backends ({', '.join(backends)}), {len(jobs)} objects "
          f"over {len({j.target for j in jobs})} targets")
    print(f"sources: {', '.join(map(str, files))}; no backend in {', '.join(map(str, skipped)) or '-'}")
    print("pvdsl command equivalent: " + "; ".join(
        "pvdsl build " + " ".join(map(str, g.files)) + " --target all" for g in groups))
    print(f"gcc: {gcc_version}; flags -O2 -c plus, i386: {' '.join(GCC_FLAGS['i386'])}; "
          f"x86_64: {' '.join(GCC_FLAGS['x86_64'])}")
    print(f"host: {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; python {platform.python_version()}")
    print()

    keys = ("pvdsl_build", "pvdsl_build_obj", "pvdsl_codegen", "gcc_set", "pvdsl_subprocess")
    wall: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    per_codegen: dict[str, list[tuple[float, float]]] = {j.name: [] for j in jobs}
    per_gcc: dict[str, list[tuple[float, float]]] = {j.name: [] for j in jobs}
    empty: dict[str, list[tuple[float, float]]] = {"i386": [], "x86_64": []}
    warm: dict[str, float] = {}

    def record(key, wc):
        wall[key].append(wc[0])
        cpu[key].append(wc[1])

    with tempfile.TemporaryDirectory(prefix="pvdsl-bench-") as tmp:
        tmp = Path(tmp)
        empty_c = tmp / "empty.c"
        empty_c.write_text("")
        (tmp / "gcc_objs").mkdir()
        built_names = compiled = None
        # pvdsl and gcc interleaved, in alternating order, so that drifting
        # load hits both alike.
        for run in range(args.warmup + args.runs):
            if run % 2:
                t_gcc, per_g = time_gcc_set(gcc, jobs, tmp / "gcc_objs")
                t_empty = {a: run_gcc(gcc_command(gcc, a, empty_c, tmp / f"empty-{a}.o")) for a in empty}
            t_build, built_names = time_pvdsl_build(groups, tmp / "pvdsl")
            t_build_obj, _names = time_pvdsl_build(groups, tmp / "pvdsl_obj", ("obj",))
            t_cg, per, compiled = time_pvdsl_codegen(groups, jobs)
            if not run % 2:
                t_gcc, per_g = time_gcc_set(gcc, jobs, tmp / "gcc_objs")
                t_empty = {a: run_gcc(gcc_command(gcc, a, empty_c, tmp / f"empty-{a}.o")) for a in empty}
            if run < args.warmup:
                if run == 0:
                    warm = {"pvdsl_build": t_build[0], "pvdsl_codegen": t_cg[0], "gcc_set": t_gcc[0]}
                continue
            record("pvdsl_build", t_build)
            record("pvdsl_build_obj", t_build_obj)
            record("pvdsl_codegen", t_cg)
            record("gcc_set", t_gcc)
            for k, v in per.items():
                per_codegen[k].append(v)
            for k, v in per_g.items():
                per_gcc[k].append(v)
            for arch, v in t_empty.items():
                empty[arch].append(v)
        for _ in range(args.subprocess_runs):
            record("pvdsl_subprocess", time_pvdsl_subprocess(groups, tmp / "pvdsl_sub"))

        gcc_objs = {j.name: Obj((tmp / "gcc_objs" / f"{j.name}.o").read_bytes(), f"gcc {j.name}") for j in jobs}
        ours_objs = {j.name: Obj(compiled[j.name].obj, f"pvdsl {j.name}") for j in jobs}
        built_names = sorted(built_names)
        if built_names != sorted(j.name for j in jobs):
            print(f"note: build_program built {built_names}, the codegen loop {sorted(j.name for j in jobs)}")

    # ---------------- (a) ----------------
    n_obj = len(jobs)
    m = {k: median_ms(v) for k, v in wall.items() if v}
    mc = {k: median_ms(v) for k, v in cpu.items() if v}
    empty_ms = {a: median_ms([w for w, _c in v]) for a, v in empty.items()}
    empty_cpu_ms = {a: median_ms([c for _w, c in v]) for a, v in empty.items()}
    startup_ms = sum(empty_ms[j.arch] for j in jobs)
    startup_cpu_ms = sum(empty_cpu_ms[j.arch] for j in jobs)
    gcc_compute_ms = m["gcc_set"] - startup_ms
    gcc_compute_cpu_ms = mc["gcc_set"] - startup_cpu_ms
    rows = []
    ratios = {}

    def spread(key):
        return f"{min(wall[key]) * 1000:.0f}-{max(wall[key]) * 1000:.0f}"

    def ratio_row(label, key, what):
        r, rc = m[key] / m["gcc_set"], mc[key] / mc["gcc_set"]
        ratios[key + "/gcc_set"] = {"wall": r, "cpu": rc}
        rows.append([label, f"{m[key]:.0f}", spread(key), f"{r:.2f}", verdict(r <= 1.0),
                     f"{mc[key]:.0f}", f"{rc:.2f}", verdict(rc <= 1.0), what])

    ratio_row("pvdsl build, in-process", "pvdsl_build",
              "check + lower + optimise + emit .o/.ll/.s/.manifest/.h + write them")
    ratio_row("pvdsl build --emit obj, in-process", "pvdsl_build_obj",
              "check + lower + optimise + emit and write the .o files: what gcc -c produces")
    ratio_row("pvdsl codegen only, in-process", "pvdsl_codegen",
              f"lower + LLVM verify/optimise/emit .o and .s, {n_obj} objects")
    if wall["pvdsl_subprocess"]:
        ratio_row("pvdsl build, subprocess", "pvdsl_subprocess",
                  f"`python3 -m pvdsl.cli build`: + interpreter start-up and imports "
                  f"(median of {len(wall['pvdsl_subprocess'])})")
    rows.append(["gcc -O2 -c, whole set", f"{m['gcc_set']:.0f}", spread("gcc_set"), "1.00", "",
                 f"{mc['gcc_set']:.0f}", "1.00", "", f"{n_obj} gcc processes in sequence, start-up (driver, cc1, "
                 "as) included"])
    rows.append(["gcc start-up estimate", f"{startup_ms:.0f}", "", "", "", f"{startup_cpu_ms:.0f}", "", "",
                 f"the same {n_obj} processes on an empty file ({empty_ms['i386']:.1f} ms i386, "
                 f"{empty_ms['x86_64']:.1f} ms x86_64 each)"])
    rows.append(["gcc minus start-up", f"{gcc_compute_ms:.0f}", "", "", "", f"{gcc_compute_cpu_ms:.0f}", "", "",
                 "estimate of gcc's compile work alone"])
    if gcc_compute_ms > 0 and gcc_compute_cpu_ms > 0:
        r, rc = m["pvdsl_codegen"] / gcc_compute_ms, mc["pvdsl_codegen"] / gcc_compute_cpu_ms
        ratios["pvdsl_codegen/gcc_minus_startup"] = {"wall": r, "cpu": rc}
        rows.append(["pvdsl codegen / gcc minus start-up", "", "", f"{r:.2f}", "(info)", "", f"{rc:.2f}", "(info)",
                     "neither side pays process start-up"])
    print(f"(a) build time: every shipped backend for every target it supports ({n_obj} objects), "
          f"median of {args.runs} runs after {args.warmup} warm-up; target: pvdsl/gcc <= 1.0")
    print(table(["measurement", "wall ms", "min-max", "vs gcc", "target", "cpu ms", "vs gcc", "target",
                 "what it includes"], rows, right={1, 2, 3, 5, 6}))
    print(f"wall: elapsed time; cpu: user+system time of this process and its children. Load average at the end: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; on a busy machine wall "
          "times move with the load, cpu times much less.")
    if warm:
        print(f"first (warm-up) run, wall: pvdsl build {warm['pvdsl_build'] * 1000:.0f} ms (includes building "
              f"the parser), codegen {warm['pvdsl_codegen'] * 1000:.0f} ms, gcc set {warm['gcc_set'] * 1000:.0f} ms")
    print()
    per_rows = []
    per_file = {}
    for j in jobs:
        ours_ms = median_ms([w for w, _c in per_codegen[j.name]])
        gcc_ms = median_ms([w for w, _c in per_gcc[j.name]])
        ours_cpu = median_ms([c for _w, c in per_codegen[j.name]])
        gcc_cpu = median_ms([c for _w, c in per_gcc[j.name]])
        r = ours_ms / gcc_ms
        per_file[j.name] = {"pvdsl_codegen_ms": ours_ms, "gcc_ms": gcc_ms, "ratio": r,
                            "gcc_minus_startup_ms": gcc_ms - empty_ms[j.arch],
                            "pvdsl_codegen_cpu_ms": ours_cpu, "gcc_cpu_ms": gcc_cpu, "cpu_ratio": ours_cpu / gcc_cpu}
        per_rows.append([j.name, f"{ours_ms:.1f}", f"{gcc_ms:.1f}", f"{gcc_ms - empty_ms[j.arch]:.1f}",
                         f"{r:.2f}", verdict(r <= 1.0), f"{ours_cpu:.1f}", f"{gcc_cpu:.1f}", f"{ours_cpu / gcc_cpu:.2f}"])
    print("(a) per object: pvdsl codegen (lower + compile_lowered, in-process) vs one gcc process "
          "(start-up included; `gcc-startup` subtracts the empty-file compile)")
    print(table(["object", "pvdsl ms", "gcc ms", "gcc-startup", "ratio", "target", "pvdsl cpu", "gcc cpu",
                 "cpu ratio"], per_rows))
    print()
    breakdown = codegen_breakdown(groups, jobs)
    if breakdown is not None:
        stages, total_ms = breakdown
        print(f"(a) where pvdsl's codegen time goes: one extra pass over the {n_obj} objects, pvdsl's stage "
              "functions wrapped with timers")
        print(table(["stage", "ms", "share", "calls"],
                    [[r["stage"], f"{r['ms']:.0f}", f"{100 * r['ms'] / total_ms:.0f}%",
                      "" if r["calls"] is None else r["calls"]] for r in stages]
                    + [["total", f"{total_ms:.0f}", "100%", ""]]))
        print()

    # ---------------- (b) ----------------
    hook_results = []  # one per job and hook
    for j in jobs:
        c = compiled[j.name]
        ours, theirs = ours_objs[j.name], gcc_objs[j.name]
        for table_name, entries in c.lowered.tables.items():
            if table_name not in theirs.symbols:
                sys.exit(f"bench/codegen/run.py: c/{j.backend}.c defines no table '{table_name}' for {j.target}")
            for index, h in enumerate(entries):
                our_entry = ours.pointer_at(table_name, index)
                if our_entry != h.symbol:
                    sys.exit(f"bench/codegen/run.py: pvdsl {j.name}: slot {index} of {table_name} points to "
                             f"{our_entry}, expected {h.symbol}")
                gcc_entry = theirs.pointer_at(table_name, index)
                if gcc_entry is None:
                    sys.exit(f"bench/codegen/run.py: c/{j.backend}.c ({j.target}): slot {index} of {table_name} "
                             f"({h.hook}) points to no function of the object")
                oc, gc_ = count_hook(ours, h.symbol), count_hook(theirs, gcc_entry)
                body = count_hook(theirs, h.symbol) if gcc_entry != h.symbol and h.symbol in theirs.funcs else None
                hook_results.append({
                    "backend": j.backend, "target": j.target, "arch": j.arch, "table": table_name,
                    "hook": h.hook, "slot": index, "callee_save": h.callee_save,
                    "pvdsl": {"symbol": h.symbol, "static": oc.static, "padding": ours.padding_count(h.symbol),
                              "fast": oc.fast,
                              "fast_needs_call": oc.fast_needs_call, "fast_path": oc.path},
                    "gcc": {"symbol": gcc_entry, "static": gc_.static, "padding": theirs.padding_count(gcc_entry),
                            "fast": gc_.fast,
                            "fast_needs_call": gc_.fast_needs_call, "fast_path": gc_.path},
                    "gcc_body_without_thunk": None if body is None else
                    {"symbol": h.symbol, "static": body.static, "fast": body.fast,
                     "fast_needs_call": body.fast_needs_call},
                    "pass": oc.static <= gc_.static and oc.fast <= gc_.fast,
                })
    # Rows: one per backend, arch and hook; roles merged where the counts agree.
    grouped: dict[tuple, list[dict]] = {}
    for r in hook_results:
        key = (r["backend"], r["arch"], r["hook"], r["pvdsl"]["static"], r["pvdsl"]["fast"], r["gcc"]["static"],
               r["gcc"]["fast"])
        grouped.setdefault(key, []).append(r)
    b_rows = []
    for _key, rs in grouped.items():
        r = rs[0]
        roles = ",".join(x["target"].split("-", 1)[1] for x in rs)
        body = r["gcc_body_without_thunk"]
        b_rows.append([
            r["backend"], f"{r['arch']} {roles}", r["hook"] + (" [cs]" if r["callee_save"] else ""),
            r["pvdsl"]["static"], r["gcc"]["static"],
            fmt_fast(r["pvdsl"]["fast"], r["pvdsl"]["fast_needs_call"]),
            fmt_fast(r["gcc"]["fast"], r["gcc"]["fast_needs_call"]),
            "" if body is None else f"{body['static']}/{fmt_fast(body['fast'], body['fast_needs_call'])}",
            verdict(r["pass"])])
    n_hooks = len(b_rows)
    n_pass = sum(row[-1] == "PASS" for row in b_rows)
    print("(b) instructions per hook, pvdsl vs gcc -O2 on the C equivalent; target: pvdsl <= gcc, static and "
          "fast path")
    print("    static = every instruction of the hook's symbol(s), alignment nops excluded; fast = the shortest path "
          "entry->ret with no call out of the object")
    print("    and no backward branch taken; * = every path makes a hypercall (shortest path, the call counted "
          "as 1); [cs] = callee_save:")
    print("    gcc's hook is the PV_CALLEE_SAVE_REGS_THUNK plus the C function it calls (last column: the C "
          "function alone, static/fast)")
    print(table(["backend", "target", "hook", "static pvdsl", "static gcc", "fast pvdsl", "fast gcc",
                 "C body w/o thunk", "target"], b_rows, right={3, 4, 5, 6, 7}))
    print(f"{n_pass}/{n_hooks} rows PASS ({len(hook_results)} hook objects).")
    misses = [r for r in hook_results if not r["pass"]]
    if misses:
        print("hooks where pvdsl is not <= gcc:")
        seen = set()
        for r in misses:
            key = (r["backend"], r["arch"], r["hook"])
            if key in seen:
                continue
            seen.add(key)
            targets = ",".join(x["target"] for x in misses if (x["backend"], x["arch"], x["hook"]) == key)
            static_miss = r["pvdsl"]["static"] > r["gcc"]["static"]
            fast_miss = r["pvdsl"]["fast"] > r["gcc"]["fast"]
            what = " and ".join(w for w, bad in (("static", static_miss), ("fast path", fast_miss)) if bad)
            print(f"  {r['backend']}.{r['hook']} on {targets} ({what}): static {r['pvdsl']['static']} vs "
                  f"{r['gcc']['static']}, fast path {r['pvdsl']['fast']} vs {r['gcc']['fast']}")
            if fast_miss:
                print(f"    pvdsl fast path: {' ; '.join(r['pvdsl']['fast_path'])}")
                print(f"    gcc   fast path: {' ; '.join(r['gcc']['fast_path'])}")
            if static_miss:
                j = next(j for j in jobs if j.name == f"{r['backend']}-{r['target']}")
                for who, obj, sym in (("pvdsl", ours_objs[j.name], r["pvdsl"]["symbol"]),
                                      ("gcc  ", gcc_objs[j.name], r["gcc"]["symbol"])):
                    code = [f"{n}: " + " ; ".join(obj.text(obj.funcs[n], i) + (" (pad)" if is_padding(i, obj.bits)
                                                                                     else "")
                                                        for i in obj.funcs[n].insns)
                            for n in obj.reachable(sym)]
                    print(f"    {who} code: " + "\n                ".join(code))
    else:
        print("no hook where pvdsl is above gcc.")
    if args.show_paths:
        for r in hook_results:
            print(f"  {r['backend']}-{r['target']} {r['hook']}:")
            print(f"    pvdsl: {' ; '.join(r['pvdsl']['fast_path'])}")
            print(f"    gcc:   {' ; '.join(r['gcc']['fast_path'])}")
    print()

    # ---------------- (c) ----------------
    c_rows, c_results = [], {}
    irq = [r for r in hook_results if r["backend"] == "xen" and r["target"] == "x86_64-domu"
           and r["table"] == "pv_irq_ops"]
    by_hook = {r["hook"]: r for r in irq}
    alt = save_fl_variant()
    for hook, linux in LINUX_XEN_FAST.items():
        r = by_hook.get(hook)
        if r is None:
            c_rows.append([hook, "-", linux, "-", "-", "-", "MISS (hook not built)"])
            continue
        ours = r["pvdsl"]["fast"]
        body = r["gcc_body_without_thunk"]
        c_results[hook] = {"pvdsl_fast": ours, "linux": linux, "gcc_fast": r["gcc"]["fast"],
                           "gcc_body_fast": None if body is None else body["fast"],
                           "pvdsl_fast_path": r["pvdsl"]["fast_path"], "pass": ours == linux}
        c_rows.append([hook, ours, linux, r["gcc"]["fast"], "" if body is None else body["fast"],
                       " ; ".join(r["pvdsl"]["fast_path"]), verdict(ours == linux)])
    if alt is not None:
        c_results["save_fl_alternative"] = alt
        c_rows.append(["save_fl (alt. phrasing)", alt["fast"], LINUX_XEN_FAST["save_fl"], "", "",
                       " ; ".join(alt["fast_path"]), "(info) " + verdict(alt["fast"] == LINUX_XEN_FAST["save_fl"])])
    print("(c) Xen irq hooks of examples/irq.pv, x86_64-domu, fast path (instructions incl. ret) vs Linux's "
          "hand-written xen-asm.S; target: equal")
    print(table(["hook", "pvdsl", "Linux", "gcc C+thunk", "gcc C alone", "pvdsl fast path", "target"], c_rows,
                right={1, 2, 3, 4}))
    if alt is not None:
        print(f"alt. phrasing (compiled in memory, examples/ untouched): `{SAVE_FL_ALT}`")
        print(f"  instead of `{SAVE_FL_NOW}`; {alt['equivalence']}")
    print()
    elapsed = time.perf_counter() - started
    print(f"benchmark wall time {elapsed:.1f} s")

    if args.json:
        out = {
            "command": "python3 bench/codegen/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "runs": args.runs, "warmup": args.warmup, "subprocess_runs": args.subprocess_runs,
            "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
                     "python": platform.python_version()},
            "gcc": {"path": gcc, "version": gcc_version, "flags": GCC_FLAGS, "common": GCC_COMMON},
            "sources": list(map(str, files)), "library_files_without_backend": list(map(str, skipped)),
            "objects": [j.name for j in jobs],
            "a": {"wall_samples_s": wall, "cpu_samples_s": cpu, "median_wall_ms": m, "median_cpu_ms": mc,
                  "gcc_empty_file_median_ms": {"wall": empty_ms, "cpu": empty_cpu_ms},
                  "gcc_startup_estimate_ms": {"wall": startup_ms, "cpu": startup_cpu_ms},
                  "gcc_minus_startup_ms": {"wall": gcc_compute_ms, "cpu": gcc_compute_cpu_ms},
                  "ratios": ratios, "warmup_wall_s": warm, "per_object": per_file,
                  "per_object_samples_s": {"pvdsl_codegen": per_codegen, "gcc": per_gcc},
                  "codegen_breakdown": None if breakdown is None else
                  {"stages": breakdown[0], "total_ms": breakdown[1]}},
            "b": hook_results,
            "c": c_results,
            "wall_time_s": elapsed,
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def save_fl_variant() -> dict | None:
    """examples/irq.pv with save_fl phrased as ((mask as ulong) - 1) & IF,
    checked and compiled in memory for x86_64-domu; None if the file no
    longer contains the phrasing this replaces."""
    src = (ROOT / "examples" / "irq.pv").read_text()
    if SAVE_FL_NOW not in src:
        return None
    diags = Diagnostics()
    program = check_text(src.replace(SAVE_FL_NOW, SAVE_FL_ALT), diags, "examples/irq.pv (save_fl variant)")
    if diags.has_errors:
        return {"fast": -1, "fast_path": ["does not check: " + diags.render().splitlines()[0]],
                "equivalence": ""}
    view = program.view("x86_64")
    c = compile_lowered(lower_backend(view, view.backends["xen"], TARGETS["x86_64-domu"]))
    hc = count_hook(Obj(c.obj, "pvdsl save_fl variant"), "xen_save_fl")
    # The language's semantics: a u8 widened to ulong (64-bit), wrapping
    # subtraction; the current phrasing yields IF exactly when mask == 0.
    same = all(((m - 1) % 2**64) & 0x200 == (0x200 if m == 0 else 0) for m in range(256))
    return {"fast": hc.fast, "static": hc.static, "fast_path": hc.path,
            "equivalence": ("same result as the current phrasing for every mask value 0..255"
                            if same else "NOT the same result for every mask value")}


if __name__ == "__main__":
    sys.exit(main())
