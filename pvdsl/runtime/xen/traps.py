"""Exceptions and event upcalls delivered into PV guest code, and the iret
hypercall that returns from them (Xen 4.17: pv/traps.c pv_inject_event,
x86_64/entry.S create_bounce_frame and test_all_events,
x86_64/compat/entry.S compat_create_bounce_frame, pv/iret.c).

A PV kernel never sees a hardware exception frame: Xen takes the exception,
looks the vector up in the virtual IDT the guest registered with
set_trap_table, and "bounces" the vCPU into the handler by writing a frame
on the guest kernel stack itself (a bounce frame) and returning to the
handler's address. Event channel upcalls go the same way to the event
callback. The guest comes back with HYPERVISOR_iret, which reads the frame
and restores what it says, the event mask included.

Everything here works on a *guest state*: a dict of the registers Xen's
exit to the guest loads (the general registers, pc and flags by their
`RtArch.regs` names, and the selectors cs, ss, ds, es, fs, gs). The vCPU
(vcpu.py) reads one, hands it here, and enters the one that comes back.
Guest memory is only touched through the software page walk
(paging.GuestMemory), so a frame that cannot be written or read is a
`DomainCrash` (Xen's domain_crash()), never an emulator error.
"""

from __future__ import annotations

from ..archinfo import EFLAGS_RESERVED1, X86_EFLAGS_IF
from ..errors import GuestFault
from .paging import GuestMemory

# EFLAGS bits (Intel SDM vol. 1, 3.4.3).
EFLAGS_TF, EFLAGS_IOPL, EFLAGS_NT = 1 << 8, 3 << 12, 1 << 14
EFLAGS_RF, EFLAGS_VM, EFLAGS_AC = 1 << 16, 1 << 17, 1 << 18

VECTOR_UD, VECTOR_GP, VECTOR_PF = 6, 13, 14
INT80 = 0x80
# Exceptions whose hardware frame carries an error code (Xen's X86_EXC_HAVE_EC).
HAVE_ERROR_CODE = frozenset({8, 10, 11, 12, 13, 14, 17, 21, 29, 30})
# NMI, #DF and #MC are Xen's own business: never bounced from an instruction.
NEVER_BOUNCED = frozenset({2, 8, 18})
# trap_info.flags: bits 0-1 the gate's DPL, bit 2 "mask events on entry"
# (public/arch-x86/xen.h TI_GET_DPL / TI_SET_IF).
TI_DPL_MASK, TI_IF = 3, 1 << 2
# #PF error code bits (Intel SDM vol. 3, 4.7).
PFEC_PRESENT, PFEC_WRITE, PFEC_USER = 1 << 0, 1 << 1, 1 << 2
# public/arch-x86/xen-x86_64.h: _VGCF_in_syscall 8, and struct iret_context
# (rax, r11, rcx, flags, rip, cs, rflags, rsp, ss: 64-bit words from %rsp).
VGCF_IN_SYSCALL = 1 << 8
IRET_CONTEXT = ("rax", "r11", "rcx", "flags", "rip", "cs", "rflags", "rsp", "ss")
# create_bounce_frame's bad-stack check covers Xen's range plus the largest frame.
BAD_SP_SLACK = 8 * 8
# Xen has no such limit (it bounces until the guest stack runs out); the
# model reports a handler that keeps faulting on its own vector instead.
MAX_NESTED_SAME_VECTOR = 8
EVENT = -1  # the event callback, in the stack of bounces not yet returned from


class DomainCrash(Exception):
    """Xen would crash the domain (domain_crash()): the vCPU cannot go on."""

    kind = "crash"


class NotModelled(DomainCrash):
    """Something Xen does that the model does not (guest user mode, vm86)."""

    kind = "unsupported"


class Bounce:
    """Xen's struct trap_bounce: where the vCPU goes and how."""

    __slots__ = ("what", "address", "cs", "error_code", "mask_events")

    def __init__(self, what: str, address: int, cs: int, error_code: int | None, mask_events: bool):
        self.what, self.address, self.cs = what, address, cs
        self.error_code, self.mask_events = error_code, mask_events


