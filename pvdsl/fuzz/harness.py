"""One execution of one compiled hook, checked by every oracle.

`Rig` is one target's machine (the runtime's `Machine`: a simulated Xen
host, or a bare machine for native backends) with the backend loaded, the
reference interpreter for the same backend and arch, and the instruments of
pvdsl.runtime.probe.instruments. `Rig.execute(hook, example)` runs the compiled hook
from its call site with a hostile register file, runs the interpreter on
the same inputs (answering its hypercalls with what the model answered the
compiled code), and returns the violations found:

  convention    callee-saved registers (and, for callee_save hooks, every
                register outside the callee-clobber set), the stack
                pointer, DF clear on return
  memory        stores outside the hook's stack, its arguments' buffers,
                its percpu and variable storage and what the interpreter
                itself wrote
  marshalling   each hypercall reached the model with the interpreter's
                argument values in Xen's registers for the arch, in order
  differential  result, fault or not, final bytes of the watched pages,
                CPU state (natively), number of hypercalls
  role          a domU object issued a privileged hypercall
"""

from __future__ import annotations

import random
from pathlib import Path

from ..interp import CpuState, Interpreter, MemoryFault, State
from ..runtime.probe.batch import BatchDriver
from ..runtime.cpu.calls import marshal, result_of
from ..runtime.guest.override import assemble, load_override
from ..runtime.xen.paging import check_rights, walk
from ..runtime.probe.instruments import CpuidProbe, HypercallRecorder, PageSet, VcpuGuard, WriteWatch, control_registers
from ..runtime.session.machine import Machine
from . import static
from .memory import PAGE, LiveMemory, OverlayMemory
from .records import MEMO_LIMIT, HookPlan, InterpRun, MachineMsrs, Outcome, Violation, fmt_args, width_of
from .values import BUFFER_PAGES, BulkGenerator, Example, describe_params

DF = 1 << 10
IF = 1 << 9
TF = 1 << 8
CR0_ET = 1 << 4
# Control-register bits the machine must show exactly as the spec wrote them:
# cr0 PE MP EM TS WP PG, cr3 all, cr4 PSE PAE PGE.
KEEP_BITS = {0: 0x8001000F, 3: (1 << 64) - 1, 4: 0xB0}
ARITH_FLAGS = 0x8D5  # CF PF AF ZF SF OF: what pushf adds that no spec can predict
RESERVED_FLAG = 1 << 1
STACK_PAGES = 4
RESTORABLE_HYPERCALLS = {"xen_version", "console_io", "get_debugreg", "set_debugreg", "vcpu_op", "set_segment_base",
                         "fpu_taskswitch", "stack_switch", "set_trap_table", "set_callbacks", "callback_op",
                         "set_gdt", "iret"}
SCHED_OPS_RESTORABLE = (0, 1, 3)  # SCHEDOP_yield, SCHEDOP_block, SCHEDOP_poll
BUDGET = 2_000_000  # instructions: a hook may loop over a whole generated count
INTERP_BUDGET = 200_000  # statements; past it the differential is inconclusive for that example
TIMEOUT = 2.0


