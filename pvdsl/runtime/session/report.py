"""The summary `pvdsl run` prints: as a dict (for --json) and as text."""

from __future__ import annotations

from ..errors import errno_name


def summary(machine, outcome, spec: str, workload: str, invariants: bool = True) -> dict:
    """invariants: check the host's frame table against its domains (a
    pass over every machine frame)."""
    m, hv = machine, machine.hv
    d = m.guest
    calls = {name: {"calls": s.calls, "faults": s.faults, "instructions": s.instructions, "patched": s.patched}
             for name, s in outcome.hooks.items()}
    hypercalls: dict[str, dict[str, int]] = {}
    boot = getattr(m, "boot_stats", {})
    for (name, rc), n in sorted(hv.stats.get(d.domid, {}).items(), key=lambda kv: (kv[0][0], kv[0][1])):
        n -= boot.get((name, rc), 0)
        if n:
            hypercalls.setdefault(name, {})[_rc(name, rc)] = n
    boot_calls: dict[str, dict[str, int]] = {}
    for (name, rc), n in sorted(boot.items()):
        boot_calls.setdefault(name, {})[_rc(name, rc)] = n
    return {
        "spec": spec,
        "workload": workload,
        "backend": m.built.name,
        "target": m.built.target.name,
        "role": m.role,
        "domain": {"id": d.domid, "name": d.name, "memory_bytes": d.kernel.nr_pages * 4096,
                   "vcpus": len(d.vcpus), "privileged": d.privileged, "native": d.native},
        "hooks_called": sum(s.calls for s in outcome.hooks.values()),
        "calls": calls,
        "hypercalls": hypercalls,
        "hypercalls_total": sum(sum(v.values()) for v in hypercalls.values()),
        "boot_hypercalls": boot_calls,
        "instructions": outcome.instructions,
        "upcalls_delivered": outcome.upcalls,
        "faults": [f.to_json() for f in outcome.faults],
        "abi_violations": outcome.abi_violations,
        "expectations": {"passed": outcome.passed, "failed": outcome.failed},
        "laws": outcome.laws,
        "console": d.console_text(),
        "shutdown_reason": d.shutdown_reason,
        "invariant_violations": hv.check_invariants() if invariants and not d.native else [],
        "elapsed_seconds": round(outcome.elapsed, 6),
    }


def _rc(name: str, rc: int) -> str:
    if name == "xen_version" and rc > 0:
        return f"{rc >> 16}.{rc & 0xFFFF}"
    return errno_name(rc) if rc < 0 else (str(rc) if rc < 4096 else hex(rc))


def format_text(s: dict) -> str:
    dom = s["domain"]
    where = "a native machine (no hypervisor)" if dom["native"] else (
        f"{dom['name']} ({s['role']}, {dom['memory_bytes'] >> 20} MiB, {dom['vcpus']} vCPU"
        f"{'s' if dom['vcpus'] != 1 else ''})")
    out = [f"pvdsl run {s['spec']} --target {s['target']}: backend {s['backend']} in {where}",
           f"workload: {s['workload']}"]
    nf = len(s["faults"])
    out.append(f"hooks called: {s['hooks_called']} ({s['hooks_called'] - sum(c['faults'] for c in s['calls'].values())}"
               f" returned, {sum(c['faults'] for c in s['calls'].values())} faulted)")
    width = max((len(k) for k in s["calls"]), default=0)
    for name, c in s["calls"].items():
        extra = f", {c['patched']} patched" if c["patched"] else ""
        fault = f", {c['faults']} FAULTED" if c["faults"] else ""
        out.append(f"  {name:<{width}}  {c['calls']:>6} call{'s' if c['calls'] != 1 else ' '}  "
                   f"{c['instructions']:>9} instructions{extra}{fault}")
    out.append(f"hypercalls: {s['hypercalls_total']}")
    for name, results in s["hypercalls"].items():
        out.append(f"  {name:<20} " + ", ".join(f"{rc} x{n}" for rc, n in results.items()))
    if s["boot_hypercalls"]:
        out.append("  (loading made " + ", ".join(f"{n} x{sum(r.values())}" for n, r in s["boot_hypercalls"].items())
                   + ", not counted above)")
    out.append(f"instructions executed: {s['instructions']}")
    if s["upcalls_delivered"]:
        out.append(f"event upcalls delivered: {s['upcalls_delivered']}")
    if s["console"]:
        out.append("console: " + s["console"].rstrip().replace("\n", "\n         "))
    if s["shutdown_reason"] is not None:
        out.append(f"domain shut down: reason {s['shutdown_reason']}")
    out.append(f"faults: {nf if nf else 'none'}")
    for f in s["faults"]:
        out.append(f"  {f['hook']}: {f['message']} at {f['address']:#x}"
                   + (f": {f['disassembly']}" if f["disassembly"] else f" (bytes {f['bytes']})"))
        regs = " ".join(f"{k}={v:#x}" for k, v in f["registers"].items())
        out.append(f"    {regs}")
    if s["abi_violations"]:
        out.append(f"ABI violations: {len(s['abi_violations'])}")
        out += [f"  {v}" for v in s["abi_violations"]]
    for name, law in s["laws"].items():
        verdict = "held" if not law["failures"] and not law["faults"] else \
            f"FAILED ({law['failures']} assertion failures, {law['faults']} faults)"
        out.append(f"law {name}: {law['cases']} case{'s' if law['cases'] != 1 else ''}, {verdict}")
    exp = s["expectations"]
    if exp["passed"] or exp["failed"]:
        out.append(f"expectations: {exp['passed']} passed, {len(exp['failed'])} failed")
        out += [f"  {f}" for f in exp["failed"]]
    if s["invariant_violations"]:
        out.append("HYPERVISOR INVARIANTS VIOLATED:")
        out += [f"  {v}" for v in s["invariant_violations"]]
    return "\n".join(out)
