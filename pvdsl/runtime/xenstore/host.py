"""xenstore on the long-lived host: the daemon, the domains' rings, the
tools' socket, and what the toolstack writes for a domain.

`pvdsl vm create` writes what libxl writes for a PV domain (libxl_create.c's
domain_make, libxl_dom.c's build_post, the console keys xenconsoled reads),
in transactions retried on EAGAIN as libxl retries them, then introduces the
domain. /local/domain/N is owned by dom0 and readable by the domain
("n0 rN"), the directories a guest writes in (control/shutdown, data,
drivers, feature, attr, error, device/suspend/event-channel) are the
domain's ("nN"); /vm/<uuid> and /libxl/N are dom0's alone. `vm destroy`
removes them, and the daemon releases the domain.

The host's own requests go through a connection of their own (dom0, no
transport): the same code path as a socket client's.
"""

from __future__ import annotations

import errno
import os
import time
import uuid

from ..xen.memory import PAGE_SHIFT
from .xenstored import XS, Xenstored, c_strings
from .ring import DomainRings
from .unix_socket import XenstoreSocket
from .store import XsError

RO = ("n0", "r{domid}")  # libxl's roperm
RW = ("n{domid}",)  # libxl's rwperm
NOPERM = ("n0",)
GUEST_WRITABLE = ("control/shutdown", "control/feature-poweroff", "control/feature-reboot",
                  "control/feature-suspend", "control/sysrq", "device/suspend/event-channel", "data", "drivers",
                  "feature", "attr", "error")


def default_xenstore_path(host_socket: str) -> str:
    """Next to the host's socket: <dir>/<stem>-xenstore.sock."""
    head, tail = os.path.split(host_socket)
    stem = tail[:-5] if tail.endswith(".sock") else tail
    return os.path.join(head, f"{stem}-xenstore.sock")


