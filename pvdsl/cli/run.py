"""`pvdsl run`: build a spec in memory, boot a simulated Xen host (or a bare
machine for the native role), load the backend, run a workload, summarise.

Wired into the parser by pvdsl/cli/main.py's build_parser.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

_SIZE = re.compile(r"^(\d+)\s*([KMG]i?B?|B)?$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}

EPILOG = """\
examples:
  pvdsl run examples/irq.pv --target x86_64-domu
  pvdsl run examples/mmu.pv --target i386-dom0 --memory 64M --json
  pvdsl run examples/irq.pv --target x86_64-native --workload irq.wl --patched

The default workload calls every hook of every table the backend fills once,
in slot order, then checks the spec's laws about those tables. A workload
file has one statement per line (call, expect, law, set, send, deliver,
upcalls, vcpu, repeat ... end); see docs/runtime.md.
Exit status: 0 no fault and every expectation held, 1 a fault, a failed
expectation or a spec/workload error, 2 bad command line.
"""


def parse_size(text: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size (e.g. 256M, 1G, 65536K)")
    unit = (m.group(2) or "").upper()[:1]
    value = int(m.group(1)) * _UNITS[unit]
    if value < 8 << 20:
        raise argparse.ArgumentTypeError(f"'{text}': a domain needs at least 8M")
    return value


def add_run_parser(subparsers) -> argparse.ArgumentParser:
    r = subparsers.add_parser(
        "run", help="run a backend's hooks on emulated vCPUs under a simulated Xen host",
        description="Build SPEC for one target in memory, create dom0 (privileged) and one domU of the "
                    "target's arch on a simulated Xen host, load the backend into the domain of its role "
                    "(a native-role backend runs on a bare machine instead), run a workload of hook calls "
                    "on emulated vCPUs and print what happened: hooks called, hypercalls by name and "
                    "result, instructions executed, faults.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("spec", metavar="SPEC")
    r.add_argument("--target", "-t", required=True, metavar="T", help="ARCH-ROLE, e.g. x86_64-domu")
    r.add_argument("--memory", type=parse_size, default=128 << 20, metavar="SIZE",
                   help="memory of the domain the backend runs in (default 128M); next to a dom0 "
                        "backend runs a 16M domU")
    r.add_argument("--dom0-memory", type=parse_size, default=64 << 20, metavar="SIZE",
                   help="memory of dom0 when the backend runs in the domU (default 64M)")
    r.add_argument("--vcpus", type=int, default=1, metavar="N", help="vCPUs of that domain (default 1)")
    r.add_argument("--backend", metavar="NAME", help="which backend, when the spec has several for the target")
    r.add_argument("--workload", metavar="FILE", help="workload file (default: every hook once)")
    r.add_argument("--patched", action="store_true",
                   help="call hooks that have a patch template through their patched call site")
    r.add_argument("--budget", type=int, default=1_000_000, metavar="N",
                   help="instruction budget per hook call (default 1000000)")
    r.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="wall-clock limit per hook call (default 5)")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.add_argument("-I", "--include", action="append", default=[], metavar="DIR",
                   help="also look for imported modules in DIR")
    r.set_defaults(func=cmd_run)
    return r


def _spec_path(name: str) -> Path:
    from ..sema.modules import SPECS_ROOT

    path = Path(name)
    if not path.exists() and not path.is_absolute() and (SPECS_ROOT / path).exists():
        return SPECS_ROOT / path
    return path


def cmd_run(args) -> int:
    from ..arch import TARGETS
    from ..runtime.errors import LoadError, RuntimeSetupError
    from ..runtime.session.report import format_text, summary
    from ..runtime.session.machine import Machine, SpecError, build_backends
    from ..runtime.session.workload import Runner, WorkloadError, default_workload, parse

    if args.target not in TARGETS:
        print(f"pvdsl run: error: unknown target '{args.target}' (expected one of: {', '.join(TARGETS)})",
              file=sys.stderr)
        return 2
    if not 1 <= args.vcpus <= 16:
        print("pvdsl run: error: --vcpus must be between 1 and 16", file=sys.stderr)
        return 2
    target = TARGETS[args.target]
    spec = _spec_path(args.spec)
    text = None
    if args.workload:
        try:
            text = Path(args.workload).read_text()
        except OSError as err:
            print(f"pvdsl run: error: cannot read {args.workload}: {err.strerror}", file=sys.stderr)
            return 1
    try:
        built = build_backends(spec, target, args.include, args.backend)
    except SpecError as err:
        print(str(err), file=sys.stderr)
        return 1
    if not built:
        which = f"a backend '{args.backend}'" if args.backend else "a backend"
        print(f"pvdsl run: error: {spec} has no {which} declared for {target.name}", file=sys.stderr)
        return 1
    results, status = [], 0
    for b in built:
        try:
            machine = Machine(b, memory=args.memory, dom0_memory=args.dom0_memory, vcpus=args.vcpus,
                              budget=args.budget, timeout=args.timeout)
            wl_text = text if text is not None else default_workload(machine)
            if args.patched:
                wl_text = re.sub(r"^(\s*)call(?!\s+patched)\s", r"\1call patched ", wl_text, flags=re.M)
            name = args.workload or "default (every hook once, then the laws)"
            outcome = Runner(machine, args.workload or "<default workload>").run(parse(wl_text, name))
        except (WorkloadError, LoadError, RuntimeSetupError) as err:
            print(f"pvdsl run: error: {b.name}-{target.name}: {err}", file=sys.stderr)
            return 1
        s = summary(machine, outcome, str(args.spec), name)
        results.append(s)
        if s["faults"] or s["expectations"]["failed"] or s["invariant_violations"]:
            status = 1
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        print("\n\n".join(format_text(s) for s in results))
    return status
