"""How values of each type are held in the generated Python, as source text.

An integer (or enum) value is a Python int in its type's range: 0 .. 2^w-1
for unsigned types, -2^(w-1) .. 2^(w-1)-1 for signed ones. Then a widening
conversion is the identity, every other integer conversion (truncation, sign
or zero extension, reinterpretation) is one wrap into the target's range, and
`<`, `/`, `>>` on the held values already have the type's signedness. A bool
is any Python value tested for truth (0/1 or False/True); a pointer or guest
handle is its address, 0 .. 2^word-1.
"""

from __future__ import annotations

from ..arch import Arch
from ..sema import types as T
from ..sema.layout import Layouts

# Generated expressions deeper than this (in parentheses) are split into
# temporaries: Python's parser refuses about 200 nested parentheses.
MAX_DEPTH = 60
# Branches of && || ?: nested deeper than this (in blocks) move to a function.
MAX_BRANCH_NESTING = 12


class V:
    """Python source of a value: `code`, the statements `pre` that must run
    first (temporaries of a split expression), its parenthesis depth, and
    its value when it is a constant."""

    __slots__ = ("code", "pre", "depth", "const")

    def __init__(self, code: str, pre: list[str] | None = None, depth: int = 0, const: int | None = None):
        self.code, self.pre, self.depth, self.const = code, pre or [], depth, const

    @staticmethod
    def lit(value: int) -> "V":
        return V(f"({value})" if value < 0 else str(value), const=value)

    @property
    def simple(self) -> bool:
        """A literal or a plain name: nothing a call or a store can change."""
        return self.const is not None or self.code.isidentifier()


class Types:
    """Type facts of one arch, for the code generator."""

    def __init__(self, arch: Arch, layouts: Layouts):
        self.arch = arch
        self.layouts = layouts
        self.word_bits = arch.word_bits
        self.word_mask = (1 << arch.word_bits) - 1

    def int_of(self, t: T.Type) -> tuple[int, bool] | None:
        """(width, signed) of an integer or enum type; untyped counts as the
        arch's `long`, as the code generator lowers it."""
        if isinstance(t, T.UntypedInt):
            return self.word_bits, True
        base = T.integer_base(t)
        return (base.width(self.arch), base.signed) if base is not None else None

    def signed(self, t: T.Type) -> bool:
        info = self.int_of(t)
        return bool(info and info[1])

    def size(self, t: T.Type) -> int:
        return self.layouts.size(t)

    def size_align(self, t: T.Type) -> tuple[int, int]:
        return self.layouts.size_align(t)

    @staticmethod
    def is_pointer(t: T.Type) -> bool:
        return isinstance(t, (T.PtrType, T.HandleType, T.NullType))

    # ---- wrapping ----
    def wrap_value(self, value: int, t: T.Type) -> int:
        info = self.int_of(t)
        if info is None:
            if isinstance(t, T.BoolType):
                return int(bool(value))
            return value & self.word_mask
        width, signed = info
        value &= (1 << width) - 1
        if signed and value >> (width - 1):
            value -= 1 << width
        return value

    def wrap(self, v: V, t: T.Type) -> V:
        """`v` (any Python int) brought into the range of integer type `t`."""
        if v.const is not None:
            return V.lit(self.wrap_value(v.const, t))
        width, signed = self.int_of(t)
        mask = (1 << width) - 1
        if signed:
            half = 1 << (width - 1)
            return V(f"(({v.code} + {half:#x} & {mask:#x}) - {half:#x})", v.pre, v.depth + 2)
        return V(f"({v.code} & {mask:#x})", v.pre, v.depth + 1)

    def contains(self, src: T.Type, dst: T.Type) -> bool:
        """Every value of integer type `src` is one of `dst`."""
        s, d = self.int_of(src), self.int_of(dst)
        if s is None or d is None:
            return False
        (sw, ss), (dw, ds) = s, d
        if ss == ds:
            return sw <= dw
        return ds and sw < dw

    def convert(self, v: V, src: T.Type, dst: T.Type) -> V:
        """The conversion the code generator applies (irtypes.convert):
        integers wrap into the target; a bool is 1 or 0; pointers and
        word-sized integers are the same bits."""
        if isinstance(src, T.UntypedInt):
            # An untyped constant takes the type it meets (lowered as `long`
            # and truncated or extended by the target's signedness).
            return self.wrap(v, dst) if self.int_of(dst) else self.convert(v, T.ULONG, dst)
        if self.int_of(dst) is not None:
            if isinstance(src, T.BoolType):
                if v.const is not None:
                    return V.lit(int(bool(v.const)))
                return V(f"(1 if {v.code} else 0)", v.pre, v.depth + 1)
            if self.int_of(src) is not None and self.contains(src, dst):
                return v
            if self.is_pointer(src) and not self.signed(dst) and self.int_of(dst)[0] >= self.word_bits:
                return v
            return self.wrap(v, dst)
        if isinstance(dst, T.BoolType):
            if isinstance(src, T.BoolType):
                return v
            # Only a hypercall's result converts to bool: its lowest bit.
            if v.const is not None:
                return V.lit(v.const & 1)
            return V(f"({v.code} & 1)", v.pre, v.depth + 1)
        if self.is_pointer(dst):
            if self.int_of(src) is not None:
                return self.wrap(v, T.ULONG)
            return v
        raise TypeError(f"no conversion from '{src}' to '{dst}'")

    def to_register(self, v: V, t: T.Type) -> V:
        """A value as it travels in a register (codegen's to_word): narrower
        values zero- or sign-extended to the word, read back as the register's
        unsigned bits."""
        if isinstance(t, T.BoolType):
            return self.convert(v, t, T.ULONG)
        if self.int_of(t) is not None and self.signed(t):
            return self.wrap(v, T.ULONG)
        return v

    # ---- memory ----
    def load(self, addr: V, t: T.Type) -> V:
        pre, depth = addr.pre, addr.depth + 2
        if isinstance(t, T.BoolType):
            return V(f"(_rd({addr.code}, 1)[0] & 1)", pre, depth)
        size = self.size(t)
        if self.signed(t):
            return V(f"_fb(_rd({addr.code}, {size}), 'little', signed=True)", pre, depth)
        return V(f"_fb(_rd({addr.code}, {size}), 'little')", pre, depth)

    def encode(self, value: V, t: T.Type) -> str:
        """Source of the bytes that store `value` (held in `t`'s range)."""
        if isinstance(t, T.BoolType):
            if value.const is not None:
                return repr(bytes([1 if value.const else 0]))
            return f"(b'\\x01' if {value.code} else b'\\x00')"
        size = self.size(t)
        if value.const is not None:
            return repr((value.const & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
        if self.signed(t):
            return f"{value.code}.to_bytes({size}, 'little', signed=True)"
        return f"{value.code}.to_bytes({size}, 'little')"
