"""Machine memory, the software page walk, the hypercall page, the domain
builder's layout."""

from __future__ import annotations

import capstone
import pytest

from pvdsl.arch import ARCHES, HYPERCALL_ENTRY_BYTES
from pvdsl.runtime.archinfo import RT
from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.errors import GuestFault, RuntimeSetupError
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.xen.memory import MachineMemory
from pvdsl.runtime.xen.paging import GuestMemory, translate


def test_frames_allocate_aligned_and_scrub_on_release():
    mem = MachineMemory(64)
    a = mem.alloc()
    b = mem.alloc(3)
    assert a == 0 and b % 8 == 0 and mem.free_frames == 64 - 9
    mem.write(b << 12, b"dirty")
    for m in range(b, b + 8):
        mem.owner[m] = 1
        mem.release(m)
    assert mem.read(b << 12, 5) == bytes(5) and mem.free_frames == 63
    assert mem.alloc(7) is None  # 128 frames do not exist


def _stub_text(cs, code: bytes) -> str:
    return "; ".join(f"{i.mnemonic} {i.op_str}".strip() for i in cs.disasm(code, 0))


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_hypercall_page_holds_the_stubs_of_arch_py(arch):
    hv = Hypervisor(32 * MIB)
    d = build_pv_domain(hv, arch, 16 * MIB, 1, False)
    page = hv.mem.read(d.p2m[0] << 12, 4096)
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if arch == "x86_64" else capstone.CS_MODE_32)
    cs.syntax = capstone.CS_OPT_SYNTAX_ATT
    for n in (0, 17, 29, 32):
        entry = page[n * HYPERCALL_ENTRY_BYTES:(n + 1) * HYPERCALL_ENTRY_BYTES]
        stub = RT[arch].hypercall_stub(n)
        assert entry.startswith(stub) and set(entry[len(stub):]) == {0xCC}
        want = ARCHES[arch].hypercall_stub.replace("$N", f"${n:#x}" if n > 9 else f"${n}")
        got = _stub_text(cs, stub).replace("syscall ", "syscall").replace("retq", "ret").replace("pushq", "push") \
            .replace("popq", "pop").replace("movl", "mov").replace("retl", "ret").replace("pushl", "push")
        assert got.replace(" ", "") == want.replace(" ", ""), (got, want)


@pytest.mark.parametrize("arch", ["x86_64", "i386"])
def test_software_walk_and_guest_memory(arch):
    hv = Hypervisor(32 * MIB)
    d = build_pv_domain(hv, arch, 16 * MIB, 1, False)
    k, rt = d.kernel, d.rt
    assert translate(hv.mem, rt, k.root_mfn, k.virt_base + 0x1234) == d.p2m[1] << 12 | 0x234
    g = GuestMemory(hv.mem, rt, k.root_mfn)
    va = k.alloc(8192, 4096)
    g.write(va + 4090, b"across a page")
    assert g.read(va + 4090, 13) == b"across a page"
    with pytest.raises(GuestFault, match="read-only"):
        g.write(k.pt_va, b"x")
    with pytest.raises(GuestFault, match="Xen"):
        g.read(rt.xen_global_va, 4)
    with pytest.raises(GuestFault, match="not present"):
        g.read(k.v_end, 1)


def test_builder_layout_and_limits():
    hv = Hypervisor(80 * MIB)
    d = build_pv_domain(hv, "x86_64", 64 * MIB, 1, False)
    k = d.kernel
    assert k.virt_base == 0xFFFFFFFF80000000 and k.v_end % (4 * MIB) == 0
    assert k.pt_va > k.start_info_va > k.p2m_va > k.hypercall_page_va
    assert d.tot_pages == d.max_pages == 64 * MIB >> 12
    with pytest.raises(RuntimeSetupError):
        build_pv_domain(hv, "i386", 2 * MIB, 2, False)
    with pytest.raises(RuntimeSetupError, match="exhausted"):
        build_pv_domain(hv, "i386", 64 * MIB, 3, False)
