"""Exceptions and event upcalls bounced into guest code, and HYPERVISOR_iret
back (pvdsl/runtime/traps.py, vcpu.py).

The guest code is hand-assembled (the bytes and what they encode are side by
side) and written into a PV domain's kernel region; the trap table, the
callbacks and vcpu_info are registered through the model's own hypercall
handlers, and real unicorn runs everything. The frames are checked word by
word against Xen 4.17's create_bounce_frame (x86_64) and
compat_create_bounce_frame (i386, ring 1); the iret_context layout against
Xen's public header.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from rtsupport import machine
from trapsupport import ARCHES, BP, CLI, GP, IF, INT3, NOP, NR, PF, UD, UD2, Enc32, Enc64, Guest, call, jmp

from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.errors import ENOSYS
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.xen.traps import IRET_CONTEXT, MAX_NESTED_SAME_VECTOR, TI_IF, VGCF_IN_SYSCALL

@pytest.fixture(params=ARCHES)
def g(request) -> Guest:
    return Guest(request.param)


def test_ud_handler_counts_skips_and_irets_three_times_in_a_row(g):
    count = g.data()
    handler = g.code(g.e.entry(), g.e.inc(count), g.e.skip(2), g.e.iret(g.hp))
    g.set_traps({UD: (handler, 0)})
    main = g.code(UD2, UD2, UD2, NOP)
    before = g.sentinels()
    r = g.run(main, before)
    assert r.fault is None, r.fault.describe()
    assert g.word(count) == 3
    assert r.exceptions == [(UD, main), (UD, main + 2), (UD, main + 4)]
    assert [name for name, _ in r.hypercalls] == ["iret"] * 3
    # HYPERVISOR_iret gives back every register the handler was entered with.
    assert {n: r.registers[n] for n in before} == before
    assert r.registers[g.rt.pc] == g.end
    # Each #UD: ud2, the handler (x86_64 6 instructions, i386 3), the iret
    # entry up to its syscall / int $0x82 (5 / 3); then the nop. Xen's own
    # iret back into the guest is not the guest's.
    assert r.instructions == {8: 3 * (1 + 6 + 5) + 1, 4: 3 * (1 + 3 + 3) + 1}[g.e.word]
    # And the vCPU is as good as new for the next run.
    assert g.run(main).exceptions == [(UD, main), (UD, main + 2), (UD, main + 4)] and g.word(count) == 6


def _frame_recorder(g: Guest, words: int, save: int, sp_slot: int, extra=()) -> list:
    """Handler prologue: the stack pointer and the first `words` stack words
    copied out before anything touches them (push n(%sp); pop save+i)."""
    out = [g.e.save_sp(sp_slot), *extra]
    for i in range(words):
        out += [g.e.push_sp(i * g.e.word), g.e.pop_to(save + i * g.e.word)]
    return out


@pytest.mark.parametrize("masked_before", [0, 1])
def test_gp_bounce_frame_is_xens(g, masked_before):
    """cli in the PV kernel's ring: #GP, error code 0, into a handler that
    masks events (TI_SET_IF); the frame is Xen's for the arch."""
    g.register_vcpu_info()
    g.set_vi("evtchn_upcall_mask", masked_before)
    save, sp_slot, mask_slot, entry_regs = g.data(128), g.data(), g.data(), g.data()
    x64 = g.e.word == 8
    nwords = 8 if x64 else 4
    # x86_64: also what rcx/r11 hold on entry (Xen leaves with sysret).
    extra = [b"\x48\x89\x0c\x25" + g.e.a(entry_regs), b"\x4c\x89\x1c\x25" + g.e.a(entry_regs + 8)] if x64 else []
    handler = g.code(_frame_recorder(g, nwords, save, sp_slot, extra), g.e.push_from(g.vi("evtchn_upcall_pending")),
                     g.e.pop_to(mask_slot), g.e.entry(), g.e.drop(), g.e.skip(1), g.e.iret(g.hp))
    g.set_traps({GP: (handler, TI_IF)})
    main = g.code(CLI, NOP)
    regs = g.sentinels()
    regs[g.rt.sp] -= 4  # not 16-byte aligned: x86_64 aligns the frame, i386 does not
    r = g.run(main, regs)
    assert r.fault is None, r.fault.describe()
    assert r.exceptions == [(GP, main)]
    frame = [g.word(save + i * g.e.word) for i in range(nwords)]
    flags = frame[-3] if x64 else frame[3]
    assert flags & IF == (0 if masked_before else IF) and flags & 0x3000 == 0
    if x64:
        top = regs["rsp"] & ~0xF
        assert g.word(sp_slot) == top - 64
        assert frame == [regs["rcx"], regs["r11"], 0, main, 0xE030 | masked_before << 32, flags, regs["rsp"],
                         g.c("FLAT_KERNEL_SS")]
        assert g.word(entry_regs) == handler and g.word(entry_regs + 8) & IF
    else:
        assert g.word(sp_slot) == regs["esp"] - 16
        assert frame == [0, main, g.flat_cs | masked_before << 16, flags]
    assert g.word(mask_slot, 2) >> 8 == 1  # masked inside the handler
    assert g.get_vi("evtchn_upcall_mask") == masked_before  # and as before once it returned
    assert r.registers[g.rt.sp] == regs[g.rt.sp]


