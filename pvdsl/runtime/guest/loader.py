"""Loading one backend object into a domain's kernel region, as a kernel
links a module in: place the allocatable sections, apply the relocations,
resolve `hypercall_page`, set up the percpu areas and the percpu segment
base of every vCPU, register the vcpu_info percpu variable with Xen, and
build the call sites the kernel would use.

Call sites. The guest kernel here is Python, so it has no code of its own
that calls a hook. The loader writes, per hook, the call site Linux would
have: `call *table+8*slot` (x86_64) / `call *table+4*slot` (i386), through
the table in guest memory (so the table's relocations are exercised). If
the object carries a patch template for the hook, a second, "patched" site
holds the template's bytes padded with NOPs to the site length, as
paravirt patching leaves it. A vCPU runs a site from its first byte to its
end; nothing else in the kernel is emulated.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_RELOC_TYPE_i386, ENUM_RELOC_TYPE_x64
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from ...target.objects import PVPATCH_SECTION, record_layout
from ...target.patches import CALL_SITE_BYTES
from . import libstubs
from ..errors import LoadError
from ..xen.memory import PAGE_SHIFT, PAGE_SIZE

# Relocation types the loader applies, per ELF machine: name -> how.
RELOCS = {
    "EM_X86_64": {"R_X86_64_64": ("abs", 8), "R_X86_64_PC32": ("pc", 4), "R_X86_64_PLT32": ("pc", 4),
                  "R_X86_64_32": ("abs", 4), "R_X86_64_32S": ("abs_signed", 4)},
    # R_386_PLT32: a call through the PLT, which a kernel links as a direct
    # PC-relative call (no PLT in a kernel image), as R_X86_64_PLT32 above.
    "EM_386": {"R_386_32": ("abs", 4), "R_386_PC32": ("pc", 4), "R_386_PLT32": ("pc", 4)},
}
_RELOC_NAMES = {"EM_X86_64": {v: k for k, v in ENUM_RELOC_TYPE_x64.items() if isinstance(v, int)},
                "EM_386": {v: k for k, v in ENUM_RELOC_TYPE_i386.items() if isinstance(v, int)}}
PERCPU_SECTION = ".data..percpu"
GDT_ENTRY_PERCPU = 27  # Linux i386: the per-CPU data segment (__KERNEL_PERCPU)
VCPU_INFO_PERCPU = "xen_vcpu_info"  # Linux's percpu copy of its vcpu_info


@dataclass
class HookInfo:
    table: str
    hook: str
    slot: int
    symbol: str
    address: int
    callee_save: bool
    arg_sizes: tuple[int, ...] | None  # None: unknown (the object alone does not say)
    ret_size: int
    site: int = 0
    site_end: int = 0
    patched_site: int | None = None
    patched_end: int = 0
    template: bytes = b""

    @property
    def name(self) -> str:
        return f"{self.table}.{self.hook}"


@dataclass
class LoadedBackend:
    domain: object
    backend: str
    target: str
    sections: dict[str, int] = field(default_factory=dict)
    symbols: dict[str, int] = field(default_factory=dict)
    hooks: dict[str, HookInfo] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    percpu: dict[str, int] = field(default_factory=dict)  # name -> offset in the percpu area
    percpu_areas: list[int] = field(default_factory=list)
    percpu_link: int = 0
    library: dict[str, int] = field(default_factory=dict)  # kernel library routines placed for the object

    def percpu_va(self, name: str, vcpu: int = 0) -> int:
        return self.percpu_areas[vcpu] + self.percpu[name]

    def hook(self, name: str) -> HookInfo:
        if name not in self.hooks:
            raise KeyError(f"no hook '{name}' (this backend fills: {', '.join(sorted(self.hooks))})")
        return self.hooks[name]


def _write_va(d, va: int, data: bytes) -> None:
    """Kernel writes into its own (writable) mapping."""
    from ..xen.paging import GuestMemory

    GuestMemory(d.mem, d.rt, d.kernel.root_mfn).write(va, data)


class _Image:
    """The object's allocatable sections, placed and relocated in memory."""

    def __init__(self, data: bytes, d, name: str):
        self.elf = ELFFile(io.BytesIO(data))
        self.d, self.name = d, name
        self.machine = self.elf["e_machine"]
        arch = d.rt.arch
        if self.elf.elfclass != arch.elf_class or self.machine != arch.elf_machine:
            raise LoadError(f"{name}: ELF{self.elf.elfclass} {self.machine} object, but {d.name} is an "
                            f"{arch.name} domain (ELF{arch.elf_class} {arch.elf_machine})")
        self.va: dict[int, int] = {}  # section index -> address
        self.bytes: dict[int, bytearray] = {}
        self.names: dict[int, str] = {}
        self.library: dict[str, int] = {}  # kernel library routine -> where this load placed it
        for i, sec in enumerate(self.elf.iter_sections()):
            if sec["sh_flags"] & SH_FLAGS.SHF_ALLOC and sec["sh_size"]:
                self.names[i] = sec.name
                self.bytes[i] = bytearray(sec.data()) if sec["sh_type"] != "SHT_NOBITS" else bytearray(sec["sh_size"])
                self.va[i] = d.kernel.alloc(sec["sh_size"], max(sec["sh_addralign"], 16), f"{name} {sec.name}")

    def section_index(self, name: str) -> int | None:
        return next((i for i, n in self.names.items() if n == name), None)

    def symbols(self) -> tuple[dict[str, int], list[int | None], list[str]]:
        """(global name -> address, per-index address, per-index name)."""
        symtab = next(s for s in self.elf.iter_sections() if isinstance(s, SymbolTableSection))
        by_name, addrs, names = {}, [], []
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            addr = None
            name = sym.name
            if sym["st_info"]["type"] == "STT_SECTION" and isinstance(shndx, int):
                name = self.elf.get_section(shndx).name
            if isinstance(shndx, int):
                if shndx in self.va:
                    addr = self.va[shndx] + sym["st_value"]
            elif shndx == "SHN_ABS":
                addr = sym["st_value"]
            elif shndx == "SHN_UNDEF" and sym.name:
                addr = self._undefined(sym.name)
            if addr is not None and sym.name and sym["st_info"]["bind"] != "STB_LOCAL":
                by_name[sym.name] = addr
            addrs.append(addr)
            names.append(name)
        return by_name, addrs, names

    def _undefined(self, name: str) -> int:
        if name == "hypercall_page":
            if self.d.native or not self.d.kernel.hypercall_page_va:
                raise LoadError(f"{self.name}: needs 'hypercall_page', but a native machine has no hypervisor")
            return self.d.kernel.hypercall_page_va
        if libstubs.provides(name):
            if name not in self.library:
                self.library[name] = libstubs.install(self.d, name)
            return self.library[name]
        raise LoadError(f"{self.name}: undefined symbol '{name}' (the runtime provides 'hypercall_page' and "
                        f"the kernel library: {', '.join(sorted(libstubs.KERNEL_LIBRARY))})")

    def relocate(self, addrs: list[int | None], names: list[str]) -> int:
        how = RELOCS.get(self.machine, {})
        rel_names = _RELOC_NAMES.get(self.machine, {})
        count = 0
        for sec in self.elf.iter_sections():
            if not isinstance(sec, RelocationSection):
                continue
            target = sec["sh_info"]
            if target not in self.va:
                continue
            buf, base, tname = self.bytes[target], self.va[target], self.names[target]
            for rel in sec.iter_relocations():
                rtype, off, sidx = rel["r_info_type"], rel["r_offset"], rel["r_info_sym"]
                rname = rel_names.get(rtype, f"type {rtype}")
                sym = names[sidx] if sidx < len(names) else f"#{sidx}"
                if rname not in how:
                    raise LoadError(f"{self.name}: unsupported relocation {rname} ({rtype}) in {tname} at offset "
                                    f"{off:#x} against '{sym}' (supported: {', '.join(how)})")
                kind, size = how[rname]
                if off + size > len(buf):
                    raise LoadError(f"{self.name}: relocation {rname} at {tname}+{off:#x} is outside the section")
                S = addrs[sidx] if sidx < len(addrs) else None
                if S is None:
                    raise LoadError(f"{self.name}: relocation {rname} in {tname} at offset {off:#x} refers to "
                                    f"'{sym}', which has no address")
                A = rel["r_addend"] if rel.is_RELA() else int.from_bytes(buf[off:off + size], "little", signed=True)
                value = S + A - (base + off) if kind == "pc" else S + A
                bits = 8 * size
                if kind == "pc" or kind == "abs_signed":
                    if kind == "abs_signed" and value >= 1 << 63:
                        value -= 1 << 64
                    ok = -(1 << (bits - 1)) <= value < (1 << (bits - 1))
                else:
                    ok = 0 <= value < (1 << bits) or (bits == 8 * self.d.rt.word)
                if not ok:
                    raise LoadError(f"{self.name}: relocation {rname} in {tname} at offset {off:#x} against "
                                    f"'{sym}' overflows ({value:#x} does not fit {bits} bits)")
                buf[off:off + size] = (value & ((1 << bits) - 1)).to_bytes(size, "little")
                count += 1
        return count

    def write(self) -> None:
        for i, va in self.va.items():
            _write_va(self.d, va, bytes(self.bytes[i]))


