"""Struct layouts checked against gcc.

Hypothesis generates batches of random struct/union definitions (every scalar
type, pointers, Xen guest handles, nested fixed arrays, earlier structs nested
by value, `when`-guarded fields, `[packed]` and `[align(N)]`). Each batch is
rendered twice from one model: as pvdsl source, which pvdsl lays out, and as
freestanding C, which gcc lays out. pvdsl's sizes, alignments, field offsets
and field sizes go into the C file as `_Static_assert`s, so a single
`gcc -m32 -fsyntax-only` (and one `-m64`) run checks a whole batch.

The C rendering follows the C rules pvdsl claims to implement:
  u8..u64/s8..s64  unsigned/signed char, short, int, long long (typedefs below)
  ulong / long     unsigned long / long      (4 bytes on i386, 8 on x86_64)
  bool             _Bool
  ptr<T>           T *
  handle<T>        struct { T *p; }          (Xen's __DEFINE_XEN_GUEST_HANDLE)
  T[N]             an array of N T (pvdsl reads `u8[2][3]` as 3 of u8[2])
  when i386        #if defined(__i386__)     (x86_64: __x86_64__)
  [packed]         __attribute__((packed))
  [align(N)]       __attribute__((aligned(N)))

Fixed regression cases and the shipped Xen ABI structs (against values
computed by hand from Xen 4.17's headers, and against gcc) follow.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvdsl.diagnostics import Diagnostics
from pvdsl.sema import types as T
from pvdsl.sema.modules import SPECS_ROOT
from pvdsl.sema.program import check_paths, check_text

ARCHES = ("i386", "x86_64")
ARCH_MACRO = {"i386": "__i386__", "x86_64": "__x86_64__"}
GCC = shutil.which("gcc")

pytestmark = pytest.mark.skipif(GCC is None, reason="gcc is not installed")


@pytest.fixture(scope="module", autouse=True)
def _no_parse_cache():
    """Generated batches are parsed once: keep them out of the user's parse cache."""
    old = os.environ.get("PVDSL_CACHE_DIR")
    os.environ["PVDSL_CACHE_DIR"] = "off"
    yield
    if old is None:
        os.environ.pop("PVDSL_CACHE_DIR", None)
    else:
        os.environ["PVDSL_CACHE_DIR"] = old

# Structs per generated batch and batches per run (each batch is compiled once per
# arch). PVDSL_LAYOUT_EXAMPLES=2000 makes a longer hunt.
BATCH = 25
EXAMPLES = int(os.environ.get("PVDSL_LAYOUT_EXAMPLES", "60"))

C_PRELUDE = """\
typedef unsigned char u8;
typedef signed char s8;
typedef unsigned short u16;
typedef short s16;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
typedef long long s64;
typedef unsigned long ulong;
typedef long slong;
"""

INT_C = {"u8": "u8", "s8": "s8", "u16": "u16", "s16": "s16", "u32": "u32", "s32": "s32",
         "u64": "u64", "s64": "s64", "ulong": "ulong", "long": "slong"}


# ---- the model both renderings come from ------------------------------------

@dataclass(frozen=True)
class Scalar:
    name: str  # a pvdsl builtin: u8 .. s64, ulong, long, bool, void (only behind ptr/handle)


@dataclass(frozen=True)
class Ptr:
    target: object


@dataclass(frozen=True)
class Handle:
    target: object


@dataclass(frozen=True)
class Array:
    elem: object
    length: int


@dataclass(frozen=True)
class Ref:
    index: int  # a struct of the batch, by index


@dataclass
class Field:
    name: str
    type: object
    when: tuple[str, ...] = ()


@dataclass
class Struct:
    name: str
    is_union: bool
    fields: list[Field] = field(default_factory=list)
    packed: bool = False
    align: int | None = None

    @property
    def keyword(self) -> str:
        return "union" if self.is_union else "struct"


def pv_type(t, structs) -> str:
    if isinstance(t, Scalar):
        return t.name
    if isinstance(t, Ptr):
        return f"ptr<{pv_type(t.target, structs)}>"
    if isinstance(t, Handle):
        return f"handle<{pv_type(t.target, structs)}>"
    if isinstance(t, Array):
        return f"{pv_type(t.elem, structs)}[{t.length}]"
    return structs[t.index].name