def test_breakpoint_is_a_trap_returning_after_int3(g):
    count, rip = g.data(), g.data()
    handler = g.code(g.e.entry(), g.e.push_sp(0), g.e.pop_to(rip), g.e.inc(count), g.e.iret(g.hp))
    g.set_traps({BP: (handler, 0)})
    main = g.code(INT3, NOP, INT3, NOP)
    r = g.run(main)
    assert r.fault is None and r.exceptions == [(BP, main + 1), (BP, main + 3)]
    assert g.word(count) == 2 and g.word(rip) == main + 3


def test_software_interrupts_follow_xens_gate_rules(g):
    """int $0x80 reaches its registered entry; int $0x40 with a DPL-0 entry
    is the #GP Xen raises for it, error code (0x40 << 3) | 2, at the int."""
    n80, ec = g.data(), g.data()
    h80 = g.code(g.e.entry(), g.e.inc(n80), g.e.iret(g.hp))
    hgp = g.code(g.e.entry(), g.e.pop_to(ec), g.e.skip(2), g.e.iret(g.hp))
    hsw = g.code(g.e.entry(), g.e.iret(g.hp))
    g.set_traps({0x80: (h80, 0), 0x40: (hsw, 0), GP: (hgp, 0)})
    main = g.code(b"\xcd\x80", b"\xcd\x40", NOP)  # int $0x80; int $0x40; nop
    r = g.run(main)
    assert r.fault is None, r.fault.describe()
    assert r.exceptions == [(0x80, main + 2), (GP, main + 2)]
    assert g.word(n80) == 1 and g.word(ec) == 0x40 << 3 | 2


def _unmapped_page(g: Guest, va: int) -> int:
    """Take `va` out of the kernel mapping (update_va_mapping); returns its PTE."""
    from pvdsl.runtime.xen.paging import walk

    w = walk(g.hv.mem, g.rt, g.v.guest_table, va)
    pte = w.entries[-1]
    lo_hi = [0, 0] if g.e.word == 4 else [0]
    assert g.hypercall("update_va_mapping", va, *lo_hi, g.c("UVMF_INVLPG")) == 0
    return pte


def _pte_args(g: Guest, pte: int) -> list[int]:
    return [pte & 0xFFFFFFFF, pte >> 32] if g.e.word == 4 else [pte]


