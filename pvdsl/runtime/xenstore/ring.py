"""The xenstore shared ring: how xenstored talks to a domain through its
store page (`struct xenstore_domain_interface`) and event channel.

The guest writes requests into `req` and advances `req_prod`; the daemon
consumes them (`req_cons`), writes replies and watch events into `rsp`
(`rsp_prod`) and the guest advances `rsp_cons`. Indices are free-running
u32 counters; a byte lives at MASK_XENSTORE_IDX(index) = index mod
XENSTORE_RING_SIZE, so messages wrap around the end of a ring and may arrive
in several pieces. Each side notifies the other through the event channel.

A domain is bound when it is introduced (XS_INTRODUCE, what the toolstack
sends after building it): dom0 binds an interdomain port to the domain's
unbound store port and registers the ring as an in-host service on it
(`Hypervisor.services`), so the guest's EVTCHNOP_send on its store port runs
the daemon at once, inside the hypercall.

Guest-controlled indices are checked as xenstored checks them: more than
XENSTORE_RING_SIZE bytes between consumer and producer, or a header
announcing more than XENSTORE_PAYLOAD_MAX bytes, makes the daemon ignore the
connection for good, with the reason in the page's `error` field
(XENSTORE_ERROR_RINGIDX / _PROTO) and a note in the hypervisor's log of that
domain. A store page the domain no longer owns (it gave the frame back)
does the same with XENSTORE_ERROR_COMM.
"""

from __future__ import annotations

import errno

from ..xen.hypercalls import evtchn as hc_evtchn
from ..xen.memory import PAGE_SHIFT
from .xenstored import HEADER_BYTES, PAYLOAD_MAX, WIRE, Xenstored, unpack_header
from .store import QUOTA_OUTSTANDING, XsError

IFACE = "xenstore_domain_interface"
RING_SIZE = WIRE.c("XENSTORE_RING_SIZE")
U32 = 0xFFFFFFFF


def ring_offset(index: int) -> int:
    """MASK_XENSTORE_IDX."""
    return index & (RING_SIZE - 1)


class RingTransport:
    """One introduced domain's store page and event channel, as xenstored's
    domain.c drives them."""

    def __init__(self, rings: "DomainRings", domain, mfn: int, port: int, remote_port: int):
        self.rings = rings
        self.hv = rings.hv
        self.domain = domain
        self.mfn = mfn
        self.port = port  # dom0's end
        self.remote_port = remote_port  # the domain's store port
        self.conn = None  # set by the daemon
        self._header: tuple[int, int, int, int] | None = None
        self._partial = bytearray()
        self._sent = 0  # bytes of the first queued message already in rsp

    # ---- the page ----
    def _at(self, name: str) -> int:
        return (self.mfn << PAGE_SHIFT) + WIRE.field(IFACE, name).offset

    def _index(self, name: str) -> int:
        return self.hv.mem.u32(self._at(name))

    def _set_index(self, name: str, value: int) -> None:
        self.hv.mem.set_u32(self._at(name), value & U32)

    def page_is_theirs(self) -> bool:
        mem = self.hv.mem
        return mem.valid(self.mfn) and mem.owner[self.mfn] == self.domain.domid and self.domain.domid in self.hv.domains

    def reset(self) -> None:
        """A fresh connection: nothing half-read or half-written, indices 0."""
        self._header, self._partial, self._sent = None, bytearray(), 0
        if self.page_is_theirs():
            for name in ("req_cons", "req_prod", "rsp_cons", "rsp_prod"):
                self._set_index(name, 0)

    def advertise(self) -> None:
        mem, abi = self.hv.mem, WIRE
        features = mem.u32(self._at("server_features")) | abi.c("XENSTORE_SERVER_FEATURE_ERROR")
        mem.set_u32(self._at("server_features"), features)
        mem.set_u32(self._at("connection"), abi.c("XENSTORE_CONNECTED"))

    # ---- the event ----
    def on_event(self) -> None:
        """The domain notified its store port: read what it sent, answer,
        write what fits, notify it back."""
        daemon = self.rings.daemon
        with daemon.lock:
            moved = self._exchange()
            if moved:
                self.notify()
            daemon.flush()

    def notify(self) -> None:
        back = self.hv.domains.get(self.rings.backend)
        if back is not None and self.port in back.evtchns:
            hc_evtchn.send(self.hv, back, self.port)

    def _exchange(self) -> bool:
        conn = self.conn
        moved = False
        while conn is not None and not conn.ignored:
            if not self.page_is_theirs():
                self._ignore("the store page is no longer the domain's", "XENSTORE_ERROR_COMM")
                break
            moved |= self._write_out() > 0
            if conn.ignored or len(conn.out) >= QUOTA_OUTSTANDING:
                break  # wait until the guest takes its replies
            got = self._read_in()
            if got <= 0:
                break
            moved = True
        return moved

    def _ignore(self, why: str, error: str) -> None:
        daemon = self.rings.daemon
        daemon.ignore(self.conn, why)
        self._header, self._partial, self._sent = None, bytearray(), 0
        if self.page_is_theirs():
            self.hv.mem.set_u32(self._at("error"), WIRE.c(error))
        d = self.domain
        if d.vcpus:
            self.hv.log(d.vcpus[0], "xenstore", {"ignored": why, "error": error})

    def _read_in(self) -> int:
        """Consume the next piece of a request; a complete one is processed.
        Returns the bytes consumed (0: nothing to read, -1: ignored)."""
        cons, prod = self._index("req_cons"), self._index("req_prod")
        avail = (prod - cons) & U32
        if avail > RING_SIZE:
            self._ignore(f"bad request ring indices (req_cons {cons:#x}, req_prod {prod:#x})",
                         "XENSTORE_ERROR_RINGIDX")
            return -1
        need = (HEADER_BYTES if self._header is None else self._header[3]) - len(self._partial)
        n = min(avail, need)
        if n:
            self._partial += self._copy_out(self._at("req"), cons, n)
            self._set_index("req_cons", cons + n)
        if self._header is None and len(self._partial) == HEADER_BYTES:
            header = unpack_header(bytes(self._partial))
            if header[3] > PAYLOAD_MAX:
                self._ignore(f"a request of {header[3]} bytes (more than XENSTORE_PAYLOAD_MAX)",
                             "XENSTORE_ERROR_PROTO")
                return -1
            self._header, self._partial = header, bytearray()
        if self._header is not None and len(self._partial) == self._header[3]:
            msg_type, req_id, tx_id, _ = self._header
            payload = bytes(self._partial)
            self._header, self._partial = None, bytearray()
            self.rings.daemon.process(self.conn, msg_type, req_id, tx_id, payload)
            return max(n, 1)
        return n

    def _copy_out(self, ring_at: int, index: int, n: int) -> bytes:
        first = min(n, RING_SIZE - ring_offset(index))
        mem = self.hv.mem
        return mem.read(ring_at + ring_offset(index), first) + mem.read(ring_at, n - first)

    def _copy_in(self, ring_at: int, index: int, data: bytes) -> None:
        first = min(len(data), RING_SIZE - ring_offset(index))
        mem = self.hv.mem
        mem.write(ring_at + ring_offset(index), data[:first])
        mem.write(ring_at, data[first:])

    def _write_out(self) -> int:
        """Replies into `rsp` as far as there is room; the bytes written."""
        conn, written = self.conn, 0
        while conn.out and not conn.ignored:
            cons, prod = self._index("rsp_cons"), self._index("rsp_prod")
            used = (prod - cons) & U32
            if used > RING_SIZE:
                self._ignore(f"bad response ring indices (rsp_cons {cons:#x}, rsp_prod {prod:#x})",
                             "XENSTORE_ERROR_RINGIDX")
                break
            room = RING_SIZE - used
            if not room:
                break
            msg = conn.out[0]
            chunk = msg[self._sent:self._sent + room]
            self._copy_in(self._at("rsp"), prod, chunk)
            self._set_index("rsp_prod", prod + len(chunk))
            written += len(chunk)
            self._sent += len(chunk)
            if self._sent == len(msg):
                conn.out.popleft()
                self._sent = 0
        return written

    def flush(self, conn) -> None:
        """Replies and events queued by someone else's request."""
        if conn.ignored:
            return
        if not self.page_is_theirs():
            self._ignore("the store page is no longer the domain's", "XENSTORE_ERROR_COMM")
            return
        if self._write_out():
            self.notify()


