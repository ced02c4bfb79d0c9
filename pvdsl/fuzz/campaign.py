"""A fuzzing campaign: every backend x target x hook of some specs.

For each hook, `examples` executions from the seeded bulk generator; the
first failing one is handed to Hypothesis, which searches the same input
space for a failure of the same oracle and shrinks it (if it cannot find
one within its budget, the bulk example is reported as it is). Then every
law of the spec about a table the backend fills is checked on the compiled
code (pvdsl.runtime.session.laws) and on the reference interpreter, and hooks whose
behaviour cannot depend on the word size are compared across i386 and
x86_64.
"""

from __future__ import annotations

import fnmatch
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..arch import Target
from . import static
from ..runtime.probe.batch import MAX_BATCH
from .batch import batchable, run_batch
from .harness import Rig
from .records import Outcome
from .values import Example, example_strategy

SHRINK_EXAMPLES = 400


@dataclass
class HookResult:
    spec: str
    backend: str
    target: str
    hook: str
    status: str  # pass, fail, skipped
    reason: str = ""
    executions: int = 0
    failure: Outcome | None = None
    shrunk: bool = False
    seconds: float = 0.0
    drifted: int = 0  # failures that did not reproduce on a fresh host (state earlier examples left)
    # Examples whose differential could not decide (every other oracle still
    # ran), by why: the interpreter's step budget ran out, ...
    inconclusive: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.target}/{self.hook}"


@dataclass
class Options:
    targets: list[str]
    hooks: list[str] = field(default_factory=lambda: ["*"])
    examples: int = 200
    seed: int = 0
    includes: tuple = ()
    asm: tuple = ()  # hand-written hooks (.s/.S) over the compiled ones
    shrink: bool = True
    laws: bool = True
    cross_arch: bool = True
    batch: bool = True  # run examples through the batch driver where the hook allows it (fuzz/batch.py)


def stable_seed(*parts) -> int:
    return zlib.crc32("\0".join(str(p) for p in parts).encode())


def hook_selected(hook: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(hook, p) or fnmatch.fnmatchcase(hook.split(".", 1)[1], p) for p in patterns)


def view_of(program, target: Target):
    return program.view(target.arch.name)


class Campaign:
    def __init__(self, specs: list[str], opts: Options, progress=None):
        self.specs = specs
        self.opts = opts
        self.progress = progress
        self.results: list[HookResult] = []
        self.samples: dict[tuple[str, str, str], list] = {}  # for the cross-arch comparison

    def run_target_on(self, rig: Rig, spec: str) -> list[HookResult]:
        """Every selected hook of the backend loaded in `rig`, then its laws."""
        import time

        out = []
        for hook in rig.hooks():
            if not hook_selected(hook, self.opts.hooks):
                continue
            if rig.dirty:
                rig = rig.fresh()
            t0 = time.perf_counter()
            r, rig = self.fuzz_hook(rig, spec, hook)
            r.seconds = time.perf_counter() - t0
            out.append(r)
            if self.progress:
                self.progress(r)
        if self.opts.laws:
            out.extend(law_results(rig.fresh() if rig.dirty else rig, spec))
        self.results.extend(out)
        return out

    def fuzz_hook(self, rig: Rig, spec: str, hook: str) -> tuple[HookResult, Rig]:
        """The hook's examples; the result and the rig to go on with."""
        tname = rig.target.name
        res = HookResult(spec, rig.built.name, tname, hook, "pass")
        # The seed leaves out the target, so both arches draw the same
        # arguments and vcpu_info state (the cross-arch comparison needs it).
        gen = rig.generator(hook, stable_seed(self.opts.seed, rig.built.name, hook))
        width_free = self.opts.cross_arch and width_independent(rig, hook)
        samples = None
        if width_free:
            samples = self.samples.setdefault((rig.built.name, rig.target.role, hook), [])
            sig = static.constant_signature(rig.view, rig.built.name, hook)
        fast = self.opts.batch and batchable(rig, hook)
        left = self.opts.examples
        while left > 0 and res.status == "pass":
            exs = [gen.next() for _ in range(min(left, MAX_BATCH if fast else 1))]
            outs = run_batch(rig, hook, exs) if fast else [rig.execute(hook, exs[0])]
            left -= len(exs)
            for out in outs:
                res.executions += 1
                if out.inconclusive:
                    res.inconclusive[out.inconclusive] = res.inconclusive.get(out.inconclusive, 0) + 1
                if samples is not None and len(samples) < 64:
                    samples.append((tname, out.example, out, sig))
                if not out.ok:
                    # A report must stand on its own, as its replay command
                    # will: the example again on a freshly booted host. If it
                    # passes there, the failure needed what earlier examples
                    # left in the model (a page table a generated pointer
                    # happened to hit ...): go on from the fresh host.
                    rig = rig.fresh()
                    out = rig.execute(hook, out.example)
                    if out.ok:
                        res.drifted += 1
                        break
                    res.status = "fail"
                    res.failure = out
                    if self.opts.shrink:
                        small = shrink(rig, hook, out, self.opts.seed)
                        if small is not None:
                            res.failure, res.shrunk = small, True
                    break
        return res, rig


