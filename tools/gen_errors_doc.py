#!/usr/bin/env python3
"""Generate docs/errors.md from the error corpus in tests/errors/.

Every error code pvdsl can report has a section: what it means, how to fix
it, and the corpus files that pin it (their code and the exact `pvdsl check`
output they expect). The explanations live in EXPLANATIONS below; the
examples come from the corpus, so the document cannot drift from what the
compiler prints (tests/test_errors_corpus.py checks the corpus against the
compiler and this document against the corpus).

    python tools/gen_errors_doc.py           rewrite docs/errors.md
    python tools/gen_errors_doc.py --check   exit 1 if docs/errors.md is stale

The corpus format (also used by the test):

  * `tests/errors/*.pv` are the cases; `tests/errors/lib/` holds modules the
    cases import, which are not cases themselves unless they carry a `//!`
    block.
  * A case ends with a block of lines starting with `//!`: the complete text
    `pvdsl check` prints on stderr, one line each (`//! ` + the line, or a
    bare `//!` for an empty line). The block is last, so the code's line
    numbers do not depend on it.
  * An optional `//$ check ARGS...` line at the start of that block gives the
    command-line arguments; without it they are `check tests/errors/NAME.pv`.
  * `$SPECS` in the expected text stands for the directory of the shipped
    library (pvdsl/specs), which diagnostics spell relative to the working
    directory or absolute depending on where pvdsl is installed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "errors"
DOC = ROOT / "docs" / "errors.md"

EXPECT_PREFIX = "//!"
ARGS_PREFIX = "//$"
SPECS_PLACEHOLDER = "$SPECS"
CODE_RE = re.compile(r"^(E\d{3})_")
REPORTED_RE = re.compile(r"^\S.*?: error\[(E\d{3})\]: ", re.M)


@dataclass
class Case:
    path: Path
    code: str  # the source, without the expectation block
    expected: str | None  # None: the file has no expectation block yet
    argv: list[str]  # what follows `pvdsl`

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def named_code(self) -> str | None:
        m = CODE_RE.match(self.path.name)
        return m.group(1) if m else None

    def reported_codes(self) -> list[str]:
        return REPORTED_RE.findall(self.expected or "")


def normalize(output: str, specs_root: Path) -> str:
    """Replace the shipped library's directory, however spelt, by $SPECS."""
    spellings = [str(specs_root)]
    try:
        spellings.append(specs_root.relative_to(ROOT).as_posix())
    except ValueError:
        pass
    for spelling in spellings:
        output = output.replace(spelling + "/", SPECS_PLACEHOLDER + "/")
    return output


def corpus_files() -> list[Path]:
    """The cases: tests/errors/*.pv, and modules in lib/ that carry expectations."""
    lib = [p for p in sorted((CORPUS / "lib").glob("*.pv"))
           if any(ln.startswith(EXPECT_PREFIX) for ln in p.read_text(encoding="utf-8").split("\n"))]
    return sorted(CORPUS.glob("*.pv")) + lib


def parse_case(path: Path) -> Case:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    # The trailing block: `//!` and `//$` lines, after the last code line.
    start = len(lines)
    while start > 0 and lines[start - 1].startswith((EXPECT_PREFIX, ARGS_PREFIX)):
        start -= 1
    block = lines[start:]
    code_lines = lines[:start]
    while code_lines and code_lines[-1].strip() == "":
        code_lines.pop()
    stray = [i + 1 for i, ln in enumerate(code_lines) if ln.startswith((EXPECT_PREFIX, ARGS_PREFIX))]
    if stray:
        raise ValueError(f"{path}: '//!' or '//$' lines {stray} are not in the trailing block")
    rel = path.relative_to(ROOT).as_posix()
    argv = ["check", rel]
    expected_lines = []
    for ln in block:
        if ln.startswith(ARGS_PREFIX):
            argv = shlex.split(ln[len(ARGS_PREFIX):])
            continue
        body = ln[len(EXPECT_PREFIX):]
        expected_lines.append(body[1:] if body.startswith(" ") else body)
    expected = "\n".join(expected_lines) + "\n" if expected_lines else None
    return Case(path, "\n".join(code_lines) + "\n", expected, argv)


def render_case(case: Case, actual: str) -> str:
    """The file text of `case` with its expectation block rewritten to `actual`."""
    out = case.code + "\n"
    if case.argv != ["check", case.rel]:
        out += f"{ARGS_PREFIX} {shlex.join(case.argv)}\n"
    for ln in actual.rstrip("\n").split("\n"):
        out += f"{EXPECT_PREFIX} {ln}\n" if ln else f"{EXPECT_PREFIX}\n"
    return out