def c_type(t, structs) -> str:
    """A C type name (usable in a declaration `<type> name;`)."""
    if isinstance(t, Scalar):
        if t.name == "bool":
            return "_Bool"
        if t.name == "void":
            return "void"
        return INT_C[t.name]
    if isinstance(t, Ptr):
        return f"__typeof__({c_type(t.target, structs)} *)"
    if isinstance(t, Handle):
        return f"struct {{ {c_type(t.target, structs)} *p; }}"
    if isinstance(t, Array):
        return f"__typeof__({c_type(t.elem, structs)}[{t.length}])"
    s = structs[t.index]
    return f"{s.keyword} {s.name}"


def pv_source(structs: list[Struct]) -> str:
    out = []
    for s in structs:
        attrs = (["packed"] if s.packed else []) + ([f"align({s.align})"] if s.align else [])
        head = f"{s.keyword} {s.name}" + (f" [{', '.join(attrs)}]" if attrs else "")
        out.append(head + " {")
        for f in s.fields:
            when = f" when {', '.join(f.when)}" if f.when else ""
            out.append(f"    {f.name}: {pv_type(f.type, structs)}{when};")
        out.append("}")
    return "\n".join(out) + "\n"


def _c_when(when: tuple[str, ...]) -> str:
    return " || ".join(f"defined({ARCH_MACRO[a]})" for a in when)


def c_definitions(structs: list[Struct]) -> str:
    out = [C_PRELUDE]
    out += [f"{s.keyword} {s.name};" for s in structs]  # pointers may point forward
    for s in structs:
        attrs = (["packed"] if s.packed else []) + ([f"aligned({s.align})"] if s.align else [])
        attr = f" __attribute__(({', '.join(attrs)}))" if attrs else ""
        out.append(f"{s.keyword}{attr} {s.name} {{")
        for f in s.fields:
            decl = f"    {c_type(f.type, structs)} {f.name};"
            out += [f"#if {_c_when(f.when)}", decl, "#endif"] if f.when else [decl]
        out.append("};")
    return "\n".join(out) + "\n"


# ---- asserting pvdsl's numbers in C ------------------------------------------

def c_assertions(layouts: dict[str, list[tuple[str, object]]]) -> str:
    """`layouts`: arch -> [(C tag, StructLayout)]; one #if block per arch."""
    out = []
    for arch, items in layouts.items():
        out.append(f"#if defined({ARCH_MACRO[arch]})")
        for tag, lay in items:
            name = lay.name
            out.append(f'_Static_assert(sizeof({tag}) == {lay.size}, '
                       f'"{arch}: sizeof({name}): pvdsl says {lay.size}");')
            out.append(f'_Static_assert(_Alignof({tag}) == {lay.align}, '
                       f'"{arch}: alignof({name}): pvdsl says {lay.align}");')
            for f in lay.fields:
                out.append(f'_Static_assert(__builtin_offsetof({tag}, {f.name}) == {f.offset}, '
                           f'"{arch}: offsetof({name}, {f.name}): pvdsl says {f.offset}");')
                out.append(f'_Static_assert(sizeof((({tag} *)0)->{f.name}) == {f.size}, '
                           f'"{arch}: sizeof({name}.{f.name}): pvdsl says {f.size}");')
        out.append("#endif")
    return "\n".join(out) + "\n"