def load_object(hv, d, data: bytes, manifest: dict, signatures: dict | None = None, cpus=(),
                name: str | None = None) -> LoadedBackend:
    """Load `data` (an object pvdsl built, with its manifest) into domain `d`.
    `signatures`: "table.hook" -> (argument sizes in bytes, result size), for
    calling hooks with the kernel's convention. `cpus`: the domain's
    emulated CPUs (their percpu segment bases are set)."""
    name = name or manifest.get("object", "object")
    img = _Image(data, d, name)
    by_name, addrs, names = img.symbols()
    img.relocate(addrs, names)
    img.write()
    lb = LoadedBackend(d, manifest.get("backend", ""), manifest.get("target", ""))
    lb.sections = {img.names[i]: va for i, va in img.va.items()}
    lb.symbols = by_name
    lb.library = dict(img.library)
    word = d.rt.word
    data_of = {img.names[i]: (img.va[i], img.bytes[i]) for i in img.va}
    for table, entries in manifest.get("tables", {}).items():
        if table not in by_name:
            raise LoadError(f"{name}: the manifest names table '{table}', which the object does not define")
        lb.tables[table] = tva = by_name[table]
        for e in entries:
            hook_va = by_name.get(e["symbol"])
            got = _read_word(data_of, tva + e["slot"] * word, word)
            if hook_va is None or got != hook_va:
                raise LoadError(f"{name}: {table} slot {e['slot']} ({e['hook']}) holds {got:#x}, expected "
                                f"'{e['symbol']}' at {hook_va or 0:#x}")
            sig = (signatures or {}).get(f"{table}.{e['hook']}")
            lb.hooks[f"{table}.{e['hook']}"] = HookInfo(
                table, e["hook"], e["slot"], e["symbol"], hook_va, e["callee_save"],
                tuple(sig[0]) if sig else None, sig[1] if sig else word)
    _templates(img, lb, data_of, word)
    _call_sites(d, lb)
    _percpu(hv, d, img, lb, manifest, cpus)
    for cpu in cpus:
        cpu.uc.ctl_flush_tb()
        cpu.checkpoint()
    return lb