class _Frames64:
    """A 64-bit PV kernel runs in ring 3; Xen tells it kernel context by
    clearing the RPL of the saved %cs. Frame, from the new %rsp up:
    rcx, r11, [error code], rip, cs | saved_upcall_mask << 32, rflags, rsp,
    ss. The handler starts with Xen's sysret: rcx = rip, r11 = rflags."""

    mask_shift = 32
    handler_clears = EFLAGS_AC | EFLAGS_VM | EFLAGS_RF | EFLAGS_NT | EFLAGS_TF
    exit_clears = EFLAGS_IOPL | EFLAGS_VM

    def null_bounce(self, cs: int, address: int) -> bool:
        return address == 0

    def push(self, dl: "Delivery", state: dict, tb: Bounce) -> dict:
        c = dl.c
        rsp = state["rsp"]
        lo, hi = dl.rt.xen_hole
        sp = rsp & ~0xF
        if lo < sp < hi + BAD_SP_SLACK:
            raise DomainCrash(f"{tb.what}: the guest stack pointer {rsp:#x} is in Xen's range")
        saved = dl.upcall_mask()
        words = [state["rcx"], state["r11"]]
        if tb.error_code is not None:
            words.append(tb.error_code)
        words += [state["rip"], (state["cs"] & 0xFFFC) | saved << self.mask_shift,
                  dl.frame_flags(state["rflags"], saved), rsp, state["ss"]]
        sp = (sp - 8 * len(words)) & 0xFFFFFFFFFFFFFFFF
        dl.write_frame(sp, words, tb)
        flags = dl.exit_flags(state["rflags"] & ~self.handler_clears, self.exit_clears)
        return dict(state, rip=tb.address, cs=c("FLAT_KERNEL_CS"), ss=c("FLAT_KERNEL_SS"), rsp=sp,
                    rflags=flags, rcx=tb.address, r11=flags)

    def iret(self, dl: "Delivery", state: dict) -> tuple[dict, int]:
        rsp = state["rsp"]
        try:
            ctx = dict(zip(IRET_CONTEXT, dl.memory().words(rsp, len(IRET_CONTEXT))))
        except GuestFault as err:
            raise DomainCrash(f"HYPERVISOR_iret: cannot read the iret_context at {rsp:#x} ({err.reason})") from None
        if ctx["cs"] & 3 == 3:
            if not dl.v.guest_table_user:
                raise DomainCrash("HYPERVISOR_iret to user mode (cs RPL 3) with no user page tables")
            raise NotModelled("HYPERVISOR_iret to guest user mode: the runtime runs the guest kernel only")
        dl.take_iopl(ctx["rflags"])
        flags = dl.exit_flags(ctx["rflags"], self.exit_clears)
        new = dict(state, rip=ctx["rip"], cs=(ctx["cs"] | 3) & 0xFFFF, rflags=flags, rsp=ctx["rsp"],
                   ss=(ctx["ss"] | 3) & 0xFFFF, rax=ctx["rax"])
        if ctx["flags"] & VGCF_IN_SYSCALL:
            new.update(rcx=ctx["rip"], r11=flags)  # Xen leaves with sysret
        else:
            new.update(rcx=ctx["rcx"], r11=ctx["r11"])
        dl.set_upcall_mask(not ctx["rflags"] & X86_EFLAGS_IF)
        return new, ctx["rax"]


