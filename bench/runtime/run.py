"""Runtime benchmark: hook calls per second through pvdsl's runtime against a
bare unicorn loop running the same bytes (the ceiling).

    python3 bench/runtime/run.py                # 20000 calls per line, best of 3
    python3 bench/runtime/run.py --calls 50000 --json /tmp/runtime.json

For each arch, the hooks of examples/irq.pv (Xen backend in a domU, native
backend on a bare machine) and examples/mmu.pv (the hooks with patch
templates), through the ordinary call site (`call *table+slot`) and, where
the hook has a template, through the patched site:

  runtime        Machine.call: argument marshalling, every register set to a
                 sentinel and read back, ABI check, instruction counting
                 (a block hook), watchdog, hypercalls into the model.
  runtime-nocnt  the same without instruction counting.
  bare           uc.emu_start(site, site_end) in a loop on a vCPU with no
                 block hook, only the stack pointer reset per call; a
                 hypercall is a minimal Python trap that returns 0 without
                 the model. This is the most unicorn can do per call from
                 Python.

ratio = runtime / bare. Also the cost of running the guest kernel in its PV
ring: the same instruction (`mov %rdi,%rax; ret` / `mov %eax,..`, pte_val)
bare at ring 0 (native) and at ring 3/1 (Xen). It is a measurement, not a
test: it exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pvdsl.arch import TARGETS  # noqa: E402
from pvdsl.runtime.host.builder import MIB  # noqa: E402
from pvdsl.runtime.cpu.baseline import Bare  # noqa: E402  (only pvdsl/runtime touches unicorn)
from pvdsl.runtime.session.machine import Machine, build_backends  # noqa: E402

IF = 0x200
CASES = [  # spec, target role, hook, args
    ("examples/irq.pv", "domu", "pv_irq_ops.irq_disable", ()),
    ("examples/irq.pv", "domu", "pv_irq_ops.save_fl", ()),
    ("examples/irq.pv", "domu", "pv_irq_ops.irq_enable", ()),
    ("examples/irq.pv", "domu", "pv_irq_ops.restore_fl", (IF,)),
    ("examples/irq.pv", "domu", "pv_irq_ops.safe_halt", ()),
    ("examples/mmu.pv", "domu", "demo_mmu_ops.pte_val", (0x1234,)),
    ("examples/mmu.pv", "domu", "demo_mmu_ops.set_pte", ("$ptep", "$pte")),
    ("examples/irq.pv", "native", "pv_irq_ops.irq_disable", ()),
    ("examples/irq.pv", "native", "pv_irq_ops.save_fl", ()),
    ("examples/irq.pv", "native", "pv_irq_ops.restore_fl", (IF,)),
    ("examples/mmu.pv", "native", "demo_mmu_ops.pte_val", (0x1234,)),
]


def best(fn, runs: int) -> float:
    return min(fn() for _ in range(runs))


def measure(spec: str, arch: str, role: str, hook: str, args, calls: int, runs: int) -> list[dict]:
    target = TARGETS[f"{arch}-{role}"]
    built = build_backends(ROOT / spec, target)[0]
    out = []
    m = Machine(built, memory=16 * MIB, dom0_memory=16 * MIB)
    m_nc = Machine(built, memory=16 * MIB, dom0_memory=16 * MIB, count_instructions=False)
    values = [m.symbol(a[1:]) if isinstance(a, str) else a for a in args]
    h = m.loaded.hook(hook)
    for patched in ([False, True] if h.template else [False]):
        def through(machine):
            def go():
                if not machine.guest.native:
                    machine.set_vcpu_info("evtchn_upcall_pending", 0)
                t0 = time.perf_counter()
                for _ in range(calls):
                    r = machine.call(hook, *values, patched=patched)
                dt = time.perf_counter() - t0
                assert r.ok, r.fault.describe()
                return dt
            return go
        runtime = best(through(m), runs)
        runtime_nc = best(through(m_nc), runs)
        bare = Bare(Machine(built, memory=16 * MIB, dom0_memory=16 * MIB))
        if not bare.m.guest.native:
            bare.m.set_vcpu_info("evtchn_upcall_pending", 0)
        entry, until = bare.prepare(hook, values, patched)
        bare_t = best(lambda: bare.loop(entry, until, calls), runs)
        out.append({"arch": arch, "role": role, "backend": built.name, "hook": hook,
                    "site": "patched" if patched else "call",
                    "instructions": m.call(hook, *values, patched=patched).instructions,
                    "runtime_calls_per_s": calls / runtime, "runtime_nocount_calls_per_s": calls / runtime_nc,
                    "bare_calls_per_s": calls / bare_t, "ratio": bare_t / runtime})
    return out


def ring_cost(arch: str, calls: int, runs: int) -> dict:
    """pte_val (one register move and ret) bare, ring 0 vs the PV kernel ring."""
    res = {}
    for role in ("native", "domu"):
        built = build_backends(ROOT / "examples/mmu.pv", TARGETS[f"{arch}-{role}"])[0]
        bare = Bare(Machine(built, memory=16 * MIB, dom0_memory=16 * MIB))
        entry, until = bare.prepare("demo_mmu_ops.pte_val", (7,), False)
        res[role] = calls / best(lambda: bare.loop(entry, until, calls), runs)
    return {"arch": arch, "ring0_calls_per_s": res["native"], "pv_ring_calls_per_s": res["domu"],
            "pv_ring_over_ring0": res["domu"] / res["native"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=20000, help="calls per measurement (default 20000)")
    p.add_argument("--runs", type=int, default=3, help="measurements per line, best kept (default 3)")
    p.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    a = p.parse_args(argv)
    rows, rings = [], []
    for arch in ("x86_64", "i386"):
        for spec, role, hook, args in CASES:
            rows += measure(spec, arch, role, hook, args, a.calls, a.runs)
        rings.append(ring_cost(arch, a.calls, a.runs))
    print(f"pvdsl runtime: hook calls per second ({a.calls} calls, best of {a.runs}; "
          f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()})\n")
    head = f"{'arch':7} {'role':6} {'hook':28} {'site':8} {'insns':>5} {'runtime':>10} {'no-count':>10} " \
           f"{'bare':>10} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['arch']:7} {r['role']:6} {r['hook']:28} {r['site']:8} {r['instructions']:>5} "
              f"{r['runtime_calls_per_s']:>10,.0f} {r['runtime_nocount_calls_per_s']:>10,.0f} "
              f"{r['bare_calls_per_s']:>10,.0f} {r['ratio']:>6.2f}")
    print("\nratio = runtime / bare (1.00 would be the ceiling)\n")
    print(f"{'arch':7} {'ring 0 (native)':>16} {'PV kernel ring':>16} {'PV/ring0':>9}")
    for r in rings:
        print(f"{r['arch']:7} {r['ring0_calls_per_s']:>16,.0f} {r['pv_ring_calls_per_s']:>16,.0f} "
              f"{r['pv_ring_over_ring0']:>9.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"calls": a.calls, "runs": a.runs, "rows": rows, "rings": rings},
                                           indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
