"""The shipped backends (pvdsl/specs/backends: xen, xen_dom0, native) in the
runtime: every hook called on its targets with the default workload's kind
of arguments, the ABI checks on every call, the effects of the important
hooks on the hypervisor model and the CPU, and `pvdsl run` on each.

The test plays the guest kernel: it sets the kernel-wide variables the
backends document as the kernel's to set (xen_p2m), and passes pointers to
kernel data it lays out itself (a GDT, a desc_ptr, a thread_struct).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rtsupport import ROOT, XEN_TARGETS, built, machine

from pvdsl.runtime.host.builder import MIB
from pvdsl.runtime.xen.paging import GuestMemory, translate, walk
from pvdsl.runtime.session.workload import Runner, _default_arg

SPECS = {"xen": "pvdsl/specs/backends/xen.pv", "xen_dom0": "pvdsl/specs/backends/xen_dom0.pv",
         "native": "pvdsl/specs/backends/native.pv"}
CASES = ([("xen", t) for t in XEN_TARGETS] + [("xen_dom0", "i386-dom0"), ("xen_dom0", "x86_64-dom0")]
         + [("native", "i386-native"), ("native", "x86_64-native")])
EFLAGS_IF = 0x200
GDT_ENTRY_PERCPU = 27


def _never_returns(backend: str, hook: str) -> str | None:
    """Why calling `hook` faults by design, or None if it must return."""
    returns = {"pv_cpu_ops.iret", "pv_cpu_ops.irq_enable_sysexit", "pv_cpu_ops.irq_enable_syscall_ret"}
    if backend == "native" and hook in returns | {"pv_cpu_ops.swapgs"}:
        # native.pv's native_unexpressible_return: none of iret, sysexit,
        # sysret, swapgs is expressible; an unpatched site stops the CPU
        # with interrupts off rather than run on corrupted state.
        return "halt"
    if backend != "native" and hook in returns:
        # xen.pv's xen_iret: the iret hypercall never returns to its caller
        # (Linux jumps to these hooks with a return frame on the stack; a
        # call leaves its return address where Xen expects the flags word).
        return "iret"
    return None


class Kernel:
    """The guest kernel's side: its memory, its variables, its own hypercalls."""

    def __init__(self, backend: str, target: str):
        self.backend = backend
        self.m = machine(SPECS[backend], target, kernel_bytes=4 * MIB)
        self.d, self.hv, self.lb = self.m.guest, self.m.hv, self.m.loaded
        self.rt, self.k = self.d.rt, self.d.kernel
        self.v = self.d.vcpus[0]

    @property
    def g(self) -> GuestMemory:
        return GuestMemory(self.hv.mem, self.rt, self.v.guest_table)

    def page(self, n: int = 1) -> int:
        va = self.k.alloc(4096 * n, 4096, "kernel data of the test")
        self.g.write(va, bytes(4096 * n))
        return va

    def ma(self, va: int) -> int:
        return translate(self.hv.mem, self.rt, self.v.guest_table, va)

    def pa(self, va: int) -> int:
        """__pa: the pseudo-physical address of a kernel address."""
        return self.k.pfn_of(va) << 12 | va & 0xFFF

    def set_var(self, name: str, value: int) -> None:
        self.g.write(self.lb.symbols[name], self.rt.pack_word(value))

    def set_p2m(self) -> None:
        """What Linux's xen_build_dynamic_phys_to_machine leaves in phys_to_machine_mapping."""
        self.set_var("xen_p2m", self.k.p2m_va)

    def hypercall(self, name: str, *args: int) -> int:
        return self.hv.hypercall(self.v, self.d.abi.hypercalls[name].number, list(args))

    def call(self, hook: str, *args: int):
        r = self.m.call(hook, *args)
        assert r.fault is None, f"{hook}: {r.fault}"
        assert r.abi_violations == [], f"{hook}: {r.abi_violations}"
        return r

    def events(self, kind: str) -> list[dict]:
        return self.hv.events_of(kind, self.d.domid)

    def gdt_with_percpu(self) -> tuple[int, int]:
        """A GDT page the kernel built (the percpu segment at its index, as
        Linux's per-CPU GDT has it) and a desc_ptr to it: (gdt, desc_ptr)."""
        gdt, dtr = self.page(), self.page()
        if self.rt.word == 4 and self.v.gdt_frames:
            live = self.hv.mem.u64((self.v.gdt_frames[0] << 12) + 8 * GDT_ENTRY_PERCPU)
            self.g.write(gdt + 8 * GDT_ENTRY_PERCPU, struct.pack("<Q", live))
        self.g.write(dtr, struct.pack("<H", 32 * 8 - 1) + self.rt.pack_word(gdt))
        return gdt, dtr