def shrink(rig: Rig, hook: str, failure: Outcome, seed: int) -> Outcome | None:
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    oracles = {v.oracle for v in failure.violations}
    params, _ret, _cs = rig.interp.hook_signature(hook)
    from .values import describe_params

    strategy = example_strategy(describe_params(params, rig.arch, rig.native), len(rig.names),
                                rig.arch.word_bits, rig.native)

    def fails(ex: Example) -> bool:
        return any(v.oracle in oracles for v in rig.execute(hook, ex).violations)

    try:
        small = find(strategy, fails, settings=settings(max_examples=SHRINK_EXAMPLES, database=None, deadline=None,
                                                       phases=[Phase.generate, Phase.shrink],
                                                       suppress_health_check=list(HealthCheck)),
                     random=random.Random(seed))
    except NoSuchExample:
        return None
    out = rig.execute(hook, small)
    return out if not out.ok else None


def width_independent(rig: Rig, hook: str) -> bool:
    """Parameters, result and every expression of the body fixed-width (see
    static.width_independent): the hook must mean the same on both arches."""
    from ..sema import types as T
    from . import static

    params, ret, _cs = rig.interp.hook_signature(hook)

    def fixed(t) -> bool:
        return isinstance(t, T.BoolType) or (isinstance(t, T.IntType) and t.bits is not None)

    return (all(fixed(t) for _n, t in params) and fixed(ret)
            and static.width_independent(rig.view, rig.built.name, hook))


def cross_arch_results(samples) -> list[HookResult]:
    out = []
    for (backend, role, hook), rows in samples.items():
        by_target: dict[str, list] = {}
        sigs: dict[str, tuple] = {}
        for tname, ex, outcome, sig in rows:
            by_target.setdefault(tname, []).append((ex, outcome))
            sigs[tname] = sig
        if len(by_target) < 2:
            continue
        (t1, r1), (t2, r2) = sorted(by_target.items())[:2]
        res = HookResult("", backend, f"cross-arch {role}", hook, "pass", executions=min(len(r1), len(r2)))
        if sigs[t1] != sigs[t2]:
            res.status = "skipped"
            res.reason = f"its constants differ between {t1} and {t2} (the spec computes per arch)"
            out.append(res)
            continue
        for (e1, o1), (e2, o2) in zip(r1, r2):
            if o1.args != o2.args or e1.mask != e2.mask or e1.pending != e2.pending or e1.pointers:
                continue  # compare only identical inputs
            if (o1.fault is None) != (o2.fault is None) or (o1.fault is None and o1.value != o2.value):
                res.status = "fail"
                res.reason = (f"cross-arch: {t1} gives {o1.value:#x}, {t2} gives {o2.value:#x} for arguments "
                              f"{[hex(a) for a in o1.args]}")
                res.failure = o2
                break
        out.append(res)
    return out


def law_results(rig: Rig, spec: str) -> list[HookResult]:
    from ..runtime.session.laws import laws_for, run_law

    out = []
    for name in laws_for(rig.machine):
        res = HookResult(spec, rig.built.name, rig.target.name, f"law {name}", "pass")
        compiled = run_law(rig.machine, name)
        res.executions = compiled.cases
        if not compiled.ok:
            detail = "; ".join(compiled.failures[:3] + [str(f) for f in compiled.faults[:1]])
            res.status, res.reason = "fail", f"law {name} fails on the compiled code: {detail}"
        else:
            held, detail = rig.law_on_interpreter(name)
            if not held:
                res.status, res.reason = "fail", f"law {name} fails on the reference interpreter: {detail}"
        out.append(res)
    return out


def spec_label(path: str) -> str:
    return str(Path(path))