class Rig:
    def __init__(self, built, view, memory: int = 32 << 20, budget: int = BUDGET, timeout: float = TIMEOUT,
                 asm=(), interp: Interpreter | None = None):
        self._args = dict(memory=memory, budget=budget, timeout=timeout, asm=asm)
        self.built = built
        self.target = built.target
        self.arch = built.target.arch
        self.native = built.target.role == "native"
        self.machine = m = Machine(built, memory=memory, dom0_memory=32 << 20, count_instructions=False,
                                   budget=budget, timeout=timeout)
        self.budget, self.timeout = budget, timeout
        self.cpu = m.cpus[0]
        self.rt = self.cpu.rt
        self.root = self.cpu.v.guest_table  # the kernel's page-table root
        self.loaded = m.loaded
        self.hv = m.hv
        # Hand-written hooks (--asm) replace compiled ones before anything is watched.
        self.overridden: list[str] = []
        for source in asm:
            self.overridden += load_override(m.guest, m.loaded, assemble(Path(source), self.arch), str(source),
                                             m.cpus)
        self.interp = interp or Interpreter(view, built.name)
        # Set when a hypercall changed model state the vCPU guard does not
        # restore (page tables, reservations, grants ...): the next hook
        # then gets a fresh host (Campaign does it), so each hook starts from boot.
        self.dirty = False
        self.view = view
        k = m.guest.kernel
        npointers = max([sum(1 for _n, t in p if t.startswith("ptr") or t.startswith("handle"))
                         for p in built.params.values()] + [1])
        self.buffers = [k.alloc(BUFFER_PAGES * PAGE, PAGE, f"fuzz buffer {i}") for i in range(npointers)]
        self.symbols = self._symbols()
        storage = set()
        for va, size in self.symbols.values():
            storage.update(range(va & ~(PAGE - 1), va + max(size, 1), PAGE))
        watched = set(storage)
        for b in self.buffers:
            watched.update(range(b, b + BUFFER_PAGES * PAGE, PAGE))
        self.pages = PageSet(self.hv.mem, self.cpu, sorted(watched))
        # What the model may write for a hook without pointer arguments: its
        # storage (vcpu_info is there); the recorder diffs only these then.
        self.storage_pages = PageSet(self.hv.mem, self.cpu, sorted(storage))
        top = k.stack_tops[0]
        self.stack = (top - STACK_PAGES * PAGE, top)
        self.recorder = HypercallRecorder(self.pages, PageSet(self.hv.mem, self.cpu, range(*self.stack, PAGE)))
        self.hv.trace = self.recorder
        self.entry_sp = top - 512
        self.driver = BatchDriver(self.cpu)
        self.cpuid = CpuidProbe(self.cpu)  # the interpreter's cpuid answers what this vCPU's does
        self.watch = WriteWatch(self.cpu, [self.stack] + [(p, p + PAGE) for p in self.pages.pages]
                                + self.driver.regions())
        self._maddr_cache: dict[int, int | None] = {}
        self.names = self.cpu.gprs.names
        self.word_mask = (1 << self.arch.word_bits) - 1
        self.index = self.cpu.gprs.index
        self.sp_name = self.rt.sp
        self._flags_reg = self.rt.flags
        self.keep = {}
        self._kept_indices: dict[str, list[tuple[str, int]]] = {}
        self._plans: dict[str, HookPlan] = {}
        self._masks: dict[int, list] = {}
        self.vcpu_info = None if self.native else self._vcpu_info_fields()
        self.mask_at, self.pending_at = self._input_addresses()
        # Xen's own list, by number: a spec may bind a privileged hypercall
        # under another name without saying so.
        self.privileged = {} if self.native else {
            n: info.name for n, info in m.guest.abi.by_number.items() if info.privileged}
        self.numbers = {info.number: info for info in self.view.hypercalls.values()}
        self.cpu.checkpoint()
        self.guard = None if self.native else VcpuGuard(self.hv, self.cpu.v)
        self.boot_pages = self.pages.snapshot()  # every example starts from these

    # ---- setup ----
    def _symbols(self) -> dict[str, tuple[int, int]]:
        out = {}
        man = self.built.manifest
        for name, info in man.get("percpu", {}).items():
            if name in self.loaded.percpu:
                out[name] = (self.loaded.percpu_va(name, 0), info["size"])
        for name, info in man.get("variables", {}).items():
            if name in self.loaded.symbols:
                out[name] = (self.loaded.symbols[name], info["size"])
        return out

    def _vcpu_info_fields(self):
        v = self.machine.guest.vcpus[0]
        return (self.hv.vcpu_info_field(v, "evtchn_upcall_mask")[0],
                self.hv.vcpu_info_field(v, "evtchn_upcall_pending")[0])

    def fresh(self) -> "Rig":
        """The same backend on a newly booted host (the interpreter is shared)."""
        return Rig(self.built, self.view, interp=self.interp, **self._args)

    def _input_addresses(self) -> tuple[int | None, int | None]:
        """Virtual addresses of vcpu_info's mask and pending bytes in a watched
        page (where the batch driver writes them), or the driver's scratch
        bytes natively; None if vcpu_info is not in a watched page."""
        if self.native:
            return self.driver.scratch, self.driver.scratch + 1
        by_frame = {ma: va for va, ma in self.pages.pages.items()}
        out = []
        for ma in self.vcpu_info:
            va = by_frame.get(ma & ~(PAGE - 1))
            out.append(None if va is None else va + (ma & (PAGE - 1)))
        return out[0], out[1]

    def hooks(self) -> list[str]:
        return [h for h in self.interp.hooks() if h in self.loaded.hooks]

    def generator(self, hook: str, seed: int) -> BulkGenerator:
        params, _ret, _cs = self.interp.hook_signature(hook)
        return BulkGenerator(describe_params(params, self.arch, self.native), len(self.names),
                             self.arch.word_bits, seed, self.native)

    def kept_indices(self, hook: str) -> list[tuple[str, int]]:
        """(register, its index in a record) for each register the hook keeps."""
        kept = self._kept_indices.get(hook)
        if kept is None:
            kept = self._kept_indices[hook] = [(r, self.index[r]) for r in self.kept_registers(hook)]
        return kept

    def kept_registers(self, hook: str) -> list[str]:
        if hook not in self.keep:
            h = self.loaded.hook(hook)
            keep = list(self.arch.callee_saved)
            if h.callee_save:
                keep += list(self.arch.callee_save_preserve)
            self.keep[hook] = keep
        return self.keep[hook]

    # ---- the machine side ----
    def _translate(self, page: int, write: bool = False) -> int | None:
        """A kernel page's machine address through the kernel's own root
        table (whatever a hook may have switched cr3 to); None if the guest
        kernel may not access it so (unmapped; read-only for a write;
        supervisor-only where the kernel runs in ring 3)."""
        key = (page, write)
        ma = self._maddr_cache.get(key)
        if ma is None:
            w = walk(self.hv.mem, self.rt, self.root, page)
            user = not self.native and self.rt.guest_ring == 3
            if w.maddr is not None and not check_rights(self.rt, w, write, user):
                ma = self._maddr_cache[key] = w.maddr
        return ma

    def _live_read(self, ma: int, n: int) -> bytes:
        """Machine memory as it was before the compiled run: a page the
        hook stored into outside the watched ones is read from the write
        watch's undo copy."""
        saved = self.watch.saved.get(ma & ~(PAGE - 1))
        if saved is not None:
            off = ma & (PAGE - 1)
            return saved[off:off + n]
        return self.hv.mem.mm[ma:ma + n]

    def resolve_args(self, hook: str, ex: Example) -> list[int]:
        """The argument values the hook is called with: buffer offsets turned
        into addresses, machine values (natively `cr3`) filled in, each as
        the unsigned bits of its parameter's width."""
        plan = self.plan(hook)
        args, nbuf = [], 0
        for p, a in zip(plan.params, ex.args):
            if p.kind == "ptr":
                if p.name in ex.pointers:
                    a = self.buffers[nbuf] + ex.pointers[p.name]
                nbuf += 1
            if p.hint:
                a = self._machine_value(p.hint)
            args.append(a & ((1 << p.bits) - 1))
        return args

    def _prepare_state(self, ex: Example, buffers: bool = True) -> None:
        mem = self.hv.mem
        if self.vcpu_info is not None:
            mem.set_u8(self.vcpu_info[0], ex.mask & 0xFF)
            mem.set_u8(self.vcpu_info[1], ex.pending & 0xFF)
        if not buffers:
            return
        rng = random.Random(ex.buffer_seed)
        for b in self.buffers:
            for p in range(b, b + BUFFER_PAGES * PAGE, PAGE):
                ma = self._translate(p)
                mem.mm[ma:ma + PAGE] = rng.randbytes(PAGE)

    def _machine_value(self, hint: str) -> int:
        return self.machine.symbol(hint)

    def plan(self, hook: str) -> "HookPlan":
        p = self._plans.get(hook)
        if p is None:
            h = self.loaded.hook(hook)
            params, ret, _cs = self.interp.hook_signature(hook)
            called = static.called_names(self.view, self.built.name, hook)
            described = describe_params(params, self.arch, self.native)
            pointers = any(x.kind == "ptr" for x in described)
            hypercalls = bool(called & set(self.view.hypercalls))
            p = self._plans[hook] = HookPlan(
                h, described, tuple(h.arg_sizes or [self.arch.word_bytes] * len(params)),
                "pushf" in called, "rdtsc" in called, pointers,
                None if hypercalls or "rdtsc" in called else {}, frozenset(called),
                # The interpreter's inputs are then the key, its memory reads
                # and the hypercall answers (rdtsc reads the clock: never).
                {} if hypercalls and not pointers and "rdtsc" not in called else None)
        return p

    def execute(self, hook: str, ex: Example, interp: bool = True) -> Outcome:
        plan = self.plan(hook)
        h = plan.hook
        out = Outcome(hook, ex)
        args = self.resolve_args(hook, ex)
        out.args = args
        self.pages.restore(self.boot_pages)
        self._prepare_state(ex, plan.pointers)
        regs, stack = marshal(self.arch, h.arg_sizes, [a & ((1 << (8 * s)) - 1) for a, s in zip(args, plan.sizes)])
        word_mask = self.word_mask
        values = [j & word_mask for j in ex.junk[:len(self.names)]]
        values += [0] * (len(self.names) - len(values))
        for r, v in regs.items():
            values[self.index[r]] = v
        sp = self.entry_sp - self.arch.word_bytes * len(stack)
        sp -= sp % 16
        if stack:
            data = b"".join(self.rt.pack_word(w) for w in stack)
            self.hv.mem.write(self.cpu.maddr(sp), data)
        values[self.index[self.sp_name]] = sp
        out.entry_values, out.register_names = values, self.names
        flags = RESERVED_FLAG | (IF if ex.flags_if else 0)
        self.cpu.regs.write({self._flags_reg: flags})
        before = self.pages.snapshot()
        cpu_before = self._cpu_state(flags) if self.native else None
        self.recorder.reset()
        self.recorder.pages = self.pages if plan.pointers else self.storage_pages
        self.watch.reset()
        res = self.cpu.run(h.site, h.site_end, values, self.budget, self.timeout, label=hook)
        switched = not self.native and self.cpu.v.guest_table != self.root
        after = self.pages.snapshot()
        records = self.recorder.records
        out.registers, out.fault = res.registers, res.fault
        out.hypercalls = [(self._hc_name(r.number), r.raw, r.rc) for r in records]
        if res.fault is None:
            out.value = result_of(self.arch, h.ret_size, res.registers)
            self._check_convention(hook, out, values, sp)
        self._check_role(out, records)
        if not self.dirty:
            self.dirty = any(r.rc >= 0 and not self._restorable(r) for r in records)
        if interp:
            self._differential(plan, out, args, before, after, records, flags, cpu_before, sp, switched)
        elif self.watch.hits:
            self._memory_violations(out, None)
        # Back to the boot state for the next example (as its replay will
        # start): stores outside the watched pages undone; natively the CPU's
        # control registers and flags, under Xen the vCPU state the model
        # keeps (a generated cr3 or GDT the model accepted, ...).
        self.watch.rollback()
        if self.native:
            self.cpu._reset_after_fault()
        elif records or res.fault is not None:
            self.guard.restore()  # only a hypercall (or a fault's reset) changes what it guards
        return out

    def _restorable(self, rec) -> bool:
        """A hypercall whose effect the per-example restore undoes (it changes
        nothing, or only the vCPU state VcpuGuard puts back)."""
        name = self._hc_name_model(rec.number)
        if name == "sched_op":
            return rec.raw[0] in SCHED_OPS_RESTORABLE
        return name in RESTORABLE_HYPERCALLS

    def _hc_name_model(self, number: int) -> str:
        info = self.machine.guest.abi.by_number.get(number)
        return info.name if info else f"#{number}"

    @staticmethod
    def _wrote_crs(before: tuple, after: CpuState) -> bool:
        return before != (after.cr0, after.cr3, after.cr4) or any(e[0] == "write_cr3" for e in after.tlb_flushes)

    def _hc_name(self, number: int) -> str:
        info = self.numbers.get(number)
        return info.name if info else f"#{number}"

    def _cpu_state(self, flags: int) -> CpuState:
        crs = control_registers(self.cpu)
        return CpuState(flags=flags, cr0=crs[0], cr2=crs[2], cr3=crs[3], cr4=crs[4], msrs=MachineMsrs(self.cpu),
                        tsc=0, cpuid=self.cpuid)

    # ---- laws on the interpreter ----
    def law_on_interpreter(self, name: str) -> tuple[bool, str]:
        """Every case of the law, with the interpreter as the guest kernel:
        its memory is the domain's, its hypercalls go to the model."""
        import itertools

        from ..runtime.session.laws import MAX_CASES, _domain

        law = self.view.laws[name]
        v = self.machine.guest.vcpus[0]
        word_mask = (1 << self.arch.word_bits) - 1

        def hypercall(_name: str, number: int, hargs: tuple) -> int:
            return self.hv.hypercall(v, number, [a & word_mask for a in hargs])

        crs = control_registers(self.cpu)
        flags = self.cpu.regs.read()[self._flags_reg]
        cpu = CpuState(flags=flags, cr0=crs[0], cr2=crs[2], cr3=crs[3], cr4=crs[4], msrs={}, tsc=0, cpuid=self.cpuid)
        state = State(memory=LiveMemory(self._translate, self.hv.mem.mm), cpu=cpu,
                      symbol_address=lambda n: self.symbols[n][0], hypercall=hypercall)
        domains = [_domain(p, self.arch) for p in law.params]
        for values in itertools.islice(itertools.product(*domains), MAX_CASES):
            held, detail = self.interp.run_law(name, {p.name: x for p, x in zip(law.params, values)}, state)
            if not held:
                return False, detail
        return True, ""

    # ---- oracles ----
    def _check_convention(self, hook: str, out: Outcome, values: list[int], sp: int) -> None:
        """Registers and the stack pointer. (DF is checked with the
        differential: popf of a caller's value may set it by the spec.)"""
        after = out.registers
        for r, i in self.kept_indices(hook):
            if after[r] != values[i]:
                out.violations.append(Violation("convention", f"{r} not preserved", f"{values[i]:#x}",
                                                f"{after[r]:#x}"))
        if after[self.sp_name] != sp:
            out.violations.append(Violation("convention", "stack pointer not restored", f"{sp:#x}",
                                            f"{after[self.sp_name]:#x}"))

    def _check_role(self, out: Outcome, records) -> None:
        if not self.privileged or not records or self.target.role != "domu":
            return
        for r in records:
            if r.number in self.privileged:
                xen_name = self.privileged[r.number]
                out.violations.append(Violation("role", f"a domU object issued the privileged hypercall "
                                                f"{xen_name} (#{r.number})", "no privileged hypercall",
                                                f"{xen_name} -> {r.rc}"))

    def _memory_violations(self, out: Outcome, run: "InterpRun | None") -> None:
        """Stores the write watch saw (by machine address), less those the
        interpreter made too: memory the spec itself has the hook write."""
        spec_frames = run.outside if run is not None else set()
        for pc, maddr, size, value, _tag in self.watch.hits:
            if maddr & ~(PAGE - 1) in spec_frames:
                continue
            out.violations.append(Violation("memory", f"store of {size} bytes to machine address {maddr:#x}, "
                                            f"outside the hook's stack, buffers and storage", "no store",
                                            f"{value & ((1 << (8 * size)) - 1):#x} stored", pc=pc))

    def _interpret(self, plan, hook, args, before, records, flags, cpu_before, sp) -> "InterpRun":
        overlay = OverlayMemory(self.pages.as_dict(before), self._translate, self._live_read)
        pending = list(records)
        calls: list = []

        def hypercall(name: str, number: int, hargs: tuple) -> int:
            i = len(calls)
            rec = pending[i] if i < len(pending) else None
            calls.append((name, number, hargs, self._pointees(hargs, rec, overlay.read) if rec else {}))
            if rec is None:
                return -38  # the compiled code made no such call: reported by the caller
            overlay.apply(rec.effects)
            return rec.rc

        cpu = cpu_before or CpuState(flags=flags, cr0=0, cr2=0, cr3=0, cr4=0, msrs={}, tsc=0, cpuid=self.cpuid)
        state = State(memory=overlay, cpu=cpu, symbol_address=self._symbol_address, hypercall=hypercall,
                      stack_top=sp)  # the interpreter's frames where the compiled ones are
        crs0 = (cpu.cr0, cpu.cr3, cpu.cr4)
        res = self.interp.call_hook(hook, args, state, budget=INTERP_BUDGET)
        return InterpRun(res, calls, {pg: bytes(b) for pg, b in overlay.pages.items()},
                         {self._translate(pg) for pg in overlay.outside}, cpu, crs0)

    def _symbol_address(self, name: str) -> int:
        return self.symbols[name][0]

    def _differential(self, plan, out, args, before, after, records, flags, cpu_before, sp,
                      switched: bool) -> None:
        hook = out.hook
        key = None
        if plan.memo is not None:
            # No hypercall can answer differently: the same inputs give the
            # same interpretation (watched pages start from boot every time).
            key = (tuple(args), out.example.mask & 0xFF, out.example.pending & 0xFF, flags,
                   out.example.buffer_seed if plan.pointers else 0)
            run = plan.memo.get(key)
        if key is None or run is None:
            run = self._interpret(plan, hook, args, before, records, flags, cpu_before, sp)
            if key is not None and len(plan.memo) < MEMO_LIMIT:
                plan.memo[key] = run
        res, calls, state_cpu, crs0 = run.res, run.calls, run.cpu, run.crs0
        v = out.violations
        # Marshalling: what the model received against what the interpreter predicts.
        for i, (name, number, hargs, pointees) in enumerate(calls):
            if i >= len(records):
                v.append(Violation("marshalling", f"hypercall #{i + 1} missing", f"{name}{fmt_args(hargs)}",
                                   "no hypercall"))
                break
            rec = records[i]
            if rec.number != number:
                v.append(Violation("marshalling", f"hypercall #{i + 1} is the wrong one",
                                   f"{name}{fmt_args(hargs)}", f"{self._hc_name(rec.number)}{fmt_args(rec.raw)}"))
                break
            bad = self._arg_mismatch(number, hargs, rec, pointees)
            if bad:
                v.append(Violation("marshalling", f"hypercall #{i + 1} ({name}): {bad}",
                                   f"{name}{fmt_args(hargs)}", f"{name}{fmt_args(rec.raw)}"))
        if len(records) > len(calls):
            extra = records[len(calls)]
            v.append(Violation("marshalling", f"an unexpected hypercall #{len(calls) + 1}", "none",
                               f"{self._hc_name(extra.number)}{fmt_args(extra.raw)}"))
        if res.fault is not None and res.fault.kind == "halt" and out.fault is not None and out.fault.kind == "halt":
            self._memory_violations(out, run)
            return  # the interpreter halted with interrupts off too: the machine hangs, as it should
        if res.fault is not None and res.fault.kind == "budget":
            out.inconclusive = "the reference interpreter's step budget ran out"
            self._memory_violations(out, run)
            return
        if records and self._hc_name_model(records[-1].number) == "iret" and out.fault is not None:
            # HYPERVISOR_iret does not return: the guest goes on where the
            # (generated) frame on its stack says. Only the calls compare.
            out.inconclusive = "the hook left through HYPERVISOR_iret"
            return
        if self.native and out.fault is not None and res.fault is None and self._wrote_crs(crs0, state_cpu):
            out.inconclusive = "the hook wrote a control register value the machine cannot run on"
            return
        if switched and out.fault is not None and res.fault is None:
            # The model accepted a generated root table (a frame of the guest's
            # own): the hook then returns into an address space without the
            # kernel. Correct behaviour; only the hypercalls are comparable.
            out.inconclusive = "the hook switched to page tables that do not map the kernel"
            return
        if res.fault is None and out.fault is not None and out.fault.vector == 1 and state_cpu.flags & TF:
            self._memory_violations(out, run)
            return  # the spec set TF (popf of the caller's value): the CPU single-steps into #DB, as it should
        if (res.fault is None) != (out.fault is None):
            v.append(Violation("differential", "fault disagreement",
                               res.fault.message if res.fault else "returns",
                               out.fault.message if out.fault else f"returns {out.value:#x}"))
            self._memory_violations(out, run)
            return
        if res.fault is None:
            want, got = res.value, out.value
            if plan.pushf:
                want, got = want & ~ARITH_FLAGS, got & ~ARITH_FLAGS
            if want != got and not plan.rdtsc:  # rdtsc reads the host's clock: not comparable
                v.append(Violation("differential", "result differs", f"{want:#x}", f"{got:#x}"))
            for (page, snap, start) in zip(self.pages.pages, after, before):
                final = run.pages.get(page, start)
                if final != snap:
                    off = next(i for i in range(PAGE) if final[i] != snap[i])
                    v.append(Violation("differential", f"memory differs at {page + off:#x} "
                                       f"({self._what_is(page + off)})",
                                       final[off:off + 8].hex(" "), snap[off:off + 8].hex(" ")))
                    break
            if self.native:
                self._compare_cpu(out, state_cpu)
            if out.registers[self._flags_reg] & DF and not (self.native and state_cpu.flags & DF):
                v.append(Violation("convention", "DF set on return", "DF=0", "DF=1"))
        self._memory_violations(out, run)

    def _pointees(self, hargs: tuple, rec, read) -> dict[int, list]:
        """Argument index -> [(offset, interpreter's bytes, compiled bytes)]
        for arguments that point into the stack on both sides: the
        interpreter's locals need not sit where the compiled code's do, but
        what the model read through them must be the same bytes."""
        lo, hi = self.stack
        in_stack = [j for j, (pred, got) in enumerate(zip(hargs, rec.raw)) if lo <= pred < hi and lo <= got < hi]
        out = {j: [] for j in in_stack}
        for va, n in rec.reads:
            owners = [j for j in in_stack if rec.raw[j] <= va < rec.raw[j] + PAGE]
            if not owners:
                continue
            j = max(owners, key=lambda k: rec.raw[k])
            off = va - rec.raw[j]
            try:
                mine = read(hargs[j] + off, n)
            except MemoryFault:
                mine = None
            out[j].append((off, mine, rec.stack_bytes(va, n)))
        return out

    def _arg_masks(self, number: int) -> list[tuple[str, str, int]]:
        """(register, parameter name, mask of its declared width) per argument
        of hypercall `number`, worked out once. A register past the declared
        parameters is compared only when the call passed a variadic argument
        there, which travels as a whole word."""
        masks = self._masks.get(number)
        if masks is None:
            info = self.numbers.get(number)
            params = info.params if info else ()
            masks = self._masks[number] = [
                (reg, params[i][0] if i < len(params) else f"{i + 1} (variadic)",
                 (1 << (width_of(params[i][1], self.arch) if i < len(params) else self.arch.word_bits)) - 1)
                for i, reg in enumerate(self.arch.hypercall_arg_regs)]
        return masks

    def _arg_mismatch(self, number: int, predicted: tuple, rec, pointees: dict[int, list]) -> str:
        for i, ((reg, pname, m), pred, got) in enumerate(zip(self._arg_masks(number), predicted, rec.raw)):
            if i in pointees:
                for off, mine, theirs in pointees[i]:
                    if mine != theirs:
                        return (f"argument {pname} in {reg} points at different bytes at +{off}: expected "
                                f"{mine.hex(' ') if mine is not None else '(unreadable)'}, got "
                                f"{theirs.hex(' ') if theirs is not None else '(unreadable)'}")
                continue
            if (pred & m) != (got & m):
                return f"argument {pname} in {reg}: expected {pred & m:#x}, got {got & m:#x}"
        return ""

    def _compare_cpu(self, out: Outcome, predicted: CpuState) -> None:
        got_flags = out.registers[self._flags_reg]
        if (got_flags ^ predicted.flags) & IF:
            v = "IF=1" if predicted.flags & IF else "IF=0"
            out.violations.append(Violation("differential", "interrupt flag differs", v,
                                            "IF=1" if got_flags & IF else "IF=0"))
        crs = control_registers(self.cpu)
        for n, want in ((0, predicted.cr0), (3, predicted.cr3), (4, predicted.cr4)):
            ignore = CR0_ET if n == 0 else 0  # hardwired to 1 since the P6: a write cannot clear it
            # A bit the spec sets that this CPU does not implement (OSXSAVE,
            # cr0's reserved upper half) the CPU drops; real hardware would
            # #GP. Either way not the hook's doing, unless it is a bit paging
            # and the kernel cannot do without.
            dropped = want & ~crs[n] & ~KEEP_BITS[n]
            if (crs[n] ^ want) & ~ignore & ~dropped:
                out.violations.append(Violation("differential", f"cr{n} differs", f"{want:#x}", f"{crs[n]:#x}"))

    def _what_is(self, va: int) -> str:
        for name, (base, size) in self.symbols.items():
            if base <= va < base + size:
                return f"{name}+{va - base}"
        for i, b in enumerate(self.buffers):
            if b <= va < b + BUFFER_PAGES * PAGE:
                return f"buffer {i}+{va - b}"
        return "watched page"
