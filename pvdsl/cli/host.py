"""`pvdsl host ...` and `pvdsl vm ...`: a long-lived simulated Xen host and
an xl-like client for it (see pvdsl/runtime/host/server.py for the protocol).

Wired into the parser by pvdsl/cli/main.py's build_parser.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

SOCKET_HELP = ("Unix socket of the host (default: $PVDSL_HOST, else $XDG_RUNTIME_DIR/pvdsl/host.sock, "
               "else /tmp/pvdsl-$UID/host.sock)")

HOST_EPILOG = """\
examples:
  pvdsl host start --socket /tmp/h.sock --background   # a daemon, logging to /tmp/h.log
  pvdsl host start --socket /tmp/h.sock                # or in the foreground
  pvdsl host status --socket /tmp/h.sock
  pvdsl host stop --socket /tmp/h.sock

The host keeps running until `pvdsl host stop` (or Ctrl-C); it removes its
socket when it stops. dom0 (Domain-0, x86_64, privileged) exists from start.
It also serves xenstore for Xen's tools (xenstore-ls, xenstore-read ...):
  XENSTORED_PATH=/tmp/h-xenstore.sock xenstore-ls /local/domain
"""

VM_EPILOG = """\
examples:
  export PVDSL_HOST=/tmp/h.sock
  pvdsl vm create examples/irq.pv --target x86_64-domu --memory 64M --name web
  pvdsl vm create examples/irq.pv --target i386-domu --memory 32M --name old
  pvdsl vm list
  pvdsl vm list --json
  pvdsl vm console web
  pvdsl vm mem-set web 48M      # the guest's balloon gives 16M back to the host
  pvdsl vm mem-set web 64M      # ... and takes it again
  pvdsl vm mem-max web 64M      # Xen gives it at most 64M (+1M), whatever the target
  pvdsl vm create examples/irq.pv --target x86_64-domu --memory 32M --name desk --fb 640x480
  pvdsl vm fb-snapshot desk desk.png   # its screen (with `host start --vnc`, also over VNC)
  pvdsl vm pause desk; pvdsl vm unpause desk
  pvdsl vm save web web.save          # suspend, write, destroy (-c: keep it running)
  pvdsl vm restore web.save           # a new domain, the guest resumes
  pvdsl vm migrate web 127.0.0.1:8002 # live, to a host started with --listen 127.0.0.1:8002
  pvdsl vm destroy old

A guest never goes below its balloon's floor (Linux's: 8M + half its memory
under 128M, 40M + a quarter under 512M, 104M + an eighth under 2G).

A domain's memory target is memory/target in xenstore; the guest kernel's
balloon driver watches it, so writing it with Xen's own tools works as well:
  XENSTORED_PATH=/tmp/h-xenstore.sock xenstore-write /local/domain/1/memory/target 32768

