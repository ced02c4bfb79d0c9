"""An emulated x86 vCPU (unicorn) attached to the hypervisor model.

A Xen-role vCPU runs the guest kernel in the ring a PV kernel really runs
in (x86_64: ring 3, i386: ring 1), entered once through Xen's own `iret`
from ring 0, with real page tables in machine memory (cr3 = the root's
machine address). So privileged instructions (cli, hlt, mov to %cr3, wrmsr,
in/out ...) raise #GP in the emulated CPU itself, at no cost per instruction
(bench/runtime/run.py measures ring 0 against the PV ring). Hypercalls
arrive as `syscall` (x86_64) or `int $0x82` (i386), exactly the hypercall
page's stubs. A native-role vCPU runs in ring 0 with no hypervisor.

Unicorn reports CPU exceptions to a hook instead of delivering them through
an IDT, and then keeps the "previous exception" state that turns the next
fault into a double fault; after any fault the vCPU is therefore reset to a
context saved at boot (then cr3 and segment bases are re-applied from the
model), which also guarantees that a faulting run leaves nothing behind.

When the guest has a handler for the exception (set_trap_table), an upcall
due for its event callback, or returns with HYPERVISOR_iret, the run goes on
as under Xen (traps.py: bounce frames, iret): the vCPU stops and enters the
new guest state as Xen's exit does, by an `iret` from Xen's ring-0 stub, from
a ring-0 context saved at boot (so no exception is left in flight either).
"""

from __future__ import annotations

import time

import capstone
from unicorn import (UC_ARCH_X86, UC_HOOK_INSN, UC_HOOK_INTR, UC_HOOK_MEM_UNMAPPED, UC_PROT_ALL,
                     Uc, UcError)
from unicorn import unicorn_const as UCC
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from ..archinfo import (CR0_PE, CR0_PG, CR0_WP, CR4_PAE, EFER_LMA, EFER_LME, EFER_MSR, EFER_SCE, EFLAGS_RESERVED1,
                       X86_EFLAGS_IF)
from ..errors import RuntimeFault
from .halts import HLT, VECTOR_DB, NativeStops
from ..xen.memory import PAGE_SHIFT
from ..xen.paging import check_rights, walk
from .regfile import WATCHDOG, FastReg, RegFile, RegWriter, add_block_hook
from ..xen.traps import VECTOR_UD, Delivery, page_fault_error_code

HALT_MESSAGE = "hlt with interrupts disabled: the CPU would never wake"
VECTORS = {0: "divide error (#DE)", 1: "debug (#DB)", 3: "breakpoint (#BP)", 4: "overflow (#OF)",
           5: "bound range (#BR)", 6: "invalid opcode (#UD)", 7: "device not available (#NM)",
           8: "double fault (#DF)", 10: "invalid TSS (#TS)", 11: "segment not present (#NP)",
           12: "stack fault (#SS)", 13: "general protection fault (#GP)", 14: "page fault (#PF)",
           16: "x87 error (#MF)", 17: "alignment check (#AC)", 18: "machine check (#MC)", 19: "SIMD error (#XM)"}
# Instructions only ring 0 may execute (or, for cli/sti/in/out, only with IOPL >= CPL).
PRIVILEGED = {"cli", "sti", "hlt", "lgdt", "lidt", "lldt", "ltr", "lmsw", "clts", "invd", "wbinvd", "invlpg",
              "rdmsr", "wrmsr", "in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd", "swapgs",
              "sysret", "sysexit", "iret", "iretd", "iretq", "mov cr", "mov dr", "rdpmc"}
XEN_HYPERCALL_VECTOR = 0x82
DEBUG_CLOBBER = {8: 0xDEADBEEFDEADF00D, 4: 0xDEADF00D}
SEGMENTS = {"cs": X.UC_X86_REG_CS, "ss": X.UC_X86_REG_SS, "ds": X.UC_X86_REG_DS, "es": X.UC_X86_REG_ES,
            "fs": X.UC_X86_REG_FS, "gs": X.UC_X86_REG_GS}


