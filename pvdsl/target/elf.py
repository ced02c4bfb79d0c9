"""Reading the relocatable objects LLVM wrote (pyelftools)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection


@dataclass(frozen=True)
class Symbol:
    name: str
    section: str | None  # None: undefined
    value: int
    size: int
    binding: str  # STB_GLOBAL / STB_LOCAL / STB_WEAK
    kind: str  # STT_FUNC / STT_OBJECT / ...


@dataclass(frozen=True)
class Reloc:
    section: str  # the section the relocation patches
    offset: int
    type: int
    symbol: str
    addend: int


class ObjectFile:
    def __init__(self, data: bytes):
        self.data = data
        self.elf = ELFFile(io.BytesIO(data))
        self._symbols: list[Symbol] | None = None

    @property
    def elf_class(self) -> int:
        return self.elf.elfclass

    @property
    def machine(self) -> str:
        return self.elf["e_machine"]

    def section_bytes(self, name: str) -> bytes:
        sec = self.elf.get_section_by_name(name)
        return b"" if sec is None else sec.data()

    def symbols(self) -> list[Symbol]:
        if self._symbols is None:
            self._symbols = self._read_symbols()
        return self._symbols

    def _read_symbols(self) -> list[Symbol]:
        out = []
        for sec in self.elf.iter_sections():
            if not isinstance(sec, SymbolTableSection):
                continue
            for sym in sec.iter_symbols():
                if not sym.name or sym["st_info"]["type"] in ("STT_FILE", "STT_SECTION"):
                    continue
                shndx = sym["st_shndx"]
                where = None if shndx == "SHN_UNDEF" else (
                    self.elf.get_section(shndx).name if isinstance(shndx, int) else str(shndx))
                out.append(Symbol(sym.name, where, sym["st_value"], sym["st_size"],
                                  sym["st_info"]["bind"], sym["st_info"]["type"]))
        return out

    def relocations(self) -> list[Reloc]:
        out = []
        for sec in self.elf.iter_sections():
            if not isinstance(sec, RelocationSection):
                continue
            symtab = self.elf.get_section(sec["sh_link"])
            target = self.elf.get_section(sec["sh_info"]).name
            for rel in sec.iter_relocations():
                sym = symtab.get_symbol(rel["r_info_sym"])
                name = sym.name
                if not name and sym["st_info"]["type"] == "STT_SECTION":
                    name = self.elf.get_section(sym["st_shndx"]).name
                addend = rel["r_addend"] if rel.is_RELA() else None
                out.append(Reloc(target, rel["r_offset"], rel["r_info_type"], name, addend))
        return out

    def function_bytes(self, name: str) -> bytes:
        for sym in self.symbols():
            if sym.name == name and sym.section:
                sec = self.elf.get_section_by_name(sym.section)
                return sec.data()[sym.value:sym.value + sym.size]
        raise KeyError(name)
