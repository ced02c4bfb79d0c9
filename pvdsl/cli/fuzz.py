"""`pvdsl fuzz`: property-based ABI checking of every compiled hook.

Wired into the parser by pvdsl/cli/main.py's build_parser.
"""

from __future__ import annotations

import argparse
import sys
import time

EPILOG = """\
examples:
  pvdsl fuzz pvdsl/specs/backends/*.pv --targets all
  pvdsl fuzz examples/irq.pv --targets x86_64-domu,i386-domu --hooks 'pv_irq_ops.*' --examples 2000
  pvdsl fuzz my.pv --targets all --jobs 2 --json report.json

Each hook of each backend is built for each target and run on the
simulated host with generated arguments, vcpu_info states and a register
file full of junk; every execution is checked by the oracles (calling
convention, memory, hypercall marshalling, differential against the
reference interpreter, role), then the spec's laws and, for hooks whose
meaning does not depend on the word size, i386 against x86_64. A failure is
shrunk with Hypothesis and printed with a one-line replay command.
Deterministic for a given --seed. See docs/fuzzing.md.
Exit status: 0 everything passed, 1 a failure (or a spec that does not
build), 2 bad command line.
"""


def add_fuzz_parser(subparsers) -> argparse.ArgumentParser:
    f = subparsers.add_parser(
        "fuzz", help="fuzz every compiled hook against its ABI, the spec's laws and a reference interpreter",
        description="Build each SPEC for the chosen targets, run every hook of every backend on emulated "
                    "vCPUs with generated inputs and check each execution against the calling convention, "
                    "memory bounds, hypercall marshalling, the reference interpreter and the backend's role.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("specs", nargs="+", metavar="SPEC")
    f.add_argument("--targets", "-t", default="all", metavar="T,...",
                   help="comma-separated targets (ARCH-ROLE, e.g. x86_64-domu) or 'all' (default)")
    f.add_argument("--hooks", default="*", metavar="GLOB",
                   help="comma-separated globs over TABLE.HOOK or HOOK (default '*')")
    f.add_argument("--examples", type=_positive, default=300, metavar="N",
                   help="executions per hook and target (default 300)")
    f.add_argument("--seed", type=int, default=0, metavar="S", help="generator seed (default 0)")
    f.add_argument("--jobs", "-j", type=_positive, default=1, metavar="N",
                   help="worker processes, one target of one spec each at a time (default 1)")
    f.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE ('-' for stdout)")
    f.add_argument("--replay", metavar="EXAMPLE",
                   help="run one example (the JSON a failure report prints) instead of generating; needs one "
                        "target and one hook")
    f.add_argument("--asm", action="append", default=[], metavar="FILE",
                   help="a hand-written .s/.S file: each hook symbol it defines (e.g. xen_save_fl) replaces "
                        "the compiled hook, and is checked the same way (repeatable)")
    f.add_argument("--no-shrink", action="store_true", help="report the first failing example as found")
    f.add_argument("--no-laws", action="store_true", help="skip the spec's laws")
    f.add_argument("-I", dest="includes", action="append", default=[], metavar="DIR",
                   help="also look for imported modules in DIR")
    f.set_defaults(func=cmd_fuzz)
    return f


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"'{text}': must be at least 1")
    return n


def cmd_fuzz(args) -> int:
    from ..target.build import parse_targets
    from ..fuzz.campaign import Options
    from ..fuzz.driver import run_campaign

    try:
        targets = [t.name for t in parse_targets(args.targets)]
    except ValueError as err:
        print(f"pvdsl fuzz: error: {err}", file=sys.stderr)
        return 2
    opts = Options(targets=targets, hooks=[h.strip() for h in args.hooks.split(",") if h.strip()],
                   examples=args.examples, seed=args.seed, includes=tuple(args.includes), asm=tuple(args.asm),
                   shrink=not args.no_shrink, laws=not args.no_laws and args.replay is None,
                   cross_arch=args.replay is None)
    if args.replay is not None:
        from ..fuzz.driver import replay

        return replay(args.specs, opts, args.replay)
    t0 = time.perf_counter()
    return run_campaign(args.specs, opts, jobs=args.jobs, json_path=args.json, t0=t0)
