"""pvdsl types as LLVM IR types, and the conversions between them.

Values of type bool are i1 in registers and i8 in memory; pointers and
guest handles are opaque pointers; everything else is an integer of its
width on the arch. Struct fields are reached by byte offset from the
layout sema computed, so there is one source of truth for layout.
"""

from __future__ import annotations

from llvmlite import ir

from ..arch import Arch
from ..sema import types as T

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()


class IrTypes:
    def __init__(self, arch: Arch):
        self.arch = arch
        self.word = ir.IntType(arch.word_bits)

    def value(self, t: T.Type) -> ir.Type:
        """The IR type of a value of `t` in a register."""
        if isinstance(t, (T.IntType, T.EnumType)):
            return ir.IntType(T.integer_base(t).width(self.arch))
        if isinstance(t, T.BoolType):
            return I1
        if isinstance(t, (T.PtrType, T.HandleType, T.NullType)):
            return PTR
        if isinstance(t, T.VoidType):
            return VOID
        if isinstance(t, T.UntypedInt):
            # Untyped values the checker could not fold (`(c ? 1 : 2) == 1`)
            # are computed as `long`, as the language reference says.
            return self.word
        raise TypeError(f"no register type for '{t}'")

    def memory(self, t: T.Type) -> ir.Type:
        """The IR type a scalar of `t` is loaded and stored as."""
        return I8 if isinstance(t, T.BoolType) else self.value(t)

    @staticmethod
    def signed(t: T.Type) -> bool:
        if isinstance(t, T.UntypedInt):
            return True  # computed as `long` (value())
        base = T.integer_base(t)
        return bool(base and base.signed)

    def convert(self, b: ir.IRBuilder, v: ir.Value, src: T.Type, dst: T.Type) -> ir.Value:
        """Convert `v` from `src` to `dst` as the language defines it: integers
        widen by sign or zero extension and narrow by truncation; pointers and
        integers of the word's width convert bit for bit."""
        if isinstance(src, T.UntypedInt):
            src = dst
        to = self.value(dst)
        if v.type == to:
            return v
        if isinstance(to, ir.IntType) and isinstance(v.type, ir.IntType):
            if to.width < v.type.width:
                return b.trunc(v, to)
            if isinstance(src, T.BoolType) or not self.signed(src):
                return b.zext(v, to)
            return b.sext(v, to)
        if isinstance(to, ir.PointerType) and isinstance(v.type, ir.IntType):
            return b.inttoptr(self.to_word(b, v, src), to)
        if isinstance(to, ir.IntType) and isinstance(v.type, ir.PointerType):
            return self.convert(b, b.ptrtoint(v, self.word), T.ULONG, dst)
        if isinstance(to, ir.PointerType) and isinstance(v.type, ir.PointerType):
            return v
        raise TypeError(f"cannot convert {src} to {dst}")

    def to_word(self, b: ir.IRBuilder, v: ir.Value, src: T.Type) -> ir.Value:
        """`v` as a word-sized integer: how values travel in registers."""
        if isinstance(v.type, ir.PointerType):
            return b.ptrtoint(v, self.word)
        if v.type.width == self.word.width:
            return v
        if v.type.width > self.word.width:
            return b.trunc(v, self.word)
        if isinstance(src, T.BoolType) or not self.signed(src):
            return b.zext(v, self.word)
        return b.sext(v, self.word)
