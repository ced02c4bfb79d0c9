"""Hand-written hooks over a loaded backend.

Kernels carry hand-written thunks for their hottest hooks (Linux's
xen-asm.S); `load_override` loads such code, assembled by the GNU
assembler into a relocatable object, next to a loaded backend and points
the tables at it: each global symbol the object defines that is a hook's
symbol (`xen_save_fl`) replaces that hook. The object's undefined symbols
resolve against the backend's (percpu variables at their link addresses,
so `%gs:xen_vcpu_info` works as in the kernel), `hypercall_page` and the
kernel library. The fuzzer then checks the hand-written code exactly as it
checks compiled code.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import LoadError
from .loader import LoadedBackend, _Image, _write_va


class _OverrideImage(_Image):
    def __init__(self, data: bytes, d, name: str, backend_symbols: dict[str, int]):
        super().__init__(data, d, name)
        self.backend_symbols = backend_symbols

    def _undefined(self, name: str) -> int:
        if name in self.backend_symbols:
            return self.backend_symbols[name]
        return super()._undefined(name)


def load_override(d, lb: LoadedBackend, data: bytes, name: str, cpus=()) -> list[str]:
    """Load `data` and make it the implementation of every hook whose symbol
    it defines. Returns those hooks ("table.hook")."""
    img = _OverrideImage(data, d, name, lb.symbols)
    by_name, addrs, names = img.symbols()
    img.relocate(addrs, names)
    img.write()
    word = d.rt.word
    replaced = []
    for h in lb.hooks.values():
        va = by_name.get(h.symbol)
        if va is None:
            continue
        _write_va(d, lb.tables[h.table] + h.slot * word, va.to_bytes(word, "little"))
        h.address = va
        replaced.append(h.name)
    if not replaced:
        known = ", ".join(sorted(h.symbol for h in lb.hooks.values())[:8])
        raise LoadError(f"{name}: defines no hook symbol of backend '{lb.backend}' (e.g. {known}, ...)")
    for cpu in cpus:
        cpu.uc.ctl_flush_tb()  # the tables changed under translated call sites
        cpu.checkpoint()
    return replaced


def load_code(d, data: bytes, name: str, symbols: dict[str, int] | None = None) -> dict[str, int]:
    """Load a relocatable object into `d`'s kernel region; its global
    symbols by name. Undefined symbols resolve against `symbols`, then as
    for a backend (hypercall_page, the kernel library)."""
    img = _OverrideImage(data, d, name, symbols or {})
    by_name, addrs, names = img.symbols()
    img.relocate(addrs, names)
    img.write()
    return by_name


def assemble_text(text: str, arch, what: str) -> bytes:
    """Assembly source text (AT&T, may use the C preprocessor) to an object."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "code.S"
        src.write_text(text)
        return assemble(src, arch, what)


def assemble(source: Path, arch, what: str | None = None) -> bytes:
    """A .s/.S file assembled for `arch` by gcc (preprocessor) and GNU as."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise LoadError(f"{what or source}: assembling needs gcc (and GNU as), which is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "override.o"
        proc = subprocess.run([cc, f"-m{arch.word_bits}", "-c", "-o", str(out), str(source)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise LoadError(f"{what or source}: the assembler failed for {arch.name}:\n{proc.stderr.strip()}")
        return out.read_bytes()
