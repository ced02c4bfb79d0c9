"""`vm save` and `vm restore` on the long-lived host, as xl does them.

Save: the toolstack writes `suspend` to the guest's control/shutdown and
waits (turns of the guest kernel) for the guest to acknowledge and suspend
itself through its driver; the domain is paused, its state captured
(saverestore.py) and written to a temporary file beside FILE, renamed over
FILE once complete. Then, like `xl save`, the domain is destroyed, or with
`--checkpoint` (xl save -c) it resumes where it was: its suspend hypercall
returns 1, as after xc_domain_resume's fast path.

Restore: the domain is built from the configuration the file's header
carries (the same layout, new machine frames) while a thread reads the
file ahead (readahead.py); then record by record, every one checked (a bad
one is named with its byte offset), the saved state is put into it,
xenstored told of it afresh
(its watches and half-read messages gone, as for a new domain), and the
guest resumes from its suspend hypercall with 0. A failure at any point
destroys what was built: no domain, frame or xenstore node stays behind.
"""

from __future__ import annotations

import json
import os
import tempfile

from .readahead import READ_BUFFER, ReadAhead

SUSPEND_TURNS = 64  # guest kernel turns the toolstack waits for the guest to suspend (libxl: a timeout)
CONFIG_KEYS = ("spec", "target", "memory", "vcpus", "fb", "include", "backend")


class SaveFileError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def suspend_guest(host, vm) -> dict[str, int]:
    """libxl__domain_suspend via xenstore; vCPU 0's state inside its
    suspend hypercall. The domain is paused afterwards."""
    from ..guest.suspend import SuspendError
    from .guests import run_guest

    k = vm.kernel
    if k is None or k.suspend is None:
        raise SaveFileError(f"domain '{vm.name}' has no suspend driver", "name")
    if vm.status != "ok":
        raise SaveFileError(f"domain '{vm.name}' is {vm.status}: it cannot suspend", "name")
    home = f"/local/domain/{vm.domid}"
    host.xenstore.write(f"{home}/control/shutdown", "suspend")
    was_paused, vm.paused = vm.paused, False
    try:
        for _ in range(SUSPEND_TURNS):
            try:
                k.poll()
            except SuspendError as err:
                raise SaveFileError(f"domain '{vm.name}' failed to suspend: {err}", "name") from None
            if k.suspend.suspended:
                break
        else:
            run_guest(vm)
    finally:
        vm.paused = was_paused
    d = vm.machine.guest
    if not k.suspend.suspended or d.shutdown_reason != d.abi.c("SHUTDOWN_suspend"):
        host.xenstore.write(f"{home}/control/shutdown", "")
        raise SaveFileError(f"domain '{vm.name}' did not suspend (control/shutdown not acknowledged)", "name")
    vm.paused = True
    return k.suspend.state


def config_of(host, vm) -> dict:
    """The domain's configuration as libxl keeps it updated: what `vm
    create` was given, and the memory target of now (mem-set)."""
    target = host.xenstore.read(f"/local/domain/{vm.domid}/memory/target").decode()
    return {key: vm.config[key] for key in CONFIG_KEYS if vm.config.get(key) is not None} | {
        "name": vm.name, "target_kib": int(target) if target.isdigit() else vm.config["memory"] >> 10}