def _read_word(data_of, va: int, word: int) -> int:
    for sva, buf in data_of.values():
        if sva <= va and va + word <= sva + len(buf):
            return int.from_bytes(buf[va - sva:va - sva + word], "little")
    return -1


def _templates(img: _Image, lb: LoadedBackend, data_of, word: int) -> None:
    """Read the `.pvpatch` records (relocated: their hook pointers are addresses now)."""
    if PVPATCH_SECTION not in data_of:
        return
    _va, buf = data_of[PVPATCH_SECTION]
    size, at_len, _at_mask, at_bytes = record_layout(word)
    by_addr = {h.address: h for h in lb.hooks.values()}
    for base in range(0, len(buf) - size + 1, size):
        hook_va = int.from_bytes(buf[base:base + word], "little")
        n = buf[base + at_len]
        h = by_addr.get(hook_va)
        if h is not None and n:
            h.template = bytes(buf[base + at_bytes:base + at_bytes + n])


def _call_sites(d, lb: LoadedBackend) -> None:
    rt = d.rt
    length = CALL_SITE_BYTES[8 * rt.word]
    for h in lb.hooks.values():
        code = rt.call_site(lb.tables[h.table] + h.slot * rt.word)
        h.site = d.kernel.alloc(length + 1, 16, f"call site {h.name}")
        _write_va(d, h.site, code.ljust(length, rt.nop) + b"\xcc")
        h.site_end = h.site + length
        if h.template:
            h.patched_site = d.kernel.alloc(length + 1, 16, f"patched site {h.name}")
            _write_va(d, h.patched_site, h.template.ljust(length, rt.nop) + b"\xcc")
            h.patched_end = h.patched_site + length