# ---------------------------------------------------------------------------
# What each code means and how to fix it. One paragraph each, written for a
# kernel developer reading a compiler error.

EXPLANATIONS: dict[str, tuple[str, str]] = {
    "E001": ("syntax error",
             "The parser met a token it cannot use at that point. The message says what it expected "
             "(in words: `';'`, `a type`, `an expression`, ...), what it found instead, and which "
             "construct it was reading. The caret is under the token that does not fit; the mistake is "
             "usually just before it, most often a missing `;` after a declaration or statement, a missing "
             "`:` between a name and its type, or a C habit pvdsl does not have (`#define`, `x++`). Only "
             "the first syntax error of a file is reported, because the parser stops there."),
    "E002": ("invalid character, malformed number or unterminated comment",
             "The lexer found something that cannot start any token: a `/*` comment that is never closed "
             "with `*/` (the caret is under the `/*`; block comments do not nest), a character that is "
             "not printable ASCII or a letter, typically a non-breaking space or zero-width space pasted "
             "from a web page or PDF, or a number that runs straight into letters or digits it cannot "
             "hold (`1as u32`, `0x10as`, `0b102`): a number ends only where a name could not go on, so "
             "the whole run is underlined. Close the comment, delete and retype the invisible character, "
             "or put the missing space in."),
    "E003": ("nesting too deep",
             "An expression or type is nested more deeply than the compiler handles (hundreds of levels, "
             "usually generated code). Split it with intermediate constants or variables."),
    "E004": ("cannot read a file",
             "A file named on the command line could not be read: it does not exist, is a directory, or "
             "is not readable. The operating system's reason is quoted. Check the path, which is relative "
             "to the current directory."),
    "E010": ("module not found",
             "An `import a.b;` names a module no file provides. pvdsl looks for `a/b.pv` next to the "
             "importing file, then in each `-I` directory, then in the shipped library (`pvdsl/specs`); "
             "the note lists every path it tried. Fix the spelling, or pass the directory that holds the "
             "module with `-I`. The shipped library provides `xen.abi` and `linux.pvops_2_6_24`."),
    "E011": ("import cycle",
             "Modules import each other in a circle, so none can be checked before the others. The "
             "message names the files of the cycle and points at the import that closes it. Move what "
             "both sides need into a third module that imports neither."),
    "E012": ("defined twice",
             "A name is declared twice where it must be unique: two top-level declarations of one file "
             "in the same namespace (types, or everything else), two fields of a struct, two members of "
             "an enum, two parameters, two variables of one block, two percpu variables or helpers of a "
             "backend, or one struct or table name declared by two modules of the program. The note "
             "points at the first definition. Rename or delete one of them."),
    "E013": ("ambiguous name",
             "A name is not declared in this file, and more than one directly imported module declares "
             "it, so pvdsl cannot tell which one is meant. The notes show each candidate. Declare the "
             "name in this file (a file's own declarations win over imported ones), or import only one of "
             "the modules."),
    "E020": ("unknown name",
             "A name used as a value or called as a function is not a local variable, parameter, percpu "
             "variable, constant, function, hypercall, hook of the law's table or intrinsic visible here. "
             "Imports are not transitive: a file sees only its own declarations and those of the modules "
             "it imports directly. Fix the spelling or add the import."),
    "E021": ("unknown or unusable type",
             "A type name is not a builtin type (`u8`..`u64`, `s8`..`s64`, `ulong`, `long`, `bool`, "
             "`void`), a struct, union, enum or type alias visible here; or `void` is used where a value "
             "with a size is needed (a variable, field, array element or `sizeof`). Fix the spelling, "
             "import the module that declares it, or use `ptr<void>`."),
    "E022": ("wrong kind of name",
             "A name exists but is the wrong kind of thing for where it is used: a constant or function "
             "where a type is expected, a type or hypercall where a value is expected, a variable or "
             "constant that is called, or an intrinsic or hook that is named without being called. The "
             "note points at the declaration. Use the name as what it is, or rename the clash."),
    "E023": ("no such field or member",
             "A struct has no field of that name, an enum has no member of that name, or the field "
             "exists only on the other arch (`when i386`), in which case the note shows its guard. Fix "
             "the name, or guard the code that uses an arch-specific field."),
    "E024": ("unknown arch or role",
             "A backend's `for` list or a `when` guard names an arch that does not exist, or a backend's "
             "`roles` list names an unknown role. The arches are `i386` and `x86_64`; the roles are "
             "`native`, `domu` and `dom0`."),
    "E025": ("bad attribute",
             "An attribute in `[...]` is unknown for that declaration, or has the wrong arguments. "
             "Structs take `packed` and `align(N)` with N a power of two; hypercalls take `privileged`; "
             "hooks take `callee_save`. None of these but `align` takes an argument."),
    "E030": ("type mismatch",
             "A value's type does not convert implicitly to the type the context needs. Only widening "
             "is implicit (`u8` to `u32`, `u32` to `s64`, `null` to a pointer); anything that could lose "
             "bits or change sign needs an explicit `as`. Where the answer differs between arches "
             "(`u64` to `ulong` is widening on x86_64 but narrowing on i386) the message names the arch. "
             "Also reported for enum base types and constant types that are not integers, and for `?:` "
             "branches of different types."),
    "E031": ("invalid operand",
             "An operator got an operand of a type it does not accept: arithmetic or bitwise operators on "
             "a bool or pointer, dereferencing a non-pointer or `ptr<void>`, `.` on a pointer (use `->`), "
             "indexing something that is not an array or typed pointer, comparing a pointer with an "
             "integer. Convert the operand, or use the operator meant for that type."),
    "E032": ("not an lvalue",
             "The target of an assignment or of `&` is not stored in memory: a constant, a call result, "
             "an arithmetic expression. Only variables, parameters, percpu variables, fields, array "
             "elements and dereferences can be assigned or have their address taken. Copy the value into "
             "a variable first."),
    "E033": ("wrong number of arguments",
             "A call passes more or fewer arguments than the function, hypercall, hook or intrinsic "
             "declares. The message gives both counts; the declaration (or, for an intrinsic, the list in "
             "the language reference) gives the parameters. A hypercall declared with `...` takes at least "
             "its declared arguments, and more after them (E051 limits how many)."),
    "E034": ("condition is not bool",
             "`if`, `while`, `assert`, `?:`, `!`, `&&` and `||` need bool operands; pvdsl does not treat "
             "integers as truth values. Compare explicitly, as in `x != 0` or `(flags & MASK) != 0`."),
    "E035": ("invalid cast",
             "`as` cannot convert between these types: a struct or bool is never the source or target of "
             "an integer cast (compare with `!= 0` to get a bool), and only an integer of exactly the "
             "arch word's width converts to or from a pointer, so `u32` and pointers convert on i386 but "
             "not on x86_64. Cast through `ulong`, which is always the word."),
    "E036": ("cannot infer a type",
             "`var x = ...;` takes the type of its initial value, but an integer literal, `null` or an "
             "untyped constant expression has no type of its own, and `~` of an untyped constant has no "
             "width. Write the type: `var x: u32 = 1;`, or give the constant one: `~(0 as ulong)`."),
    "E037": ("not passable or not assignable as a whole",
             "Parameters and results of functions, hooks and hypercalls travel in registers, so they must "
             "be integers, bool, pointers or handles; pass a `ptr<>` to a struct instead. The arguments a "
             "call passes after a hypercall's `...` travel in registers too, and follow the same rule. "
             "Likewise a "
             "struct or array variable cannot be initialised or assigned as a whole; assign its fields or "
             "elements one by one."),
    "E038": ("bad return",
             "A `return` does not match its function: a value returned from a function, hook or default "
             "declared without a result, no value where one is needed, any `return` in a law (laws state "
             "facts with `assert`), or a function with a result whose end can be reached without "
             "returning. Add or remove the value, or add a final `return`."),
    "E039": ("break or continue outside a loop",
             "`break` and `continue` are only allowed inside a `while` body. Restructure the code, or "
             "use `return` to leave the function."),
    "E040": ("value out of range",
             "A constant value does not fit where it goes: a literal or constant expression too large or "
             "too negative for its integer type (the message gives the type's range), an enum member "
             "outside its base type, a shift amount not smaller than the operand's width, an index "
             "outside a fixed array, a law domain outside its parameter's type, or a negative hypercall "
             "number. Use a wider type, fix the value, or mask it explicitly."),
    "E041": ("not a constant expression",
             "A place that needs its value at compile time (an array length, a constant, an enum value, "
             "an attribute argument, a law domain) got an expression that is only known at run time: a "
             "call, a dereference, an address, a field access or an index. Use literals, constants, "
             "operators, casts and `sizeof` only."),
    "E042": ("division by zero",
             "The divisor of `/`, `%`, `/=` or `%=` is a constant zero. Fix the divisor; if the zero is "
             "intended as a trap, call the kernel's BUG() path explicitly instead."),
    "E043": ("definition refers to itself",
             "A struct contains itself by value (directly or through other structs or arrays), or a "
             "type alias, enum or constant is defined in terms of itself. Such a type would have no "
             "finite size, and such a constant no value. Refer back to a struct through `ptr<>`, and break "
             "the cycle of aliases or constants."),
    "E044": ("array length not positive",
             "A fixed array's length must be at least 1. C's zero-length trailing arrays (`u8 data[0]`) "
             "have no pvdsl equivalent: describe the header struct without the array and reach the data "
             "through a pointer."),
    "E045": ("address of a percpu variable",
             "A percpu variable is reached through the percpu segment register (fs on i386, gs on "
             "x86_64): each CPU sees its own copy at the same segment offset, so there is no single "
             "address to take. Read and write its fields directly instead of through a pointer."),
    "E050": ("hypercall number reused",
             "Two hypercalls of the program have the same number, so one would call the other's entry "
             "of the hypercall page. The note shows the hypercall that has the number first. Check the "
             "number against xen/include/public/xen.h (`__HYPERVISOR_*`)."),
    "E051": ("too many hypercall arguments",
             "Xen passes hypercall arguments in registers, at most five (x86_64: rdi, rsi, rdx, r10, r8; "
             "i386: ebx, ecx, edx, esi, edi). The caret is under the first argument that does not fit. "
             "Pass a handle to a struct that holds the rest, as Xen's own ABI does. For a hypercall "
             "declared with `...` the count is the call's: its declared arguments and those after them; "
             "the note shows how many the declaration leaves room for."),
    "E052": ("hypercall argument too wide",
             "Each hypercall argument travels in one register, which is 32 bits on i386: a `u64` "
             "argument does not fit there. Split it into two `u32` arguments (low, then high) as Xen's "
             "32-bit ABI does, or pass it through a handle. This holds for the arguments a call passes "
             "after a hypercall's `...` as well: convert one with `as ulong` if its value fits."),
    "E060": ("hook declared twice",
             "A table declares the same hook twice on some arch; a hook's position is its slot index, so "
             "each name may appear once per arch. The note points at the first declaration. Two "
             "declarations are allowed only if their `when` guards select different arches."),
    "E061": ("unknown table or hook",
             "An `impl`, call or law names a table that is not declared or imported, or a hook the table "
             "does not have (or has only on the other arch, in which case the note shows its guard). "
             "Check the spelling against the table, and the table against the kernel version imported."),
    "E062": ("implementation does not match the hook",
             "An `impl` must take exactly the parameter types and return the type that the table "
             "declares: the kernel calls the slot with that signature. Parameter names may differ. The "
             "message shows both signatures and the note points at the hook's declaration."),
    "E063": ("hook not implemented",
             "A backend implements some hooks of a table but not this one, and the table gives it no "
             "default body, so the slot would be empty. The note points at the hook. Implement it in the "
             "backend, `extends` a backend that implements it, or give the hook a default in the table."),
    "E064": ("callee_save hook wider than a word",
             "A `callee_save` hook may clobber only the return register (rax on x86_64; eax and edx on "
             "i386), so its arguments and result must each fit one machine word. A 64-bit value on i386 "
             "does not. Drop `callee_save`, or pass the value through a pointer."),
    "E065": ("hook implemented twice",
             "One backend implements the same hook twice. The note points at the first implementation. "
             "Delete one; to override a hook of a base backend, implement it in the derived backend that "
             "`extends` it."),
    "E066": ("bad extends",
             "A backend `extends` a name that is not a backend, extends itself (directly or through a "
             "chain), or extends a backend that is not built for an arch the derived backend is built "
             "for. Fix the name, break the cycle, or build the base for every arch of the derived "
             "backend."),
    "E070": ("privileged hypercall from a domu backend",
             "A backend that may run as `domu` reaches a hypercall declared `[privileged]`, directly or "
             "through helpers and other hooks (the message lists the path). Xen refuses privileged "
             "hypercalls from an unprivileged domain with -EPERM, so this would fail at run time. The "
             "notes point at the hypercall's declaration and the backend's roles. Move the hook into a "
             "backend with `roles dom0` (for example one that `extends` the domu backend), or use an "
             "unprivileged hypercall."),
    "E071": ("privileged instruction under Xen",
             "A backend that runs under Xen (`domu` or `dom0`) reaches an intrinsic that needs ring 0, "
             "such as `cli`, `sti`, `hlt`, `popf`, control-register or MSR access, or `wbinvd`. A PV "
             "kernel runs outside ring 0, where these fault or silently do nothing. Ask the hypervisor "
             "instead: the event-channel upcall mask for the interrupt flag, `sched_op` to block, "
             "`mmuext_op` for the page tables."),
    "E072": ("hypercall on bare metal",
             "A `native` backend reaches a hypercall, but on bare metal there is no hypervisor and no "
             "hypercall page. Use the instruction itself (an intrinsic), or move the code to a Xen "
             "backend."),
    "E080": ("assert outside a law",
             "`assert` states a property that a law checks; it is not a run-time check in kernel code. "
             "Move the property into a `law`, or test the condition with `if`."),
    "E081": ("bad law",
             "A law names a table that does not exist, has a parameter that is not an integer or bool "
             "(laws are checked by enumerating their parameters' values), or gives a parameter an empty "
             "range. Fix the table name, the parameter type or the domain."),
}