# ---------------- every hook ----------------

def _arguments(kern: Kernel, hook: str, runner: Runner) -> list[int]:
    """The default workload's arguments, except that every pointer gets two
    zeroed pages of its own: a hook that pins its argument as a pgd makes it
    (and on x86_64 the page after it) read-only, and one shared $scratch
    would turn later hooks' writes into faults. As in `pvdsl run`, the
    kernel-wide variables stay as loaded (zero: no p2m, so the Xen backends
    take pfn == mfn, and load_gdt's zeroed desc_ptr leaves a GDT of no
    entries, which test_segment_reload_after_the_gdt_changed covers)."""
    out = []
    for name, type_ in kern.m.built.params.get(hook, []):
        word = _default_arg(kern.m, name, type_, hook.split(".")[1])
        out.append(kern.page(2) if word == "$scratch" else runner.value(word, 0))
    return out


@pytest.mark.parametrize("backend,target", CASES, ids=[f"{b}-{t}" for b, t in CASES])
def test_every_hook(backend, target):
    kern = Kernel(backend, target)
    runner = Runner(kern.m)
    hooks = [f"{table}.{e['hook']}" for table, entries in kern.m.built.manifest["tables"].items()
             for e in sorted(entries, key=lambda e: e["slot"])]
    assert len(hooks) == len(kern.lb.hooks) > 40
    # The hooks that never return go last: each faulting call resets the vCPU.
    hooks.sort(key=lambda h: _never_returns(backend, h) is not None)
    returned = 0
    for hook in hooks:
        r = kern.m.call(hook, *_arguments(kern, hook, runner))
        why = _never_returns(backend, hook)
        if why is None:
            assert r.fault is None, f"{hook}: {r.fault}"
            assert r.abi_violations == [], f"{hook}: {r.abi_violations}"
            returned += 1
        elif why == "halt":
            assert r.fault is not None and r.fault.kind == "halt", f"{hook}: {r.fault}"
        else:
            # Whatever Xen then makes of the frame, the hook hands the vCPU to HYPERVISOR_iret.
            assert [name for name, _rc in r.hypercalls][-1:] == ["iret"], f"{hook}: {r.hypercalls}"
    assert returned >= len(hooks) - 4
    assert kern.hv.check_invariants() == []


# ---------------- effects under Xen ----------------

@pytest.fixture(params=XEN_TARGETS)
def xen(request) -> Kernel:
    return Kernel("xen", request.param)


def test_irq_flags_are_the_upcall_mask(xen):
    m = xen.m
    m.set_vcpu_info("evtchn_upcall_pending", 0)
    xen.call("pv_irq_ops.irq_enable")
    assert m.vcpu_info("evtchn_upcall_mask") == 0
    assert xen.call("pv_irq_ops.save_fl").value == EFLAGS_IF
    r = xen.call("pv_irq_ops.irq_disable")
    assert m.vcpu_info("evtchn_upcall_mask") == 1 and r.hypercalls == []
    assert xen.call("pv_irq_ops.save_fl").value == 0
    xen.call("pv_irq_ops.restore_fl", EFLAGS_IF)
    assert m.vcpu_info("evtchn_upcall_mask") == 0
    xen.call("pv_irq_ops.restore_fl", 0)
    assert m.vcpu_info("evtchn_upcall_mask") == 1
    # An event that arrived while masked is delivered by a hypercall on unmask.
    m.set_vcpu_info("evtchn_upcall_pending", 1)
    r = xen.call("pv_irq_ops.irq_enable")
    assert [name for name, _rc in r.hypercalls] == ["xen_version"]


def test_safe_halt_blocks_and_halt_with_events_masked_takes_the_vcpu_down(xen):
    m = xen.m
    m.set_vcpu_info("evtchn_upcall_mask", 0)
    before = xen.v.blocked
    r = xen.call("pv_irq_ops.safe_halt")
    assert r.hypercalls == [("sched_op", 0)] and xen.v.blocked == before + 1
    assert xen.events("block")[-1]["events_enabled"] is True
    m.set_vcpu_info("evtchn_upcall_mask", 1)
    assert xen.v.up
    r = xen.call("pv_irq_ops.halt")
    assert r.hypercalls == [("vcpu_op", 0)] and not xen.v.up


