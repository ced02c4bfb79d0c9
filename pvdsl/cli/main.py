"""The `pvdsl` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .. import __version__
from ..arch import ARCHES
from ..diagnostics import Diagnostics

_EPILOG = """\
examples:
  pvdsl check examples/irq.pv            check a spec and everything it imports
  pvdsl check --json examples/*.pv       diagnostics as a JSON list, for scripts
  pvdsl abi examples/irq.pv --arch i386  struct layouts, hypercalls, table slots
  pvdsl abi xen/abi.pv --arch x86_64 --json
  pvdsl fmt --check examples/*.pv        exit 1 if a file is not canonically formatted
  pvdsl build examples/irq.pv --target all -o build/
                                         objects, IR, assembly, manifests, C header
  pvdsl run examples/irq.pv --target x86_64-domu
                                         boot a simulated Xen host and run the backend's hooks
  pvdsl host start --socket /tmp/h.sock  a long-lived simulated host; then, from another shell:
  pvdsl vm create examples/irq.pv --target i386-domu --memory 64M --name guest1 --socket /tmp/h.sock

Imports (`import xen.abi;`) are looked up next to the importing file, then in
the directories given with -I, then in the shipped library (pvdsl/specs).
Exit status: 0 success, 1 errors were reported, 2 bad command line.
"""


def _diags_out(diags: Diagnostics, as_json: bool) -> None:
    if as_json:
        print(diags.to_json())
    elif diags.items:
        print(diags.render(), file=sys.stderr)
        n = sum(d.severity == "error" for d in diags.items)
        if n:
            print(f"{n} error{'s' if n != 1 else ''} reported", file=sys.stderr)


def _resolve_spec_path(name: str) -> Path:
    """A file path, or a module of the shipped library spelled as a path."""
    from ..sema.modules import SPECS_ROOT

    path = Path(name)
    if not path.exists() and not path.is_absolute() and (SPECS_ROOT / path).exists():
        return SPECS_ROOT / path
    return path


def cmd_check(args) -> int:
    from ..sema.program import check_each

    diags = Diagnostics()
    check_each([_resolve_spec_path(p) for p in args.files], diags, [Path(p) for p in args.include])
    _diags_out(diags, args.json)
    return 1 if diags.has_errors else 0


def cmd_abi(args) -> int:
    from ..sema.abi import abi_of, format_abi
    from ..sema.program import check_paths

    diags = Diagnostics()
    program = check_paths([_resolve_spec_path(args.file)], diags, [Path(p) for p in args.include])
    if diags.has_errors:
        _diags_out(diags, False)
        return 1
    arches = [args.arch] if args.arch else list(ARCHES)
    abis = [abi_of(program.view(a)) for a in arches]
    if args.json:
        print(json.dumps(abis[0] if len(abis) == 1 else abis, indent=2))
    else:
        print("\n\n".join(format_abi(a) for a in abis))
    return 0


def cmd_build(args) -> int:
    from ..sema.program import check_each
    from ..target.build import EMIT_KINDS, build_program, parse_targets, write_files
    from ..target.objects import BuildError

    try:
        targets = parse_targets(args.target)
    except ValueError as err:
        print(f"pvdsl build: error: {err}", file=sys.stderr)
        return 2
    emit = tuple(k.strip() for k in args.emit.split(",")) if args.emit else EMIT_KINDS
    unknown = [k for k in emit if k not in EMIT_KINDS]
    if unknown:
        print(f"pvdsl build: error: unknown --emit kind '{unknown[0]}' (expected some of: "
              f"{', '.join(EMIT_KINDS)})", file=sys.stderr)
        return 2
    diags = Diagnostics()
    programs = check_each([_resolve_spec_path(p) for p in args.files], diags, [Path(p) for p in args.include])
    _diags_out(diags, False)
    if diags.has_errors:
        return 1
    out = Path(args.output)
    try:
        result = build_program(programs[0], targets, out, emit)
        for program in programs[1:]:
            more = build_program(program, targets, out, emit)
            clash = set(more.files) & set(result.files)
            if clash:
                raise BuildError(f"two files define backends that write {sorted(map(str, clash))[0]}")
            result.files.update(more.files)
            result.built += more.built
            result.skipped += more.skipped
    except BuildError as err:
        print(f"pvdsl build: error: {err}", file=sys.stderr)
        return 1
    if not result.built:
        print("pvdsl build: error: no backend in these files is declared for the requested targets",
              file=sys.stderr)
        for line in result.skipped:
            print(f"  note: {line}", file=sys.stderr)
        return 1
    write_files(result.files)
    if args.json:
        print(json.dumps({"files": sorted(str(p) for p in result.files),
                          "built": [{"backend": b, "target": t, "hooks": len(c.lowered.hooks),
                                     "patch_templates": len(c.templates)} for b, t, c in result.built],
                          "skipped": result.skipped}, indent=2))
    elif not args.quiet:
        for backend, target, c in result.built:
            print(f"built {backend}-{target}: {len(c.lowered.hooks)} hooks, {len(c.lowered.tables)} "
                  f"table{'s' if len(c.lowered.tables) != 1 else ''}, {len(c.templates)} patch templates, "
                  f"{len(c.obj)} bytes")
        print(f"wrote {len(result.files)} files to {out}/")
    return 0


def cmd_abidiff(args) -> int:
    from ..sema.abi import abi_of
    from ..sema.abidiff import EXIT_ERROR, diff_abi, exit_status
    from ..sema.program import check_paths

    abis = []
    for name in (args.old, args.new):
        diags = Diagnostics()
        program = check_paths([_resolve_spec_path(name)], diags, [Path(p) for p in args.include])
        if diags.has_errors:
            _diags_out(diags, False)
            return EXIT_ERROR
        # Only what the file itself declares: an imported library is not part of the comparison.
        abis.append(abi_of(program.view(args.arch), program.roots))
    changes = diff_abi(*abis)
    status = exit_status(changes)
    if args.json:
        print(json.dumps({"old": args.old, "new": args.new, "arch": args.arch,
                          "changes": [c.to_json() for c in changes],
                          "incompatible": sum(not c.compatible for c in changes),
                          "compatible": sum(c.compatible for c in changes), "exit_status": status}, indent=2))
    else:
        for c in changes:
            print(c.describe())
        bad = sum(not c.compatible for c in changes)
        print(f"{len(changes)} change{'s' if len(changes) != 1 else ''}, {bad} incompatible "
              f"({args.old} -> {args.new}, {args.arch})")
    return status


def cmd_fmt(args) -> int:
    from ..source import SourceFile
    from ..syntax.parser import parse_source
    from ..syntax.printer import format_module

    diags = Diagnostics()
    status = 0
    for name in args.files:
        try:
            source = SourceFile.read(name)
        except OSError as err:
            print(f"{name}: error: cannot read: {err.strerror}", file=sys.stderr)
            status = 1
            continue
        module = parse_source(source, diags)
        if module is None:
            continue
        text = format_module(module, source.text)
        if args.check:
            if text != source.text:
                print(f"{name}: not formatted", file=sys.stderr)
                status = 1
        elif args.write:
            if text != source.text:
                Path(name).write_text(text)
        else:
            sys.stdout.write(text)
    _diags_out(diags, False)
    return 1 if diags.has_errors else status


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pvdsl",
        description="pvdsl: a language and compiler for paravirtualisation hook tables "
                    "(Linux pv_ops on bare metal and Xen).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"pvdsl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def include(sp):
        sp.add_argument("-I", "--include", action="append", default=[], metavar="DIR",
                        help="also look for imported modules in DIR")

    c = sub.add_parser("check", help="parse and check specs; report every error",
                       description="Parse and check specs, and everything they import, for both arches. "
                                   "All errors are reported together, sorted by position.")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--json", action="store_true", help="print diagnostics as a JSON list on stdout")
    include(c)
    c.set_defaults(func=cmd_check)

    a = sub.add_parser("abi", help="print the ABI of a spec: layouts, hypercalls, table slots, constants",
                       description="Print the ABI a spec defines on one arch (both if --arch is omitted): "
                                   "struct sizes and field offsets, hypercall numbers and arguments, table "
                                   "slots, constants.")
    a.add_argument("file", metavar="FILE")
    a.add_argument("--arch", choices=sorted(ARCHES), help="the arch to lay out for (default: both)")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    include(a)
    a.set_defaults(func=cmd_abi)

    b = sub.add_parser("build", help="compile backends to ELF objects, IR, assembly, manifests and C headers",
                       description="Compile every backend of the given specs for each requested target it is "
                                   "declared for. Per backend and target: DIR/<backend>-<target>.o (ELF "
                                   "relocatable), .ll, .s and .manifest.json; per backend: DIR/<backend>.h, "
                                   "valid for gcc -m32 and -m64. Nothing is written unless everything built.",
                       epilog="targets: i386-native i386-domu i386-dom0 x86_64-native x86_64-domu x86_64-dom0, "
                              "or 'all'\n\nexample:\n  pvdsl build examples/irq.pv --target all -o build/",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("files", nargs="+", metavar="FILE")
    b.add_argument("--target", "-t", default="all", metavar="T[,T...]",
                   help="ARCH-ROLE targets to build, comma-separated, or 'all' (default)")
    b.add_argument("-o", "--output", default="build", metavar="DIR", help="output directory (default: build)")
    b.add_argument("--emit", metavar="KINDS", help="what to write: some of ll,asm,obj,header,manifest (default: all)")
    b.add_argument("--json", action="store_true", help="print a JSON summary of what was built")
    b.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    include(b)
    b.set_defaults(func=cmd_build)

    d = sub.add_parser("abidiff", help="compare the ABIs of two specs (exit bits as libabigail's abidiff)",
                       description="Compare the ABI two specs declare on one arch: removed and added hooks, "
                                   "slot shifts, signature and callee_save changes, struct size and offset "
                                   "changes, hypercall number and privilege changes, constant changes. Each "
                                   "change is compatible or incompatible. Only what each file declares itself "
                                   "is compared, not what it imports.",
                       epilog="exit status: 0 no change, 4 compatible changes only, 12 (4|8) incompatible "
                              "changes, 1 error\n\nexample:\n  pvdsl abidiff linux/pvops_2_6_24.pv "
                              "linux/pvops_6_1.pv --arch x86_64",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("old", metavar="OLD")
    d.add_argument("new", metavar="NEW")
    d.add_argument("--arch", choices=sorted(ARCHES), required=True)
    d.add_argument("--json", action="store_true", help="machine-readable output")
    include(d)
    d.set_defaults(func=cmd_abidiff)

    f = sub.add_parser("fmt", help="print specs in canonical form",
                       description="Print each spec in canonical form (comments are not kept). "
                                   "--check exits 1 if any file differs; --write rewrites files in place.")
    f.add_argument("files", nargs="+", metavar="FILE")
    mode = f.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report files that are not canonical")
    mode.add_argument("--write", action="store_true", help="rewrite files in place")
    f.set_defaults(func=cmd_fmt)

    from .host import add_host_parsers
    from .run import add_run_parser  # these import nothing heavy until used
    add_run_parser(sub)
    add_host_parsers(sub)
    from .fuzz import add_fuzz_parser

    add_fuzz_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # a pvdsl bug: say so plainly, keep the trace for whoever debugs it
        if os.environ.get("PVDSL_DEBUG"):
            raise
        print(f"pvdsl: internal error: {type(err).__name__}: {err}\n"
              "This is a bug in pvdsl, not in your spec; run again with PVDSL_DEBUG=1 for the trace.",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
