"""Helpers for the interpreter tests: checking specs from text, running a
compiled backend on the emulated machine next to the interpreter."""

from __future__ import annotations

import functools
from pathlib import Path

from pvdsl.arch import TARGETS
from pvdsl.diagnostics import Diagnostics
from pvdsl.interp import CpuState, Interpreter, MemoryFault, SparseMemory, State
from pvdsl.runtime.host.builder import MIB
from pvdsl.runtime.xen.memory import PAGE_SIZE
from pvdsl.runtime.probe.instruments import HypercallRecorder, PageSet
from pvdsl.runtime.xen.paging import GuestFault, GuestMemory
from pvdsl.runtime.session.machine import Machine, build_backends
from pvdsl.sema.program import check_each, check_text

ROOT = Path(__file__).resolve().parents[2]


def views_of(text: str, path: str = "<test>.pv"):
    """arch -> ArchView of a spec given as text (which must check)."""
    diags = Diagnostics()
    program = check_text(text, diags, path=path)
    assert not diags.has_errors, diags.render()
    return program.views


@functools.lru_cache(maxsize=None)
def views_of_file(spec: str):
    diags = Diagnostics()
    programs = check_each([ROOT / spec], diags)
    assert not diags.has_errors, diags.render()
    return programs[0].views


def interpreter(text: str, arch: str, backend: str) -> Interpreter:
    return Interpreter(views_of(text)[arch], backend)


def flat_state(symbols: dict[str, int] | None = None, answer=None, cpu: CpuState | None = None,
               mapped: dict[int, int] | None = None) -> State:
    """A state over a SparseMemory with the given regions (address -> size)
    mapped, zero-filled."""
    memory = SparseMemory()
    for va, size in (mapped or {}).items():
        memory.map(va, size)
    lookup = (symbols or {}).__getitem__
    return State(memory, cpu or CpuState(), lookup, answer)


class MachineMemory:
    """A machine's kernel address space, read and written through its page
    tables, as the interpreter's Memory."""

    def __init__(self, machine: Machine):
        d = machine.guest
        self.guest = GuestMemory(d.mem, d.rt, d.kernel.root_mfn)

    def read(self, va: int, n: int) -> bytes:
        try:
            return self.guest.read(va, n)
        except (GuestFault, KeyError):
            raise MemoryFault(va, n) from None

    def write(self, va: int, data: bytes) -> None:
        try:
            self.guest.write(va, data)
        except (GuestFault, KeyError):
            raise MemoryFault(va, len(data), True) from None


def built_machine(spec: Path, target: str, backend: str | None = None, **kw):
    built = build_backends(spec, TARGETS[target], backend=backend)
    assert built, f"{spec}: no backend for {target}"
    kw.setdefault("memory", 16 * MIB)
    kw.setdefault("dom0_memory", 16 * MIB)
    machine = Machine(built[0], **kw)
    view = built[0].program.view(TARGETS[target].arch.name)
    return machine, view


def record_hypercalls(machine: Machine, stack_pages: int = 2) -> HypercallRecorder:
    """The runtime's recorder on the machine's hypervisor: each hypercall's
    raw argument registers and result, and the top `stack_pages` pages of
    vCPU 0's kernel stack as Xen found them (what a pointer to a local
    pointed at)."""
    top = machine.guest.kernel.stack_tops[0]
    pages = PageSet(machine.hv.mem, machine.cpus[0], range(top - stack_pages * PAGE_SIZE, top, PAGE_SIZE))
    recorder = HypercallRecorder(stack=pages)
    machine.hv.trace = recorder
    return recorder


def predicted_registers(res, recorder: HypercallRecorder, word_bits: int) -> list[tuple]:
    """(number, the interpreter's argument words, the registers Xen saw) for
    each hypercall, the registers cut to the arguments the interpreter gave."""
    mask = (1 << word_bits) - 1
    return [(rec.number, args, tuple(r & mask for r in rec.raw[:len(args)]))
            for (_name, _n, args), rec in zip(res.hypercalls, recorder.records)]
