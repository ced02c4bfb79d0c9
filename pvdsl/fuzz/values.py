"""Inputs for one hook execution, generated from the spec's types.

An `Example` is everything one execution depends on: the arguments, the
initial vcpu_info state, the junk in every register that is not an
argument, the initial flags and a seed for the bytes of the buffers that
pointer arguments point at. It is plain data (JSON-able), so a failure is
replayed from its printed form alone.

Two generators draw Examples from the same description of a hook's
parameters: `BulkGenerator`, a seeded `random.Random` that runs at the
speed the fuzzer needs, and `example_strategy`, a Hypothesis strategy used
to re-find and shrink a failure. Both favour edge values: 0, 1, -1, the
type's minimum and maximum, the sign boundary, powers of two and their
neighbours.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field

from ..arch import Arch
from ..sema import types as T

# Arguments whose names say they must be a valid value for the machine to
# survive the call natively (a random cr3 unmaps the kernel under the
# emulated CPU: that crash is correct behaviour, not a finding).
MACHINE_VALUES = {"cr3": "cr3"}
# Arguments whose names say they count something a hook may loop over: most
# examples take small counts (kernels pass page-sized batches), some the
# type's edges. A loop over 2^64 entries proves nothing but the budget.
COUNT_NAMES = {"n", "count", "nr", "entries", "len", "size", "num"}
SMALL_COUNTS = (0, 1, 2, 3, 7, 8, 31, 64, 255, 511, 512, 513)
# Arguments named `flags` mostly take what save_fl hands back (IF or not,
# bit 1 always set, an arithmetic flag or two), sometimes anything: any
# value is legal, but TF set in 1 of 2 random values would spend the budget
# single-stepping.
FLAG_NAMES = {"flags", "eflags", "rflags"}
TYPICAL_FLAGS = (0x2, 0x202, 0x246, 0x206, 0x82, 0x286, 0x0, 0x200)
BUFFER_PAGES = 2  # bytes behind each pointer argument


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int", "bool", "ptr"
    bits: int
    signed: bool
    hint: str | None = None  # a machine value (MACHINE_VALUES) the argument must take natively

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        if self.kind == "bool":
            return 1  # the C ABI passes a bool as 0 or 1: other bytes are the caller's bug
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


def describe_params(params, arch: Arch, native: bool) -> tuple[Param, ...]:
    out = []
    for name, t in params:
        hint = MACHINE_VALUES.get(name) if native else None
        if isinstance(t, T.BoolType):
            out.append(Param(name, "bool", 8, False))
        elif isinstance(t, (T.PtrType, T.HandleType)):
            out.append(Param(name, "ptr", arch.word_bits, False))
        elif isinstance(t, T.EnumType):
            out.append(Param(name, "int", t.base.width(arch), t.base.signed, hint))
        elif isinstance(t, T.IntType):
            out.append(Param(name, "int", t.width(arch), t.signed, hint))
        else:
            raise TypeError(f"parameter {name}: cannot generate values of type {t.spell()}")
    return tuple(out)


@dataclass
class Example:
    args: list[int]
    mask: int = 1  # vcpu_info.evtchn_upcall_mask
    pending: int = 0  # vcpu_info.evtchn_upcall_pending
    flags_if: int = 1  # natively: EFLAGS.IF at the call
    junk: list[int] = field(default_factory=list)  # every general register, before the arguments
    buffer_seed: int = 0
    # Per pointer argument: index of the buffer it points into and the offset
    # (-1: a pointer the generator made up, used as is).
    pointers: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "Example":
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("args"), list):
            raise ValueError("an example is a JSON object with an 'args' list")
        allowed = set(Example.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown example field(s): {', '.join(sorted(unknown))}")
        return Example(**data)


def edge_values(p: Param) -> list[int]:
    if p.kind == "bool":
        return [0, 1]
    vals = {0, 1, p.lo, p.hi, p.hi - 1, p.lo + 1}
    if p.signed:
        vals |= {-1, -2}
    for k in range(1, p.bits):
        for v in ((1 << k) - 1, 1 << k, (1 << k) + 1):
            if p.lo <= v <= p.hi:
                vals.add(v)
            if p.signed and p.lo <= -v <= p.hi:
                vals.add(-v)
    return sorted(v for v in vals if p.lo <= v <= p.hi)


class BulkGenerator:
    """Examples for one hook, deterministic in `seed`."""

    def __init__(self, params: tuple[Param, ...], nregs: int, word_bits: int, seed: int, native: bool):
        self.params = params
        self.rng = random.Random(seed)
        self.nregs = nregs
        self.word_bits = word_bits
        self.native = native
        self.edges = [edge_values(p) for p in params]

    def _int(self, p: Param, edges: list[int]) -> int:
        r = self.rng.random()
        if p.name in COUNT_NAMES and r < 0.9:
            return self.rng.choice(SMALL_COUNTS)
        if p.name in FLAG_NAMES and r < 0.7:
            return self.rng.choice(TYPICAL_FLAGS)
        if r < 0.45:
            return self.rng.choice(edges)
        if r < 0.6:
            return self.rng.choice(edges) + self.rng.randint(-3, 3) if p.kind == "int" else self.rng.randint(0, 1)
        return self.rng.randint(p.lo, p.hi)

    def next(self) -> Example:
        rng = self.rng
        args, pointers = [], {}
        for i, (p, edges) in enumerate(zip(self.params, self.edges)):
            if p.kind == "ptr":
                r = rng.random()
                if r < 0.9:
                    pointers[p.name] = rng.choice((0, 0, 8, 64, 1024, 4096 - 64))
                    args.append(0)  # resolved against the buffer at run time
                else:
                    args.append(rng.choice((0, 8, 0x1000, rng.getrandbits(p.bits))))
                continue
            v = self._int(p, edges)
            args.append(min(max(v, p.lo), p.hi))
        # Everything arch-independent first: with one seed, both arches draw
        # the same arguments and vcpu_info state.
        mask = rng.choice((0, 1, 0, 1, rng.getrandbits(8)))
        pending = rng.choice((0, 1, 0, 1, rng.getrandbits(8)))
        flags_if = int(rng.random() < 0.75) if self.native else 1
        junk = [rng.getrandbits(self.word_bits) for _ in range(self.nregs)]
        return Example(args, mask, pending, flags_if, junk, rng.getrandbits(32), pointers)


def example_strategy(params: tuple[Param, ...], nregs: int, word_bits: int, native: bool):
    """The same space as BulkGenerator, as a Hypothesis strategy (it shrinks
    toward zero arguments, zero junk, mask 0, pending 0)."""
    from hypothesis import strategies as st

    def arg(p: Param):
        if p.kind == "ptr":
            return st.one_of(st.tuples(st.just("buf"), st.sampled_from((0, 8, 64, 1024, 4096 - 64))),
                             st.tuples(st.just("raw"), st.integers(0, (1 << p.bits) - 1)))
        return st.one_of(st.sampled_from(edge_values(p)), st.integers(p.lo, p.hi))

    def build(t):
        raw_args, mask, pending, flags_if, junk, seed = t
        args, pointers = [], {}
        for p, a in zip(params, raw_args):
            if p.kind == "ptr":
                kind, value = a
                if kind == "buf":
                    pointers[p.name] = value
                    args.append(0)
                else:
                    args.append(value)
            else:
                args.append(a)
        return Example(args, mask, pending, flags_if, junk, seed, pointers)

    word = st.integers(0, (1 << word_bits) - 1)
    return st.tuples(st.tuples(*[arg(p) for p in params]), st.integers(0, 255), st.integers(0, 255),
                     st.integers(0, 1) if native else st.just(1), st.lists(word, min_size=nregs, max_size=nregs),
                     st.integers(0, (1 << 32) - 1)).map(build)


__all__ = ["BUFFER_PAGES", "BulkGenerator", "Example", "Param", "describe_params", "edge_values",
           "example_strategy"]
