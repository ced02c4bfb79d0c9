"""The hypercall registry and what a handler receives.

Each family module (hc_*.py) registers handlers by hypercall *name*; the
number, the argument names and types and the privilege flag come from the
shipped `xen.abi` spec, so the model and the compiler agree on them by
construction. Raw register values are converted to the declared types
(truncated, sign-extended) as Xen's C prototypes do, and the i386 halves of
a 64-bit argument (`val_lo`, `val_hi`) are joined into one value (`val`).
"""

from __future__ import annotations

from .paging import GuestMemory

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


def decode_args(info, raw: list[int], word_bits: int) -> dict[str, int]:
    args: dict[str, int] = {}
    raw = list(raw) + [0] * (len(info.args) - len(raw))  # a caller may pass fewer words
    for (name, type_), value in zip(info.args, raw):
        args[name] = convert(value, type_, word_bits)
    for name in [n for n in args if n.endswith("_lo")]:
        stem = name[:-3]
        if stem + "_hi" in args:
            args[stem] = args[name] | (args[stem + "_hi"] << 32)
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
        return self.hv.domains.get(domid)