# ---------------------------------------------------------------------------

_MAX_SHOWN = 160


def _shown(text: str) -> str:
    """Source or output for the document: very long lines are shortened."""
    out = []
    for ln in text.rstrip("\n").split("\n"):
        if len(ln) > _MAX_SHOWN:
            ln = ln[:100] + f" … ({len(ln) - 100} more characters)"
        out.append(ln)
    return "\n".join(out)


def _fence(body: str, lang: str) -> str:
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}{lang}\n{body}\n{fence}\n"


def _helpers(case: Case) -> list[Path]:
    """The lib/ modules a case imports or its output mentions, to show beside it."""
    names = re.findall(r"^import lib\.(\w+);", case.code, re.M)
    names += re.findall(r"tests/errors/lib/(\w+)\.pv", case.expected or "")
    paths = [CORPUS / "lib" / f"{n}.pv" for n in dict.fromkeys(names)]
    return [p for p in paths if p.exists() and p != case.path]


def _example(case: Case) -> str:
    out = _fence(_shown(case.code), "")
    for helper in _helpers(case):
        text = helper.read_text(encoding="utf-8")
        out += f"\nwith `{helper.relative_to(ROOT).as_posix()}`:\n\n" + _fence(_shown(text), "")
    out += "\n"
    out += _fence(f"$ pvdsl {shlex.join(case.argv)}\n{_shown(case.expected or '')}", "text")
    return out