def test_page_fault_handler_reads_cr2_and_fixes_the_mapping(g):
    g.register_vcpu_info()
    absent, readonly = g.k.v_end - 4096, g.k.v_end - 8192
    pte = _unmapped_page(g, absent)
    ro = _unmapped_page(g, readonly)
    assert g.hypercall("update_va_mapping", readonly, *_pte_args(g, ro & ~2), g.c("UVMF_INVLPG")) == 0
    g.hv.mem.write(((pte & 0xFFFFFFFFFF000) | 0x10), (0x1234567).to_bytes(g.e.word, "little"))
    count, cr2s, ecs, pte_slot, rcs = g.data(), g.data(), g.data(), g.data(), g.data()
    handler = g.code(g.e.entry(), g.e.fix_mapping(g.hp, g.vi("arch.cr2"), cr2s, pte_slot, rcs, g.c("UVMF_INVLPG")),
                     g.e.inc(count), g.e.pop_to(ecs), g.e.iret(g.hp))
    g.set_traps({PF: (handler, 0)})

    g.put(pte_slot, struct.pack("<Q", pte))
    main = g.code(g.e.load(absent + 0x10), NOP)
    r = g.run(main)
    assert r.fault is None, r.fault.describe()
    assert r.exceptions == [(PF, main)] and g.word(count) == 1
    assert g.word(cr2s) == absent + 0x10 and g.get_vi("arch.cr2") == absent + 0x10
    assert g.word(ecs) == 0  # not present, a read, kernel mode (Xen clears the user bit)
    assert g.word(rcs) == 0 and [n for n, _ in r.hypercalls] == ["update_va_mapping", "iret"]
    assert r.registers[g.e.regs[0]] == 0x1234567  # the load, retried

    g.put(pte_slot, struct.pack("<Q", ro))
    main = g.code(g.e.store(readonly + 8), NOP)
    r = g.run(main)
    assert r.fault is None, r.fault.describe()
    assert r.exceptions == [(PF, main)] and g.word(cr2s) == readonly + 8
    assert g.word(ecs) == 3  # present, a write
    assert g.word(readonly + 8) == g.sentinels()[g.e.regs[1]]


def test_exceptions_of_every_kind_in_a_row_never_double_fault(g):
    """#PF, #GP, #UD, #PF, #GP, #BP in one run: unicorn's exception-in-flight
    state would make the #GP after a #PF a double fault if it were kept."""
    g.register_vcpu_info()
    a, b = g.k.v_end - 4096, g.k.v_end - 3 * 4096
    pte_slot, scratch = g.data(), g.data()
    ptes = [_unmapped_page(g, a), _unmapped_page(g, b)]
    pf = g.code(g.e.entry(), g.e.fix_mapping(g.hp, g.vi("arch.cr2"), scratch, pte_slot, scratch + 8,
                                             g.c("UVMF_INVLPG")), g.e.drop(), g.e.iret(g.hp))
    gp = g.code(g.e.entry(), g.e.drop(), g.e.skip(1), g.e.iret(g.hp))
    ud = g.code(g.e.entry(), g.e.skip(2), g.e.iret(g.hp))
    bp = g.code(g.e.entry(), g.e.iret(g.hp))
    g.set_traps({PF: (pf, 0), GP: (gp, 0), UD: (ud, 0), BP: (bp, 0)})
    # The handler maps the first page's frame at both addresses (a frame may be mapped twice).
    g.put(pte_slot, struct.pack("<Q", ptes[0]))
    main = g.code(g.e.load(a), CLI, UD2, g.e.load(b), CLI, INT3, NOP)
    r = g.run(main)
    assert r.fault is None, r.fault.describe()
    assert [v for v, _ in r.exceptions] == [PF, GP, UD, PF, GP, BP]


def test_event_upcall_runs_the_guest_callback_on_return_from_a_hypercall(g):
    """The guest unmasks events and makes a hypercall with an upcall
    pending: on the way back Xen bounces into the event callback, which
    clears the pending flag and returns with HYPERVISOR_iret."""
    g.register_vcpu_info()
    count, mask_slot = g.data(), g.data()
    handler = g.code(g.e.entry(), g.e.push_from(g.vi("evtchn_upcall_pending")), g.e.pop_to(mask_slot),
                     g.e.store_byte(g.vi("evtchn_upcall_pending"), 0), g.e.inc(count), g.e.iret(g.hp))
    # CALLBACKOP_register: the address is a word (x86_64) or {cs, eip} (i386).
    reg, layout = bytearray(g.abi.size("callback_register")), g.abi
    layout.put(reg, "callback_register", "type", g.c("CALLBACKTYPE_event"))
    far = g.e.word == 4
    layout.put(reg, "callback_register", "address.eip" if far else "address", handler)
    if far:
        layout.put(reg, "callback_register", "address.cs", g.flat_cs & ~3)  # Xen raises the RPL to 1
    arg = g.data(len(reg))
    g.put(arg, bytes(reg))
    assert g.hypercall("callback_op", g.c("CALLBACKOP_register"), arg) == 0
    main = g.code(g.e.store_byte(g.vi("evtchn_upcall_mask"), 0), g.e.first_arg_zero(),
                  call(g.hp + 32 * NR["xen_version"]), NOP)
    g.set_vi("evtchn_upcall_pending", 1)
    regs = g.sentinels()
    r = g.run(main, regs)
    assert r.fault is None, r.fault.describe()
    assert r.upcalls == 1 and g.word(count) == 1
    assert [n for n, _ in r.hypercalls] == ["xen_version", "iret"]
    assert g.word(mask_slot, 2) == 0x0101  # pending, masked: as the callback starts
    assert g.get_vi("evtchn_upcall_pending") == 0 and g.get_vi("evtchn_upcall_mask") == 0
    assert r.registers[g.rt.sp] == regs[g.rt.sp]
    assert r.registers[g.e.regs[0]] == 4 << 16 | 17  # xen_version's result: Xen 4.17
    # Nothing pending: the same code makes no upcall.
    r = g.run(main)
    assert r.fault is None and r.upcalls == 0 and g.word(count) == 1


