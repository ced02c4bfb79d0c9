"""Read Linux's pv_ops tables out of Debian's kernel headers and compare them
with a pvdsl spec, for tests/specs/test_linux_tables.py.

The kernel side comes from the real headers, never from a list typed into a
test: arch/x86/include/asm/paravirt_types.h gives the members of each
`struct pv_*_ops` in order (the slot order), and arch/x86/include/asm/paravirt.h
gives the argument count of each `struct paravirt_callee_save` member (those
members carry no C signature; their callers are `PVOP_[ALT_][V]CALLEE<N>`).
Both headers go through a small preprocessor that evaluates `#if`/`#ifdef` for
one chosen kernel config (CONFIGS below), then a small parser of struct members:

- `RET (*NAME)(ARGS);`                  a hook NAME
- `struct paravirt_callee_save NAME;`   a callee_save hook NAME
- `struct TAG NAME;`                    TAG's members, one slot each, named NAME_MEMBER
                                        (`struct pv_lazy_ops lazy_mode;` gives
                                        lazy_mode_enter, lazy_mode_leave, lazy_mode_flush)

The pvdsl side is `pvdsl abi SPEC --arch ARCH --json`, run in-process.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

HEADER_GLOB = "/usr/src/linux-headers-*-common/arch/x86/include/asm/paravirt_types.h"
HEADER_PACKAGE = "linux-headers-6.1.0-<N>-common"
CONFIG_GLOB = "/usr/src/linux-headers-6.1.0-*-amd64/.config"
CONFIG_PACKAGE = "linux-headers-6.1.0-<N>-amd64"

# The tables of Linux 6.1, in the order of struct paravirt_patch_template.
TABLES_6_1 = ("pv_cpu_ops", "pv_irq_ops", "pv_mmu_ops", "pv_lock_ops")

# The kernel configs the 6.1 spec is written for. `on`: macros defined (value
# 1 for a bool option); `off`: options known to be unset. A CONFIG_ macro that
# governs a table member and is in neither set is an error (see
# undecided_conditions), so a new #ifdef in a later header is noticed rather
# than silently read as unset.
#
# x86_64: Debian's amd64 kernel config (checked against the .config of
#   linux-headers-6.1.0-<N>-amd64 when that package is installed).
# i386: a 32-bit PAE build with PARAVIRT and PARAVIRT_SPINLOCKS (Debian's
#   686-pae flavour). PARAVIRT_XXL is off: in 6.1 only XEN_PV selects it, and
#   XEN_PV depends on X86_64.
CONFIGS = {
    "x86_64": {
        "on": {"CONFIG_X86_64": 1, "CONFIG_64BIT": 1, "CONFIG_SMP": 1, "CONFIG_PARAVIRT": 1,
               "CONFIG_PARAVIRT_XXL": 1, "CONFIG_PARAVIRT_SPINLOCKS": 1, "CONFIG_XEN_PV": 1,
               "CONFIG_X86_IOPL_IOPERM": 1, "CONFIG_X86_5LEVEL": 1, "CONFIG_PGTABLE_LEVELS": 5},
        "off": {"CONFIG_X86_32", "CONFIG_X86_PAE", "CONFIG_PARAVIRT_DEBUG"},
    },
    "i386": {
        "on": {"CONFIG_X86_32": 1, "CONFIG_X86_PAE": 1, "CONFIG_SMP": 1, "CONFIG_PARAVIRT": 1,
               "CONFIG_PARAVIRT_SPINLOCKS": 1, "CONFIG_X86_IOPL_IOPERM": 1, "CONFIG_PGTABLE_LEVELS": 3},
        "off": {"CONFIG_X86_64", "CONFIG_64BIT", "CONFIG_PARAVIRT_XXL", "CONFIG_XEN_PV", "CONFIG_X86_5LEVEL",
                "CONFIG_PARAVIRT_DEBUG"},
    },
}

# C types of the hooks' arguments and results -> the pvdsl types the specs use
# (pvdsl/specs/linux/README.md). `struct X *` maps to ptr<X> and `T *` to
# ptr<map(T)> without being listed.
C_TYPES = {
    "void": "void", "bool": "bool", "_Bool": "bool",
    "char": "u8", "unsigned char": "u8", "short": "s16", "unsigned short": "u16",
    "int": "s32", "signed int": "s32", "unsigned": "u32", "unsigned int": "u32",
    "long": "long", "long int": "long", "unsigned long": "ulong", "unsigned long int": "ulong",
    "long long": "s64", "unsigned long long": "u64",
    "u8": "u8", "u16": "u16", "u32": "u32", "u64": "u64", "s8": "s8", "s16": "s16", "s32": "s32", "s64": "s64",
    # page-table entries and their values: 64 bits on x86_64 and on i386 PAE
    "pte_t": "u64", "pmd_t": "u64", "pud_t": "u64", "p4d_t": "u64", "pgd_t": "u64",
    "pteval_t": "u64", "pmdval_t": "u64", "pudval_t": "u64", "p4dval_t": "u64", "pgdval_t": "u64",
    "pgprot_t": "u64", "phys_addr_t": "u64",
    # typedefs of structs that linux.types declares opaque
    "gate_desc": "gate_desc", "cpumask_t": "cpumask",
}

_C_KEYWORDS = {"void", "bool", "_Bool", "char", "short", "int", "long", "signed", "unsigned", "const",
               "volatile", "struct", "union", "enum"}


class HeaderError(Exception):
    """The header has something this parser does not understand."""


# ---- finding the headers -------------------------------------------------------------

def _version_key(path: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def find_header() -> Path | None:
    """The newest installed 6.1 paravirt_types.h (several ABI numbers may be installed)."""
    found = sorted(glob.glob(HEADER_GLOB), key=_version_key)
    six_one = [p for p in found if "/linux-headers-6.1." in p]
    return Path((six_one or found)[-1]) if found else None


def find_config() -> Path | None:
    found = sorted(glob.glob(CONFIG_GLOB), key=_version_key)
    return Path(found[-1]) if found else None


def read_kconfig(path: Path) -> dict[str, str]:
    """CONFIG_X -> 'y', 'm', a number or a string; unset options are absent."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"(CONFIG_\w+)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


