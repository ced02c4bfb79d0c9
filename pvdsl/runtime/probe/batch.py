"""Many calls of one hook in one emulator run.

Entering the emulator costs more than a small hook does, so the fuzzer
calls a hook many times per entry: a driver, guest code assembled by GNU as
and loaded next to the backend, walks an array of records in guest memory.
For each record it writes the vCPU's evtchn_upcall_mask and
evtchn_upcall_pending bytes, loads the flags and every general register
(the stack pointer included) from the record, calls the hook, and stores
the flags and every register the hook returned with into an output array.
Between two calls nothing runs but the driver, which uses no register the
record does not set, so each call starts from exactly the record's state.

A run stops at the first fault (the index of the record that faulted is in
guest memory: `BatchRun.done`), except natively for the stops the caller
judges by itself (a hlt with interrupts off, the #DB of a set TF): those
end their record (`BatchRun.stops`, the registers at the stop in its
results) and the run goes on with the next. Hypercalls and stores seen by
the probes are tagged with the index of the record in progress
(`current()`).
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field

from ..errors import RuntimeFault
from ..xen.memory import PAGE_SIZE
from ..guest.override import assemble_text, load_code

MAX_BATCH = 256
_VARS = ("index", "count", "target", "records", "results", "mask_at", "pending_at", "saved_sp", "tmp_sp",
         "tmp_flags", "tmp_first", "scratch")
_ASSEMBLED: dict[tuple, bytes] = {}  # (word, registers) -> object: gcc runs once per process and arch


def _driver_source(word: int, names: list[str], sp: str) -> str:
    """The driver, for the general registers `names` (in record order)."""
    q = "q" if word == 8 else "l"
    rip = "(%rip)" if word == 8 else ""

    def var(v: str) -> str:
        return f"pvdsl_batch_{v}{rip}"

    first = names[0]  # rax / eax: the output base register, stored last
    scratch = names[2]  # rcx / ecx: reused once stored
    loader = names[4]  # rsi / esi: the input base register, loaded last
    rec = word * 2  # mask, pending (one word), flags (one word), then the registers
    lines = [
        "        .text",
        "        .globl pvdsl_batch_entry, pvdsl_batch_done, pvdsl_batch_return",
        "pvdsl_batch_entry:",
        f"        mov{q} %{sp}, {var('saved_sp')}",
        ".Lnext:",
        f"        mov{q} {var('index')}, %{first}",
        f"        cmp{q} {var('count')}, %{first}",
        "        jae pvdsl_batch_done",
        f"        imul{q} ${rec + word * len(names)}, %{first}, %{loader}",
        f"        add{q} {var('records')}, %{loader}",
        f"        mov{q} {var('mask_at')}, %{scratch}",
        f"        movb 0(%{loader}), %al",  # al: the index in it is spent
        f"        movb %al, (%{scratch})",
        f"        mov{q} {var('pending_at')}, %{scratch}",
        f"        movb 1(%{loader}), %al",
        f"        movb %al, (%{scratch})",
        f"        push{q} {word}(%{loader})",
        f"        popf{q if word == 8 else 'l'}",
    ]
    for i, r in enumerate(names):
        if r != loader:
            lines.append(f"        mov{q} {rec + word * i}(%{loader}), %{r}")
    lines.append(f"        mov{q} {rec + word * names.index(loader)}(%{loader}), %{loader}")
    lines += [
        f"        call *{var('target')}",
        # A stop the run's handler takes (halts.py) goes on here, on the
        # hook's stack: the registers at the stop are stored as at a return.
        "pvdsl_batch_return:",
        f"        pushf{q if word == 8 else 'l'}",
        f"        pop{q} {var('tmp_flags')}",
        f"        mov{q} %{sp}, {var('tmp_sp')}",
        f"        mov{q} {var('saved_sp')}, %{sp}",
        f"        mov{q} %{first}, {var('tmp_first')}",
        f"        mov{q} {var('index')}, %{first}",
        f"        imul{q} ${word * (len(names) + 1)}, %{first}, %{first}",
        f"        add{q} {var('results')}, %{first}",
    ]
    for i, r in enumerate(names):
        if r not in (first, sp):
            lines.append(f"        mov{q} %{r}, {word * i}(%{first})")
    lines += [
        f"        mov{q} {var('tmp_first')}, %{scratch}",
        f"        mov{q} %{scratch}, {word * names.index(first)}(%{first})",
        f"        mov{q} {var('tmp_sp')}, %{scratch}",
        f"        mov{q} %{scratch}, {word * names.index(sp)}(%{first})",
        f"        mov{q} {var('tmp_flags')}, %{scratch}",
        f"        mov{q} %{scratch}, {word * len(names)}(%{first})",
        f"        inc{q} {var('index')}",
        "        jmp .Lnext",
        "pvdsl_batch_done:",
        "        nop",
        # Its variables on a page of their own: a store to a page that holds
        # translated code makes the emulator drop that code, and a run that
        # resumes after a stop (a hlt) would translate the driver again.
        "        .bss",
        "        .balign 4096",
    ]
    for v in _VARS:
        lines += [f"        .globl pvdsl_batch_{v}", f"pvdsl_batch_{v}:", f"        .skip {word}"]
    return "\n".join(lines) + "\n"


@dataclass
class BatchRun:
    done: int  # records completed
    results: list[tuple[list[int], int]]  # per completed record: (registers in record order, flags)
    fault: RuntimeFault | None  # what stopped record `done`, if anything did
    instructions: int = 0
    stops: dict[int, RuntimeFault] = field(default_factory=dict)  # records ended by a stop, by index


class BatchDriver:
    """The driver loaded into the domain of `cpu` (one per vCPU)."""

    def __init__(self, cpu, max_batch: int = MAX_BATCH):
        self.cpu = cpu
        rt = cpu.rt
        self.word = rt.word
        self._frames: dict[int, int] = {}
        self.names = list(cpu.gprs.names)
        self.sp = rt.sp
        d = cpu.d
        key = (self.word, tuple(self.names))
        if key not in _ASSEMBLED:
            _ASSEMBLED[key] = assemble_text(_driver_source(self.word, self.names, self.sp), rt.arch, "batch driver")
        sym = load_code(d, _ASSEMBLED[key], "batch driver")
        self.entry, self.end = sym["pvdsl_batch_entry"], sym["pvdsl_batch_done"]
        self.resume_at = sym["pvdsl_batch_return"]
        self._stops: dict[int, tuple[str, int, int | None, int]] = {}
        self.vars = {v: sym[f"pvdsl_batch_{v}"] for v in _VARS}
        self.max = max_batch
        self.rec_size = self.word * (2 + len(self.names))
        self.out_size = self.word * (len(self.names) + 1)
        self.records = d.kernel.alloc(self.rec_size * max_batch, PAGE_SIZE, "batch records")
        self.results = d.kernel.alloc(self.out_size * max_batch, PAGE_SIZE, "batch results")
        self._fmt_word = "<Q" if self.word == 8 else "<I"
        self._rec = struct.Struct(("<BB" + ("6x" if self.word == 8 else "2x")) + ("Q" if self.word == 8 else "I")
                                  * (1 + len(self.names)))
        self._out = struct.Struct("<" + ("Q" if self.word == 8 else "I") * (len(self.names) + 1))
        self.scratch = self.vars["scratch"]  # stands in for vcpu_info's two bytes on a bare machine
        self._index_word = struct.Struct(self._fmt_word)
        self._index_ma = self._ma(self.vars["index"])  # one word, never across a page
        self._set("records", self.records)
        self._set("results", self.results)
        cpu.uc.ctl_flush_tb()

    # ---- guest memory, by kernel virtual address ----
    def _ma(self, va: int) -> int:
        """Machine address of a driver page (translated once: the kernel's own
        mapping of its data does not change under the driver)."""
        page = va & ~(PAGE_SIZE - 1)
        ma = self._frames.get(page)
        if ma is None:
            ma = self._frames[page] = self.cpu.maddr(page)
        return ma + (va & (PAGE_SIZE - 1))

    def _write(self, va: int, data: bytes) -> None:
        mm = self.cpu.hv.mem.mm
        pos = 0
        while pos < len(data):
            take = min(len(data) - pos, PAGE_SIZE - ((va + pos) & (PAGE_SIZE - 1)))
            ma = self._ma(va + pos)
            mm[ma:ma + take] = data[pos:pos + take]
            pos += take

    def _slow_read(self, va: int, n: int) -> bytes:
        mm, out, pos = self.cpu.hv.mem.mm, bytearray(), 0
        while pos < n:
            take = min(n - pos, PAGE_SIZE - ((va + pos) & (PAGE_SIZE - 1)))
            ma = self._ma(va + pos)
            out += mm[ma:ma + take]
            pos += take
        return bytes(out)

    def _set(self, var: str, value: int) -> None:
        self._write(self.vars[var], struct.pack(self._fmt_word, value & ((1 << (8 * self.word)) - 1)))

    def regions(self) -> list[tuple[int, int]]:
        """What the driver itself writes: its variables and both arrays."""
        lo = min(self.vars.values())
        return [(lo, max(self.vars.values()) + self.word), (self.records, self.records + self.rec_size * self.max),
                (self.results, self.results + self.out_size * self.max)]

    def current(self) -> int:
        """The index of the record in progress (for tagging what the probes see)."""
        return self._index_word.unpack_from(self.cpu.hv.mem.mm, self._index_ma)[0]

    def run(self, target: int, mask_at: int, pending_at: int, records: list[tuple[int, int, int, list[int]]],
            driver_sp: int, start: int = 0, budget: int = 2_000_000, timeout: float = 5.0,
            label: str = "") -> BatchRun:
        """records: (mask, pending, flags, registers in `names` order). Runs
        records[start:] until one faults or all are done. `driver_sp`: the
        driver's own stack, above every record's stack pointer."""
        if len(records) > self.max:
            raise ValueError(f"at most {self.max} records per batch")
        self._write(self.records, b"".join(self._rec.pack(m & 0xFF, p & 0xFF, f, *regs)
                                           for m, p, f, regs in records))
        for var, value in (("index", start), ("count", len(records)), ("target", target), ("mask_at", mask_at),
                           ("pending_at", pending_at)):
            self._set(var, value)
        stops = self.cpu.stops
        self._stops.clear()
        if stops is not None:
            stops.handler = self._on_stop
        try:
            res = self.cpu.run(self.entry, self.end, {self.sp: driver_sp}, budget, timeout, label=label)
        finally:
            if stops is not None:
                stops.handler = None
        done = self.current() if res.fault is not None else len(records)
        raw = self._slow_read(self.results, self.out_size * done)
        results = []
        for i in range(start, done):
            vals = self._out.unpack_from(raw, i * self.out_size)
            results.append((list(vals[:-1]), vals[-1]))
        run = BatchRun(done, results, res.fault, res.instructions)
        described: dict[tuple, RuntimeFault] = {}  # the same stop recurs: disassemble it once
        for i, (kind, pc, vector, flags) in self._stops.items():
            if start <= i < done:
                regs, _flags = results[i - start]
                results[i - start] = (regs, flags)
                state = dict(zip(self.names, regs))
                state.update({self.cpu.rt.pc: pc, self.cpu.rt.flags: flags})
                proto = described.get((kind, pc, vector))
                if proto is None:
                    proto = described[kind, pc, vector] = self.cpu.describe_stop(label, kind, pc, vector, state)
                run.stops[i] = dataclasses.replace(proto, registers=state)
        return run

    def _on_stop(self, kind: str, pc: int, vector: int | None, flags: int) -> int | None:
        """A stop of the hook itself (not of the driver): the record ends
        there. A #DB at the return point is the hook's: its last instruction
        (the ret) ran with TF set."""
        if self.entry <= pc <= self.end and pc != self.resume_at:
            return None
        self._stops[self.current()] = (kind, pc, vector, flags)
        return self.resume_at


__all__ = ["BatchDriver", "BatchRun", "MAX_BATCH"]