class RunResult:
    __slots__ = ("registers", "fault", "instructions", "hypercalls", "halts", "elapsed", "exceptions", "upcalls",
                 "suspended")

    def __init__(self):
        self.registers: dict[str, int] = {}
        self.fault: RuntimeFault | None = None
        self.instructions = 0
        self.hypercalls: list[tuple[str, int]] = []
        self.halts = 0
        self.elapsed = 0.0
        self.exceptions: list[tuple[int, int]] = []  # (vector, guest address) bounced into guest handlers
        self.upcalls = 0  # event upcalls bounced into the guest's event callback
        # The guest suspended itself (SCHEDOP_shutdown, SHUTDOWN_suspend): Xen
        # deschedules the vCPU inside the hypercall, its result (0) already in
        # eax/rax. This is the state it stopped in (guest_state), from which
        # `run` may go on later, in this domain or a restored one.
        self.suspended: dict[str, int] | None = None


class EmulatedCpu:
    def __init__(self, hv, v, count_instructions: bool = True):
        self.hv, self.v, self.d = hv, v, v.domain
        self.rt = rt = self.d.rt
        self.native = self.d.native
        self.word_mask = (1 << (8 * rt.word)) - 1
        self.uc = uc = Uc(UC_ARCH_X86, rt.uc_mode)
        uc.mem_map_ptr(0, hv.mem.size, UC_PROT_ALL, hv.mem.host_address)
        self.regs = RegFile(uc, rt.regs)
        # The general registers alone (no pc, no flags): what a call sets.
        self.gprs = RegFile(uc, {n: r for n, r in rt.regs.items() if n not in (rt.pc, rt.flags)})
        self.reg = FastReg(uc)
        self._reg_writer = RegWriter(uc, rt.regs)
        # What a hypercall reads: its number, its arguments, where it returns to.
        hc_names = (rt.arch.hypercall_arg_regs + ("eax" if rt.word == 4 else "rax", rt.pc, rt.flags))
        self._hc_regs = RegFile(uc, {n: rt.regs[n] for n in dict.fromkeys(hc_names)})
        self._emu_start = uclib.uc_emu_start
        self.cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if rt.word == 8 else capstone.CS_MODE_32)
        self._block_sizes: dict[int, int] = {}
        self._pages: dict[tuple[int, int], int] = {}  # (cr3, page) -> machine address, for one run
        self._executed = 0
        self._fault: tuple | None = None
        self._hook_error: BaseException | None = None
        self._hypercalls: list[tuple[str, int]] | None = None
        self.percpu_selector = 0
        self.count_instructions = count_instructions
        # Xen's returns into guest code (traps.py); `_xen_work` is set by a
        # hook when Xen has something to do before the guest goes on.
        self.traps = None if self.native else Delivery(self)
        self.stops = NativeStops(self) if self.native else None
        self._xen_work = False
        # Hooks first: unicorn applies a hook only to code translated after it.
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped)
        if rt.word == 8 and not self.native:
            uc.hook_add(UC_HOOK_INSN, self._on_syscall, None, 1, 0, X.UC_X86_INS_SYSCALL)
        if count_instructions:
            self._block_hook = add_block_hook(uc, self._on_block)
        self._boot()
        v.cpu = self

    # ---- boot: control registers, GDT, ring ----
    def _boot(self) -> None:
        uc, rt, v = self.uc, self.rt, self.v
        uc.reg_write(X.UC_X86_REG_CR4, CR4_PAE)
        if rt.word == 8:
            uc.reg_write(X.UC_X86_REG_MSR, (EFER_MSR, EFER_LME | EFER_LMA | EFER_SCE))
        uc.reg_write(X.UC_X86_REG_CR3, v.guest_table << PAGE_SHIFT)
        uc.reg_write(X.UC_X86_REG_CR0, CR0_PE | CR0_PG | CR0_WP)
        if self.native:
            self._boot_native()
        else:
            self._boot_xen()
        self._pristine = uc.context_save()
        self._reset_after_fault()

    def _boot_native(self) -> None:
        """Ring 0 with a flat GDT of the kernel's own (code 0x08, data 0x10)."""
        uc, rt, mem = self.uc, self.rt, self.hv.mem
        lay = self.d.kernel
        self.gdt_va = lay.alloc(4096, 4096, f"GDT of vcpu{self.v.vcpu_id}")
        code = rt.gdt_reserved[1] if rt.word == 8 else rt.gdt_reserved[7]
        self._native_gdt_maddr = self.maddr(self.gdt_va)
        mem.set_u64(self._native_gdt_maddr + 8, code)
        mem.set_u64(self._native_gdt_maddr + 16, rt.gdt_reserved[2])
        uc.reg_write(X.UC_X86_REG_GDTR, (0, self.gdt_va, 4095, 0))
        if rt.word == 4:
            for seg in (X.UC_X86_REG_SS, X.UC_X86_REG_DS, X.UC_X86_REG_ES):
                uc.reg_write(seg, 0x10)
            uc.reg_write(X.UC_X86_REG_CS, 0x08)
        uc.reg_write(X.UC_X86_REG_EFLAGS, EFLAGS_RESERVED1 | X86_EFLAGS_IF)

    def _boot_xen(self) -> None:
        """Xen's GDT window, then Xen's own `iret` into the guest kernel's ring."""
        uc, rt, v = self.uc, self.rt, self.v
        space = self.hv.space(rt.name)
        uc.reg_write(X.UC_X86_REG_GDTR, (0, space.gdt_window(v), space.gdt_limit(), 0))
        if rt.word == 4:
            for seg in (X.UC_X86_REG_SS, X.UC_X86_REG_DS, X.UC_X86_REG_ES):
                uc.reg_write(seg, rt.ring0_ds)
            uc.reg_write(X.UC_X86_REG_CS, rt.ring0_cs)
        c = self.d.abi.c
        # Land on a nop in the kernel and stop right after it: the first
        # guest instruction completes in the guest ring.
        landing = self.d.kernel.alloc(16, 16, f"entry of vcpu{v.vcpu_id}")
        self.hv.mem.write(self.maddr(landing), rt.nop + b"\xcc")
        sp = space.write_iret_frame(v, landing, c("FLAT_KERNEL_CS"), EFLAGS_RESERVED1 | X86_EFLAGS_IF,
                                    self.d.kernel.stack_tops[v.vcpu_id], c("FLAT_KERNEL_SS"))
        uc.reg_write(rt.regs[rt.sp], sp)
        # The guest's data selectors go in while still in ring 0 (a DPL-1
        # segment is usable there too), so that the iret keeps them; every
        # later exit to the guest starts from this context (_enter_guest).
        for seg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES):
            uc.reg_write(seg, c("FLAT_KERNEL_DS"))
        self._xen_exit = uc.context_save()
        self._fault = None
        uc.emu_start(space.stub_va, landing + 1, count=4)
        cs = uc.reg_read(X.UC_X86_REG_CS)
        if self._fault or uc.reg_read(rt.regs[rt.pc]) != landing + 1 or cs != c("FLAT_KERNEL_CS"):
            raise RuntimeError(f"entering the guest ring failed: cs {cs:#x}, {self._fault}")

    def checkpoint(self) -> None:
        """Save the current state as the one to return to after a fault."""
        self._pristine = self.uc.context_save()

    def _reset_after_fault(self) -> None:
        self.uc.context_restore(self._pristine)
        self.set_cr3(self.v.guest_table)
        self.sync_segment_bases()

    # ---- state the hypervisor model changes ----
    def set_cr3(self, mfn: int) -> None:
        self.uc.reg_write(X.UC_X86_REG_CR3, mfn << PAGE_SHIFT)

    def flush_tlb(self) -> None:
        self._pages.clear()
        # Writing cr3 flushes the (non-global) TLB, as on hardware.
        self.uc.reg_write(X.UC_X86_REG_CR3, self.uc.reg_read(X.UC_X86_REG_CR3))

    def sync_segment_bases(self) -> None:
        """Re-apply the segment state the model holds. i386 reloads %fs from
        the descriptor tables as they are now: the guest may have changed
        its GDT since the selector was loaded."""
        if self.rt.word == 8:
            self.uc.reg_write(X.UC_X86_REG_GS_BASE, self.v.gs_base_kernel)
            self.uc.reg_write(X.UC_X86_REG_FS_BASE, self.v.fs_base)
        else:
            self.load_fs(self.percpu_selector)

    def load_fs(self, selector: int) -> bool:
        """i386: load %fs from the GDT (the percpu segment). A selector the
        CPU would refuse is never handed to unicorn (its reg_write would
        raise the CPU fault outside the run loop and kill the process):
        the null selector is loaded instead, as Xen's fixup does when it
        reloads a guest's segment registers, and Xen's failsafe callback
        bounce is reported. Returns whether `selector` was loaded."""
        check = self._check_data_segment(selector) if selector & ~3 else None
        if check is not None and not check.ok:
            self._report_failed_reload("fs", check)
            selector = 0
        self.uc.reg_write(X.UC_X86_REG_FS, selector)
        self.percpu_selector = selector
        return check is None or check.ok

    def _check_data_segment(self, selector: int):
        """What loading non-null `selector` into a data segment register
        would do now, read from the tables unicorn itself would read (GDTR,
        LDTR, cr3, CPL). A loadable descriptor gets its accessed bit here,
        as the CPU sets it: Xen maps GDT frames writable for the CPU, the
        model's window is read-only, and unicorn would fault writing it."""
        from ..xen.descriptors import load_data_segment

        uc = self.uc
        _sel, gdt_base, gdt_limit, _f = uc.reg_read(X.UC_X86_REG_GDTR)
        _sel, ldt_base, ldt_limit, _f = uc.reg_read(X.UC_X86_REG_LDTR)
        return load_data_segment(self.hv.mem, self.rt, uc.reg_read(X.UC_X86_REG_CR3) >> PAGE_SHIFT, selector,
                                 uc.reg_read(X.UC_X86_REG_CS) & 3, (gdt_base, gdt_limit), (ldt_base, ldt_limit))

    def _report_failed_reload(self, segment: str, check) -> None:
        """Logged as `segment_reload_failed`. Under Xen, a guest segment
        register that cannot be reloaded (load_segments) gets the null
        selector and the vCPU is sent to its failsafe callback with the old
        selectors in a frame; the model does not enter guest callbacks, so
        the callback Xen would run (0: none registered, so the vCPU would
        jump to address 0 and fault) is in the report. unicorn does not
        fault on a memory access through a null selector in 32-bit mode (a
        CPU raises #GP): later percpu accesses use base 0."""
        details = {"segment": segment, "selector": check.selector, "vector": check.vector,
                   "reason": check.reason, "descriptor_address": check.address, "loaded": 0}
        if not self.native:
            details["failsafe_callback"] = self.v.callbacks.get(self.d.abi.c("CALLBACKTYPE_failsafe"), 0)
        self.hv.log(self.v, "segment_reload_failed", details)

    def control_register(self, n: int) -> int:
        """cr0, cr2, cr3 or cr4 as the emulated CPU holds it."""
        regs = {0: X.UC_X86_REG_CR0, 2: X.UC_X86_REG_CR2, 3: X.UC_X86_REG_CR3, 4: X.UC_X86_REG_CR4}
        return self.uc.reg_read(regs[n])

    def set_native_gdt_entry(self, index: int, desc: int) -> None:
        self.hv.mem.set_u64(self._native_gdt_maddr + 8 * index, desc)

    def maddr(self, va: int) -> int:
        w = walk(self.hv.mem, self.rt, self.uc.reg_read(X.UC_X86_REG_CR3) >> PAGE_SHIFT, va)
        if w.maddr is None:
            raise KeyError(f"{va:#x} is not mapped ({w.reason})")
        return w.maddr

    def read_virtual(self, va: int, n: int) -> bytes:
        """Up to n bytes at va, through the current page tables (fewer where
        a page is unmapped). Pages are translated once per cr3: the run loop
        reads the byte before the pc at every native hlt."""
        out, cr3 = bytearray(), self.reg.get(X.UC_X86_REG_CR3)
        while n > 0:
            key = (cr3, va >> PAGE_SHIFT)
            ma = self._pages.get(key)
            if ma is None:
                w = walk(self.hv.mem, self.rt, cr3 >> PAGE_SHIFT, va & ~0xFFF)
                if w.maddr is None:
                    break
                ma = self._pages[key] = w.maddr
            take = min(n, 0x1000 - (va & 0xFFF))
            out += self.hv.mem.mm[ma + (va & 0xFFF):ma + (va & 0xFFF) + take]
            va, n = va + take, n - take
        return bytes(out)

    # ---- hooks ----
    def _on_block(self, _uch, address: int, size: int, _data) -> None:
        n = self._block_sizes.get(address)
        if n is None:
            try:
                code = self.read_virtual(address, size)
                n = max(1, sum(1 for _ in self.cs.disasm_lite(code, address)))
            except Exception as err:  # a bug here must end the run, not vanish in ctypes
                self._hook_error = err
                self.uc.emu_stop()
                return
            self._block_sizes[address] = n
        self._executed += n

    def _hypercall(self, vals: dict[str, int], nr: int, arg_regs: tuple[str, ...], ret: str,
                   extra: dict[str, int]) -> None:
        try:
            args = [vals[r] for r in arg_regs]
            suspends = self.d.suspend_count
            rc = self.hv.hypercall(self.v, nr, args)
            if self._hypercalls is not None:
                info = self.d.abi.by_number.get(nr)
                self._hypercalls.append((info.name if info else f"#{nr}", rc))
            traps = self.traps
            if traps.used and (traps.pending is not None or traps.crash is not None):
                # HYPERVISOR_iret: the whole register state comes from its frame.
                self._xen_work = True
                self.uc.emu_stop()
                return
            out = {ret: rc & self.word_mask, **extra}
            if self.hv.clobber_args and rc != -38:
                poison = DEBUG_CLOBBER[self.rt.word]
                for r in arg_regs[:self.hv.hypercall_arg_count(self.d, nr)]:
                    out[r] = poison
            self._reg_writer.write(out)
            if self.d.suspend_count != suspends:
                # SHUTDOWN_suspend: Xen deschedules this vCPU inside the
                # hypercall; the toolstack saves it here.
                self._suspended = True
                self.uc.emu_stop()
                return
            if self.v.callbacks and traps.events_due():  # Xen's test_all_events on the way back
                self._xen_work = True
                self.uc.emu_stop()
        except BaseException as err:  # a bug in the model: stop, report, never crash the caller
            self._hook_error = err
            self.uc.emu_stop()

    def _on_syscall(self, uc, _):
        vals = self._hc_regs.read()
        # Xen returns with sysret semantics: rcx = return rip, r11 = rflags.
        self._hypercall(vals, vals["rax"], self.rt.arch.hypercall_arg_regs, "rax",
                        {"rcx": vals["rip"] + 2, "r11": vals["rflags"]})

    def _on_intr(self, uc, intno, _):
        if intno == XEN_HYPERCALL_VECTOR and self.rt.word == 4 and not self.native:
            vals = self._hc_regs.read()
            self._hypercall(vals, vals["eax"], self.rt.arch.hypercall_arg_regs, "eax", {})
            return
        if intno == VECTOR_DB and self.stops is not None and self.stops.on_debug_trap(uc):
            return
        self.stop(("exception", intno))

    def stop(self, fault: tuple) -> None:
        """End the emulation with `fault` (from a hook)."""
        self._fault = fault
        self.uc.emu_stop()

    def _on_unmapped(self, uc, access, address, size, value, _):
        self._fault = ("unmapped", address)
        return False

    # ---- Xen's returns into guest code ----
    def guest_state(self) -> dict[str, int]:
        """The registers Xen's exit to the guest loads, selectors included."""
        state = self.regs.read()
        for name, reg in SEGMENTS.items():
            state[name] = self.uc.reg_read(reg)
        return state

    def _return_to_guest(self, status: int) -> int | None:
        """Xen's side of a stop the guest caused: a bounce into its handler,
        the state HYPERVISOR_iret restores, an event upcall. Returns where
        emulation goes on (Xen's exit stub), or None to end the run (an
        exception the guest has no handler for is reported as before)."""
        fault = self._fault
        if (status and status != UCC.UC_ERR_INSN_INVALID) or (fault is not None and fault[0] != "exception"):
            return None
        vector = VECTOR_UD if status else fault[1] if fault is not None else None  # #UD comes as a status
        state = self.traps.resume(vector, self._page_fault() if vector == 14 else None)
        if state is None:
            return None
        self._fault, self._xen_work = None, False
        return self._enter_guest(state)

    def _page_fault(self) -> tuple[int, int]:
        """(cr2, error code). unicorn does not report the error code: the
        walk says whether the page was present, the instruction whether it
        wrote (one that cannot be read is the fetch that faulted)."""
        cr2 = self.uc.reg_read(X.UC_X86_REG_CR2)
        w = walk(self.hv.mem, self.rt, self.uc.reg_read(X.UC_X86_REG_CR3) >> PAGE_SHIFT, cr2)
        pc = self.uc.reg_read(self.rt.regs[self.rt.pc])
        code = self.read_virtual(pc, 15)
        insn = next(self.cs.disasm(code, pc), None) if code else None
        return cr2, page_fault_error_code(w.maddr is not None, insn is not None and self._writes_memory(insn))

    def _enter_guest(self, state: dict[str, int]) -> int:
        """Xen's exit to the guest: an iret from its ring-0 stub, from the
        context saved at boot. Returns the stub's address to start at."""
        uc, rt = self.uc, self.rt
        space = self.hv.space(rt.name)
        uc.context_restore(self._xen_exit)
        self.set_cr3(self.v.guest_table)
        for name in ("ds", "es", "fs", "gs"):
            selector, reg = state[name], SEGMENTS[name]
            if selector != uc.reg_read(reg):
                # Xen leaves these alone; only a descriptor that still loads
                # can go back (unicorn would fault outside its run loop).
                if selector & ~3 and not self._check_data_segment(selector).ok:
                    selector = 0
                uc.reg_write(reg, selector)
        self.sync_segment_bases()
        self.gprs.write_all([state[n] & 0xFFFFFFFFFFFFFFFF for n in self.gprs.names])
        sp = space.write_iret_frame(self.v, state[rt.pc], state["cs"], state[rt.flags], state[rt.sp], state["ss"])
        uc.reg_write(rt.regs[rt.sp], sp)
        return space.stub_va

    # ---- running ----
    def run(self, entry: int, until: int, regs: dict[str, int] | list[int], budget: int = 1_000_000,
            timeout: float = 5.0, label: str = "", hypercalls: bool = True) -> RunResult:
        """Run from `entry` until the pc reaches `until`. `regs`: some
        registers by name, or every general register in `gprs.names` order.
        Never raises for anything the guest does: the outcome is in the result."""
        res = RunResult()
        self._pages.clear()  # the guest may have changed its page tables since the last run
        self._fault, self._hook_error = None, None
        self._suspended = False
        self._executed = 0
        self._hypercalls = res.hypercalls if hypercalls else None
        traps = self.traps
        if traps is not None and traps.used:
            traps.reset()
        if self.stops is not None:
            self.stops.halts = 0
        if isinstance(regs, dict):
            self.gprs.write(regs)
        else:
            self.gprs.write_all(regs)
        uc, uch = self.uc, self.uc._uch
        token = WATCHDOG.arm(uc, timeout) if timeout else None
        t0 = time.perf_counter()
        pc, status = entry, 0
        entries = 0  # emulations started at Xen's exit stub
        try:
            while True:
                # Always with a count: unicorn then runs instruction-precise
                # blocks, and a fault is raised once (without one, the first
                # #PF after boot is re-raised and reported as a double fault).
                uc._hook_exception = None
                status = self._emu_start(uch, pc, until, 0, max(1, budget - self._executed) if budget else 1 << 62)
                if uc._hook_exception is not None and self._hook_error is None:
                    self._hook_error = uc._hook_exception
                res.registers = self.regs.read()
                pc = res.registers[self.rt.pc]
                if self._suspended:
                    res.suspended = self.guest_state()
                    break
                if not self.native:
                    if (status or self._fault is not None or self._xen_work) and self._hook_error is None:
                        spent = self._executed if self.count_instructions else entries
                        if (budget and spent >= budget) or WATCHDOG.expired(token):
                            self._fault, self._xen_work = None, False  # the limit ends the run
                            status = 0 if status == UCC.UC_ERR_INSN_INVALID else status
                            break
                        try:
                            resume = self._return_to_guest(status)
                        except Exception as err:  # a bug in the model: a report, never raised
                            self._hook_error, resume = err, None
                        if resume is not None:
                            pc, status = resume, 0
                            entries += 1
                            if self.count_instructions:
                                self._executed -= 1  # the block hook will count Xen's iret: not the guest's
                            continue
                    break
                if status or self._fault or self._hook_error or pc == until:
                    break
                # Ring 0: unicorn stops after `hlt`. With interrupts on, an
                # interrupt would wake the CPU: continue. With them off it never would.
                if self.read_virtual(pc - 1, 1) != HLT or (budget and self._executed >= budget):
                    break
                self.stops.watch(pc - 1)  # the next time, without leaving the emulator
                res.halts += 1
                flags = res.registers[self.rt.flags]
                if not flags & X86_EFLAGS_IF:
                    if self.stops.resume("halt", pc - 1, None, flags):
                        pc = self.uc.reg_read(self.rt.regs[self.rt.pc])
                        continue
                    self._fault = ("halt", pc - 1)
                    pc -= 1  # report the hlt itself, as the code hook does from now on
                    self.uc.reg_write(self.rt.regs[self.rt.pc], pc)
                    break
        finally:
            fired = WATCHDOG.disarm(token) if token is not None else False
            res.elapsed = time.perf_counter() - t0
        res.instructions = self._executed
        if self.stops is not None:
            res.halts += self.stops.halts
        if traps is not None and traps.used:
            self._xen_work = False
            res.exceptions, res.upcalls = list(traps.taken), traps.upcalls
            if traps.crash is not None:
                self._fault = ("crash",)
        if res.suspended is None and (pc != until or status or self._fault or self._hook_error):
            res.fault = self._describe(label, pc, UcError(status) if status else None, fired, budget)
            self._reset_after_fault()
        self._hypercalls = None
        return res

    # ---- fault reports ----
    def _code_at(self, pc: int):
        """(bytes, instruction or None, its text) at `pc`."""
        code = self.read_virtual(pc, 15)
        insn = next(self.cs.disasm(code, pc), None) if code else None
        return code, insn, f"{insn.mnemonic} {insn.op_str}".strip() if insn else ""

    def describe_stop(self, label: str, kind: str, pc: int, vector: int | None,
                      registers: dict[str, int]) -> RuntimeFault:
        """The fault report of a stop a NativeStops handler took over
        (a hlt with interrupts off, a #DB), as `run` would have made it."""
        code, _insn, text = self._code_at(pc)
        msg = HALT_MESSAGE if kind == "halt" else VECTORS.get(vector, f"exception vector {vector}")
        return RuntimeFault(kind, label, pc, msg, vector=vector, code=code, disassembly=text,
                            registers=dict(registers))

    def _describe(self, label: str, pc: int, error, fired: bool, budget: int) -> RuntimeFault:
        regs = self.regs.read()
        code, insn, text = self._code_at(pc)
        ring = "ring 0" if self.native else f"ring {self.rt.guest_ring}"
        if self._hook_error is not None:
            err = self._hook_error
            return RuntimeFault("internal", label, pc, f"hypervisor model error: {type(err).__name__}: {err}",
                                code=code, disassembly=text, registers=regs)
        if self.traps is not None and self.traps.crash is not None:
            err = self.traps.crash
            what = "domain crash (Xen's domain_crash)" if err.kind == "crash" else "not modelled"
            return RuntimeFault(err.kind, label, pc, f"{what}: {err}", vector=self.traps.crash_vector, code=code,
                                disassembly=text, registers=regs)
        kind, vector, cr2, msg = "exception", None, None, ""
        if self._fault and self._fault[0] == "exception":
            vector = self._fault[1]
            msg = VECTORS.get(vector, f"exception vector {vector}")
            if vector == 14:
                cr2 = self.uc.reg_read(X.UC_X86_REG_CR2)
                msg += f" at {cr2:#x}: {self._pf_reason(cr2, insn)}"
            elif vector == 13 and insn is not None and self._privileged(insn):
                msg += f": '{text}' is privileged and this kernel runs in {ring}"
        elif self._fault and self._fault[0] == "halt":
            kind, msg = "halt", HALT_MESSAGE
        elif self._fault and self._fault[0] == "unmapped":
            kind, cr2 = "unmapped", self._fault[1]
            msg = f"access to {cr2:#x}, outside machine memory"
        elif error is not None and error.errno == UCC.UC_ERR_INSN_INVALID:
            kind, vector, msg = "invalid-instruction", 6, VECTORS[6]
        elif error is not None:
            kind, msg = "unmapped", f"emulator error: {error}"
        elif fired:
            kind, msg = "timeout", "wall-clock limit reached"
        else:
            kind, msg = "budget", f"instruction budget of {budget} exhausted"
        return RuntimeFault(kind, label, pc, msg, vector=vector, fault_address=cr2, code=code,
                            disassembly=text, registers=regs)

    def _privileged(self, insn) -> bool:
        if insn.mnemonic == "mov" and ("cr" in insn.op_str or "dr" in insn.op_str):
            return True
        return insn.mnemonic in PRIVILEGED

    def _pf_reason(self, cr2: int, insn) -> str:
        w = walk(self.hv.mem, self.rt, self.uc.reg_read(X.UC_X86_REG_CR3) >> PAGE_SHIFT, cr2)
        if w.maddr is None:
            return w.reason
        user = not self.native and self.rt.guest_ring == 3
        if user and check_rights(self.rt, w, write=False, user=True):
            return "user access to a supervisor mapping (Xen's own range)"
        return check_rights(self.rt, w, write=self._writes_memory(insn), user=False) or "access not permitted"

    def _writes_memory(self, insn) -> bool:
        if insn is None:
            return True
        detailed = capstone.Cs(capstone.CS_ARCH_X86, self.cs.mode)
        detailed.detail = True
        for i in detailed.disasm(insn.bytes, insn.address):
            for op in i.operands:
                if op.type == capstone.x86.X86_OP_MEM and op.access & capstone.CS_AC_WRITE:
                    return True
            return i.mnemonic.startswith(("push", "call", "stos", "movs"))
        return True


__all__ = ["EmulatedCpu", "RunResult", "WATCHDOG"]
