"""Size, alignment and field offsets of types on one arch.

The rules are the C ones gcc applies to Xen's public headers: natural
alignment, except that u64/s64 align to 4 inside i386 structs (the i386
SysV ABI); a union is as large as its largest member rounded to its
alignment; `packed` drops padding; `align(N)` raises the alignment.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arch import Arch
from . import types as T


@dataclass(frozen=True)
class FieldLayout:
    name: str
    type: T.Type
    offset: int
    size: int


@dataclass(frozen=True)
class StructLayout:
    name: str
    is_union: bool
    size: int
    align: int
    fields: tuple[FieldLayout, ...]

    def field(self, name: str) -> FieldLayout | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


class LayoutError(Exception):
    """A type with no layout (void, an unsized struct)."""


class LayoutTooDeep(LayoutError):
    """Structs nested by value deeper than MAX_NESTED_STRUCTS."""


MAX_NESTED_STRUCTS = 300


def _round_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


class Layouts:
    """Lays out types for one arch, memoising structs.

    `struct_fields` maps a StructType to its (name, type) pairs present on
    this arch; the checker supplies it so this module needs no AST.
    """

    def __init__(self, arch: Arch, struct_fields):
        self.arch = arch
        self._struct_fields = struct_fields
        self._structs: dict[str, StructLayout] = {}
        self._in_progress: set[str] = set()
        self._failed: set[str] = set()  # reported once; later uses fail quietly

    def size_align(self, t: T.Type) -> tuple[int, int]:
        a = self.arch
        if isinstance(t, T.IntType):
            size = t.width(a) // 8
            align = a.int64_align if size == 8 else size
            return size, align
        if isinstance(t, T.EnumType):
            return self.size_align(t.base)
        if isinstance(t, T.BoolType):
            return 1, 1
        if isinstance(t, T.PtrType):
            return a.word_bytes, a.word_bytes
        if isinstance(t, T.HandleType):
            return a.handle_bytes, a.handle_bytes
        if isinstance(t, T.ArrayType):
            size, align = self.size_align(t.elem)
            return size * t.length, align
        if isinstance(t, T.StructType):
            lay = self.struct(t)
            return lay.size, lay.align
        raise LayoutError(f"type '{t.spell()}' has no size")

    def size(self, t: T.Type) -> int:
        return self.size_align(t)[0]

    def struct(self, t: T.StructType) -> StructLayout:
        if t.name in self._structs:
            return self._structs[t.name]
        if t.name in self._failed:
            raise LayoutError(None)
        if t.name in self._in_progress:
            raise LayoutError(f"struct '{t.name}' contains itself")
        if len(self._in_progress) >= MAX_NESTED_STRUCTS:
            raise LayoutTooDeep(f"structs nest more than {MAX_NESTED_STRUCTS} deep by value")
        self._in_progress.add(t.name)
        try:
            lay = self._lay_out(t)
        except LayoutTooDeep:
            self._failed.add(t.name)
            raise
        finally:
            self._in_progress.discard(t.name)
        self._structs[t.name] = lay
        return lay

    def _lay_out(self, t: T.StructType) -> StructLayout:
        offset = 0
        size = 0
        align = 1
        fields = []
        for name, ftype in self._struct_fields(t):
            fsize, falign = self.size_align(ftype)
            if t.packed:
                falign = 1
            if t.is_union:
                fields.append(FieldLayout(name, ftype, 0, fsize))
                size = max(size, fsize)
            else:
                offset = _round_up(offset, falign)
                fields.append(FieldLayout(name, ftype, offset, fsize))
                offset += fsize
                size = offset
            align = max(align, falign)
        if t.align:
            align = max(align, t.align)
        return StructLayout(t.name, t.is_union, _round_up(size, align), align, tuple(fields))
