"""A long-lived simulated Xen host serving a Unix socket (`pvdsl host start`).

One `Hypervisor` lives for the whole process; dom0 (x86_64, privileged) is
built when the host starts. Each `create` builds a spec for a domU target in
memory, builds a new PV domain on the same host, loads the backend into it
and boots it by running the default workload; `destroy` gives every frame
the domain held back to the heap.

The host also runs xenstored (xs_host.py): each domain gets what xl writes
for it and its store ring is served; the tools reach the store through a
second Unix socket (`--xenstore-socket`, by default next to the host's own:
<dir>/<stem>-xenstore.sock), the one to put in $XENSTORED_PATH.

Protocol: one JSON object per line each way. Request {"op": OP, ...};
response {"ok": true, ...} or {"ok": false, "error": MESSAGE, "field": NAME}
("field" names the request field at fault, when there is one). Ops: ping,
info, create, list, console, destroy, mem-set, mem-max, stop. A bad request never stops the
server.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import traceback
from collections import Counter
from pathlib import Path

from .builder import MIB, build_pv_domain
from .memory import LIBXL_MAXMEM_CONSTANT_KIB, MemoryError_, mem_max, mem_set, memory_row
from ..xen.domain_kill import kill_domain
from ..session.machine import XEN_RESERVE_BYTES, Machine

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_LINE = 1 << 20
DEFAULT_HOST_MEMORY = 512 * MIB
DEFAULT_DOM0_MEMORY = 64 * MIB


def default_socket_path() -> str:
    """$PVDSL_HOST, else $XDG_RUNTIME_DIR/pvdsl/host.sock, else /tmp/pvdsl-$UID/host.sock."""
    env = os.environ.get("PVDSL_HOST")
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return os.path.join(xdg, "pvdsl", "host.sock")
    return f"/tmp/pvdsl-{os.getuid()}/host.sock"


class RequestError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class _DomainMachine(Machine):
    """A Machine whose guest is one domain of a shared host (no own Hypervisor)."""

    def __init__(self, hv, built, guest, dom0, budget: int, timeout: float):  # noqa: D401 - no super().__init__
        from ..cpu.calls import HookCaller
        from ..guest.loader import load_object
        from ..cpu.vcpu import EmulatedCpu

        self.built, self.hv = built, hv
        self.role = built.target.role
        self.dom0, self.domu, self.guest = dom0, guest, guest
        self.cpus = [EmulatedCpu(hv, v, True) for v in guest.vcpus]
        self.loaded = load_object(hv, guest, built.obj, built.manifest, built.signatures, self.cpus,
                                  name=f"{built.name}-{built.target.name}.o")
        self.callers = [HookCaller(cpu, self.loaded, budget, timeout) for cpu in self.cpus]
        self.boot_stats = Counter(hv.stats.get(guest.domid, {}))


class VM:
    def __init__(self, name, domid, target, spec, memory, machine, boot_text, status):
        self.name, self.domid, self.target, self.spec = name, domid, target, spec
        self.memory, self.machine, self.boot_text, self.status = memory, machine, boot_text, status
        self.kernel = None  # the guest kernel (drivers, xenstore client), once booted
        self.crash_reason: str | None = None
        self.paused = False  # xl pause: the guest kernel gets no turn
        self.incoming = False  # a restore or an arriving migration is filling it: no request may touch it
        self.config: dict = {}  # what `vm create` was given: a save file carries it

    def row(self) -> dict:
        d = self.machine.guest
        state = "-b----" if self.status == "ok" else "--c---"  # blocked (idle) / crashed (faulted)
        if self.paused and self.status == "ok":
            state = "--p---"
        if d.shutdown_reason is not None:
            state = "---s--"
        return {"name": self.name, "id": self.domid, "mem": d.tot_pages >> 8, "vcpus": len(d.vcpus),
                "state": state, "target": self.target, "spec": self.spec, "status": self.status,
                "tot_pages": d.tot_pages, "crash_reason": self.crash_reason, "paused": self.paused}


class Host:
    def __init__(self, memory: int = DEFAULT_HOST_MEMORY, dom0_memory: int = DEFAULT_DOM0_MEMORY,
                 prealloc: bool = False):
        from ..xen.hypervisor import Hypervisor

        self.hv = Hypervisor(memory + XEN_RESERVE_BYTES, prealloc=prealloc)
        self.dom0 = build_pv_domain(self.hv, "x86_64", dom0_memory, 0, True, kernel_bytes=1 * MIB)
        self.dom0.name = "Domain-0"
        self.dom0_memory = dom0_memory
        from ..xenstore.host import HostXenstore

        self.xenstore = HostXenstore(self.hv)
        self.xenstore_path: str | None = None
        self.lock = self.xenstore.lock  # requests, guests' rings and store sockets take turns
        self.vms: dict[str, VM] = {}
        self.next_domid = 1

    # ---- ops ----
    def info(self) -> dict:
        mem = self.hv.mem
        return {"total_frames": mem.nframes, "free_frames": mem.free_frames,
                "total_mib": mem.nframes * 4096 >> 20, "free_mib": mem.free_frames * 4096 >> 20,
                "domains": len(self.hv.domains), "pid": os.getpid(), "xenstore": self.xenstore_path}

    def create(self, req: dict) -> dict:
        from ...arch import TARGETS
        from ..errors import LoadError, RuntimeSetupError
        from ..session.report import format_text, summary
        from ..session.machine import SpecError, build_backends_cached
        from ..session.workload import Runner, WorkloadError, default_workload, parse
        from ..guest.balloon import BalloonError
        from ..guest.kernel import GuestKernel
        from ..guest.xenbus import XenbusError
        from ..xenstore.store import XsError

        name = _field(req, "name", str)
        if not NAME_RE.match(name):
            raise RequestError(f"invalid name '{name}' (letters, digits, '_', '.', '-'; at most 64)", "name")
        if name in self.vms or name == self.dom0.name:
            raise RequestError(f"a domain named '{name}' already exists", "name")
        tname = _field(req, "target", str)
        if tname not in TARGETS:
            raise RequestError(f"unknown target '{tname}' (expected one of: {', '.join(TARGETS)})", "target")
        target = TARGETS[tname]
        if target.role != "domu":
            raise RequestError(f"target '{tname}' is not a domU target: `vm create` runs a backend in a new "
                               "guest domain (use `pvdsl run` for dom0 and native roles)", "target")
        memory = _field(req, "memory", int, 128 * MIB)
        if memory < 8 * MIB or memory % 4096:
            raise RequestError("memory must be a multiple of 4K and at least 8M", "memory")
        vcpus = _field(req, "vcpus", int, 1)
        if not 1 <= vcpus <= 16:
            raise RequestError("vcpus must be between 1 and 16", "vcpus")
        spec = _field(req, "spec", str)
        if not Path(spec).is_file():
            raise RequestError(f"spec file not found: {spec}", "spec")
        include = req.get("include", [])
        if not isinstance(include, list) or not all(isinstance(i, str) for i in include):
            raise RequestError("include must be a list of directory names", "include")
        backend = req.get("backend")
        if backend is not None and not isinstance(backend, str):
            raise RequestError("backend must be a string", "backend")
        needed = (memory >> 12) + 64
        if needed > self.hv.mem.free_frames:
            raise RequestError(f"not enough free host memory for {memory >> 20}M "
                               f"({self.hv.mem.free_frames * 4096 >> 20}M free)", "memory")
        try:
            built = build_backends_cached(spec, target, include, backend)
        except SpecError as err:
            raise RequestError(f"spec did not build for {tname}:\n{err}", "spec") from None
        if not built:
            raise RequestError(f"{spec} declares no backend for {tname}", "spec")
        b = built[0]
        domid = self.next_domid
        free_before = self.hv.mem.free_frames
        try:
            # max_pages: the target plus LIBXL_MAXMEM_CONSTANT, as libxl__build_pre sets it.
            guest = build_pv_domain(self.hv, target.arch.name, memory, domid, False, nr_vcpus=vcpus,
                                    kernel_bytes=GuestKernel.kernel_bytes_for(memory, target.arch.name),
                                    max_bytes=memory + (LIBXL_MAXMEM_CONSTANT_KIB << 10), console_backend=0)
        except RuntimeSetupError as err:
            if domid in self.hv.domains:
                self._free_domain(self.hv.domains[domid])
            raise RequestError(f"cannot build the domain: {err}", "memory") from None
        guest.name = name
        self.next_domid += 1
        try:
            self.xenstore.domain_created(guest, name, memory, vcpus)
        except XsError as err:
            self._free_domain(guest)
            raise RequestError(f"cannot register the domain in xenstore: {err}", "name") from None
        try:
            machine = _DomainMachine(self.hv, b, guest, self.dom0, budget=1_000_000, timeout=5.0)
            wl = default_workload(machine)
            outcome = Runner(machine, "<default workload>").run(parse(wl, "default"))
        except (WorkloadError, LoadError, RuntimeSetupError) as err:
            self._free_domain(guest)
            raise RequestError(f"{b.name}-{tname} did not boot: {err}", "spec") from None
        try:
            kernel = GuestKernel(machine)
            kernel.start_balloon()
            kernel.start_suspend()
        except (XenbusError, BalloonError, LoadError, RuntimeSetupError) as err:
            self._free_domain(guest)
            raise RequestError(f"the guest kernel of {name} did not start: {err}", "spec") from None
        fb = req.get("fb")
        if fb is not None:
            from .framebuffers import Display, FbConfigError
            from ..guest.xenfb import XenfbError

            try:
                display = Display(self, kernel, f"{name} ({tname})", fb if isinstance(fb, str) else "")
            except (FbConfigError, XenfbError, XenbusError, LoadError, RuntimeSetupError, OSError) as err:
                self._free_domain(guest)
                raise RequestError(f"the framebuffer of {name}: {err}", "fb") from None
        # A domain built for a saved image (restore, an arriving migration)
        # has its memory replaced next: its boot is not checked against the
        # frame table, a pass over every machine frame that took up to a
        # fifth of a GiB guest's restore. (Its builder is vm create's.)
        s = summary(machine, outcome, spec, "default (every hook once, then the laws)",
                    invariants=not req.get("_incoming"))
        status = "ok" if not (s["faults"] or s["expectations"]["failed"] or s["invariant_violations"]) else "faulted"
        boot = format_text(s).replace("pvdsl run ", "", 1)
        vm = VM(name, domid, tname, spec, memory, machine, boot, status)
        vm.kernel = kernel
        vm.display = display if fb is not None else None
        vm.config = {"spec": str(Path(spec).resolve()), "target": tname, "memory": memory, "vcpus": vcpus, "fb": fb,
                     "include": include or None, "backend": backend}
        self.vms[name] = vm
        return {"vm": vm.row(), "status": status, "frames_used": free_before - self.hv.mem.free_frames,
                "free_frames": self.hv.mem.free_frames, "fb": vm.display.row() if vm.display else None}

    def list(self) -> dict:
        rows = [{"name": self.dom0.name, "id": 0, "mem": self.dom0_memory >> 20, "vcpus": len(self.dom0.vcpus),
                 "state": "r-----", "target": "x86_64-dom0", "spec": "", "status": "ok",
                 "tot_pages": self.dom0.tot_pages, "mem_target": self.dom0_memory >> 20,
                 "max_pages": self.dom0.max_pages}]
        for vm in sorted(self.vms.values(), key=lambda v: v.domid):
            row = vm.row()
            mem = memory_row(self, vm)
            row.update(mem_target=mem["target"], mem_static_max=mem["static_max"], max_pages=mem["max_pages"])
            if "balloon" in mem:
                row["balloon"] = mem["balloon"]
            if getattr(vm, "display", None) is not None:
                row["fb"] = vm.display.row()
            rows.append(row)
        return {"domains": rows, "free_frames": self.hv.mem.free_frames}

    def _vm(self, req: dict) -> VM:
        """The domain named by `name`: its name, or its id as xl takes either."""
        name = _field(req, "name", str)
        vm = self.vms.get(name)
        if vm is None and name.isdigit():
            vm = {str(v.domid): v for v in self.vms.values()}.get(name)
        if vm is None:
            known = ", ".join(sorted(self.vms)) or "none"
            raise RequestError(f"no domain named '{name}' (domains: {known})", "name")
        if vm.incoming:
            # A stream is being read into its frames without the host's lock.
            raise RequestError(f"domain '{vm.name}' is being restored (or migrated here); it can be managed "
                               "once that ends", "name")
        return vm

    def console(self, req: dict) -> dict:
        vm = self._vm(req)
        return {"name": vm.name, "console": vm.machine.guest.console_text(), "boot": vm.boot_text}

    def destroy(self, req: dict) -> dict:
        vm = self._vm(req)
        before = self.hv.mem.free_frames
        from .framebuffers import detach

        detach(vm)  # the backend's references on the guest's frames go first
        self._free_domain(vm.machine.guest)
        del self.vms[vm.name]
        bad = self.hv.check_invariants()
        return {"name": vm.name, "frames_freed": self.hv.mem.free_frames - before,
                "free_frames": self.hv.mem.free_frames, "invariant_violations": bad}

    def mem_set(self, req: dict) -> dict:
        """xl mem-set: the new target in xenstore (and max_pages), then one
        turn of the guest, whose balloon answers the watch at once."""
        vm = self._vm(req)
        kib = _field(req, "memory", int) >> 10
        try:
            out = mem_set(self, vm, kib)
        except MemoryError_ as err:
            raise RequestError(str(err), err.field) from None
        from .guests import run_guest

        run_guest(vm)
        return {"name": vm.name, **out, **memory_row(self, vm), "status": vm.status,
                "crash_reason": vm.crash_reason}

    def mem_max(self, req: dict) -> dict:
        vm = self._vm(req)
        try:
            out = mem_max(self, vm, _field(req, "memory", int) >> 10)
        except MemoryError_ as err:
            raise RequestError(str(err), err.field) from None
        return {"name": vm.name, **out, **memory_row(self, vm)}

    def fb_snapshot(self, req: dict) -> dict:
        """The domain's framebuffer, as its backend shows it, as a PNG at `path`."""
        from .framebuffers import FbConfigError, snapshot

        vm = self._vm(req)
        path = _field(req, "path", str)
        if not os.path.isabs(path):
            raise RequestError(f"path must be absolute (the host runs elsewhere): {path}", "path")
        try:
            return snapshot(vm, path)
        except FbConfigError as err:
            raise RequestError(str(err), "name") from None
        except OSError as err:
            raise RequestError(f"cannot write {path}: {err.strerror}", "path") from None

    def pause(self, req: dict, paused: bool) -> dict:
        vm = self._vm(req)
        vm.paused = paused
        return {"name": vm.name, "paused": vm.paused, "state": vm.row()["state"]}

    def save(self, req: dict) -> dict:
        from .savefile import SaveFileError, save

        vm = self._vm(req)
        path = _field(req, "path", str)
        if not os.path.isabs(path):
            raise RequestError(f"path must be absolute (the host runs elsewhere): {path}", "path")
        try:
            return save(self, vm, path, _field(req, "format", str, "xl"), bool(req.get("checkpoint")),
                        req.get("_progress"))
        except SaveFileError as err:
            raise RequestError(str(err), err.field) from None

    def migrate(self, req: dict) -> dict:
        """Not under the host's lock (SELF_LOCKING_OPS): migrate.py takes it per step."""
        from .migrate import MigrationError, migrate, parse_addr

        with self.lock:
            vm = self._vm(req)
        try:
            return migrate(self, vm, parse_addr(_field(req, "to", str)), req.get("_progress"))
        except MigrationError as err:
            raise RequestError(str(err), err.field) from None

    def restore(self, req: dict) -> dict:
        from .savefile import SaveFileError, restore

        path = _field(req, "path", str)
        if not os.path.isabs(path):
            raise RequestError(f"path must be absolute (the host runs elsewhere): {path}", "path")
        name = req.get("name")
        if name is not None and not isinstance(name, str):
            raise RequestError("name must be a string", "name")
        try:
            return restore(self, path, name, req.get("_progress"))
        except SaveFileError as err:
            raise RequestError(str(err), err.field) from None

    def _free_domain(self, d) -> None:
        """xl destroy: out of xenstore, then Xen's domain_kill (domain_kill.py)."""
        self.xenstore.domain_destroyed(d.domid)
        kill_domain(self.hv, d)
        self.hv.stats.pop(d.domid, None)

    # ---- dispatch ----
    def handle(self, req) -> dict:
        if not isinstance(req, dict):
            raise RequestError("a request must be a JSON object", None)
        op = req.get("op")
        if op is None:
            raise RequestError("missing field 'op'", "op")
        ops = {"ping": lambda r: {"pong": True, "pid": os.getpid()}, "info": lambda r: self.info(),
               "create": self.create, "list": lambda r: self.list(), "console": self.console,
               "destroy": self.destroy, "mem-set": self.mem_set, "mem-max": self.mem_max,
               "fb-snapshot": self.fb_snapshot, "pause": lambda r: self.pause(r, True),
               "unpause": lambda r: self.pause(r, False), "save": self.save, "restore": self.restore, "migrate": self.migrate}
        if op not in ops and op != "stop":
            raise RequestError(f"unknown op {op!r} (expected one of: {', '.join(sorted(ops))}, stop)", "op")
        return ops[op](req)


