"""Xen's ABI as pvdsl itself lays it out: struct layouts, constants and
hypercall signatures of the shipped `xen.abi` spec, per guest arch.

The model never hard-codes an offset: `XenAbi("x86_64").field("vcpu_info",
"evtchn_upcall_mask")` comes from the same layout engine the compiler uses,
which tests/specs checks against gcc and the real headers.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import lru_cache

from ...arch import ARCHES, Arch

_ARRAY = re.compile(r"^(.*)\[(\d+)\]$")
_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


@dataclass(frozen=True)
class FieldRef:
    offset: int
    size: int
    signed: bool
    type: str


@dataclass(frozen=True)
class Hypercall:
    name: str
    number: int
    args: tuple[tuple[str, str], ...]  # (name, spelled type) in register order
    privileged: bool


def _signed(type_: str) -> bool:
    return type_ in ("s8", "s16", "s32", "s64", "long")


class XenAbi:
    """Layouts and constants of `xen.abi` for one guest arch."""

    def __init__(self, arch: Arch, abi: dict):
        self.arch = arch
        self.word = arch.word_bytes
        self.structs = abi["structs"]
        self.consts: dict[str, int] = dict(abi["consts"])
        self.hypercalls = {name: Hypercall(name, h["number"], tuple((a["name"], a["type"]) for a in h["args"]),
                                           h["privileged"]) for name, h in abi["hypercalls"].items()}
        self.by_number = {h.number: h for h in self.hypercalls.values()}
        self._fields: dict[tuple[str, str], FieldRef] = {}

    def c(self, name: str) -> int:
        return self.consts[name]

    def size(self, struct_name: str) -> int:
        return self.structs[struct_name]["size"]

    def field(self, struct_name: str, path: str) -> FieldRef:
        """`path` is dotted with optional indices: "arg1.mfn", "vcpu_info[3].evtchn_upcall_mask",
        "evtchn_pending[2]"."""
        key = (struct_name, path)
        ref = self._fields.get(key)
        if ref is None:
            ref = self._fields[key] = self._resolve(struct_name, path)
        return ref

    def _resolve(self, struct_name: str, path: str) -> FieldRef:
        offset, type_, size = 0, struct_name, self.structs[struct_name]["size"]
        for step in path.split("."):
            m = _STEP.match(step)
            if m is None or type_ not in self.structs:
                raise KeyError(f"{struct_name}.{path}")
            f = self.structs[type_]["fields"][m.group(1)]
            offset += f["offset"]
            type_, size = f["type"], f["size"]
            if m.group(2) is not None:
                arr = _ARRAY.match(type_)
                if arr is None:
                    raise KeyError(f"{struct_name}.{path}: not an array")
                n = int(arr.group(2))
                i = int(m.group(2))
                if not 0 <= i < n:
                    raise KeyError(f"{struct_name}.{path}: index out of range")
                size //= n
                offset += i * size
                type_ = arr.group(1)
        return FieldRef(offset, size, _signed(type_), type_)

    # ---- values in a bytes-like buffer ----
    def get(self, buf, struct_name: str, path: str, base: int = 0) -> int:
        f = self.field(struct_name, path)
        return int.from_bytes(buf[base + f.offset:base + f.offset + f.size], "little", signed=f.signed)

    def put(self, buf, struct_name: str, path: str, value: int, base: int = 0) -> None:
        f = self.field(struct_name, path)
        buf[base + f.offset:base + f.offset + f.size] = (value & ((1 << (8 * f.size)) - 1)).to_bytes(f.size, "little")

    def pack_words(self, values) -> bytes:
        """Guest words, little-endian; a numpy array of any integer type in one step."""
        if hasattr(values, "astype"):
            return values.astype(f"<u{self.word}").tobytes()
        return struct.pack(f"<{len(values)}{'Q' if self.word == 8 else 'I'}", *values)


@lru_cache(maxsize=None)
def _program():
    from ...diagnostics import Diagnostics
    from ...sema.modules import SPECS_ROOT
    from ...sema.program import check_paths

    diags = Diagnostics()
    program = check_paths([SPECS_ROOT / "xen" / "abi.pv"], diags)
    if diags.has_errors:  # the shipped library is checked by its own tests
        raise RuntimeError("the shipped xen/abi.pv does not check:\n" + diags.render())
    return program


@lru_cache(maxsize=None)
def xen_abi(arch_name: str) -> XenAbi:
    from ...sema.abi import abi_of

    return XenAbi(ARCHES[arch_name], abi_of(_program().view(arch_name)))
