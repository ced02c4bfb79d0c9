"""The interpreter against the compiled code, on random programs.

Hooks with random bodies over every integer type (interp_gen.py) are built
once per arch for the native role and loaded into the emulated machine; each
hypothesis example then calls every hook there and in the interpreter, with
the same random arguments and the same random contents of the memory the
hooks read and write (a percpu `rec`, a kernel-wide `rec`, a `rec` passed by
pointer), and requires the same result, the same fault or lack of one, and
the same memory afterwards.

PVDSL_INTERP_SEED picks another set of programs (the default is fixed, so a
failure reproduces).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interp_gen import BACKEND, generate_spec
from interp_support import MachineMemory, built_machine
from pvdsl.interp import CpuState, Interpreter, SparseMemory, State
from pvdsl.sema import types as T

SEED = int(os.environ.get("PVDSL_INTERP_SEED", "7"))
EXAMPLES = int(os.environ.get("PVDSL_INTERP_EXAMPLES", "100"))
DIVIDE_ERROR = 0  # x86 exception vector of #DE


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    text, hooks = generate_spec(SEED, helpers=6, hooks=36, wide=6)
    path = tmp_path_factory.mktemp("interp-differential") / "generated.pv"
    path.write_text(text)
    return path, {h.name: h for h in hooks}


class Rig:
    """One arch: the compiled backend in a machine, the interpreter, and the
    memory regions both see."""

    def __init__(self, path, target: str, hooks):
        self.machine, view = built_machine(path, target, BACKEND, count_instructions=False)
        self.arch = view.arch.name
        self.interp = Interpreter(view, BACKEND)
        self.hooks = hooks
        loaded = self.machine.loaded
        size = view.layouts.size(view.structs["rec"])
        self.symbols = {"pc": loaded.percpu_va("pc", 0), "kv": loaded.symbols["kv"]}
        self.scratch = self.machine.symbol("scratch")
        self.regions = [(self.symbols["pc"], size), (self.symbols["kv"], size), (self.scratch, size)]
        self.memory = MachineMemory(self.machine)
        self.unused_divide_errors = 0

    def args_for(self, hook: str, raw: list[int]) -> list[int]:
        params, _ret, _cs = self.interp.hook_signature(hook)
        return [self.scratch if t.spell() == "ptr<rec>" else value for (_n, t), value in zip(params, raw)]

    def compare(self, hook: str, raw: list[int], contents: list[bytes]) -> None:
        args = self.args_for(hook, raw)
        snapshot = SparseMemory()
        for (va, size), data in zip(self.regions, contents):
            self.memory.write(va, data[:size])
            snapshot.map(va, data[:size])
        compiled = self.machine.call(hook, *args)
        interpreted = self.interp.call_hook(hook, args, State(snapshot, CpuState(), self.symbols.__getitem__))
        fn = self.hooks[hook]
        where = (f"{self.arch} {hook}({', '.join(hex(a) for a in args)})\n"
                 f"impl {fn.name}{fn.header()} {{\n    " + "\n    ".join(fn.body) + "\n}")
        if compiled.fault is not None:
            # The only fault these programs can meet is a divide error. Stores
            # before it may be reordered by LLVM: only the fault compares.
            assert compiled.fault.vector == DIVIDE_ERROR, f"{where}\ncompiled fault: {compiled.fault.describe()}"
            assert interpreted.fault is not None and interpreted.fault.kind == "#DE", \
                f"{where}\ncompiled: divide error; interpreter: {interpreted.fault or interpreted.value}"
            return
        if interpreted.fault is not None:
            # A division whose result is never used may be deleted by LLVM
            # (its fault is undefined behaviour there), so the compiled code
            # can run past a divide error the interpreter reports. Any other
            # fault is a disagreement.
            assert interpreted.fault.kind == "#DE", f"{where}\ninterpreter fault: {interpreted.fault.where()}"
            self.unused_divide_errors += 1
            return
        assert compiled.value == interpreted.value, \
            f"{where}\ncompiled {compiled.value:#x}, interpreter {interpreted.value:#x}"
        for va, size in self.regions:
            assert self.memory.read(va, size) == snapshot.read(va, size), \
                f"{where}\nmemory at {va:#x} differs:\ncompiled    {self.memory.read(va, size).hex()}\n" \
                f"interpreter {snapshot.read(va, size).hex()}"


@pytest.fixture(scope="module", params=["i386-native", "x86_64-native"])
def rig(request, generated) -> Rig:
    path, hooks = generated
    return Rig(path, request.param, hooks)


REGISTER = st.one_of(
    st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                     0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF]),
    st.integers(0, (1 << 64) - 1),
)


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_compiled_and_interpreted_agree(rig, data):
    region_bytes = max(size for _va, size in rig.regions)
    # The regions start from the same contents for every hook of an example.
    contents = data.draw(st.lists(st.binary(min_size=region_bytes, max_size=region_bytes), min_size=3, max_size=3),
                         label="memory")
    for hook in rig.interp.hooks():
        params, _ret, _cs = rig.interp.hook_signature(hook)
        # Whole registers of garbage around narrow integers; a bool is 0 or 1,
        # as the C ABI has the caller pass it (the callee relies on that).
        raw = [data.draw(st.integers(0, 1) if t == T.BOOL else REGISTER, label=f"{hook} {name}")
               for name, t in params]
        rig.compare(hook, raw, contents)


def test_every_generated_hook_is_built_and_interpreted(rig):
    """The rig really covers the generated table: every hook the arch has."""
    expected = {name for name, fn in rig.hooks.items() if not fn.wide or rig.arch == "x86_64"}
    assert set(rig.interp.hooks()) == expected
    assert set(rig.machine.loaded.hooks) == expected
