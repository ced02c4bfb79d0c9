"""The hypercall registry and what a handler receives.

Each family module (hc_*.py) registers handlers by hypercall *name*; the
number, the argument names and types and the privilege flag come from the
shipped `xen.abi` spec, so the model and the compiler agree on them by
construction. Raw register values are converted to the declared types
(truncated, sign-extended) as Xen's C prototypes do, and the i386 halves of
a 64-bit argument (`val_lo`, `val_hi`) are joined into one value (`val`).
"""

from __future__ import annotations

from ..paging import GuestMemory

HANDLERS: dict[str, object] = {}


def hypercall(name: str):
    def register(fn):
        HANDLERS[name] = fn
        return fn
    return register


_BITS = {"u8": 8, "s8": 8, "u16": 16, "s16": 16, "u32": 32, "s32": 32, "u64": 64, "s64": 64, "bool": 8}


def convert(value: int, type_: str, word_bits: int) -> int:
    bits = _BITS.get(type_, word_bits)
    value &= (1 << bits) - 1
    if (type_.startswith("s") and type_ in _BITS) or type_ == "long":
        if value >> (bits - 1):
            value -= 1 << bits
    return value


_DECODERS: dict[tuple[int, int], tuple] = {}


def _decoder(info, word_bits: int) -> tuple:
    """(name, mask, sign bit or 0) per argument and the (_lo, _hi) pairs to
    join, worked out once per hypercall and word size."""
    key = (id(info), word_bits)
    dec = _DECODERS.get(key)
    if dec is None or dec[0] is not info:
        fields = []
        for name, type_ in info.args:
            bits = _BITS.get(type_, word_bits)
            signed = (type_.startswith("s") and type_ in _BITS) or type_ == "long"
            fields.append((name, (1 << bits) - 1, 1 << (bits - 1) if signed else 0))
        names = {n for n, _t in info.args}
        pairs = [(n[:-3], n, n[:-3] + "_hi") for n, _t in info.args if n.endswith("_lo") and n[:-3] + "_hi" in names]
        dec = _DECODERS[key] = (info, fields, pairs)
    return dec


def decode_args(info, raw: list[int], word_bits: int) -> dict[str, int]:
    _info, fields, pairs = _decoder(info, word_bits)
    raw = list(raw) + [0] * (len(fields) - len(raw))  # a caller may pass fewer words
    args: dict[str, int] = {}
    for (name, mask, sign), value in zip(fields, raw):
        value &= mask
        if sign and value & sign:
            value -= sign << 1
        args[name] = value
    for stem, lo, hi in pairs:
        args[stem] = args[lo] | (args[hi] << 32)
    return args


class Call:
    """One hypercall in progress."""

    __slots__ = ("hv", "v", "d", "a", "name", "_g")

    def __init__(self, hv, v, name: str, args: dict[str, int]):
        self.hv = hv
        self.v = v
        self.d = v.domain
        self.a = args
        self.name = name
        self._g = None

    @property
    def abi(self):
        return self.d.abi

    def c(self, name: str) -> int:
        return self.d.abi.consts[name]

    @property
    def g(self) -> GuestMemory:
        """The caller's virtual memory, through its current page tables."""
        if self._g is None:
            self._g = GuestMemory(self.hv.mem, self.d.rt, self.v.guest_table)
            if self.hv.trace is not None:
                self._g.observer = self.hv.trace.guest_read
        return self._g

    def read_struct(self, va: int, struct_name: str) -> bytearray:
        return bytearray(self.g.read(va, self.abi.size(struct_name)))

    def get(self, buf, struct_name: str, path: str, base: int = 0) -> int:
        return self.abi.get(buf, struct_name, path, base)

    def put_field(self, va: int, struct_name: str, path: str, value: int) -> None:
        f = self.abi.field(struct_name, path)
        self.g.write(va + f.offset, (value & ((1 << (8 * f.size)) - 1)).to_bytes(f.size, "little"))

    def log(self, kind: str, **details) -> None:
        self.hv.log(self.v, kind, details)

    def target_domain(self, domid: int):
        """Xen's rcu_lock_domain_by_any_id: DOMID_SELF or an id; None if there is no such domain."""
        if domid == self.c("DOMID_SELF"):
            return self.d
        return self.hv.live_domain(domid)