def _percpu(hv, d, img: _Image, lb: LoadedBackend, manifest: dict, cpus) -> None:
    idx = img.section_index(PERCPU_SECTION)
    if idx is None:
        return
    link, template = img.va[idx], bytes(img.bytes[idx])
    lb.percpu_link = link
    lb.percpu = {n: lb.symbols[n] - link for n in manifest.get("percpu", {}) if n in lb.symbols}
    by_vcpu = {cpu.v.vcpu_id: cpu for cpu in cpus}
    for v in d.vcpus:
        area = d.kernel.alloc(max(len(template), 1), PAGE_SIZE, f"percpu area of vcpu{v.vcpu_id}")
        _write_va(d, area, template)
        lb.percpu_areas.append(area)
        base = (area - link) & ((1 << (8 * d.rt.word)) - 1)
        _set_percpu_base(hv, d, v, by_vcpu.get(v.vcpu_id), base)
        if VCPU_INFO_PERCPU in lb.percpu and not d.native:
            _register_vcpu_info(hv, d, v, area + lb.percpu[VCPU_INFO_PERCPU])


def _kernel_hypercall(hv, v, name: str, *args: int) -> int:
    info = v.domain.abi.hypercalls[name]
    return hv.hypercall(v, info.number, list(args))


def _scratch(d) -> int:
    if not d.boot_scratch:
        d.boot_scratch = d.kernel.alloc(PAGE_SIZE, PAGE_SIZE, "boot scratch page")
    return d.boot_scratch


def _set_percpu_base(hv, d, v, cpu, base: int) -> None:
    rt, c = d.rt, d.abi.c
    if rt.word == 8:
        if d.native:
            v.gs_base_kernel = base
            if cpu is not None:
                cpu.sync_segment_bases()
        else:
            rc = _kernel_hypercall(hv, v, "set_segment_base", c("SEGBASE_GS_KERNEL"), base)
            if rc:
                raise LoadError(f"set_segment_base(GS_KERNEL, {base:#x}) failed: {rc}")
        return
    # i386: a data segment whose base is the percpu offset, in the vCPU's GDT.
    ring = 0 if d.native else rt.guest_ring
    desc = (0xFFFF | (base & 0xFFFFFF) << 16 | (0x93 | ring << 5) << 40 | 0xF << 48 | 0xC << 52
            | (base >> 24) << 56)
    selector = GDT_ENTRY_PERCPU << 3 | ring
    if d.native:
        if cpu is not None:
            cpu.set_native_gdt_entry(GDT_ENTRY_PERCPU, desc)
            _load_percpu_selector(cpu, selector)
        return
    # The GDT frame must not be mapped writable anywhere (Xen types it as a
    # descriptor page): take a frame outside the boot mapping, as Linux
    # would after making its GDT page read-only.
    pfn = d.kernel.nr_pages - 1 - v.vcpu_id
    mfn = d.p2m[pfn]
    hv.mem.write(mfn << PAGE_SHIFT, bytes(PAGE_SIZE))
    hv.mem.set_u64((mfn << PAGE_SHIFT) + 8 * GDT_ENTRY_PERCPU, desc)
    frames = _scratch(d)
    _write_va(d, frames, rt.pack_word(mfn))
    rc = _kernel_hypercall(hv, v, "set_gdt", frames, GDT_ENTRY_PERCPU + 1)
    if rc:
        raise LoadError(f"set_gdt for vcpu{v.vcpu_id} failed: {rc}")
    if cpu is not None:
        _load_percpu_selector(cpu, selector)


def _load_percpu_selector(cpu, selector: int) -> None:
    if not cpu.load_fs(selector):
        raise LoadError(f"vcpu{cpu.v.vcpu_id}: the percpu segment {selector:#x} does not load into %fs")


def _register_vcpu_info(hv, d, v, va: int) -> None:
    from ..xen.paging import translate

    ma = translate(hv.mem, d.rt, d.kernel.root_mfn, va)
    abi, S = d.abi, "vcpu_register_vcpu_info"
    buf = bytearray(abi.size(S))
    abi.put(buf, S, "mfn", ma >> PAGE_SHIFT)
    abi.put(buf, S, "offset", ma & (PAGE_SIZE - 1))
    arg = _scratch(d)
    _write_va(d, arg, bytes(buf))
    rc = _kernel_hypercall(hv, v, "vcpu_op", abi.c("VCPUOP_register_vcpu_info"), v.vcpu_id, arg)
    if rc:
        raise LoadError(f"VCPUOP_register_vcpu_info for vcpu{v.vcpu_id} at {va:#x} failed: {rc}")