def test_tlb_flushes(xen):
    kinds = []
    for hook, args in [("flush_tlb_user", ()), ("flush_tlb_kernel", ()), ("flush_tlb_single", (xen.m.symbol("va"),))]:
        r = xen.call(f"pv_mmu_ops.{hook}", *args)
        assert r.hypercalls == [("mmuext_op", 0)], hook
        kinds.append(xen.events("tlb_flush")[-1]["scope"])
    mask = xen.page()
    xen.g.write(mask, xen.rt.pack_word(1))  # vCPU 0
    r = xen.call("pv_mmu_ops.flush_tlb_others", mask, xen.page(), (1 << 8 * xen.rt.word) - 1)
    assert r.hypercalls == [("mmuext_op", 0)]
    kinds.append(xen.events("tlb_flush")[-1]["scope"])
    assert kinds == ["local", "local", "local", "multi"]


def test_write_cr3_loads_the_machine_frame_of_the_pgd(xen):
    xen.set_p2m()
    root = xen.v.guest_table
    pfn = xen.d.pfn_of[root]
    if xen.d.domid:
        assert pfn != root  # a domU's frames are not its pseudo-physical ones: the p2m must be used
    r = xen.call("pv_mmu_ops.write_cr3", pfn << 12)
    assert r.hypercalls[0][0] == "mmuext_op" and len(r.hypercalls) == 1
    assert xen.events("new_baseptr")[-1] == {"mfn": root}
    assert xen.call("pv_mmu_ops.read_cr3").value == pfn << 12
    r = xen.call("pv_mmu_ops.write_cr3", pfn << 12)  # the same pgd again: only a flush
    assert r.hypercalls == [("mmuext_op", 0)] and xen.events("tlb_flush")[-1]["scope"] == "local"


def test_write_cr3_switches_to_a_pinned_copy_of_the_pgd(xen):
    """A second top-level table, pinned, then loaded: the vCPU runs on it."""
    xen.set_p2m()
    old = xen.v.guest_table
    pgd = xen.page(2)  # x86_64: the user pgd is the page after it (XenLinux's layout)
    entries = 512 if xen.rt.word == 8 else 4
    xen.g.write(pgd, xen.hv.mem.read(old << 12, 8 * entries))
    # pagetable_setup_done pins it (on x86_64 with the empty user pgd) the way
    # Linux does; on i386 its walk reads each entry's frame back through
    # Xen's read-only m2p.
    r = xen.call("pv_mmu_ops.pagetable_setup_done", pgd)
    assert [rc for name, rc in r.hypercalls if name == "mmuext_op"] == ([0, 0] if xen.rt.word == 8 else [0])
    new = xen.ma(pgd) >> 12
    r = xen.call("pv_mmu_ops.write_cr3", xen.pa(pgd))
    assert r.hypercalls == [("mmuext_op", 0)]
    assert xen.v.guest_table == new != old
    assert xen.m.cpus[0].control_register(3) == new << 12
    if xen.rt.word == 8:
        assert xen.events("new_user_baseptr")[-1] == {"mfn": xen.ma(pgd + 4096) >> 12}
    # Hooks keep running on the new table.
    xen.call("pv_irq_ops.irq_disable")
    assert xen.m.vcpu_info("evtchn_upcall_mask") == 1
    assert xen.hv.check_invariants() == []


def test_set_pte_goes_through_mmu_update(xen):
    xen.set_p2m()
    m = xen.m
    pte_ma, pte, va = m.symbol("pte_ma"), m.symbol("pte"), m.symbol("va")
    ptep = xen.k.va_of(xen.d.pfn_of[pte_ma >> 12]) + (pte_ma & 0xFFF)  # the L1 entry's kernel address
    r = xen.call("pv_mmu_ops.set_pte", ptep, pte)
    assert r.hypercalls == [("mmu_update", 0)]
    assert xen.events("pt_update")[-1] == {"ptr": pte_ma, "val": pte, "level": 1}
    user = 0x4 if xen.rt.guest_ring == 3 else 0  # Xen makes a 64-bit kernel's entries user-accessible
    assert xen.hv.mem.u64(pte_ma) == pte | user
    assert walk(xen.hv.mem, xen.rt, xen.v.guest_table, va).maddr == m.symbol("mfn") << 12
    # make_pte turns a pseudo-physical entry into a machine one through the p2m.
    pfn = xen.k.pfn_of(va)
    assert xen.call("pv_mmu_ops.make_pte", pfn << 12 | 0x63).value == xen.d.p2m[pfn] << 12 | 0x63