def test_without_an_event_callback_events_stay_pending_for_the_runtime(g):
    g.register_vcpu_info()
    main = g.code(g.e.store_byte(g.vi("evtchn_upcall_mask"), 0), g.e.first_arg_zero(),
                  call(g.hp + 32 * NR["xen_version"]), NOP)
    g.set_vi("evtchn_upcall_pending", 1)
    r = g.run(main)
    assert r.fault is None and r.upcalls == 0 and [n for n, _ in r.hypercalls] == ["xen_version"]
    assert g.get_vi("evtchn_upcall_pending") == 1


@pytest.mark.parametrize("arch", ARCHES)
def test_a_loaded_backend_takes_the_upcall_in_guest_code(arch):
    """examples/irq.pv's irq_enable sees an upcall pending and makes a
    hypercall; with an event callback registered Xen runs it there and
    then. The percpu segment works afterwards (save_fl reads vcpu_info
    through it)."""
    m = machine("examples/irq.pv", f"{arch}-domu")
    d, hv, v = m.guest, m.hv, m.guest.vcpus[0]
    k = d.kernel
    at, _ = hv.vcpu_info_field(v, "evtchn_upcall_pending")
    pending_va = k.va_of(d.pfn_of[at >> 12]) + (at & 4095)
    count = k.alloc(8, 8, "upcall count")
    enc = Enc64() if arch == "x86_64" else Enc32()
    handler = k.alloc(64, 16, "event callback")
    parts = [enc.entry(), enc.store_byte(pending_va, 0), enc.inc(count), *enc.iret(k.hypercall_page_va)]
    code = bytearray()
    for p in parts:
        code += p(handler + len(code)) if callable(p) else p
    hv.mem.write(m.cpus[0].maddr(handler), bytes(code))
    hv.mem.write(m.cpus[0].maddr(count), bytes(8))
    args = [d.abi.c("FLAT_KERNEL_CS"), handler, 0, 0] if arch == "i386" else [handler, 0, 0]
    assert hv.hypercall(v, NR["set_callbacks"], args) == 0
    m.set_vcpu_info("evtchn_upcall_pending", 1)
    r = m.call("pv_irq_ops.irq_enable")
    assert r.ok and r.abi_violations == [], (r.fault, r.abi_violations)
    assert [n for n, _ in r.hypercalls] == ["xen_version", "iret"]
    assert hv.mem.u8(m.cpus[0].maddr(count)) == 1 and m.vcpu_info("evtchn_upcall_pending") == 0
    assert m.call("pv_irq_ops.save_fl").value == IF
    assert m.call("pv_irq_ops.irq_disable").ok and m.call("pv_irq_ops.save_fl").value == 0
    assert m.deliver_events() == []  # the guest handled it: nothing left for the runtime


