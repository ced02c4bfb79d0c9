"""A variadic hypercall's extra arguments, compiled for i386-domu and
x86_64-domu: sched_op is bound `(cmd: s32, arg: handle<void>, ...)` and
tests/fuzz/specs/variadic.pv calls it with one or three more arguments.

- Run on the runtime's emulated vCPU, the model's hypercall entry sees each
  extra argument in the next argument register (the third: edx / rdx),
  narrower ones sign- or zero-extended to the word as their type says, and
  the registers after them still hold what the caller left there.
- Read back from the object with capstone, the third argument register at
  the call of hypercall_page + 32*29 holds the hook's own argument.
- The LLVM IR verifies.
- The shipped suspend driver passes start_info's frame there, as Linux's
  HYPERVISOR_suspend does, and the suspended vCPU's saved state keeps it.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import llvmlite.binding as llvm
import pytest

from pvdsl.arch import TARGETS
from pvdsl.cli.main import main
from pvdsl.runtime.probe.instruments import HypercallRecorder
from pvdsl.runtime.session.machine import Machine, build_backends
from x86_absint import MODES, Elf, function_analysis

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "tests" / "fuzz" / "specs" / "variadic.pv"
TARGET_NAMES = ["i386-domu", "x86_64-domu"]
SCHED_OP = 29
# Restated, not imported: Xen's hypercall argument registers and the first
# kernel argument register (regparm(3) on i386).
HYPERCALL_ARGS = {"i386": ("ebx", "ecx", "edx", "esi", "edi"), "x86_64": ("rdi", "rsi", "rdx", "r10", "r8")}
FIRST_KERNEL_ARG = {"i386": "eax", "x86_64": "rdi"}
MIB = 1 << 20


def _raw_hypercalls(target: str, hook: str, *args: int) -> list[tuple[int, tuple[int, ...]]]:
    """(number, the five argument registers) of each hypercall `hook` makes."""
    (built,) = build_backends(SPEC, TARGETS[target])
    m = Machine(built, memory=16 * MIB, dom0_memory=16 * MIB)
    m.hv.trace = rec = HypercallRecorder()
    r = m.call(hook, *args)
    assert r.ok, r.fault
    return [(h.number, h.raw) for h in rec.records]


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_the_extra_argument_reaches_the_third_register(target):
    word = 8 if target.startswith("x86_64") else 4
    mfn = 0x0123_4567_89AB if word == 8 else 0x0123_4567
    calls = _raw_hypercalls(target, "variadic_ops.yield_with", mfn)
    assert len(calls) == 1
    number, raw = calls[0]
    assert number == SCHED_OP
    assert raw[:3] == (0, 0, mfn)  # SCHEDOP_yield, null, then the variadic mfn in edx / rdx
    # Nothing is passed in the fourth and fifth: they keep the caller's values.
    assert mfn not in raw[3:]


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_narrow_extra_arguments_are_extended_as_their_type_says(target):
    mask = (1 << (64 if target.startswith("x86_64") else 32)) - 1
    (_n, raw), = _raw_hypercalls(target, "variadic_ops.yield_narrow", 0xFFFE, 0xF0, 1)
    assert raw == (0, 0, -2 & mask, 0xF0, 1)  # s16 -2 sign-extended, u8 and bool zero-extended
    (_n, raw), = _raw_hypercalls(target, "variadic_ops.yield_narrow", 0x7FFF, 0xFF, 0)
    assert raw == (0, 0, 0x7FFF, 0xFF, 0)


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("variadic-build")
    with contextlib.chdir(REPO):
        status = main(["build", str(SPEC.relative_to(REPO)), "--target", ",".join(TARGET_NAMES),
                       "-o", str(out), "-q", "--emit", "obj,manifest,ll"])
    assert status == 0
    return out


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_disassembly_has_the_argument_in_the_third_register(objects, target):
    arch = target.split("-")[0]
    manifest = json.loads((objects / f"xen_variadic-{target}.manifest.json").read_text())
    elf = Elf.read(objects / manifest["object"])
    a = function_analysis(elf, "xen_variadic_yield_with", MODES[arch])
    (site,) = [c for c in a.calls if c.symbol == "hypercall_page"]
    assert site.hypercall == SCHED_OP and not site.indirect
    first, second, third = HYPERCALL_ARGS[arch][:3]
    assert site.state.regs.get(first) == ("const", 0)
    assert site.state.regs.get(second) == ("const", 0)
    assert site.state.regs.get(third) == ("entry", FIRST_KERNEL_ARG[arch])


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_the_ir_verifies(objects, target):
    ll = (objects / f"xen_variadic-{target}.ll").read_text()
    assert "hypercall_page+928" in ll
    llvm.parse_assembly(ll).verify()


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_the_suspend_driver_passes_start_info_in_the_third_register(target):
    from pvdsl.runtime.host.savefile import suspend_guest
    from pvdsl.runtime.host.saverestore import suspend_record_in_register
    from pvdsl.runtime.host.server import Host

    host = Host(128 * MIB, 32 * MIB)
    out = host.handle({"op": "create", "name": "g", "target": target, "spec": str(REPO / "examples" / "irq.pv"),
                       "memory": 32 * MIB})
    assert out["status"] == "ok", out
    vm = host.vms["g"]
    state = suspend_guest(host, vm)
    d = vm.machine.guest
    si_mfn = d.p2m[d.kernel.pfn_of(d.start_info_va)]
    assert state[HYPERCALL_ARGS[target.split("-")[0]][2]] == si_mfn
    assert suspend_record_in_register(d, state)


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_the_model_decodes_only_the_declared_arguments(arch):
    from pvdsl.runtime.xen.hypercalls.registry import decode_args
    from pvdsl.runtime.xen.xenabi import xen_abi

    abi = xen_abi(arch)
    info = abi.hypercalls["sched_op"]
    assert info.number == SCHED_OP and info.args == (("cmd", "s32"), ("arg", "handle<void>"))
    word_bits = 8 * abi.word
    mask = (1 << word_bits) - 1
    # Five registers as the vCPU hands them over: the third one, the variadic
    # start_info frame, is not an argument the model reads.
    assert decode_args(info, [2, 0x1000, 0x4321, mask, mask], word_bits) == {"cmd": 2, "arg": 0x1000}