def test_pte_val_reads_the_frame_back_through_xens_m2p(xen):
    """pte_val's mfn_to_pfn loads machine_to_phys_mapping[mfn] from
    MACH2PHYS_VIRT_START in the guest's own address space (8-byte entries on
    x86_64, the 4-byte compat table on i386); a frame the domain does not
    own reads as Xen's invalid entry."""
    xen.set_p2m()
    pfn = xen.k.pfn_of(xen.page())
    mfn = xen.d.p2m[pfn]
    assert xen.call("pv_mmu_ops.pte_val", mfn << 12 | 0x63).value == pfn << 12 | 0x63
    assert xen.call("pv_mmu_ops.pgd_val", mfn << 12 | 0x67).value == pfn << 12 | 0x67
    free = next(m for m in range(xen.hv.mem.nframes) if xen.hv.mem.is_free[m])
    invalid_pfn = (1 << (8 * xen.rt.word)) - 1  # ~0UL
    pte_pfn_mask = 0x000FFFFFFFFFF000
    assert xen.call("pv_mmu_ops.pte_val", free << 12 | 0x63).value == (invalid_pfn << 12) & pte_pfn_mask | 0x63


def test_load_gdt_write_gdt_entry_and_load_tls_reach_the_model(xen):
    xen.set_p2m()
    gdt, dtr = xen.gdt_with_percpu()
    r = xen.call("pv_cpu_ops.load_gdt", dtr)
    assert ("set_gdt", 0) in r.hypercalls
    frame = xen.ma(gdt) >> 12
    assert xen.v.gdt_frames == [frame] and xen.v.gdt_entries == 32
    assert xen.call("pv_cpu_ops.store_gdt", xen.page()).ok
    # write_gdt_entry: a DPL-0 data segment is stored with the guest kernel's ring.
    desc = 0x00CF92000000FFFF
    if xen.rt.word == 4:
        r = xen.call("pv_cpu_ops.write_gdt_entry", gdt, 20, desc & 0xFFFFFFFF, desc >> 32)
    else:
        src = xen.page()
        xen.g.write(src, struct.pack("<Q", desc))
        r = xen.call("pv_cpu_ops.write_gdt_entry", gdt, 20, src, 0)
    assert r.hypercalls == [("update_descriptor", 0)]
    stored = desc | xen.rt.guest_ring << 45
    assert xen.hv.mem.u64((frame << 12) + 8 * 20) == stored
    assert xen.events("update_descriptor")[-1] == {"ma": (frame << 12) + 8 * 20, "desc": stored}
    # load_tls: the three TLS descriptors, batched in one multicall.
    tls = [0x00CFF2000000FFFF, 0x00CFF2001000FFFF | 0x12 << 56, 0]
    t = xen.page()
    xen.g.write(t, struct.pack("<3Q", *tls))
    r = xen.call("pv_cpu_ops.load_tls", t, 0)
    assert r.hypercalls == [("multicall", 0)]
    first = 6 if xen.rt.word == 4 else 12  # GDT_ENTRY_TLS_MIN
    assert [xen.hv.mem.u64((frame << 12) + 8 * (first + i)) for i in range(3)] == tls
    # The percpu segment stays usable: a fault resets the vCPU, which reloads %fs from this GDT.
    assert xen.m.call("pv_cpu_ops.iret").fault is not None
    assert xen.hv.events_of("segment_reload_failed") == []
    xen.m.set_vcpu_info("evtchn_upcall_mask", 0)
    xen.call("pv_irq_ops.irq_disable")
    assert xen.m.vcpu_info("evtchn_upcall_mask") == 1


def test_write_gdt_entry_refuses_a_gate_into_xen(xen):
    xen.set_p2m()
    gdt, dtr = xen.gdt_with_percpu()
    xen.call("pv_cpu_ops.load_gdt", dtr)
    frame = xen.ma(gdt) >> 12
    gate = 0x0000EC00E0080000  # a present call gate, DPL 3, to Xen's ring-0 code selector 0xe008
    if xen.rt.word == 4:
        r = xen.call("pv_cpu_ops.write_gdt_entry", gdt, 21, gate & 0xFFFFFFFF, gate >> 32)
    else:
        src = xen.page()
        xen.g.write(src, struct.pack("<Q", gate))
        r = xen.call("pv_cpu_ops.write_gdt_entry", gdt, 21, src, 0)
    assert r.hypercalls == [("update_descriptor", -22)]
    assert xen.hv.mem.u64((frame << 12) + 8 * 21) == 0