Exit status: 0 success, 1 the host refused the request or no host is
listening, 2 bad command line.
"""


def _socket(args) -> str:
    from ..runtime.host.server import default_socket_path

    return args.socket or default_socket_path()


def add_host_parsers(subparsers) -> None:
    from .run import parse_size

    h = subparsers.add_parser(
        "host", help="run a long-lived simulated Xen host that `pvdsl vm` talks to",
        description="Start, query or stop a long-lived simulated Xen host serving a Unix socket.",
        epilog=HOST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    hs = h.add_subparsers(dest="host_command", metavar="COMMAND", required=True)
    start = hs.add_parser("start", help="start a host, in the foreground or as a daemon (--background)",
                          description="Create a simulated Xen host with dom0 and serve requests on a Unix "
                                      "socket until `pvdsl host stop`; with --background, as a daemon.",
                          epilog=HOST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    start.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
    start.add_argument("--memory", type=parse_size, default=512 << 20, metavar="SIZE",
                       help="machine memory of the host, dom0 included (default 512M)")
    start.add_argument("--dom0-memory", type=parse_size, default=64 << 20, metavar="SIZE",
                       help="memory of dom0 (default 64M)")
    start.add_argument("--mem-prealloc", action="store_true",
                       help="commit all of the host's memory at start, as QEMU's -mem-prealloc does (slower to "
                            "start: one to three seconds a GiB on a virtualised machine): restores and arriving "
                            "migrations then write into memory that is there, instead of paying a page fault "
                            "per first-touched page")
    start.add_argument("--xenstore-socket", metavar="PATH",
                       help="Unix socket of the host's xenstored, for $XENSTORED_PATH (default: next to the "
                            "host's socket, <dir>/<stem>-xenstore.sock)")
    start.add_argument("--vnc", metavar="ADDR:PORT",
                       help="serve each framebuffer (vm create --fb) over VNC: the first on PORT, the next on "
                            "PORT+1 ... (e.g. 127.0.0.1:5900)")
    start.add_argument("--listen", metavar="ADDR:PORT",
                       help="receive live migrations (`vm migrate N ADDR:PORT` on another host) on this TCP "
                            "address, as `xl migrate-receive` does (e.g. 127.0.0.1:8002); the guests' drivers are "
                            "compiled before the host serves (about 2 s), not when the first guest arrives")
    start.add_argument("--background", action="store_true",
                       help="detach as a daemon; return once it accepts connections, printing its pid")
    start.add_argument("--log", metavar="FILE",
                       help="where the host writes its log (appended; default: stderr in the foreground, "
                            "next to the socket in the background: <dir>/<stem>.log)")
    start.set_defaults(func=cmd_host_start)
    for name, helptext in (("stop", "stop the host cleanly (removes its socket)"),
                           ("shutdown", "same as stop"),
                           ("status", "say whether a host is listening, and its free memory")):
        p = hs.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        p.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
        p.set_defaults(func=cmd_host_stop if name != "status" else cmd_host_status)

    v = subparsers.add_parser(
        "vm", help="create, list, inspect and destroy domains on a running `pvdsl host`",
        description="xl-like commands for the domains of a running `pvdsl host start`.",
        epilog=VM_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    vs = v.add_subparsers(dest="vm_command", metavar="COMMAND", required=True)
    c = vs.add_parser("create", help="build SPEC for a domU target, create a domain with it and boot it",
                      description="Build SPEC for target T in memory, create a new domain of T's arch on the "
                                  "host, load the backend into it and boot it (run the default workload: "
                                  "every hook once, then the spec's laws).",
                      epilog="example:\n  pvdsl vm create examples/irq.pv --target x86_64-domu --memory 64M "
                             "--name web", formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("spec", metavar="SPEC")
    c.add_argument("--target", "-t", required=True, metavar="T", help="a domU target, e.g. x86_64-domu")
    c.add_argument("--memory", type=parse_size, default=128 << 20, metavar="SIZE",
                   help="memory of the domain (default 128M)")
    c.add_argument("--name", required=True, metavar="N", help="the domain's name (unique on the host)")
    c.add_argument("--vcpus", type=int, default=1, metavar="N", help="vCPUs (default 1)")
    c.add_argument("--backend", metavar="NAME", help="which backend, when the spec has several for the target")
    c.add_argument("--fb", nargs="?", const="800x600", metavar="WxH[xD]",
                   help="give the domain a paravirtual framebuffer running the demo (default 800x600, depth 32)")
    c.add_argument("-I", "--include", action="append", default=[], metavar="DIR",
                   help="also look for imported modules in DIR")
    c.set_defaults(func=cmd_vm_create)
    ls = vs.add_parser("list", help="list the host's domains (Name, ID, Mem, VCPUs, State, Target)",
                       description="List the host's domains, like `xl list`.")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")
    ls.set_defaults(func=cmd_vm_list)
    co = vs.add_parser("console", help="show a domain's console log and boot summary",
                       description="Print what domain N wrote with console_io, then its boot summary.")
    co.add_argument("name", metavar="N")
    co.set_defaults(func=cmd_vm_console)
    for verb, helptext, desc in (
            ("mem-set", "set a domain's memory target (its balloon driver follows)",
             "Like `xl mem-set`: write memory/target for domain N (its name or id) and let Xen give it at "
             "most SIZE plus 1M (max_pages); the guest's balloon driver, watching memory/target over its "
             "own store ring, releases or reclaims pages until it holds SIZE. SIZE may not exceed the "
             "domain's memory/static-max (its memory at creation)."),
            ("mem-max", "set the most memory Xen lets a domain hold",
             "Like `xl mem-max`: max_pages of domain N becomes SIZE plus 1M; SIZE may not be below its "
             "current target. memory/static-max stays as it is (as libxl leaves it).")):
        mp = vs.add_parser(verb, help=helptext, description=desc)
        mp.add_argument("name", metavar="N", help="the domain's name or id")
        mp.add_argument("size", type=parse_size, metavar="SIZE", help="e.g. 128M, 1G, 131072K")
        mp.add_argument("--json", action="store_true", help="print the domain's memory afterwards as JSON")
        mp.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
        mp.set_defaults(func=cmd_vm_memory, op=verb)
    fs = vs.add_parser("fb-snapshot", help="write a domain's framebuffer, as its backend shows it, as a PNG",
                       description="Write a domain's framebuffer, as its backend shows it, as a PNG.")
    fs.add_argument("name", metavar="N", help="the domain's name or id")
    fs.add_argument("out", metavar="OUT.png")
    fs.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
    fs.set_defaults(func=cmd_vm_fb_snapshot)
    for verb, helptext in (("pause", "stop running a domain's guest kernel (xl pause); its state stays"),
                           ("unpause", "let a paused domain run again (xl unpause)")):
        pp = vs.add_parser(verb, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        pp.add_argument("name", metavar="N", help="the domain's name or id")
        pp.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
        pp.set_defaults(func=cmd_vm_pause, op=verb)
    sv = vs.add_parser("save", help="suspend a domain and write its state to FILE (xl save)",
                       description="Like `xl save`: ask domain N to suspend (control/shutdown), write its "
                                   "state as a migration stream v2 save file, then destroy it (or, with "
                                   "--checkpoint, let it run on). Xen's verify-stream-v2 reads the file.")
    sv.add_argument("name", metavar="N", help="the domain's name or id")
    sv.add_argument("file", metavar="FILE")
    sv.add_argument("--format", choices=("xl", "libxl", "libxc"), default="xl",
                    help="xl: xl's save file with the domain's configuration (default; `vm restore` needs it); "
                         "libxl / libxc: the bare streams")
    sv.add_argument("-c", "--checkpoint", action="store_true", help="leave the domain running after saving")
    sv.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
    sv.set_defaults(func=cmd_vm_save)
    mg = vs.add_parser("migrate", help="move a running domain to another host, live (xl migrate)",
                       description="Like `xl migrate`: send domain N to the host listening at HOST:PORT "
                                   "(`pvdsl host start --listen HOST:PORT`) while it runs: every page, then "
                                   "the pages it dirtied meanwhile, round after round, until fewer than 50 "
                                   "are dirty or after 5 rounds; then it is suspended, the rest sent, and it "
                                   "resumes there. On failure it resumes here. Dirty pages are found in log-dirty "
                                   "mode (the host kernel's userfaultfd write-protection, Linux 6.7 or later), "
                                   "else by comparing each page with a copy of what was sent; the report says "
                                   "which (dirty_tracking).")
    mg.add_argument("name", metavar="N", help="the domain's name or id")
    mg.add_argument("to", metavar="HOST:PORT")
    mg.add_argument("--json", action="store_true", help="print the report (rounds, pages, bytes, downtime) as JSON")
    mg.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
    mg.set_defaults(func=cmd_vm_migrate)
    rs = vs.add_parser("restore", help="create a domain from a save file (xl restore)",
                       description="Like `xl restore`: check the whole file, build a domain from the "
                                   "configuration it carries (new machine frames), put the saved state "
                                   "into it and resume the guest.")
    rs.add_argument("file", metavar="FILE")
    rs.add_argument("--name", help="the new domain's name (default: the saved one)")
    rs.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)
    rs.set_defaults(func=cmd_vm_restore)
    de = vs.add_parser("destroy", help="destroy a domain and give its memory back to the host",
                       description="Destroy domain N: close its event channels, free its frames.")
    de.add_argument("name", metavar="N")
    de.set_defaults(func=cmd_vm_destroy)
    for p in (c, ls, co, de):
        p.add_argument("--socket", metavar="PATH", help=SOCKET_HELP)


def _call(args, req: dict, who: str, progress=None):
    from ..runtime.host.server import HostUnavailable, request

    path = _socket(args)
    try:
        resp = request(path, req, timeout=600.0 if progress is not None else 120.0, progress=progress)
    except HostUnavailable as err:
        print(f"pvdsl {who}: error: {err}", file=sys.stderr)
        return None
    except (OSError, ValueError) as err:
        print(f"pvdsl {who}: error: talking to the host at {path}: {err}", file=sys.stderr)
        return None
    if not resp.get("ok"):
        print(f"pvdsl {who}: error: {resp.get('error', 'the host refused the request')}", file=sys.stderr)
        return None
    return resp


def cmd_vm_fb_snapshot(args) -> int:
    resp = _call(args, {"op": "fb-snapshot", "name": args.name, "path": str(Path(args.out).resolve())},
                 "vm fb-snapshot")
    if resp is None:
        return 1
    print(f"{resp['name']}: {resp['width']}x{resp['height']} written to {resp['path']} (frame {resp['frames']})")
    return 0


def cmd_host_start(args) -> int:
    from ..runtime.errors import RuntimeSetupError
    from ..runtime.host.server import Host, serve

    if args.dom0_memory + (8 << 20) > args.memory:
        print("pvdsl host start: error: --memory must leave room beyond --dom0-memory", file=sys.stderr)
        return 2
    if args.background:
        from ..runtime.host.daemon import start_background

        return start_background(args, _socket(args))
    try:
        log = open(args.log, "a", buffering=1) if args.log else sys.stderr
    except OSError as err:
        print(f"pvdsl host start: error: cannot write the log {args.log}: {err.strerror}", file=sys.stderr)
        return 1
    previous = _stop_on_sigterm()
    try:
        try:
            host = Host(args.memory, args.dom0_memory, prealloc=args.mem_prealloc)
        except RuntimeSetupError as err:
            print(f"pvdsl host start: error: {err}", file=log)
            return 1
        if args.vnc:
            from ..runtime.host.framebuffers import FbConfigError, parse_vnc

            try:
                host.vnc = parse_vnc(args.vnc)
            except FbConfigError as err:
                print(f"pvdsl host start: error: {err}", file=log)
                return 2
        listen = None
        if args.listen:
            from ..runtime.host.migrate import MigrationError, parse_addr, warm_receiver

            try:
                listen = parse_addr(args.listen)
            except MigrationError as err:
                print(f"pvdsl host start: error: --listen {err}", file=log)
                return 2
            warm_receiver()  # before serving: the same work alongside an arriving guest would slow both
        return serve(_socket(args), host, log=log, xenstore_path=args.xenstore_socket, listen=listen)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if log is not sys.stderr:
            log.close()


def _stop_on_sigterm():
    """`kill PID` stops a host as cleanly as Ctrl-C does (its socket removed).
    Returns the handler it replaced (None off the main thread, where none can be set)."""
    def stop(_signum, _frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:
        return None


def cmd_host_stop(args) -> int:
    import time

    resp = _call(args, {"op": "stop"}, "host stop")
    if resp is None:
        return 1
    # The host answers before it closes: wait (briefly) until its socket is gone.
    path, deadline = _socket(args), time.monotonic() + 10
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    print(f"host at {path} stopped")
    return 0


def cmd_host_status(args) -> int:
    resp = _call(args, {"op": "info"}, "host status")
    if resp is None:
        return 1
    print(f"host at {_socket(args)}: pid {resp['pid']}, {resp['domains']} domain(s), "
          f"{resp['free_mib']}M of {resp['total_mib']}M free")
    if resp.get("xenstore"):
        print(f"xenstore at {resp['xenstore']}")
    return 0


def cmd_vm_create(args) -> int:
    from .run import _spec_path

    spec = _spec_path(args.spec)
    if not spec.is_file():
        print(f"pvdsl vm create: error: spec file not found: {args.spec}", file=sys.stderr)
        return 1
    req = {"op": "create", "spec": str(spec.resolve()), "target": args.target, "memory": args.memory,
           "name": args.name, "vcpus": args.vcpus, "include": [str(Path(i).resolve()) for i in args.include]}
    if args.backend:
        req["backend"] = args.backend
    if args.fb:
        req["fb"] = args.fb
    resp = _call(args, req, "vm create")
    if resp is None:
        return 1
    vm = resp["vm"]
    print(f"created domain {vm['name']} (id {vm['id']}, {vm['target']}, {vm['mem']}M): boot {resp['status']}")
    if resp.get("fb"):
        fb = resp["fb"]
        where = f", VNC at {fb['vnc']}" if fb.get("vnc") else ""
        print(f"framebuffer {fb['width']}x{fb['height']}x{fb['depth']} connected{where}")
    return 0 if resp["status"] == "ok" else 1


def format_table(rows: list[dict]) -> str:
    """`xl list`'s columns (Mem: what the domain holds now, in MiB) plus its
    memory target (MemTarget) and the build target it runs."""
    head = f"{'Name':<24} {'ID':>5} {'Mem':>5} {'MemTarget':>9} {'VCPUs':>5}  {'State':<6}  Target"
    lines = [head]
    for r in rows:
        tgt = "-" if r.get("mem_target") is None else str(r["mem_target"])
        lines.append(f"{r['name']:<24} {r['id']:>5} {r['mem']:>5} {tgt:>9} {r['vcpus']:>5}  {r['state']:<6}  "
                     f"{r['target']}")
    return "\n".join(lines)


def cmd_vm_memory(args) -> int:
    resp = _call(args, {"op": args.op, "name": args.name, "memory": args.size}, f"vm {args.op}")
    if resp is None:
        return 1
    if args.json:
        print(json.dumps({k: v for k, v in resp.items() if k != "ok"}, indent=2))
    elif args.op == "mem-set":
        b = resp.get("balloon") or {}
        print(f"{resp['name']}: target {resp['target_kib'] >> 10}M, holds {resp['mem']}M now"
              + (f" (balloon: {b['state']})" if b else ""))
    else:
        print(f"{resp['name']}: at most {resp['max_kib'] >> 10}M (max_pages {resp['max_pages']})")
    if resp.get("status") == "crashed":
        print(f"pvdsl vm {args.op}: {resp['name']} crashed: {resp.get('crash_reason')}", file=sys.stderr)
        return 1
    return 0


def cmd_vm_list(args) -> int:
    resp = _call(args, {"op": "list"}, "vm list")
    if resp is None:
        return 1
    if args.json:
        print(json.dumps(resp["domains"], indent=2))
    else:
        print(format_table(resp["domains"]))
    return 0


def cmd_vm_console(args) -> int:
    resp = _call(args, {"op": "console", "name": args.name}, "vm console")
    if resp is None:
        return 1
    text = resp["console"]
    print(f"--- console of {resp['name']} ---")
    print(text.rstrip("\n") if text else "(no console output)")
    print(f"--- boot summary of {resp['name']} ---")
    print(resp["boot"])
    return 0


def cmd_vm_pause(args) -> int:
    resp = _call(args, {"op": args.op, "name": args.name}, f"vm {args.op}")
    if resp is None:
        return 1
    print(f"{resp['name']}: {'paused' if resp['paused'] else 'running'}")
    return 0


class _Progress:
    """A progress bar (pages done / total) on a terminal, nothing elsewhere."""

    def __init__(self, what: str):
        self.what, self.bar = what, None

    def __call__(self, event: str, n: int) -> None:
        if event == "total":
            if sys.stderr.isatty():
                from tqdm import tqdm

                self.bar = tqdm(total=n, unit="page", desc=self.what, leave=False, file=sys.stderr)
        elif self.bar is not None:
            if self.bar.n + n > self.bar.total:  # a later round of a live migration
                self.bar.total = self.bar.n + n
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _call_with_progress(args, req: dict, who: str, what: str):
    bar = _Progress(what)
    try:
        return _call(args, req, who, progress=bar)
    finally:
        bar.close()


def cmd_vm_migrate(args) -> int:
    resp = _call_with_progress(args, {"op": "migrate", "name": args.name, "to": args.to}, "vm migrate",
                               f"migrating {args.name}")
    if resp is None:
        return 1
    if args.json:
        print(json.dumps({k: v for k, v in resp.items() if k != "ok"}, indent=2))
        return 0
    print(f"{resp['name']}: migrated to {resp['to']} as domain {resp['remote'].get('id')} in "
          f"{resp['seconds']:.2f} s, {resp['rounds']} rounds (pages: "
          f"{', '.join(str(n) for n in resp['pages_per_round'])}), {resp['bytes']} bytes "
          f"({resp['mib_per_s']:.0f} MiB/s), downtime {1e3 * resp['downtime_s']:.0f} ms, dirty pages by "
          f"{resp['dirty_tracking']}")
    return 0


def cmd_vm_save(args) -> int:
    resp = _call_with_progress(args, {"op": "save", "name": args.name, "path": str(Path(args.file).resolve()),
                                      "format": args.format, "checkpoint": args.checkpoint}, "vm save",
                               f"saving {args.name}")
    if resp is None:
        return 1
    then = f"resumed ({resp['resumed']})" if "resumed" in resp else "destroyed"
    print(f"{resp['name']}: {resp['pages']} pages, {resp['bytes']} bytes written to {resp['path']} "
          f"({resp['format']}); {then}")
    return 0


def cmd_vm_restore(args) -> int:
    req = {"op": "restore", "path": str(Path(args.file).resolve())}
    if args.name:
        req["name"] = args.name
    resp = _call_with_progress(args, req, "vm restore", "restoring")
    if resp is None:
        return 1
    print(f"restored {resp['name']} (id {resp['id']}): {resp['pages']} pages, {resp['vcpus']} vCPU(s), running")
    return 0


def cmd_vm_destroy(args) -> int:
    resp = _call(args, {"op": "destroy", "name": args.name}, "vm destroy")
    if resp is None:
        return 1
    print(f"destroyed {resp['name']}: {resp['frames_freed']} frames freed, {resp['free_frames']} free")
    if resp.get("invariant_violations"):
        print("host invariants violated:\n  " + "\n  ".join(resp["invariant_violations"]), file=sys.stderr)
        return 1
    return 0


def main_host(argv=None) -> int:
    """A stand-alone entry (`python -m pvdsl.cli.host host start ...`),
    with only the host verbs."""
    parser = argparse.ArgumentParser(prog="pvdsl")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_host_parsers(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main_host())
