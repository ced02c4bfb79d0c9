"""The loader: relocations it applies, and the ones it refuses with an error
naming the type, the section and the offset (crafted objects)."""

from __future__ import annotations

import io
import struct

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from rtsupport import built, machine

from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.errors import LoadError
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.guest.loader import load_object


def fresh_domain(arch: str):
    hv = Hypervisor(24 * MIB)
    return hv, build_pv_domain(hv, arch, 16 * MIB, 1, False)


def patch_first_reloc(obj: bytes, section: str, new_type: int) -> tuple[bytes, int]:
    """The object with the type of the first relocation of `section` changed;
    returns it and the relocation's offset."""
    elf = ELFFile(io.BytesIO(obj))
    sec = next(s for s in elf.iter_sections() if isinstance(s, RelocationSection)
               and elf.get_section(s["sh_info"]).name == section)
    rel = next(sec.iter_relocations())
    data = bytearray(obj)
    at = sec["sh_offset"]
    if elf.elfclass == 64:
        info = rel["r_info_sym"] << 32 | new_type
        struct.pack_into("<Q", data, at + 8, info)
    else:
        info = rel["r_info_sym"] << 8 | new_type
        struct.pack_into("<I", data, at + 4, info)
    return bytes(data), rel["r_offset"]


@pytest.mark.parametrize("target, new_type, name", [("x86_64-domu", 9, "R_X86_64_GOTPCREL"),
                                                     ("x86_64-domu", 3, "R_X86_64_GOT32"),
                                                     ("i386-domu", 10, "R_386_GOTPC"),
                                                     ("i386-domu", 3, "R_386_GOT32")])
def test_unknown_relocation_is_refused(target, new_type, name):
    b = built("examples/irq.pv", target)
    obj, offset = patch_first_reloc(b.obj, ".text", new_type)
    hv, d = fresh_domain(target.split("-")[0])
    with pytest.raises(LoadError) as err:
        load_object(hv, d, obj, b.manifest, b.signatures)
    msg = str(err.value)
    assert name in msg and f"({new_type})" in msg and ".text" in msg and f"{offset:#x}" in msg
    assert "supported:" in msg


def test_relocation_overflow_is_refused():
    b = built("examples/irq.pv", "x86_64-domu")
    obj, offset = patch_first_reloc(b.obj, ".text", 10)  # R_X86_64_32 of a kernel address
    hv, d = fresh_domain("x86_64")
    with pytest.raises(LoadError, match=r"R_X86_64_32 in \.text at offset .* overflows"):
        load_object(hv, d, obj, b.manifest, b.signatures)


def test_undefined_symbol_is_refused():
    b = built("examples/irq.pv", "x86_64-domu")
    obj = b.obj.replace(b"hypercall_page\0", b"hypercall_pagf\0")
    hv, d = fresh_domain("x86_64")
    with pytest.raises(LoadError, match="undefined symbol 'hypercall_pagf'"):
        load_object(hv, d, obj, b.manifest, b.signatures)


def test_wrong_arch_is_refused():
    b = built("examples/irq.pv", "i386-domu")
    hv, d = fresh_domain("x86_64")
    with pytest.raises(LoadError, match="ELF32 EM_386 object, but dom1 is an x86_64 domain"):
        load_object(hv, d, b.obj, b.manifest, b.signatures)


def test_manifest_that_does_not_match_the_object_is_refused():
    b = built("examples/irq.pv", "x86_64-domu")
    manifest = dict(b.manifest)
    manifest["tables"] = {"pv_irq_ops": [dict(e) for e in b.manifest["tables"]["pv_irq_ops"]]}
    manifest["tables"]["pv_irq_ops"][2]["symbol"] = "xen_halt"
    hv, d = fresh_domain("x86_64")
    with pytest.raises(LoadError, match="pv_irq_ops slot 2 .restore_fl. holds"):
        load_object(hv, d, b.obj, manifest, b.signatures)


@pytest.mark.parametrize("target", ["x86_64-domu", "i386-dom0", "x86_64-native", "i386-native"])
def test_sections_tables_and_percpu_are_placed(target):
    m = machine("examples/irq.pv", target)
    lb, d = m.loaded, m.guest
    k = d.kernel
    for name, va in lb.sections.items():
        assert k.virt_base < va < k.kernel_end(), name
    for h in lb.hooks.values():
        slot = lb.tables[h.table] + h.slot * d.rt.word
        assert int.from_bytes(m.cpus[0].read_virtual(slot, d.rt.word), "little") == h.address
        assert h.site and m.cpus[0].read_virtual(h.site, 2) in (b"\xff\x14", b"\xff\x15")
    if not d.native:
        # gs/fs base = percpu area - link address of the percpu section (DESIGN.md).
        base = lb.percpu_areas[0] - lb.percpu_link
        if d.rt.word == 8:
            assert d.vcpus[0].gs_base_kernel == base
        else:
            assert m.cpus[0].percpu_selector == 27 << 3 | 1
        assert lb.percpu_areas[0] != lb.percpu_link  # the template is not a vCPU's area


def test_percpu_areas_per_vcpu_are_distinct():
    m = machine("examples/irq.pv", "x86_64-domu", vcpus=2)
    a0, a1 = (m.loaded.percpu_va("xen_vcpu_info", i) for i in range(2))
    assert a0 != a1
    m.set_vcpu_info("evtchn_upcall_mask", 0, vcpu=0)
    m.set_vcpu_info("evtchn_upcall_mask", 0, vcpu=1)
    assert m.call("pv_irq_ops.irq_disable", vcpu=1).ok
    assert m.vcpu_info("evtchn_upcall_mask", 1) == 1 and m.vcpu_info("evtchn_upcall_mask", 0) == 0


def test_patch_templates_are_read_from_pvpatch():
    b = built("examples/mmu.pv", "x86_64-domu")
    m = machine("examples/mmu.pv", "x86_64-domu")
    want = {t["hook"]: bytes.fromhex(t["bytes"]) for t in b.manifest["patch_templates"]}
    got = {h.hook: h.template for h in m.loaded.hooks.values() if h.template}
    assert got == want and want
    for hook in want:
        h = m.loaded.hook(f"demo_mmu_ops.{hook}")
        assert m.cpus[0].read_virtual(h.patched_site, len(want[hook])) == want[hook]