# ---- a small preprocessor ------------------------------------------------------------

@dataclass
class Preprocessed:
    text: str  # the header with comments and inactive lines blanked; line structure kept
    conditions: list[tuple[int, str, frozenset[str]]]  # (line, directive text, CONFIG_ macros it reads)
    open_at: list[tuple[int, ...]]  # per line (0-based): lines of the conditionals enclosing it


def strip_comments(text: str) -> str:
    """Comments become spaces; newlines stay, so line numbers are kept."""
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _eval_condition(expr: str, on: dict[str, int]) -> tuple[bool, set[str]]:
    names: set[str] = set()

    def defined(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        names.add(name)
        return " 1 " if name in on else " 0 "

    e = re.sub(r"\bdefined\s*\(\s*(\w+)\s*\)|\bdefined\s+(\w+)", defined, expr)
    e = re.sub(r"\bIS_(?:ENABLED|BUILTIN)\s*\(\s*(\w+)\s*\)", defined, e)

    def ident(m: re.Match) -> str:
        names.add(m.group(0))
        return f" {int(on.get(m.group(0), 0))} "

    e = re.sub(r"\b[A-Za-z_]\w*\b", ident, e)
    e = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", e)
    e = e.replace("&&", " and ").replace("||", " or ")
    e = re.sub(r"!(?!=)", " not ", e)
    if not re.fullmatch(r"[\s\w()<>=!+\-*/%]*", e):
        raise HeaderError(f"cannot evaluate #if {expr!r}")
    try:
        value = eval(e, {"__builtins__": {}}, {})  # only digits, operators and/or/not remain
    except Exception as err:
        raise HeaderError(f"cannot evaluate #if {expr!r}: {err}") from None
    return bool(value), {n for n in names if n.startswith("CONFIG_")}


def preprocess(text: str, config: dict) -> Preprocessed:
    """Evaluate #if/#ifdef/#ifndef/#elif/#else/#endif for `config` (its `on`
    macros are defined, everything else is not). Other directives are dropped."""
    on = config["on"]
    lines = strip_comments(text).split("\n")
    out: list[str] = []
    conditions: list[tuple[int, str, frozenset[str]]] = []
    open_at: list[tuple[int, ...]] = []
    # stack entries: [line, parent_active, branch_taken, active]
    stack: list[list] = []
    continued = False
    for no, line in enumerate(lines, 1):
        open_at.append(tuple(s[0] for s in stack))
        active = not stack or stack[-1][3]
        if continued:  # the rest of a directive continued with a backslash
            continued = line.rstrip().endswith("\\")
            out.append("")
            continue
        m = re.match(r"\s*#\s*(\w+)\s*(.*?)\s*$", line)
        if not m:
            out.append(line if active else "")
            continue
        continued = line.rstrip().endswith("\\")
        out.append("")
        word, rest = m.group(1), m.group(2).rstrip("\\").strip()
        if word in ("if", "ifdef", "ifndef"):
            if word == "if":
                value, names = _eval_condition(rest, on)
            else:
                value, names = rest in on, {rest} if rest.startswith("CONFIG_") else set()
                value = value if word == "ifdef" else not value
            conditions.append((no, f"#{word} {rest}", frozenset(names)))
            stack.append([no, active, value, active and value])
        elif word == "elif":
            if not stack:
                raise HeaderError(f"line {no}: #elif without #if")
            value, names = _eval_condition(rest, on)
            conditions.append((no, f"#elif {rest}", frozenset(names)))
            top = stack[-1]
            top[3] = top[1] and not top[2] and value
            top[2] = top[2] or value
        elif word == "else":
            if not stack:
                raise HeaderError(f"line {no}: #else without #if")
            top = stack[-1]
            top[3] = top[1] and not top[2]
            top[2] = True
        elif word == "endif":
            if not stack:
                raise HeaderError(f"line {no}: #endif without #if")
            stack.pop()
    if stack:
        raise HeaderError(f"#if at line {stack[-1][0]} is never closed")
    return Preprocessed("\n".join(out), conditions, open_at)


# ---- struct members ------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    name: str
    callee_save: bool
    line: int  # in the header
    ret: str | None = None  # C return type; None for callee_save members
    args: tuple[str, ...] | None = None  # C argument types; None for callee_save members


def struct_span(text: str, tag: str) -> tuple[int, int] | None:
    """(start, end) offsets of the body of `struct TAG { ... }`, braces excluded."""
    m = re.search(r"\bstruct\s+" + re.escape(tag) + r"\s*\{", text)
    if not m:
        return None
    depth, i = 1, m.end()
    while depth:
        if i >= len(text):
            raise HeaderError(f"struct {tag}: no closing brace")
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return m.end(), i - 1


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _split_args(args: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in args:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        cur += ch
    out.append(cur)
    out = [" ".join(a.split()) for a in out]
    return [] if out == ["void"] or out == [""] else out


def arg_type(arg: str) -> str:
    """The type of one C parameter declaration, without its name and `const`."""
    tokens = re.findall(r"\w+|\*", arg)
    if len(tokens) > 1 and tokens[-1] not in _C_KEYWORDS and tokens[-1] != "*" and tokens[-2] != "struct":
        tokens = tokens[:-1]  # the parameter's name
    tokens = [t for t in tokens if t not in ("const", "volatile")]
    return " ".join(tokens).replace(" *", "*")


_FN_PTR = re.compile(r"^(?P<ret>[\w\s*]+?)\s*\(\s*\*\s*(?P<name>\w+)\s*\)\s*\((?P<args>.*)\)$", re.S)
_NESTED = re.compile(r"^struct\s+(?P<tag>\w+)\s+(?P<name>\w+)$")


def struct_members(pp: Preprocessed, tag: str, prefix: str = "") -> list[Member]:
    span = struct_span(pp.text, tag)
    if span is None:
        raise HeaderError(f"no struct {tag} in this config")
    start, end = span
    members: list[Member] = []
    pos = start
    for decl in pp.text[start:end].split(";"):
        line = _line_of(pp.text, pos + len(decl) - len(decl.lstrip()))
        pos += len(decl) + 1
        d = " ".join(decl.split())
        if not d:
            continue
        if m := _FN_PTR.match(d):
            members.append(Member(prefix + m.group("name"), False, line, " ".join(m.group("ret").split()),
                                  tuple(arg_type(a) for a in _split_args(m.group("args")))))
        elif m := _NESTED.match(d):
            if m.group("tag") == "paravirt_callee_save":
                members.append(Member(prefix + m.group("name"), True, line))
            else:  # a nested ops struct: each of its pointers is a slot
                members += struct_members(pp, m.group("tag"), prefix + m.group("name") + "_")
        else:
            raise HeaderError(f"line {line}: struct {tag}: cannot read member {d!r}")
    return members


def patch_template(pp: Preprocessed) -> dict[str, str]:
    """Member name of struct paravirt_patch_template -> table (cpu -> pv_cpu_ops)."""
    span = struct_span(pp.text, "paravirt_patch_template")
    if span is None:
        raise HeaderError("no struct paravirt_patch_template")
    return {m.group(2): m.group(1) for m in re.finditer(r"struct\s+(\w+)\s+(\w+)\s*;", pp.text[span[0]:span[1]])}


def callee_save_arities(paravirt_h: Path, config: dict, template: dict[str, str]) -> dict[tuple[str, str], tuple[int, str | None, int]]:
    """(table, member) -> (argument count, C return type or None for void, line),
    from the PVOP_*CALLEE<N> calls of paravirt.h."""
    pp = preprocess(paravirt_h.read_text(), config)
    out = {}
    for m in re.finditer(r"\bPVOP_(?:ALT_)?(V?)CALLEE(\d)\s*\(\s*(?:(?P<ret>[^,()]+?)\s*,\s*)??"
                         r"(?P<grp>\w+)\.(?P<mem>\w+)", pp.text):
        void, n = m.group(1) == "V", int(m.group(2))
        ret = None if void else " ".join((m.group("ret") or "").split()) or None
        table = template.get(m.group("grp"))
        if table:
            out[(table, m.group("mem"))] = (n, ret, _line_of(pp.text, m.start()))
    return out


def kernel_tables(header: Path, arch: str, tables=TABLES_6_1) -> dict[str, list[Member]]:
    """The members of each table for `arch`'s config, callee_save members with
    their argument count and result type filled in from paravirt.h."""
    config = CONFIGS[arch]
    pp = preprocess(header.read_text(), config)
    template = patch_template(pp)
    paravirt_h = header.with_name("paravirt.h")
    arities = callee_save_arities(paravirt_h, config, template) if paravirt_h.exists() else {}
    out = {}
    for table in tables:
        members = []
        for mem in struct_members(pp, table):
            if mem.callee_save:
                found = arities.get((table, mem.name))
                if found is None:
                    raise HeaderError(f"{header.name}:{mem.line}: callee_save member {table}.{mem.name} is "
                                      f"called nowhere in {paravirt_h} (no PVOP_*CALLEE<N>): its argument "
                                      f"count is unknown")
                n, ret, _line = found
                mem = Member(mem.name, True, mem.line, ret or "void", ("?",) * n)
            members.append(mem)
        out[table] = members
    return out


def undecided_conditions(header: Path, arch: str, tables=TABLES_6_1) -> list[str]:
    """Conditionals inside, or around, the tables' structs (and the structs
    nested in them) that read a CONFIG_ macro the config does not decide."""
    config = CONFIGS[arch]
    decided = set(config["on"]) | set(config["off"])
    pp = preprocess(header.read_text(), config)
    raw = strip_comments(header.read_text())
    spans = []
    for tag in (*tables, "pv_lazy_ops"):
        span = struct_span(raw, tag)
        if span:
            spans.append((tag, _line_of(raw, span[0]), _line_of(raw, span[1])))
    governing: dict[int, str] = {}
    for tag, first, last in spans:
        lines = set(pp.open_at[first - 1])
        lines |= {no for no, _t, _n in pp.conditions if first <= no <= last}
        for no in lines:
            governing[no] = tag
    out = []
    for no, text, names in pp.conditions:
        if no in governing:
            for name in sorted(names - decided):
                out.append(f"{header}:{no}: `{text}` (struct {governing[no]}) reads {name}, which the "
                           f"{arch} config of tests/specs/linux_header_support.py neither sets nor unsets")
    return out


# ---- types ---------------------------------------------------------------------------

def pv_type(ctype: str) -> str:
    """The pvdsl type for a C type (see C_TYPES)."""
    t = ctype.strip()
    if t.endswith("*"):
        return f"ptr<{pv_type(t[:-1])}>"
    if t.startswith("struct "):
        return t.split()[1]
    if t in C_TYPES:
        return C_TYPES[t]
    raise HeaderError(f"no pvdsl type for C type {ctype!r}; add it to C_TYPES in {Path(__file__).name}")


# ---- the pvdsl side ------------------------------------------------------------------

def pvdsl_tables(spec: Path, arch: str) -> dict[str, list[dict]]:
    """`pvdsl abi SPEC --arch ARCH --json`'s tables, run in-process."""
    from pvdsl.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["abi", str(spec), "--arch", arch, "--json"])
    if status != 0:
        raise AssertionError(f"pvdsl abi {spec} --arch {arch} --json exited {status}:\n{err.getvalue()}")
    return json.loads(out.getvalue())["tables"]


def spec_line(spec: Path, table: str, hook: str, arch: str) -> int | None:
    """The line of `hook`'s declaration in `table` (the one present on `arch`)."""
    text = spec.read_text()
    m = re.search(r"^table\s+" + re.escape(table) + r"\s*\{", text, re.M)
    if not m:
        return None
    for no, line in enumerate(text[m.end():].split("\n"), _line_of(text, m.end())):
        if line.startswith("}"):
            return None
        code = line.split("//")[0]
        if re.match(r"\s*" + re.escape(hook) + r"\s*\(", code):
            when = re.search(r"\bwhen\s+([\w\s,]+?)\s*(?:\[|;|\{|$)", code)
            if not when or arch in [a.strip() for a in when.group(1).split(",")]:
                return no
    return None


# ---- the comparison ------------------------------------------------------------------

def compare(spec: Path, header: Path, arch: str, tables=TABLES_6_1) -> list[str]:
    """Every difference between the spec's tables on `arch` and the header's,
    one sentence each: the table, slot and hook, both values, both places."""
    kernel = kernel_tables(header, arch, tables)
    ours = pvdsl_tables(spec, arch)
    problems: list[str] = []

    def at_spec(table: str, hook: str) -> str:
        no = spec_line(spec, table, hook, arch)
        return f"{spec}:{no}" if no else str(spec)

    def at_header(mem: Member) -> str:
        return f"{header}:{mem.line}"

    for table in tables:
        if table not in ours:
            problems.append(f"{table} ({arch}): the kernel declares it ({header}), the spec does not ({spec})")
            continue
        theirs, mine = kernel[table], ours[table]
        for i in range(max(len(theirs), len(mine))):
            k = theirs[i] if i < len(theirs) else None
            s = mine[i] if i < len(mine) else None
            where = f"{table} slot {i} ({arch})"
            if k is None:
                problems.append(f"{where}: the spec has '{s['hook']}' ({at_spec(table, s['hook'])}) but the kernel's "
                                f"table has only {len(theirs)} slots ({header})")
                continue
            if s is None:
                problems.append(f"{where}: the kernel has '{k.name}' ({at_header(k)}) but the spec's table has only "
                                f"{len(mine)} slots ({spec})")
                continue
            if s["slot"] != i:
                problems.append(f"{where}: pvdsl abi numbers '{s['hook']}' slot {s['slot']} ({spec})")
            if k.name != s["hook"]:
                problems.append(f"{where}: hook name differs: kernel '{k.name}' ({at_header(k)}) vs spec "
                                f"'{s['hook']}' ({at_spec(table, s['hook'])})")
                continue
            item = f"{table}.{k.name} (slot {i}, {arch})"
            if k.callee_save != s["callee_save"]:
                problems.append(f"{item}: callee_save differs: kernel {k.callee_save} ({at_header(k)}"
                                f"{': struct paravirt_callee_save' if k.callee_save else ': a plain function pointer'})"
                                f" vs spec {s['callee_save']} ({at_spec(table, k.name)})")
            if len(k.args) != len(s["args"]):
                problems.append(f"{item}: argument count differs: kernel {len(k.args)} ({at_header(k)}) vs spec "
                                f"{len(s['args'])} ({at_spec(table, k.name)})")
                continue
            for j, (ct, a) in enumerate(zip(k.args, s["args"])):
                if ct == "?":
                    continue  # callee_save: paravirt.h gives the count, not the types
                want = pv_type(ct)
                if want != a["type"]:
                    problems.append(f"{item}: argument {j + 1} ('{a['name']}') type differs: kernel '{ct}' "
                                    f"(pvdsl {want}; {at_header(k)}) vs spec {a['type']} ({at_spec(table, k.name)})")
            want = pv_type(k.ret)
            if want != s["ret"]:
                problems.append(f"{item}: result type differs: kernel '{k.ret}' (pvdsl {want}; {at_header(k)}) vs "
                                f"spec {s['ret']} ({at_spec(table, k.name)})")
    return problems
