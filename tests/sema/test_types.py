"""Implicit conversion rules: widening only, decided per arch."""

import pytest

from pvdsl.arch import I386, X86_64
from pvdsl.sema import types as T

I = T.INTS


@pytest.mark.parametrize("src,dst,arch,ok", [
    ("u8", "u16", X86_64, True),
    ("u16", "u8", X86_64, False),
    ("u8", "s16", X86_64, True),       # unsigned into a strictly wider signed
    ("u16", "s16", X86_64, False),     # same width: 0xffff does not fit
    ("s8", "u64", X86_64, False),      # negative values have no unsigned image
    ("u32", "ulong", I386, True),
    ("u32", "ulong", X86_64, True),
    ("ulong", "u32", I386, True),      # the same 32 bits on i386 ...
    ("ulong", "u32", X86_64, False),   # ... but not on x86_64
    ("ulong", "u64", I386, True),
    ("u64", "ulong", I386, False),
    ("u64", "ulong", X86_64, True),
    ("long", "s64", X86_64, True),
    ("ulong", "long", X86_64, False),
])
def test_integer_widening(src, dst, arch, ok):
    assert T.widens_to(I[src], I[dst], arch) is ok


def test_null_and_pointers():
    p = T.PtrType(I["u8"])
    assert T.widens_to(T.NULL, p, X86_64)
    assert T.widens_to(T.NULL, T.HandleType(I["u8"]), I386)
    assert T.widens_to(p, T.PtrType(T.VOID), X86_64)
    assert not T.widens_to(T.PtrType(T.VOID), p, X86_64)
    assert not T.widens_to(p, T.PtrType(I["u16"]), X86_64)
    assert not T.widens_to(T.BOOL, I["u8"], X86_64)


def test_ranges_follow_the_arch_word():
    assert T.ULONG.range(I386) == (0, 2**32 - 1)
    assert T.LONG.range(X86_64) == (-2**63, 2**63 - 1)
    assert I["s8"].range(I386) == (-128, 127)