def generate(cases: list[Case] | None = None) -> str:
    if cases is None:
        cases = [parse_case(p) for p in corpus_files()]
    by_code: dict[str, list[Case]] = {}
    multi: list[Case] = []
    for case in cases:
        if case.named_code:
            by_code.setdefault(case.named_code, []).append(case)
        else:
            multi.append(case)
    out = [
        "# pvdsl error codes\n",
        "<!-- Generated by tools/gen_errors_doc.py from tests/errors/ and the explanations in that script. "
        "Do not edit by hand: edit those and rerun `python tools/gen_errors_doc.py`. -->\n",
        "`pvdsl check FILE...` reports problems the way a C compiler does: the position "
        "`path:line:col`, the error code and message, the source line with a caret under the "
        "offending text, and notes that point at the other places involved (the first definition, "
        "the declaration that is not matched, ...). All errors of a program are reported together, "
        "sorted by file and position, followed by a count; the exit status is 1. `pvdsl check --json` "
        "prints the same diagnostics as a JSON list on stdout.\n",
        "Every example below is a file of the error corpus `tests/errors/`, and its output is "
        "exactly what the compiler prints, pinned by `tests/test_errors_corpus.py`. `$SPECS` stands "
        "for the directory of the shipped library, `pvdsl/specs`, which the compiler spells relative to "
        "the working directory or absolute, depending on where pvdsl is installed.\n",
        "| code | meaning |\n| --- | --- |\n" + "".join(
            f"| [{code}](#{code.lower()}) | {title} |\n" for code, (title, _) in sorted(EXPLANATIONS.items())),
    ]
    for code, (title, text) in sorted(EXPLANATIONS.items()):
        out.append(f"## {code}\n\n**{title[0].upper() + title[1:]}.** {text}\n")
        examples = by_code.get(code, [])
        if not examples:
            out.append("No example in the corpus yet.\n")
        for i, case in enumerate(examples):
            number = "" if len(examples) == 1 else f" {i + 1}"
            out.append(f"Example{number}, `{case.rel}`:\n\n" + _example(case))
    if multi:
        out.append("## Several errors in one file\n\n"
                   "All errors of a program are reported in one run, sorted by file, line and column, "
                   "however many there are and whatever stage found them.\n")
        for case in multi:
            codes = ", ".join(dict.fromkeys(case.reported_codes()))
            out.append(f"`{case.rel}` reports {codes}:\n\n" + _example(case))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/errors.md is not up to date")
    args = ap.parse_args(argv)
    text = generate()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else None
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run python tools/gen_errors_doc.py",
                  file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