def test_i386_handler_runs_with_the_code_selector_it_was_registered_with():
    """A 32-bit kernel's handlers use its own GDT's code segment (Linux's
    __KERNEL_CS, 0x61): Xen's iret loads it; HYPERVISOR_iret goes back to
    the interrupted one."""
    g = Guest("i386")
    mfn = g.d.p2m[((g.k.v_end - g.k.virt_base) >> 12) + 8]  # a frame outside the boot mapping
    g.hv.mem.write((mfn << 12) + 12 * 8, struct.pack("<Q", 0x00CFBB000000FFFF))  # flat ring-1 code, accessed
    frames = g.data()
    g.put(frames, struct.pack("<I", mfn))
    assert g.hv.hypercall(g.v, 2, [frames, 16]) == 0  # set_gdt
    cs_slot, frame_cs = g.data(), g.data()
    handler = g.code(b"\x8c\x0d" + g.e.a(cs_slot),                       # mov %cs,cs_slot
                     g.e.push_sp(4), g.e.pop_to(frame_cs), g.e.skip(2), g.e.iret(g.hp))
    size = g.abi.size("trap_info")
    table = g.data(2 * size)
    g.put(table, struct.pack("<BBHI", UD, 0, 12 << 3 | 1, handler))
    assert g.hypercall("set_trap_table", table) == 0
    r = g.run(g.code(UD2, NOP))
    assert r.fault is None, r.fault.describe()
    assert g.word(cs_slot, 2) == 0x61
    assert g.word(frame_cs) == g.flat_cs | 1 << 16  # the interrupted cs; events were masked (as at creation)
    assert g.cpu.guest_state()["cs"] == g.flat_cs


def test_a_bad_guest_stack_at_bounce_time_crashes_the_domain(g):
    count = g.data()
    handler = g.code(g.e.entry(), g.e.inc(count), g.e.skip(2), g.e.iret(g.hp))
    g.set_traps({UD: (handler, 0)})
    main = g.code(UD2, NOP)
    regs = g.sentinels()
    regs[g.rt.sp] = g.k.pt_va + 4096  # the page tables: mapped read-only
    r = g.run(main, regs)
    f = r.fault
    assert f is not None and f.kind == "crash" and f.vector == UD and f.address == main
    assert f.message.startswith("domain crash") and "bounce frame" in f.message and "read-only" in f.message
    assert g.d.shutdown_reason == g.c("SHUTDOWN_crash") and g.word(count) == 0
    assert g.hv.events_of("domain_crash")[-1]["vector"] == UD
    assert g.run(g.code(NOP)).fault is None  # the vCPU itself is usable again


def test_a_64_bit_guest_stack_in_xens_range_crashes_the_domain():
    g = Guest("x86_64")
    handler = g.code(g.e.entry(), g.e.skip(2), g.e.iret(g.hp))
    g.set_traps({UD: (handler, 0)})
    regs = g.sentinels()
    regs["rsp"] = g.rt.xen_global_va + 0x100
    r = g.run(g.code(UD2, NOP), regs)
    assert r.fault.kind == "crash" and "in Xen's range" in r.fault.message


def test_a_handler_faulting_on_its_own_vector_is_reported(g):
    """A #GP handler that executes cli itself: every #GP nests one more frame."""
    handler = g.code(g.e.entry(), CLI, g.e.iret(g.hp))
    g.set_traps({GP: (handler, 0)})
    main = g.code(CLI, NOP)
    r = g.run(main, timeout=10)
    assert r.fault.kind == "crash" and r.fault.vector == GP
    assert "inside its own handler" in r.fault.message
    assert r.exceptions == [(GP, main)] + [(GP, handler + len(g.e.entry()))] * (MAX_NESTED_SAME_VECTOR - 1)


@pytest.mark.parametrize("count_instructions", [True, False])
def test_a_handler_that_never_fixes_the_fault_ends_on_the_budget(count_instructions):
    for arch in ARCHES:
        g = Guest(arch, count_instructions)
        handler = g.code(g.e.entry(), g.e.drop(), g.e.iret(g.hp))  # returns to the same cli
        g.set_traps({GP: (handler, 0)})
        r = g.run(g.code(CLI, NOP), budget=3000, timeout=20)
        assert r.fault.kind == "budget", r.fault.describe()
        assert len(r.exceptions) > 20


def test_no_handler_for_the_vector_reports_as_before(g):
    handler = g.code(g.e.entry(), g.e.skip(2), g.e.iret(g.hp))
    g.set_traps({UD: (handler, 0)})
    main = g.code(CLI, NOP)
    r = g.run(main)
    assert r.fault.kind == "exception" and r.fault.vector == GP and r.fault.address == main
    assert "privileged" in r.fault.message and r.exceptions == []
    g.set_traps({GP: (handler, 0)})
    g.v.trap_table.pop(UD)
    r = g.run(g.code(UD2, NOP))
    assert r.fault.kind == "invalid-instruction" and r.fault.vector == UD