class HostXenstore:
    def __init__(self, hv, lock=None):
        self.hv = hv
        self.rings = DomainRings(hv)
        self.daemon = Xenstored(domain_exists=lambda domid: domid in hv.domains, rings=self.rings, lock=lock)
        self.rings.daemon = self.daemon
        self.lock = self.daemon.lock
        self.toolstack = self.daemon.connect(0, None, privileged=True, label="toolstack")
        self.socket: XenstoreSocket | None = None
        self.uuids: dict[int, str] = {}
        self._req_id = 0
        # What xen-init-dom0 writes at boot.
        self.write("/local/domain/0/domid", "0")
        self.write("/local/domain/0/name", "Domain-0")

    # ---- requests as the toolstack ----
    def request(self, type_name: str, *args: str | bytes, tx: int = 0, terminate: bool = True) -> bytes:
        """One request on the toolstack's connection; its reply payload, or
        XsError with the errno of an XS_ERROR reply."""
        payload = b"".join((a.encode() if isinstance(a, str) else a) + b"\0" for a in args)
        if not terminate:
            payload = payload[:-1]
        with self.lock:
            self._req_id += 1
            msg_type, _, _, body = self.daemon.call(self.toolstack, XS[type_name], payload, tx, self._req_id)[-1]
        if msg_type == XS["XS_ERROR"]:
            raise XsError(getattr(errno, body.rstrip(b"\0").decode()))
        return body

    def write(self, path: str, value: str, tx: int = 0) -> None:
        self.request("XS_WRITE", path, value.encode(), tx=tx, terminate=False)

    def read(self, path: str) -> bytes:
        return self.request("XS_READ", path)

    def remove(self, path: str, tx: int = 0) -> None:
        """xs_rm, whose failure libxl does not mind."""
        try:
            self.request("XS_RM", path, tx=tx)
        except XsError:
            pass

    def mknod(self, path: str, perms, tx: int) -> None:
        self.write(path, "", tx)
        self.request("XS_SET_PERMS", path, *perms, tx=tx)

    def transaction(self, body) -> None:
        """libxl's retry_transaction loop; an exception in `body` aborts the
        transaction (nothing it wrote is kept) and goes on to the caller."""
        while True:
            tx = int(c_strings(self.request("XS_TRANSACTION_START", ""))[0])
            try:
                body(tx)
            except BaseException:
                try:
                    self.request("XS_TRANSACTION_END", "F", tx=tx)
                except XsError:
                    pass
                raise
            try:
                self.request("XS_TRANSACTION_END", "T", tx=tx)
                return
            except XsError as err:
                if err.errno != errno.EAGAIN:
                    raise

    # ---- domains ----
    def domain_created(self, d, name: str, memory: int, vcpus: int) -> str:
        """The keys libxl writes for a new PV domain, then XS_INTRODUCE."""
        domid = d.domid
        dom, vm, lib = f"/local/domain/{domid}", f"/vm/{uuid.uuid4()}", f"/libxl/{domid}"
        ro, rw = [p.format(domid=domid) for p in RO], [p.format(domid=domid) for p in RW]
        si = d.abi
        raw = self.hv.mem.read(d.p2m[d.kernel.pfn_of(d.start_info_va)] << PAGE_SHIFT, si.size("start_info"))
        store_mfn, store_port = si.get(raw, "start_info", "store_mfn"), si.get(raw, "start_info", "store_evtchn")
        console_mfn = si.get(raw, "start_info", "console.domU.mfn")
        console_port = si.get(raw, "start_info", "console.domU.evtchn")

        def make(tx: int) -> None:
            for path, perms in ((dom, ro), (vm, NOPERM), (lib, NOPERM)):
                self.remove(path, tx)
                self.mknod(path, perms, tx)
            self.mknod(f"{lib}/device", NOPERM, tx)
            self.write(f"{dom}/vm", vm, tx)
            self.write(f"{dom}/name", name, tx)
            self.write(f"{vm}/name", name, tx)
            for sub in ("cpu", "memory", "device", "control"):
                self.mknod(f"{dom}/{sub}", ro, tx)
            for sub in GUEST_WRITABLE:
                self.mknod(f"{dom}/{sub}", rw, tx)
            self.write(f"{vm}/uuid", vm[4:], tx)
            self.write(f"{dom}/control/platform-feature-multiprocessor-suspend", "1", tx)
            self.write(f"{dom}/control/platform-feature-xs_reset_watches", "1", tx)

        def build_post(tx: int) -> None:
            kib = memory >> 10
            entries = {"memory/static-max": kib, "memory/target": kib, "memory/videoram": 0, "domid": domid,
                       "store/port": store_port, "store/ring-ref": store_mfn,
                       "console/port": console_port, "console/ring-ref": console_mfn,
                       "console/limit": 1048576, "console/type": "xenconsoled", "console/output": "pty"}
            entries.update({f"cpu/{i}/availability": "online" for i in range(vcpus)})
            for key, value in entries.items():
                self.write(f"{dom}/{key}", str(value), tx)
            now = time.time()
            self.write(f"{vm}/start_time", f"{int(now)}.{int(now * 100) % 100:02d}", tx)

        self.transaction(make)
        self.transaction(build_post)
        self.request("XS_INTRODUCE", str(domid), str(store_mfn), str(store_port))
        self.uuids[domid] = vm[4:]
        return vm[4:]

    def domain_destroyed(self, domid: int) -> None:
        """libxl's destroy: the domain's paths go, and xenstored releases it
        (it learns of the dying domain from Xen)."""
        with self.lock:
            vm = self.uuids.pop(domid, None)
            for path in (f"/local/domain/{domid}", f"/vm/{vm}" if vm else None, f"/libxl/{domid}"):
                if path:
                    self.remove(path)
            self.daemon.domain_destroyed(domid)

    # ---- the tools' socket ----
    def serve(self, path: str) -> None:
        self.socket = XenstoreSocket(self.daemon, path)
        self.socket.start()

    def stop(self) -> None:
        if self.socket is not None:
            self.socket.stop()
            self.socket = None