def save(host, vm, path: str, fmt: str = "xl", checkpoint: bool = False, progress=None) -> dict:
    from .saverestore import SaveRestoreError, suspend_record_in_register

    if fmt not in ("xl", "libxl", "libxc"):
        raise SaveFileError(f"format '{fmt}': expected xl, libxl or libxc", "format")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise SaveFileError(f"cannot write {path}: no directory {directory}", "path")
    state = suspend_guest(host, vm)
    config = json.dumps(config_of(host, vm), sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(prefix=".pvdsl-save-", dir=directory)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            pages, vcpus = write_stream(f, vm, state, config if fmt == "xl" else b"", fmt, progress)
        os.replace(tmp, path)
    except (OSError, SaveRestoreError) as err:
        os.unlink(tmp)
        _resume_in_place(vm, state)
        if isinstance(err, SaveRestoreError):
            raise SaveFileError(f"cannot save '{vm.name}': {err}", err.field) from None
        raise SaveFileError(f"cannot write {path}: {err.strerror}", "path") from None
    d = vm.machine.guest
    out = {"name": vm.name, "path": path, "format": fmt, "pages": pages, "bytes": os.path.getsize(path),
           "vcpus": vcpus, "width": d.rt.word,
           "suspend_record": "register" if suspend_record_in_register(d, state) else "layout"}
    if checkpoint:
        out["resumed"] = _resume_in_place(vm, state)
    else:
        host.destroy({"name": vm.name})
        out["destroyed"] = True
    return out


def write_stream(f, vm, state: dict[str, int], config: bytes, fmt: str, progress=None) -> tuple[int, int]:
    """The suspended domain as a save file of `fmt`, every pfn once in pfn
    order as libxc's non-live save writes it, a batch at a time; (pages
    with data, vCPUs)."""
    import numpy as np

    from ..migration import layout as L
    from ..migration.savefile import begin_save_file
    from .pagebatch import Frames, model_p2m, read_batch
    from .saverestore import final_records, guest_p2m

    d, hv = vm.machine.guest, vm.machine.hv
    p2m, p2m_frames = guest_p2m(d, hv.mem)
    fr, xen = Frames(hv.mem), model_p2m(d, len(p2m))
    w = begin_save_file(f, d.rt.word, fmt=fmt, config=config)
    w.write_p2m_frames(p2m_frames, len(p2m) - 1)
    if progress:
        progress("total", len(p2m))
    pages = 0
    for lo in range(0, len(p2m), L.MAX_BATCH_PAGES):
        pfns = np.arange(lo, min(lo + L.MAX_BATCH_PAGES, len(p2m)))
        types, data = read_batch(hv, d, fr, pfns, p2m, xen)
        w.write_pages(pfns, types, data if len(data) else b"")
        pages += len(data)
        if progress:
            progress("pages", len(pfns))
    vcpus, shared, tsc = final_records(vm, state)
    w.write_tsc_info(tsc)
    w.write_shared_info(shared)
    for v in vcpus:
        w.write_vcpu(v)
    w.end()
    return pages, len(vcpus)


def _resume_in_place(vm, state: dict[str, int]) -> int:
    """xc_domain_resume(fast): the suspend hypercall returns 1 in the same
    domain; its shutdown is cleared and it runs again."""
    d = vm.machine.guest
    d.shutdown_reason = None
    vm.paused = False
    return vm.kernel.suspend.resume({**state, "rax" if d.rt.word == 8 else "eax": 1})


def restore(host, path: str, name: str | None = None, progress=None) -> dict:
    try:
        f = open(path, "rb", buffering=READ_BUFFER)
    except OSError as err:
        raise SaveFileError(f"cannot read {path}: {err.strerror}", "path") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        ahead = ReadAhead(f, size)
        try:
            out = receive_stream(host, ahead, name, path, progress)
        finally:
            ahead.stop()
    if not out["ok"]:
        raise SaveFileError(out["error"], out.get("field"))
    del out["ok"]
    return out


def receive_stream(host, f, name: str | None, origin: str, progress=None) -> dict:
    """A save file or a migration's stream, as it arrives: the domain built
    from the xl header's configuration first, each PAGE_DATA record written
    into it at once (for a migration, only the last round and the vCPUs are
    left when the source stops), the guest resumed at END. Takes host.lock
    per record. {"ok": True, name, id, ...} or {"ok": False, error, field}:
    a failure leaves nothing built."""
    from ..migration import layout as L
    from ..migration.errors import StreamError
    from ..migration.image import VcpuState
    from ..migration.savefile import open_save_file
    from .saverestore import Incoming

    vm = None
    try:
        reader, config_raw, fmt = open_save_file(f)
        with host.lock:
            vm, config = begin_restore(host, config_raw, name, origin)
            vm.incoming = True  # pages are read into its frames without the lock (Incoming.place)
        inc, frames, shared, blobs, pages = None, None, None, {}, 0
        for rec in reader:
            with host.lock:
                if rec.name == "X86_PV_P2M_FRAMES":
                    g = reader.layout
                    inc = Incoming(host.hv, vm.machine.guest, g.width, g.levels, rec.value.max_pfn + 1)
                    reader.place = inc.place
                    frames = rec.value.frames
                    if progress:
                        progress("total", rec.value.max_pfn + 1)
                elif rec.name == "PAGE_DATA":
                    if not rec.value.placed:
                        inc.pages(rec.value.pfns, rec.value.types, rec.value.data)
                    pages += len(rec.value.pfns)
                    if progress:
                        progress("pages", len(rec.value.pfns))
                elif rec.name == "SHARED_INFO":
                    shared = rec.value
                elif rec.name in L.VCPU_RECORDS:
                    blobs.setdefault(rec.value.vcpu_id, {})[rec.name] = rec.value.data
        vcpus = [VcpuState(i, blobs[i]["X86_PV_VCPU_BASIC"]) for i in sorted(blobs)]
        with host.lock:
            state = inc.finish(frames, shared, vcpus)
            vm.incoming = False
            finish_restore(host, vm, config, state, origin)
        return {"ok": True, "name": vm.name, "id": vm.domid, "format": fmt, "pages": pages, "vcpus": len(vcpus)}
    except StreamError as err:
        error = SaveFileError(f"{origin}: {err}", "stream")
    except SaveFileError as err:
        error = err
    except _guest_errors() as err:
        error = err
    except BaseException:
        if vm is not None:
            vm.incoming = False  # whatever went wrong, the domain can be destroyed
        raise
    if vm is not None and vm.name in host.vms:
        with host.lock:
            vm.incoming = False
            error = abandon(host, vm, origin, error)
    return {"ok": False, "error": str(error), "field": getattr(error, "field", None)}


def _guest_errors():
    from ..errors import RuntimeSetupError
    from ..guest.suspend import SuspendError
    from ..guest.xenbus import XenbusError
    from ..guest.xenfb import XenfbError
    from .saverestore import SaveRestoreError

    return (SaveRestoreError, SuspendError, XenbusError, XenfbError, RuntimeSetupError)


def begin_restore(host, config_raw: bytes, name: str | None, origin: str):
    """The new domain a stream goes into, built from the configuration it
    carries and paused: (vm, config)."""
    from .server import RequestError

    try:
        config = json.loads(config_raw.decode()) if config_raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SaveFileError(f"{origin}: the domain configuration is not JSON: {err}", "config") from None
    if not isinstance(config, dict) or not all(k in config for k in ("spec", "target", "memory", "name")):
        raise SaveFileError(f"{origin}: no domain configuration (spec, target, memory, name) in the file "
                            f"(a bare libxc stream cannot be restored without one)", "config")
    req = {"op": "create", **{k: config[k] for k in CONFIG_KEYS if k in config}, "name": name or config["name"],
           "_incoming": True}
    try:
        host.create(req)
    except RequestError as err:
        raise SaveFileError(f"cannot restore {origin}: {err}", err.field) from None
    vm = host.vms[req["name"]]
    vm.paused = True
    return vm, config


def finish_restore(host, vm, config: dict, state: dict[str, int], origin: str) -> None:
    """xenstored told of the domain afresh, its devices' backends, the saved
    memory target, then the guest resumes from its suspend hypercall."""
    from .saverestore import SaveRestoreError

    d = vm.machine.guest
    host.xenstore.daemon.introduce(d.domid, d.p2m[d.kernel.store_pfn], vm.kernel.start_info("store_evtchn"))
    from .framebuffers import reconnect

    reconnect(host, vm)
    target = config.get("target_kib")
    if isinstance(target, int) and target != config["memory"] >> 10:
        from .memory import MemoryError_, mem_set

        try:
            mem_set(host, vm, target)  # as libxl__build_pre writes the saved target
        except MemoryError_ as err:
            raise SaveRestoreError(f"the saved memory target: {err}", err.field) from None
    value = vm.kernel.suspend.resume(state)
    if value != 0:
        raise SaveRestoreError(f"the guest's suspend hypercall returned {value}, not 0, in the new domain")
    vm.paused = False
    from .guests import run_guest

    run_guest(vm)  # its first turn in the new domain: watch events, the balloon's work


def abandon(host, vm, origin: str, err) -> SaveFileError:
    """What was built goes; the error to raise."""
    host.destroy({"name": vm.name})
    return SaveFileError(f"cannot restore {origin}: {err}", getattr(err, "field", None))