def test_iret_with_an_unreadable_frame_crashes_the_domain(g):
    # The stub's pushes land in the last mapped page; the frame runs past it.
    main = g.code(g.e.set_sp(g.k.v_end), g.e.iret(g.hp), NOP)
    r = g.run(main)
    assert r.fault.kind == "crash" and "HYPERVISOR_iret" in r.fault.message and "not present" in r.fault.message
    assert [n for n, _ in r.hypercalls] == ["iret"]


def test_iret_to_a_selector_xen_cannot_load_crashes_the_domain(g):
    """The frame names a code selector with no descriptor behind it: the
    iret Xen leaves through faults, and the domain cannot go on."""
    frame = g.data(128)
    target = g.code(NOP)
    if g.e.word == 8:
        ctx = {"rax": 0, "r11": 0, "rcx": 0, "flags": 0, "rip": target, "cs": 0x10, "rflags": IF, "rsp": g.sp,
               "ss": g.c("FLAT_KERNEL_SS")}
        g.put(frame, b"".join(struct.pack("<Q", ctx[f]) for f in IRET_CONTEXT))
        enter = b"\x0f\x05"                                                 # syscall
    else:
        g.put(frame, struct.pack("<4I", 0, target, 0x0D, IF))              # eax, eip, cs (GDT entry 1, RPL 1), eflags
        enter = b"\xcd\x82"                                                 # int $0x82
    r = g.run(g.code(g.e.set_sp(frame), b"\xb8" + struct.pack("<I", NR["iret"]), enter, NOP))  # mov $23,%eax
    assert r.fault.kind == "crash" and "Xen's iret to the guest" in r.fault.message, r.fault.describe()
    assert r.fault.address == g.rt.xen_global_va and g.d.shutdown_reason == g.c("SHUTDOWN_crash")


def test_64_bit_iret_to_user_mode_needs_user_page_tables():
    g = Guest("x86_64")
    frame = g.data(64)
    ctx = {"flags": 0, "rip": 0x1000, "cs": g.c("FLAT_USER_CS"), "rflags": IF, "rsp": 0x2000,
           "ss": g.c("FLAT_USER_SS")}
    g.put(frame, b"".join(struct.pack("<Q", ctx[f]) for f in IRET_CONTEXT[3:]))
    r = g.run(g.code(g.e.set_sp(frame), jmp(g.hp + 32 * NR["iret"]), NOP))
    assert r.fault.kind == "crash" and "no user page tables" in r.fault.message


@pytest.mark.parametrize("flags", [0, VGCF_IN_SYSCALL])
def test_64_bit_iret_restores_the_iret_context(flags):
    """A whole iret_context built by hand (`mov $23,%eax; syscall`, no
    stub): rax, rip, rflags, rsp come back; rcx and r11 too, unless
    VGCF_in_syscall says Xen leaves with sysret (rcx = rip, r11 = rflags)."""
    g = Guest("x86_64")
    g.register_vcpu_info()
    frame = g.data(128)
    target = g.code(NOP)
    end = g.end
    ctx = {"rax": 0xA0A0, "r11": 0xB1B1, "rcx": 0xC2C2, "flags": flags, "rip": target, "cs": 0xE030,
           "rflags": IF | 0x2 | 0x800, "rsp": g.sp - 0x40, "ss": g.c("FLAT_KERNEL_SS")}
    g.put(frame, b"".join(struct.pack("<Q", ctx[f]) for f in IRET_CONTEXT))
    main = g.code(g.e.set_sp(frame), b"\xb8" + struct.pack("<I", NR["iret"]), b"\x0f\x05")  # mov $23,%eax; syscall
    r = g.cpu.run(main, end, g.sentinels())
    assert r.fault is None, r.fault.describe()
    regs = r.registers
    assert (regs["rax"], regs["rsp"], regs["rflags"] & 0xA00) == (0xA0A0, g.sp - 0x40, 0xA00)
    assert (regs["rcx"], regs["r11"] & 0xFFF) == ((target, 0xA02) if flags else (0xC2C2, 0xB1B1 & 0xFFF))
    assert g.get_vi("evtchn_upcall_mask") == 0  # unmasked: the context's rflags has IF


