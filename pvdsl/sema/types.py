"""Semantic types. Sizes are not stored here: they depend on the arch, and
`layout.py` computes them from the `Arch` table."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arch import Arch


class Type:
    def spell(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.spell()


@dataclass(frozen=True)
class IntType(Type):
    name: str
    bits: int | None  # None: the arch word (ulong/long)
    signed: bool

    def spell(self) -> str:
        return self.name

    def width(self, arch: Arch) -> int:
        return self.bits if self.bits is not None else arch.word_bits

    def range(self, arch: Arch) -> tuple[int, int]:
        w = self.width(arch)
        if self.signed:
            return -(1 << (w - 1)), (1 << (w - 1)) - 1
        return 0, (1 << w) - 1


@dataclass(frozen=True)
class BoolType(Type):
    def spell(self) -> str:
        return "bool"


@dataclass(frozen=True)
class VoidType(Type):
    def spell(self) -> str:
        return "void"


@dataclass(frozen=True)
class UntypedInt(Type):
    """The type of an integer literal or untyped constant before it meets a context."""

    def spell(self) -> str:
        return "integer literal"


@dataclass(frozen=True)
class NullType(Type):
    def spell(self) -> str:
        return "null"


@dataclass(frozen=True)
class PtrType(Type):
    target: Type

    def spell(self) -> str:
        return f"ptr<{self.target.spell()}>"


@dataclass(frozen=True)
class HandleType(Type):
    target: Type

    def spell(self) -> str:
        return f"handle<{self.target.spell()}>"


@dataclass(frozen=True)
class ArrayType(Type):
    elem: Type
    length: int

    def spell(self) -> str:
        return f"{self.elem.spell()}[{self.length}]"


@dataclass(frozen=True, eq=False)
class StructType(Type):
    """A struct or union. Identity is the declaration (two modules may not
    declare the same name; the checker reports it)."""

    name: str
    is_union: bool
    decl: object = field(repr=False, compare=False, default=None)
    packed: bool = False
    align: int | None = None  # from [align(N)]

    def spell(self) -> str:
        return self.name

    def __eq__(self, other):
        return isinstance(other, StructType) and other.name == self.name

    def __hash__(self):
        return hash(("struct", self.name))


@dataclass(frozen=True, eq=False)
class EnumType(Type):
    name: str
    base: IntType
    is_flags: bool
    members: tuple[tuple[str, int], ...] = ()
    decl: object = field(repr=False, compare=False, default=None)

    def spell(self) -> str:
        return self.name

    def __eq__(self, other):
        return isinstance(other, EnumType) and other.name == self.name

    def __hash__(self):
        return hash(("enum", self.name))


@dataclass(frozen=True)
class FuncType(Type):
    params: tuple[Type, ...]
    ret: Type

    def spell(self) -> str:
        return f"fn({', '.join(p.spell() for p in self.params)}) -> {self.ret.spell()}"


def _ints() -> dict[str, IntType]:
    out = {}
    for bits in (8, 16, 32, 64):
        out[f"u{bits}"] = IntType(f"u{bits}", bits, False)
        out[f"s{bits}"] = IntType(f"s{bits}", bits, True)
    out["ulong"] = IntType("ulong", None, False)
    out["long"] = IntType("long", None, True)
    return out


INTS = _ints()
BOOL = BoolType()
VOID = VoidType()
UNTYPED = UntypedInt()
NULL = NullType()
ULONG = INTS["ulong"]
LONG = INTS["long"]
U32 = INTS["u32"]
U64 = INTS["u64"]
BUILTIN_TYPES: dict[str, Type] = {**INTS, "bool": BOOL, "void": VOID}


def integer_base(t: Type) -> IntType | None:
    """The integer type an int-like type computes in (enums use their base)."""
    if isinstance(t, IntType):
        return t
    if isinstance(t, EnumType):
        return t.base
    return None


def is_integer(t: Type) -> bool:
    return isinstance(t, (IntType, EnumType, UntypedInt))


def is_scalar(t: Type) -> bool:
    return is_integer(t) or isinstance(t, (BoolType, PtrType, HandleType))


def widens_to(src: Type, dst: Type, arch: Arch) -> bool:
    """True when `src` converts to `dst` implicitly: every value of src is a
    value of dst. Only widening is implicit; everything else needs `as`."""
    if src == dst:
        return True
    if isinstance(src, EnumType):
        return widens_to(src.base, dst, arch) and not isinstance(dst, EnumType)
    if isinstance(src, IntType) and isinstance(dst, IntType):
        sw, dw = src.width(arch), dst.width(arch)
        if src.signed == dst.signed:
            # ulong <-> u64 widen only where it is the same width on every arch
            # that the code is checked for; the checker runs per arch.
            return sw <= dw
        return not src.signed and dst.signed and sw < dw
    if isinstance(src, NullType):
        return isinstance(dst, (PtrType, HandleType))
    if isinstance(src, PtrType) and isinstance(dst, PtrType):
        return dst.target == VOID
    if isinstance(src, HandleType) and isinstance(dst, HandleType):
        return dst.target == VOID
    return False


def common_int_type(lt: Type, rt: Type, arch: Arch) -> Type | None:
    """The type two typed integer operands compute in: the one the other
    widens to (the arch word when both widen, being the same width and
    signedness). None when neither widens: the program needs a cast."""
    if lt == rt:
        return lt
    lb, rb = integer_base(lt), integer_base(rt)
    up_r, up_l = widens_to(lb, rb, arch), widens_to(rb, lb, arch)
    if up_r and up_l:
        return lb if lb.bits is None else rb
    if up_r:
        return rb
    if up_l:
        return lb
    return None


def comparison_type(lt: Type, rt: Type, arch: Arch) -> Type:
    """The type both sides of a comparison are converted to before comparing
    (the code generator and the reference interpreter both use this): null
    takes the other side's type, an untyped side the typed one's, two untyped
    sides `long`, two integers their common type."""
    if isinstance(lt, NullType):
        return rt
    if isinstance(rt, NullType) or not is_integer(lt):
        return lt
    if isinstance(lt, UntypedInt):
        return rt if not isinstance(rt, UntypedInt) else LONG
    if isinstance(rt, UntypedInt):
        return lt
    return common_int_type(lt, rt, arch)