def test_load_gs_index_loads_the_user_gs_from_the_gdt():
    xen = Kernel("xen", "x86_64-domu")
    xen.set_p2m()
    gdt, dtr = xen.gdt_with_percpu()
    xen.g.write(gdt + 8 * 5, struct.pack("<Q", 0x00CFF2000000FFFF | 0x12 << 56 | 0x345678 << 16))
    xen.call("pv_cpu_ops.load_gdt", dtr)
    r = xen.call("pv_cpu_ops.load_gs_index", 5 << 3)
    assert r.hypercalls == [("set_segment_base", 0)]
    assert xen.v.gs_base_user == 0x12345678
    assert xen.events("load_user_gs")[-1]["selector"] == 5 << 3 | 3
    # Selectors the CPU refuses: Xen loads the null one instead and still succeeds.
    xen.call("pv_cpu_ops.write_gdt_entry", gdt, 6, src_of(xen, 0x00CF72000000FFFF), 0)  # not present
    for selector, why in [(6 << 3, "not present"), (7 << 3, "a system descriptor"), (0xF000, "beyond the GDT limit")]:
        r = xen.call("pv_cpu_ops.load_gs_index", selector)
        assert r.hypercalls == [("set_segment_base", 0)]
        assert xen.v.gs_base_user == 0 and xen.events("load_user_gs")[-1]["selector"] == 0
        assert why in xen.events("load_user_gs")[-1]["refused"]


def src_of(kern: Kernel, desc: int) -> int:
    """A descriptor in kernel memory (x86_64's write_gdt_entry takes a pointer)."""
    va = kern.page()
    kern.g.write(va, struct.pack("<Q", desc))
    return va


@pytest.mark.parametrize("target", ["i386-dom0", "x86_64-dom0"])
def test_dom0_hooks_reach_privileged_hypercalls(target):
    dom0 = Kernel("xen_dom0", target)
    r = dom0.call("pv_time_ops.set_wallclock", 1_700_000_000)
    assert r.hypercalls == [("platform_op", 0)] and r.value == 0
    r = dom0.call("xen_dom0_ops.io_apic_read", 0xFEC00000, 1)
    assert [name for name, _rc in r.hypercalls] == ["physdev_op"]


# ---------------- effects on bare metal ----------------

@pytest.fixture(params=["i386-native", "x86_64-native"])
def native(request) -> Kernel:
    return Kernel("native", request.param)


def test_native_irq_hooks_drive_the_interrupt_flag(native):
    r = native.call("pv_irq_ops.irq_disable")
    assert not r.registers[native.rt.flags] & EFLAGS_IF
    r = native.call("pv_irq_ops.save_fl")
    assert r.value & EFLAGS_IF == 0
    r = native.call("pv_irq_ops.irq_enable")
    assert r.registers[native.rt.flags] & EFLAGS_IF
    assert native.call("pv_irq_ops.save_fl").value & EFLAGS_IF
    r = native.call("pv_irq_ops.restore_fl", 0)
    assert not r.registers[native.rt.flags] & EFLAGS_IF
    # safe_halt is sti; hlt: the CPU halts with interrupts on and wakes up.
    r = native.call("pv_irq_ops.safe_halt")
    assert r.registers[native.rt.flags] & EFLAGS_IF


def test_native_control_registers_and_page_tables(native):
    m, cpu = native.m, native.m.cpus[0]
    cr3 = cpu.control_register(3)
    assert native.call("pv_mmu_ops.read_cr3").value == cr3
    native.call("pv_mmu_ops.write_cr3", cr3)
    assert cpu.control_register(3) == cr3
    assert native.call("pv_cpu_ops.read_cr0").value == cpu.control_register(0)
    native.call("pv_mmu_ops.write_cr2", 0x1234)
    assert native.call("pv_mmu_ops.read_cr2").value == 0x1234 == cpu.control_register(2)
    ptep, pte, pte_ma = m.symbol("ptep"), m.symbol("pte"), m.symbol("pte_ma")
    native.call("pv_mmu_ops.set_pte", ptep, pte)
    assert native.hv.mem.u64(pte_ma) == pte
    native.call("pv_mmu_ops.flush_tlb_single", m.symbol("va"))
    assert walk(native.hv.mem, native.rt, native.v.guest_table, m.symbol("va")).maddr == m.symbol("mfn") << 12