class DomainRings:
    """Binds introduced domains' store pages and ports for the daemon, on
    the event channels of the backend domain (dom0) of a hypervisor."""

    def __init__(self, hv, backend: int = 0):
        self.hv = hv
        self.backend = backend
        self.daemon: Xenstored | None = None

    def attach(self, domid: int, mfn: int, port: int) -> RingTransport:
        hv = self.hv
        d, back = hv.domains.get(domid), hv.domains.get(self.backend)
        if d is None or back is None or d is back or d.native:
            raise XsError(errno.EINVAL)
        if not hv.mem.valid(mfn) or hv.mem.owner[mfn] != domid:
            raise XsError(errno.EINVAL)  # not a page of that domain: nothing to map
        lport = self._bind(back, d, port)
        t = RingTransport(self, d, mfn, lport, port)
        hv.services[(back.domid, lport)] = t.on_event
        t.advertise()
        return t

    def _bind(self, back, d, port: int) -> int:
        lport = hc_evtchn.bind_interdomain(self.hv, back, d, port)
        if lport < 0:
            raise XsError(-lport)
        # The dom0 kernel's evtchn driver takes the event Xen raises on a
        # fresh binding and hands it to the daemon: dom0 keeps nothing pending.
        hc_evtchn._clear_pending(self.hv, back, lport)
        return lport

    def rebind(self, t: RingTransport, port: int) -> None:
        """XS_INTRODUCE again: a new binding to the domain's (new) port. A
        failure leaves the domain unbound, as xenstored does."""
        self._unbind(t)
        back = self.hv.domains.get(self.backend)
        try:
            t.port, t.remote_port = self._bind(back, t.domain, port), port
        except XsError:
            t.port = None
            return
        self.hv.services[(back.domid, t.port)] = t.on_event

    def _unbind(self, t: RingTransport) -> None:
        back = self.hv.domains.get(self.backend)
        if back is not None and t.port is not None and t.port in back.evtchns:
            hc_evtchn.close_port(self.hv, back, t.port)
        if back is not None:
            self.hv.services.pop((back.domid, t.port), None)

    def detach(self, t: RingTransport) -> None:
        self._unbind(t)
        t.port = None