class _FramesCompat:
    """A 32-bit PV kernel runs in ring 1, so an exception in kernel context
    stays on the current stack, unaligned, with no stack switch. Frame, from
    the new %esp up: [error code], eip, cs | saved_upcall_mask << 16,
    eflags. The handler's %cs is the one the guest registered."""

    mask_shift = 16
    handler_clears = EFLAGS_VM | EFLAGS_RF | EFLAGS_NT | EFLAGS_TF
    exit_clears = EFLAGS_IOPL | EFLAGS_NT | EFLAGS_VM

    def null_bounce(self, cs: int, address: int) -> bool:
        return cs & ~3 == 0  # compat null_trap_bounce: a null code selector

    def push(self, dl: "Delivery", state: dict, tb: Bounce) -> dict:
        if state["cs"] & 2:
            raise NotModelled(f"{tb.what} from guest user mode (ring {state['cs'] & 3})")
        saved = dl.upcall_mask()
        words = [] if tb.error_code is None else [tb.error_code]
        words += [state["eip"], (state["cs"] & 0xFFFF) | saved << self.mask_shift,
                  dl.frame_flags(state["eflags"], saved)]
        sp = (state["esp"] - 4 * len(words)) & 0xFFFFFFFF
        dl.write_frame(sp, words, tb)
        if self.null_bounce(tb.cs, tb.address):
            raise DomainCrash(f"{tb.what}: the handler's code selector {tb.cs:#x} is null")
        flags = dl.exit_flags(state["eflags"] & ~self.handler_clears, self.exit_clears)
        return dict(state, eip=tb.address, cs=tb.cs, esp=sp, eflags=flags)

    def iret(self, dl: "Delivery", state: dict) -> tuple[dict, int]:
        esp = state["esp"]
        try:
            eax, eip, cs, eflags = dl.memory().words(esp, 4)
        except GuestFault as err:
            raise DomainCrash(f"HYPERVISOR_iret: cannot read the frame at {esp:#x} ({err.reason})") from None
        dl.take_iopl(eflags)
        if eflags & EFLAGS_VM:
            raise NotModelled("HYPERVISOR_iret to vm86 mode (Xen injects #GP into the guest)")
        cs &= 0xFFFF
        if cs & 3 == 0:
            raise DomainCrash(f"HYPERVISOR_iret to ring 0 (cs {cs:#x})")
        if cs & 3 != 1:
            raise NotModelled(f"HYPERVISOR_iret to guest user mode (ring {cs & 3})")
        new = dict(state, eax=eax, eip=eip, cs=cs, esp=(esp + 16) & 0xFFFFFFFF,
                   eflags=dl.exit_flags(eflags, self.exit_clears))
        dl.set_upcall_mask(not eflags & X86_EFLAGS_IF)
        return new, eax


FRAMES = {"x86_64": _Frames64(), "i386": _FramesCompat()}