# ---------------- segment reloads (the i386 percpu segment) ----------------

RELOAD_SCRIPT = textwrap.dedent("""
    import json, struct, sys
    sys.path[:0] = sys.argv[1:]
    from test_shipped_backends import Kernel
    out = {}
    # 1. load_gdt of a zeroed desc_ptr: a GDT of 0 entries, %fs's page gone.
    kern = Kernel("xen", "i386-domu")
    kern.call("pv_cpu_ops.load_gdt", kern.page())
    kern.m.call("pv_cpu_ops.iret")  # faults; the vCPU is reset and %fs reloaded
    out["empty"] = kern.hv.events_of("segment_reload_failed")
    out["fs_after"] = kern.m.cpus[0].percpu_selector
    out["next_call_ok"] = kern.m.call("pv_irq_ops.save_fl").fault is None
    # 2. The percpu descriptor made not present by the guest, in its own GDT.
    kern = Kernel("xen", "i386-domu")
    kern.set_p2m()
    gdt, dtr = kern.gdt_with_percpu()
    kern.call("pv_cpu_ops.load_gdt", dtr)
    live = kern.hv.mem.u64((kern.v.gdt_frames[0] << 12) + 8 * 27)
    gone = live & ~(1 << 47)
    kern.call("pv_cpu_ops.write_gdt_entry", gdt, 27, gone & 0xFFFFFFFF, gone >> 32)
    kern.m.call("pv_cpu_ops.iret")
    out["not_present"] = kern.hv.events_of("segment_reload_failed")
    print(json.dumps(out))
""")


def test_segment_reload_after_the_gdt_changed():
    """Reloading %fs once the guest changed its GDT crashed the whole
    process (unicorn raised the CPU fault from reg_write, outside its run
    loop). Run in a subprocess so that such a crash fails this test only."""
    proc = subprocess.run([sys.executable, "-c", RELOAD_SCRIPT, str(Path(__file__).parent), str(ROOT / "tests" / "runtime")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    out = json.loads(proc.stdout.splitlines()[-1])
    [empty] = out["empty"]
    selector = GDT_ENTRY_PERCPU << 3 | 1
    assert empty["selector"] == selector and empty["vector"] == 14 and "not mapped" in empty["reason"]
    assert empty["loaded"] == 0 and empty["failsafe_callback"] == 0
    assert out["fs_after"] == 0 and out["next_call_ok"]
    [gone] = out["not_present"]
    assert gone["selector"] == selector and gone["vector"] == 11 and "not present" in gone["reason"]


# ---------------- pvdsl run ----------------

RUNS = [("xen", t) for t in XEN_TARGETS] + [("native", "i386-native"), ("native", "x86_64-native")]


@pytest.fixture(scope="module")
def pvdsl_runs():
    """`pvdsl run SPEC --target T --json` for every pair of RUNS, as
    processes of their own, all at once: (status, summary, stderr)."""
    procs = {(b, t): subprocess.Popen([sys.executable, "-m", "pvdsl.cli", "run", SPECS[b], "--target", t,
                                       "--memory", "16M", "--dom0-memory", "16M", "--json"],
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for b, t in RUNS}
    out = {}
    try:
        for key, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=180)
            out[key] = (proc.returncode, json.loads(stdout) if stdout.strip() else None, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out


@pytest.mark.parametrize("backend,target", RUNS, ids=[f"{b}-{t}" for b, t in RUNS])
def test_pvdsl_run(backend, target, pvdsl_runs):
    status, s, err = pvdsl_runs[backend, target]
    assert s is not None, err
    assert s["invariant_violations"] == [] and s["expectations"]["failed"] == []
    hooks = {f"{t}.{e['hook']}" for t, entries in built(SPECS[backend], target, None).manifest["tables"].items()
             for e in entries}
    skipped = {"pv_cpu_ops.iret", "pv_cpu_ops.irq_enable_sysexit", "pv_cpu_ops.irq_enable_syscall_ret"}
    assert set(s["calls"]) == hooks - skipped  # the default workload does not call what the kernel jumps to
    if target == "x86_64-native":
        # native.pv's swapgs stops the CPU on an unpatched site, by design
        # (native_unexpressible_return); the kernel patches the site to swapgs.
        assert status == 1
        assert [f["hook"] for f in s["faults"]] == ["pv_cpu_ops.swapgs"] and s["faults"][0]["kind"] == "halt"
    else:
        assert status == 0, err
        assert s["faults"] == []