def run_gcc(c_source: str, arch: str) -> tuple[bool, str]:
    flag = "-m32" if arch == "i386" else "-m64"
    proc = subprocess.run([GCC, flag, "-std=gnu11", "-fsyntax-only", "-ffreestanding", "-x", "c", "-"],
                          input=c_source, capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, proc.stderr


def gcc_mismatches(stderr: str) -> list[str]:
    """The static assertions gcc refused, as their messages (they name the struct/field
    and pvdsl's number); other errors verbatim."""
    failed = re.findall(r'static assertion failed: "([^"]*)"', stderr)
    if failed:
        return failed
    return [line for line in stderr.splitlines() if "error" in line] or [stderr]


def check_against_gcc(c_defs: str, layouts: dict[str, list[tuple[str, object]]], context: str) -> None:
    c_source = c_defs + c_assertions(layouts)
    problems = []
    for arch in ARCHES:
        ok, stderr = run_gcc(c_source, arch)
        if not ok:
            problems.append(f"gcc {arch} disagrees with pvdsl:\n  " + "\n  ".join(gcc_mismatches(stderr)[:20]))
    if problems:
        # The definitions only: the assertions are summarised above.
        numbered = "\n".join(f"{i + 1:4} {line}" for i, line in enumerate(c_defs.splitlines()))
        pytest.fail("\n".join(problems) + f"\n\n{context}\n--- C definitions ---\n{numbered}", pytrace=False)


def lay_out_with_pvdsl(source: str) -> dict[str, dict[str, object]]:
    diags = Diagnostics()
    program = check_text(source, diags, "<generated>.pv")
    assert not diags.has_errors, f"pvdsl rejected a valid batch:\n{diags.render()}\n--- source ---\n{source}"
    return {arch: program.view(arch) for arch in ARCHES}


def check_batch(structs: list[Struct]) -> None:
    source = pv_source(structs)
    views = lay_out_with_pvdsl(source)
    layouts = {arch: [(f"{s.keyword} {s.name}", views[arch].struct_layout(s.name)) for s in structs]
               for arch in ARCHES}
    check_against_gcc(c_definitions(structs), layouts, f"--- pvdsl source ---\n{source}")


# ---- generating batches --------------------------------------------------------

INT_NAMES = ["u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "ulong", "long"]
WHENS = [(), (), (), (), (), ("i386",), ("x86_64",), ("i386", "x86_64")]
MAX_FIELD_BYTES = 1 << 14  # keeps nested arrays of nested structs well inside gcc's limits


def bound(t, bounds) -> int:
    """An upper bound of the size on either arch (for keeping batches small)."""
    if isinstance(t, (Scalar, Ptr, Handle)):
        return 8
    if isinstance(t, Array):
        return t.length * bound(t.elem, bounds)
    return bounds[t.index]


def types(draw, here: int, total: int, bounds: list[int], depth: int = 0):
    """A field type: earlier structs may be nested by value, any struct of the
    batch (this one and later ones too) may be pointed to."""
    small = [i for i in range(here) if bounds[i] <= 2048]
    kinds = ["int"] * 6 + ["bool"] + (["struct"] * 3 if small else [])
    if depth < 3:
        kinds += ["ptr", "handle", "array", "array"]
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return Scalar(draw(st.sampled_from(INT_NAMES)))
    if kind == "bool":
        return Scalar("bool")
    if kind == "struct":
        return Ref(draw(st.sampled_from(small)))
    if kind in ("ptr", "handle"):
        choice = draw(st.integers(0, 5))
        if choice == 0:
            target = Scalar("void")
        elif choice == 1:
            target = Ref(draw(st.integers(0, total - 1)))
        else:
            target = types(draw, here, total, bounds, depth + 1)
        return Ptr(target) if kind == "ptr" else Handle(target)
    elem = types(draw, here, total, bounds, depth + 1)
    length = draw(st.integers(1, 4))
    if bound(elem, bounds) * length > MAX_FIELD_BYTES:
        return elem
    return Array(elem, length)


@st.composite
def batches(draw, size: int = BATCH):
    structs: list[Struct] = []
    bounds: list[int] = []
    for i in range(size):
        s = Struct(f"S{i}", is_union=draw(st.integers(0, 3)) == 0,
                   packed=draw(st.integers(0, 4)) == 0,
                   align=draw(st.sampled_from([None, None, None, 1, 2, 4, 8, 16, 32, 64])))
        nfields = draw(st.integers(0, 8))
        for j in range(nfields):
            if draw(st.integers(0, 9)) == 0:
                # The same name on each arch with a different type, as Xen's
                # arch_vcpu_info pads differently on i386 and x86_64.
                s.fields.append(Field(f"f{j}", types(draw, i, size, bounds), ("i386",)))
                s.fields.append(Field(f"f{j}", types(draw, i, size, bounds), ("x86_64",)))
            else:
                s.fields.append(Field(f"f{j}", types(draw, i, size, bounds), draw(st.sampled_from(WHENS))))
        structs.append(s)
        bounds.append(sum(bound(f.type, bounds) + 64 for f in s.fields) + 64)
    return structs


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches())
def test_random_layouts_match_gcc(structs):
    check_batch(structs)


# ---- fixed regression cases -----------------------------------------------------

U8, U16, U64, ULONG = Scalar("u8"), Scalar("u16"), Scalar("u64"), Scalar("ulong")

# (name, structs, {arch: {struct: (size, align, {field: offset})}})
FIXED = [
    ("u64 aligns to 4 inside an i386 struct",
     [Struct("A", False, [Field("c", U8), Field("x", U64)])],
     {"i386": {"A": (12, 4, {"c": 0, "x": 4})}, "x86_64": {"A": (16, 8, {"c": 0, "x": 8})}}),
    ("union of u8 and u64",
     [Struct("U", True, [Field("b", U8), Field("q", U64)])],
     {"i386": {"U": (8, 4, {"b": 0, "q": 0})}, "x86_64": {"U": (8, 8, {"b": 0, "q": 0})}}),
    ("packed struct: u16 right after u8",
     [Struct("P", False, [Field("a", U8), Field("b", U16), Field("c", U64)], packed=True)],
     {a: {"P": (11, 1, {"a": 0, "b": 1, "c": 3})} for a in ARCHES}),
    ("align(16) raises alignment and pads the size",
     [Struct("A16", False, [Field("a", U8), Field("b", Scalar("u32"))], align=16),
      Struct("Outer", False, [Field("c", U8), Field("inner", Ref(0))])],
     {a: {"A16": (16, 16, {"a": 0, "b": 4}), "Outer": (32, 16, {"c": 0, "inner": 16})} for a in ARCHES}),
    ("array of structs",
     [Struct("E", False, [Field("x", Scalar("u32")), Field("y", U8)]),
      Struct("Arr", False, [Field("n", U8), Field("items", Array(Ref(0), 3)), Field("z", U8)])],
     {a: {"E": (8, 4, {"x": 0, "y": 4}), "Arr": (32, 4, {"n": 0, "items": 4, "z": 28})} for a in ARCHES}),
    ("handle<u8> is one word",
     [Struct("H", False, [Field("c", U8), Field("h", Handle(U8)), Field("hs", Array(Handle(U8), 2))])],
     {"i386": {"H": (16, 4, {"c": 0, "h": 4, "hs": 8})}, "x86_64": {"H": (32, 8, {"c": 0, "h": 8, "hs": 16})}}),
    ("when fields: the same name, a different type per arch",
     [Struct("W", False, [Field("cr2", ULONG), Field("pad", Array(ULONG, 5), ("i386",)),
                          Field("pad", Array(ULONG, 1), ("x86_64",))])],
     {"i386": {"W": (24, 4, {"cr2": 0, "pad": 4})}, "x86_64": {"W": (16, 8, {"cr2": 0, "pad": 8})}}),
]


@pytest.mark.parametrize("name,structs,expected", FIXED, ids=[c[0] for c in FIXED])
def test_fixed_layouts(name, structs, expected):
    views = lay_out_with_pvdsl(pv_source(structs))
    for arch, per_struct in expected.items():
        for sname, (size, align, offsets) in per_struct.items():
            lay = views[arch].struct_layout(sname)
            got = (lay.size, lay.align, {f.name: f.offset for f in lay.fields})
            assert got == (size, align, offsets), f"{arch} {sname}"
    check_batch(structs)  # and gcc agrees with the hand-computed numbers too


# ---- the shipped Xen ABI -------------------------------------------------------

XEN_ABI = SPECS_ROOT / "xen" / "abi.pv"

# Xen 4.17 public headers, laid out by hand (xen.h, memory.h, arch-x86/xen-x86_{32,64}.h).
XEN_EXPECTED = {
    # struct: (i386 size, x86_64 size)
    "vcpu_info": (64, 64),
    "xen_memory_reservation": (20, 32),
    "mmuext_op": (12, 24),
    "mmu_update": (16, 16),
}


@pytest.fixture(scope="module")
def xen_program():
    diags = Diagnostics()
    program = check_paths([XEN_ABI], diags)
    assert not diags.has_errors, diags.render()
    return program


@pytest.mark.parametrize("name", sorted(XEN_EXPECTED))
def test_xen_abi_sizes(xen_program, name):
    for arch, size in zip(ARCHES, XEN_EXPECTED[name]):
        assert xen_program.view(arch).struct_layout(name).size == size, arch


def test_xen_vcpu_info_fields(xen_program):
    for arch in ARCHES:
        lay = xen_program.view(arch).struct_layout("vcpu_info")
        assert lay.field("evtchn_upcall_pending").offset == 0
        assert lay.field("evtchn_upcall_mask").offset == 1
        assert lay.field("evtchn_pending_sel").offset == (4 if arch == "i386" else 8)
        assert lay.field("time").offset == 32


def _sema_c_type(t: T.Type) -> str:
    """C for a resolved pvdsl type (used only for the shipped specs)."""
    if isinstance(t, T.EnumType):
        t = t.base
    if isinstance(t, T.IntType):
        return INT_C[t.name]
    if isinstance(t, T.BoolType):
        return "_Bool"
    if isinstance(t, T.VoidType):
        return "void"
    if isinstance(t, T.PtrType):
        return f"__typeof__({_sema_c_type(t.target)} *)"
    if isinstance(t, T.HandleType):
        return f"struct {{ {_sema_c_type(t.target)} *p; }}"
    if isinstance(t, T.ArrayType):
        return f"__typeof__({_sema_c_type(t.elem)}[{t.length}])"
    if isinstance(t, T.StructType):
        return f"{'union' if t.is_union else 'struct'} {t.name}"
    raise AssertionError(f"no C for {t!r}")


def test_xen_abi_structs_match_gcc(xen_program):
    """Every struct of the shipped Xen ABI, as pvdsl resolved it, laid out by gcc."""
    views = {arch: xen_program.view(arch) for arch in ARCHES}
    names = list(views["i386"].structs)
    out = [C_PRELUDE]
    out += [f"{'union' if views['i386'].structs[n].is_union else 'struct'} {n};" for n in names]
    done: set[str] = set()

    def emit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        st_ = views["i386"].structs[name]
        per_arch = {a: list(views[a].struct_layout(name).fields) for a in ARCHES}
        for a in ARCHES:  # by-value members first
            for f in per_arch[a]:
                inner = f.type
                while isinstance(inner, T.ArrayType):
                    inner = inner.elem
                if isinstance(inner, T.StructType):
                    emit(inner.name)
        keyword = "union" if st_.is_union else "struct"
        attrs = (["packed"] if st_.packed else []) + ([f"aligned({st_.align})"] if st_.align else [])
        attr = f" __attribute__(({', '.join(attrs)}))" if attrs else ""
        lines = [f"{keyword}{attr} {name} {{"]
        cursor = {a: iter(per_arch[a]) for a in ARCHES}
        for fd in st_.decl.fields:
            present = [a for a in ARCHES if not fd.when or a in fd.when]
            if not present:
                continue
            decls = {a: f"    {_sema_c_type(next(cursor[a]).type)} {fd.name};" for a in present}
            if len(present) == len(ARCHES) and len(set(decls.values())) == 1:
                lines.append(decls[present[0]])
            else:
                for a in present:
                    lines += [f"#if defined({ARCH_MACRO[a]})", decls[a], "#endif"]
        lines.append("};")
        out.extend(lines)

    for n in names:
        emit(n)
    layouts = {a: [(f"{'union' if views[a].structs[n].is_union else 'struct'} {n}", views[a].struct_layout(n))
                   for n in names] for a in ARCHES}
    check_against_gcc("\n".join(out) + "\n", layouts, f"--- {XEN_ABI} ---")