class Delivery:
    """Xen's side of returning to one vCPU's guest code. vcpu.py owns one
    per Xen-role vCPU and resets it at the start of every run."""

    def __init__(self, cpu):
        self.cpu, self.hv, self.v, self.d = cpu, cpu.hv, cpu.v, cpu.d
        self.rt = self.d.rt
        self.c = self.d.abi.c
        self.frames = FRAMES[self.rt.name]
        self.event_type = self.c("CALLBACKTYPE_event")
        self.architectural_iopl = 1 << self.c("VMASST_TYPE_architectural_iopl")
        self.reset()

    def reset(self) -> None:
        self.used = False  # anything below changed since the last reset (runs with none skip it)
        self.pending: dict | None = None  # the state HYPERVISOR_iret returns to
        self.crash: DomainCrash | None = None
        self.crash_vector: int | None = None
        self.nested: list[int] = []  # vectors (EVENT for upcalls) bounced and not returned from
        self.taken: list[tuple[int, int]] = []  # (vector, guest address) of each exception bounced
        self.upcalls = 0
        self.entering: dict | None = None  # the last state entered (a fault in Xen's iret reports it)

    # ---- what the vCPU asks ----
    def resume(self, vector: int | None, page_fault: tuple[int, int] | None = None) -> dict | None:
        """The state to enter after the vCPU stopped: what HYPERVISOR_iret
        restored, or the handler of the exception `vector` (page_fault:
        its cr2 and error code), or the current state, then an event
        upcall on top if one is due (Xen's test_all_events). None: the
        guest has no handler, or the domain crashed (`crash` says why)."""
        if self.crash is not None:
            return None
        try:
            if self.pending is not None:
                state, self.pending = self.pending, None
            else:
                state = self.cpu.guest_state()
                if vector is not None:
                    state = self._cpu_exception(vector, state, page_fault)
                    if state is None:
                        return None
            state = self.deliver_events(state)
        except DomainCrash as err:
            self.fail(err, vector)
            return None
        self.entering, self.used = state, True
        return state

    def _cpu_exception(self, vector: int, state: dict, page_fault: tuple[int, int] | None) -> dict | None:
        e, rt = self.entering, self.rt
        if e is not None and state[rt.pc] == self.hv.space(rt.name).stub_va:
            raise DomainCrash(f"vector {vector} in Xen's iret to the guest: it cannot load cs:ip "
                              f"{e['cs']:#x}:{e[rt.pc]:#x}, ss:sp {e['ss']:#x}:{e[rt.sp]:#x}, flags {e[rt.flags]:#x}")
        cr2, error_code = page_fault if page_fault is not None else (None, 0)
        return self.exception(vector, state, error_code, cr2)

    def handles(self, vector: int) -> bool:
        """Does the guest's virtual IDT have a usable entry for `vector`?"""
        entry = self.v.trap_table.get(vector)
        return entry is not None and not self.frames.null_bounce(entry[1], entry[2])

    def exception(self, vector: int, state: dict, error_code: int = 0, cr2: int | None = None) -> dict | None:
        """pv_inject_event for an exception the CPU raised (a fault: the pc
        is the faulting instruction; a trap or `int n`: the next one).
        Returns the state that enters the handler, or None when the guest
        has none (the vCPU then reports the exception itself)."""
        pc = state[self.rt.pc]
        if vector >= 32:
            return self._software_interrupt(vector, state)
        if vector in NEVER_BOUNCED or not self.handles(vector):
            return None
        if vector == VECTOR_PF and cr2 is not None:
            at, size = self.hv.vcpu_info_field(self.v, "arch.cr2")
            self.hv.mem.set_uint(at, size, cr2 & ((1 << (8 * size)) - 1))
            error_code &= ~PFEC_USER  # the guest was in kernel mode
        return self._bounce(vector, state, error_code if vector in HAVE_ERROR_CODE else None, pc)

    def _software_interrupt(self, vector: int, state: dict) -> dict | None:
        """`int n` (n >= 32): Xen's IDT gates for it have DPL 0, so it comes
        as #GP with error code (n << 3) | 2 and Xen bounces vector n only if
        the guest's entry has a DPL the kernel may use (permit_softint);
        int $0x80 has its own direct gate that needs a registered entry
        only. Otherwise the guest gets the #GP, at the `int`."""
        entry = self.v.trap_table.get(vector)
        if entry is not None and self.handles(vector) and (vector == INT80 or entry[0] & TI_DPL_MASK >= 1):
            return self._bounce(vector, state, None, state[self.rt.pc])
        if not self.handles(VECTOR_GP):
            return None
        at_int = dict(state)
        at_int[self.rt.pc] = (state[self.rt.pc] - 2) & ((1 << (8 * self.rt.word)) - 1)
        return self._bounce(VECTOR_GP, at_int, (vector << 3) | 2, at_int[self.rt.pc])

    def _bounce(self, vector: int, state: dict, error_code: int | None, pc: int) -> dict:
        if self.nested.count(vector) >= MAX_NESTED_SAME_VECTOR:
            raise DomainCrash(f"vector {vector} raised again inside its own handler, {MAX_NESTED_SAME_VECTOR} "
                              "bounces deep without an iret (Xen bounces on until the guest stack overflows)")
        flags, cs, address = self.v.trap_table[vector]
        tb = Bounce(f"bounce of vector {vector}", address, cs, error_code, bool(flags & TI_IF))
        new = self.frames.push(self, state, tb)
        if tb.mask_events:
            self.set_upcall_mask(True)
        self.nested.append(vector)
        self.taken.append((vector, pc))
        self.used = True
        self.hv.log(self.v, "trap_bounce", {"vector": vector, "address": pc, "handler": address,
                                            "error_code": error_code})
        return new

    def events_due(self) -> bool:
        """test_guest_events, for a vCPU with an event callback: an upcall
        pending and not masked."""
        if not self.v.callbacks.get(self.event_type):
            return False
        mem = self.hv.mem
        pending, _ = self.hv.vcpu_info_field(self.v, "evtchn_upcall_pending")
        masked, _ = self.hv.vcpu_info_field(self.v, "evtchn_upcall_mask")
        return bool(mem.u8(pending)) and not mem.u8(masked)

    def deliver_events(self, state: dict) -> dict:
        """The end of every return to the guest: the event callback, with
        events masked, if an upcall is due."""
        if not self.events_due():
            return state
        address = self.v.callbacks[self.event_type]
        cs = self.v.callback_cs.get(self.event_type, 0)
        new = self.frames.push(self, state, Bounce("event upcall", address, cs, None, True))
        self.set_upcall_mask(True)
        self.nested.append(EVENT)
        self.upcalls += 1
        self.used = True
        self.hv.log(self.v, "upcall_bounce", {"address": state[self.rt.pc], "handler": address})
        return new

    def hypercall_iret(self) -> int:
        """HYPERVISOR_iret, called during the hypercall: the state it returns
        to is entered when the hypercall ends. Returns the restored
        rax/eax (the hypercall's result, as in Xen)."""
        try:
            new, rax = self.frames.iret(self, self.cpu.guest_state())
        except DomainCrash as err:
            self.fail(err)
            return 0
        self.pending, self.used = new, True
        if self.nested:
            self.nested.pop()
        return rax

    def fail(self, err: DomainCrash, vector: int | None = None) -> None:
        """domain_crash(): the domain is shut down with SHUTDOWN_crash."""
        self.crash, self.crash_vector, self.used = err, vector, True
        if err.kind == "crash":
            self.d.shutdown_reason = self.c("SHUTDOWN_crash")
        self.hv.log(self.v, "domain_crash", {"reason": str(err), "kind": err.kind, "vector": vector})

    # ---- helpers for the frame formats ----
    def memory(self) -> GuestMemory:
        return GuestMemory(self.hv.mem, self.rt, self.v.guest_table)

    def write_frame(self, sp: int, words: list[int], tb: Bounce) -> None:
        data = b"".join(self.rt.pack_word(w) for w in words)
        try:
            self.memory().write(sp, data)
        except GuestFault as err:
            raise DomainCrash(f"{tb.what}: cannot write the bounce frame at {sp:#x} on the guest stack "
                              f"({err.reason})") from None

    def upcall_mask(self) -> int:
        at, _ = self.hv.vcpu_info_field(self.v, "evtchn_upcall_mask")
        return self.hv.mem.u8(at)

    def set_upcall_mask(self, masked: bool) -> None:
        at, _ = self.hv.vcpu_info_field(self.v, "evtchn_upcall_mask")
        self.hv.mem.set_u8(at, int(masked))

    def frame_flags(self, flags: int, saved_mask: int) -> int:
        """The flags a bounce frame shows: IF is the event mask inverted;
        IOPL is the virtual one when the guest asked for architectural IOPL."""
        flags &= ~(X86_EFLAGS_IF | EFLAGS_IOPL)
        if not saved_mask:
            flags |= X86_EFLAGS_IF
        if self.d.vm_assist & self.architectural_iopl:
            flags |= (self.d.iopl & 3) << 12
        return flags

    def exit_flags(self, flags: int, clears: int) -> int:
        """What Xen's exit path loads: never IOPL or vm86, always IF."""
        return (flags & ~clears & 0xFFFFFFFF) | X86_EFLAGS_IF | EFLAGS_RESERVED1

    def take_iopl(self, flags: int) -> None:
        if self.d.vm_assist & self.architectural_iopl:
            self.d.iopl = (flags & EFLAGS_IOPL) >> 12


def page_fault_error_code(present: bool, write: bool) -> int:
    """The #PF error code the CPU pushed (unicorn does not report it): the
    page walk says P, the instruction says W/R; U is Xen's to set."""
    return (PFEC_PRESENT if present else 0) | (PFEC_WRITE if write else 0)


__all__ = ["Delivery", "DomainCrash", "NotModelled", "page_fault_error_code"]