def _field(req: dict, name: str, kind, default=None):
    if name not in req:
        if default is not None:
            return default
        raise RequestError(f"missing field '{name}'", name)
    value = req[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise RequestError(f"field '{name}' must be an integer", name)
    if kind is str and (not isinstance(value, str) or not value):
        raise RequestError(f"field '{name}' must be a non-empty string", name)
    return value


def _error(message: str, field: str | None = None) -> dict:
    out = {"ok": False, "error": message}
    if field:
        out["field"] = field
    return out


# Ops that take the host's lock step by step themselves: a live migration
# lets the guest run between its rounds.
SELF_LOCKING_OPS = ("migrate",)


def respond(host: Host, line: bytes, progress=None) -> tuple[dict, bool]:
    """The response to one request line, and whether the server should stop.
    `progress(event, n)` is given to ops that report progress when the
    request asks for it ("progress": true)."""
    try:
        req = json.loads(line)
    except (ValueError, UnicodeDecodeError) as err:
        return _error(f"bad request: not JSON ({err})", None), False
    try:
        if isinstance(req, dict) and req.get("op") == "stop":
            return {"ok": True, "stopping": True}, True
        if isinstance(req, dict):
            for internal in ("_progress", "_incoming"):  # the host's own, not a client's to set
                req.pop(internal, None)
            if req.get("progress") and progress is not None:
                req["_progress"] = progress
        if isinstance(req, dict) and req.get("op") in SELF_LOCKING_OPS:
            out = host.handle(req)
        else:
            with host.lock:
                out = host.handle(req)
        return {"ok": True, **out}, False
    except RequestError as err:
        return _error(str(err), err.field), False
    except Exception as err:  # noqa: BLE001 - the host outlives any one request
        traceback.print_exc(file=sys.stderr)
        return _error(f"internal error: {type(err).__name__}: {err}", None), False


def _socket_in_use(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def serve(path: str, host: Host | None = None, ready=None, log=sys.stderr, xenstore_path: str | None = None,
          listen: tuple[str, int] | None = None) -> int:
    """Serve requests on the Unix socket at `path` until a `stop` request;
    xenstore on `xenstore_path` (default: next to `path`)."""
    from ..xenstore.host import default_xenstore_path

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if p.exists() or p.is_symlink():
        if _socket_in_use(path):
            print(f"pvdsl host: error: a host is already listening at {path}", file=log)
            return 1
        p.unlink()  # a stale socket from a host that did not stop cleanly
    host = host or Host()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(path)
    except OSError as err:
        print(f"pvdsl host: error: cannot listen at {path}: {err.strerror}", file=log)
        return 1
    os.chmod(path, 0o600)
    srv.listen(16)
    host.xenstore_path = xenstore_path or default_xenstore_path(path)
    try:
        host.xenstore.serve(host.xenstore_path)
    except OSError as err:
        print(f"pvdsl host: error: cannot serve xenstore at {host.xenstore_path}: {err}", file=log)
        srv.close()
        os.unlink(path)
        return 1
    print(f"pvdsl host: listening at {path} (pid {os.getpid()}, "
          f"{host.hv.mem.nframes * 4096 >> 20}M machine memory)", file=log, flush=True)
    print(f"pvdsl host: xenstore at {host.xenstore_path} (XENSTORED_PATH for the xenstore tools)",
          file=log, flush=True)
    receiver = None
    if listen is not None:
        from .migrate import Receiver

        try:
            receiver = Receiver(host, listen, log)
        except OSError as err:
            print(f"pvdsl host: error: cannot listen for migrations at {listen[0]}:{listen[1]}: "
                  f"{err.strerror}", file=log)
            host.xenstore.stop()
            srv.close()
            os.unlink(path)
            return 1
        print(f"pvdsl host: receiving migrations at {receiver.address[0]}:{receiver.address[1]}", file=log,
              flush=True)
    from .guests import GuestLoop

    guests = GuestLoop(host)
    guests.start()
    if ready:
        ready()
    stop = False
    try:
        while not stop:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(60)
                stop = _serve_conn(host, conn)
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
        if receiver is not None:
            receiver.close()
        guests.stop()
        host.xenstore.stop()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        print("pvdsl host: stopped", file=log, flush=True)
    return 0


def _serve_conn(host: Host, conn: socket.socket) -> bool:
    buf = b""
    try:
        while True:
            while b"\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    if buf.strip():
                        resp, stop = respond(host, buf)
                        conn.sendall(json.dumps(resp).encode() + b"\n")
                        return stop
                    return False
                buf += chunk
                if len(buf) > MAX_LINE:
                    conn.sendall(json.dumps(_error("bad request: line too long")).encode() + b"\n")
                    return False
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue

            def progress(event: str, n: int) -> None:
                conn.sendall(json.dumps({"progress": event, "n": n}).encode() + b"\n")

            resp, stop = respond(host, line, progress)
            conn.sendall(json.dumps(resp).encode() + b"\n")
            if stop:
                return True
    except (OSError, socket.timeout):
        return False


# ---- client side ----
class HostUnavailable(Exception):
    pass


def request(path: str, req: dict, timeout: float = 120.0, progress=None) -> dict:
    """Send one request to the host at `path`, return its response. With
    `progress`, the host is asked for progress lines, each given to
    progress(event, n) as it arrives."""
    if progress is not None:
        req = {**req, "progress": True}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(path)
        except (FileNotFoundError, ConnectionRefusedError, OSError) as err:
            raise HostUnavailable(
                f"no pvdsl host listening at {path} ({getattr(err, 'strerror', None) or err}); "
                f"start one with `pvdsl host start --socket {path}`") from None
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            if b"\n" not in buf:
                break
            line, buf = buf.split(b"\n", 1)
            msg = json.loads(line)
            if isinstance(msg, dict) and "progress" in msg and "ok" not in msg:
                if progress is not None:
                    progress(msg["progress"], msg.get("n", 0))
                continue
            return msg
    finally:
        s.close()
    if not buf.strip():
        raise HostUnavailable(f"the host at {path} closed the connection without answering")
    return json.loads(buf.split(b"\n", 1)[0])
