"""The guest kernel's xenstore client (Linux's xenbus_xs.c) over its own
store ring.

Bytes move through the compiled `drivers.xenbus` hooks (xenbus_ops.write /
read, run on the domain's vCPU: they copy into and out of the store page and
notify the store event channel with EVTCHNOP_send); this module is the
kernel's framing around them: `struct xsd_sockmsg` headers, request ids,
transactions, and watch events, which arrive on the same ring between
replies and are queued until the kernel dispatches them (`dispatch`).

Paths without a leading '/' are relative to the domain's home,
/local/domain/<domid>, as xenbus_read and friends take them.
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from dataclasses import dataclass

from ..xen.memory import PAGE_SIZE

HEADER = struct.Struct("<IIII")  # struct xsd_sockmsg: type, req_id, tx_id, len
MAX_STALLED_CALLS = 64  # hook calls that move no byte before xenstored counts as gone


class XenbusError(Exception):
    """An XS_ERROR reply (errno set), or a ring that stopped moving."""

    def __init__(self, message: str, err: int | None = None):
        super().__init__(message)
        self.errno = err


@dataclass(frozen=True)
class WatchEvent:
    path: str
    token: str


class XenbusClient:
    def __init__(self, kernel, driver):
        self.k = kernel
        self.driver = driver  # the loaded drivers.xenbus object
        d = kernel.domain
        self.home = f"/local/domain/{d.domid}"
        self.abi = d.abi
        self.intf = d.kernel.va_of(d.kernel.store_pfn)
        self.port = kernel.start_info("store_evtchn")
        # Bounce buffer the hooks copy through: a header and the largest payload.
        self.payload_max = self.abi.c("XENSTORE_PAYLOAD_MAX")
        self.buf_bytes = -(-(HEADER.size + self.payload_max) // PAGE_SIZE) * PAGE_SIZE
        self.buf = d.kernel.alloc(self.buf_bytes, PAGE_SIZE, "xenbus bounce buffer")
        self._req_id = 0
        self._inbox = bytearray()
        self._replies: dict[int, tuple[int, bytes]] = {}
        self.events: deque[WatchEvent] = deque()
        self.watches: dict[str, tuple[str, object]] = {}  # token -> (path, callback)
        self._msg = {name: self.abi.c(name) for name in self.abi.consts if name.startswith("XS_")}

    # ---- the ring, through the compiled hooks ----
    def _hook(self, name: str, *args: int) -> int:
        r = self.driver.call(f"xenbus_ops.{name}", *args)
        if r.fault is not None:
            raise XenbusError(f"xenbus_ops.{name} faulted: {r.fault.describe()}")
        value = r.value & 0xFFFFFFFF
        if value == self.k.consts["drivers.xenbus"]["XB_BAD_INDEXES"]:
            raise XenbusError("the store ring's indices are inconsistent", errno.EIO)
        return value

    def _send(self, data: bytes) -> None:
        self.k.write_va(self.buf, data)
        sent = stalled = 0
        while sent < len(data):
            n = self._hook("write", self.intf, self.buf + sent, len(data) - sent, self.port)
            if n == 0:
                self._pull()  # xenstored waits for room in rsp before it takes more requests
                stalled += 1
                if stalled > MAX_STALLED_CALLS:
                    raise XenbusError("xenstored does not consume the request ring", errno.EIO)
                continue
            sent += n

    def _pull(self) -> bool:
        """Move every byte waiting in the reply ring into the inbox, then
        split off the complete messages. True when a byte moved."""
        moved = False
        while True:
            n = self._hook("read", self.intf, self.buf, self.buf_bytes, self.port)
            if n == 0:
                break
            self._inbox += self.k.read_va(self.buf, n)
            moved = True
        while len(self._inbox) >= HEADER.size:
            mtype, req_id, _tx, length = HEADER.unpack_from(self._inbox)
            if length > self.payload_max:
                raise XenbusError(f"xenstored sent a {length}-byte payload (at most {self.payload_max})",
                                  errno.EIO)
            if len(self._inbox) < HEADER.size + length:
                break
            body = bytes(self._inbox[HEADER.size:HEADER.size + length])
            del self._inbox[:HEADER.size + length]
            if mtype == self._msg["XS_WATCH_EVENT"]:
                parts = body.split(b"\0")
                if len(parts) >= 2:
                    self.events.append(WatchEvent(parts[0].decode(errors="replace"),
                                                  parts[1].decode(errors="replace")))
            else:
                self._replies[req_id] = (mtype, body)
        return moved

    # ---- requests ----
    def request(self, type_name: str, *args: str | bytes, tx: int = 0, terminate: bool = True) -> bytes:
        payload = b"".join((a.encode() if isinstance(a, str) else a) + b"\0" for a in args)
        if not terminate:
            payload = payload[:-1]
        if len(payload) > self.payload_max:
            raise XenbusError(f"{type_name}: payload of {len(payload)} bytes (at most {self.payload_max})",
                              errno.E2BIG)
        self._req_id = (self._req_id + 1) & 0xFFFFFFFF
        rid = self._req_id
        self._send(HEADER.pack(self._msg[type_name], rid, tx, len(payload)) + payload)
        stalled = 0
        while rid not in self._replies:
            if not self._pull():
                stalled += 1
                if stalled > MAX_STALLED_CALLS:
                    raise XenbusError(f"{type_name}: no reply from xenstored", errno.EIO)
        mtype, body = self._replies.pop(rid)
        if mtype == self._msg["XS_ERROR"]:
            name = body.rstrip(b"\0").decode(errors="replace")
            raise XenbusError(f"{type_name}: {name}", getattr(errno, name, errno.EIO))
        return body

    def _path(self, path: str) -> str:
        if path.startswith("/"):
            return path
        return f"{self.home}/{path}" if path else self.home

    def read(self, path: str, tx: int = 0) -> str | None:
        """The node's value, or None when it does not exist."""
        try:
            return self.request("XS_READ", self._path(path), tx=tx).decode(errors="replace")
        except XenbusError as err:
            if err.errno == errno.ENOENT:
                return None
            raise

    def write(self, path: str, value: str | bytes, tx: int = 0) -> None:
        data = value.encode() if isinstance(value, str) else value
        self.request("XS_WRITE", self._path(path), data, tx=tx, terminate=False)

    def mkdir(self, path: str, tx: int = 0) -> None:
        self.request("XS_MKDIR", self._path(path), tx=tx)

    def rm(self, path: str, tx: int = 0) -> None:
        self.request("XS_RM", self._path(path), tx=tx)

    def directory(self, path: str, tx: int = 0) -> list[str]:
        body = self.request("XS_DIRECTORY", self._path(path), tx=tx)
        return [p.decode(errors="replace") for p in body.split(b"\0") if p]

    def transaction_start(self) -> int:
        return int(self.request("XS_TRANSACTION_START", "").rstrip(b"\0"))

    def transaction_end(self, tx: int, commit: bool = True) -> bool:
        """False when xenstored refused the commit with EAGAIN (run it again)."""
        try:
            self.request("XS_TRANSACTION_END", "T" if commit else "F", tx=tx)
            return True
        except XenbusError as err:
            if err.errno == errno.EAGAIN:
                return False
            raise

    def watch(self, path: str, callback) -> str:
        """Register a watch; `callback(path)` runs from `dispatch` for the
        initial event xenstored sends and for every change below `path`."""
        token = f"pvdsl-watch-{len(self.watches)}-{path}"
        self.watches[token] = (path, callback)
        try:
            self.request("XS_WATCH", self._path(path), token)
        except XenbusError:
            del self.watches[token]
            raise
        return token

    def unwatch(self, token: str) -> None:
        path, _cb = self.watches.pop(token)
        self.request("XS_UNWATCH", self._path(path), token)

    def resume(self) -> None:
        """xs_resume in a new domain: its store channel (start_info's, which
        the toolstack set), nothing half-read, every watch registered again
        (xenstored sends each its first event)."""
        self.port = self.k.start_info("store_evtchn")
        self.k.unmask(self.port)
        self._inbox = bytearray()
        self._replies.clear()
        self.events.clear()
        for token, (path, _cb) in list(self.watches.items()):
            self.request("XS_WATCH", self._path(path), token)

    def dispatch(self) -> int:
        """Read what the ring holds and run the callbacks of the watch events
        queued so far (xenwatch_thread); the number of events handled."""
        self._pull()
        done = 0
        while self.events and not self.k.frozen():
            ev = self.events.popleft()
            entry = self.watches.get(ev.token)
            if entry is not None:
                entry[1](ev.path)
                done += 1
        return done