def test_iret_without_an_emulated_vcpu_is_enosys():
    hv = Hypervisor(24 * MIB)
    d = build_pv_domain(hv, "x86_64", 8 * MIB, 1, False)
    assert hv.hypercall(d.vcpus[0], NR["iret"], []) == -ENOSYS


def test_trap_table_and_callbacks_follow_xens_checks():
    g = Guest("x86_64")
    size = g.abi.size("trap_info")
    table = g.data(2 * size)
    g.put(table, struct.pack("<BBH", UD, 0, 0))
    g.put(table + g.abi.field("trap_info", "address").offset, struct.pack("<Q", 1 << 60))
    assert g.hypercall("set_trap_table", table) == -22  # not canonical
    assert g.hypercall("set_callbacks", 1 << 60, 0, 0) == 0 and not g.v.callbacks.get(0)
    g32 = Guest("i386")
    table = g32.data(2 * size)
    g32.put(table, struct.pack("<BBHI", UD, 0, g32.flat_cs & ~3, 0x1234))
    assert g32.hypercall("set_trap_table", table) == 0
    assert g32.v.trap_table[UD] == (0, g32.flat_cs, 0x1234)  # RPL raised to the kernel's ring
    assert g32.hypercall("set_callbacks", 0x61 & ~3, 0x5678, 0, 0) == 0
    assert g32.v.callbacks[0] == 0x5678 and g32.v.callback_cs[0] == 0x61


def test_xen_header_facts():
    """struct iret_context, VGCF_in_syscall and TI_SET_IF as Xen's public
    headers (libxen-dev) define them, compiled and run with gcc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc not found: run tools/bootstrap")
    src = ("#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <xen/xen.h>\n"
           "int main(void) { struct trap_info t = {0}; TI_SET_IF(&t, 1);\n"
           + "".join(f'printf("%zu ", offsetof(struct iret_context, {f}));\n' for f in IRET_CONTEXT)
           + 'printf("%zu %d %d\\n", sizeof(struct iret_context), (int)VGCF_in_syscall, (int)t.flags); return 0; }\n')
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "facts"
        out = subprocess.run([gcc, "-m64", "-x", "c", "-o", str(exe), "-"], input=src, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        values = [int(x) for x in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()]
    assert values == [8 * i for i in range(len(IRET_CONTEXT))] + [8 * len(IRET_CONTEXT), VGCF_IN_SYSCALL, TI_IF]


@pytest.mark.parametrize("arch", ARCHES)
def test_random_code_and_handlers_always_end_in_a_report(arch):
    """Random bytes as handlers (some with a valid iret after them, some at
    bad addresses) and as the code that faults, random registers, random
    event state: every run ends, as a result or a report of a known kind,
    and the host's invariants hold."""
    import random

    rng = random.Random(4_17)
    kinds = set()
    for i in range(120):
        if i % 12 == 0:
            g = Guest(arch)
            g.register_vcpu_info()
        bad = [0xDEADBEEF, g.rt.xen_global_va, (1 << (8 * g.e.word)) - 16]
        handlers = {}
        for v in list(range(32)) + rng.sample(range(32, 256), 4):
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
            address = g.code(junk, g.e.iret(g.hp)) if rng.random() < 0.8 else rng.choice(bad)
            handlers[v] = (address, rng.randrange(8))
        g.v.trap_table.clear()
        g.set_traps(handlers)
        callback = rng.choice(list(handlers.values()))[0]
        g.hypercall("set_callbacks", *([g.flat_cs, callback, 0, 0] if g.e.word == 4 else [callback, 0, 0]))
        g.set_vi("evtchn_upcall_pending", rng.randrange(2))
        g.set_vi("evtchn_upcall_mask", rng.randrange(2))
        main = g.code(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32))), NOP)
        regs = g.sentinels()
        for r in regs:
            if rng.random() < 0.3:
                regs[r] = rng.choice([0, rng.getrandbits(8 * g.e.word), g.k.pt_va, g.rt.xen_global_va, g.k.v_end])
        r = g.run(main, regs, budget=20_000, timeout=5)
        kinds.add(r.fault.kind if r.fault else "ok")
        assert g.hv.check_invariants() == []
    assert kinds <= {"ok", "exception", "invalid-instruction", "budget", "crash", "unsupported", "unmapped"}
    assert {"ok", "crash"} <= kinds
