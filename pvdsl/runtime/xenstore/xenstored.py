"""A model of xenstored (Xen 4.17's C daemon): connections, requests,
watches, transactions and domain introduction.

Requests arrive as `struct xsd_sockmsg` headers (type, req_id, tx_id, len)
followed by `len` payload bytes, from a domain's shared ring (xs_ring.py) or
from a Unix socket (xs_socket.py, the tools' path: such a connection is
dom0). Every reply echoes the request's req_id and tx_id; a failure is an
XS_ERROR whose payload is the errno's name ("ENOENT\\0"), drawn from
xs_wire.h's xsd_errors table (anything else is sent as EINVAL, as
xenstored's send_error does). Watch events are XS_WATCH_EVENT messages with
"path\\0token\\0", also sent once when a watch is registered.

The daemon never raises for what a client sends: every request is answered,
and a transport that cannot frame a request (bad ring indices, a header
announcing more than XENSTORE_PAYLOAD_MAX) ignores the connection instead.
Callers that share the daemon between threads hold `lock`.
"""

from __future__ import annotations

import errno
import threading
from collections import Counter, deque
from dataclasses import dataclass

from ..xen.xenabi import xen_abi
from .store import (QUOTA_PERMS, QUOTA_TRANSACTIONS, QUOTA_WATCHES, REL_PATH_MAX, XS_PERM_IGNORE, XS_PERM_NONE,
                       XS_PERM_OWNER, XS_PERM_READ, XS_PERM_WRITE, Caller, Node, Perm, Transaction, Tree, XsError,
                       basename, c_atoi, check_size, create_node, format_perms, get_node, is_child, parent_of,
                       parse_perms, perm_for, remove_child, subtree_post_order, valid_node_path)

# io/xs_wire.h's xsd_errors, in its order (the first is the fallback).
XSD_ERRORS = ("EINVAL", "EACCES", "EEXIST", "EISDIR", "ENOENT", "ENOMEM", "ENOSPC", "EIO", "ENOTEMPTY", "ENOSYS",
              "EROFS", "EBUSY", "EAGAIN", "EISCONN", "E2BIG", "EPERM")
OK = b"OK\0"
_NOTID = 1  # the request's tx_id is ignored (xenstored's XS_FLAG_NOTID)
_PRIV = 2  # privileged connections only (XS_FLAG_PRIV): EACCES for others

WIRE = xen_abi("x86_64")  # xsd_sockmsg and the constants are the same for both guest widths
HEADER_BYTES = WIRE.size("xsd_sockmsg")
PAYLOAD_MAX = WIRE.c("XENSTORE_PAYLOAD_MAX")
XS = {name: WIRE.c(name) for name in WIRE.consts if name.startswith("XS_")}


def error_name(err: int) -> str:
    name = errno.errorcode.get(err, "")
    return name if name in XSD_ERRORS else XSD_ERRORS[0]


def pack(msg_type: int, req_id: int, tx_id: int, payload: bytes) -> bytes:
    head = bytearray(HEADER_BYTES)
    for path, value in (("type", msg_type), ("req_id", req_id), ("tx_id", tx_id), ("len", len(payload))):
        WIRE.put(head, "xsd_sockmsg", path, value)
    return bytes(head) + payload


def unpack_header(raw: bytes) -> tuple[int, int, int, int]:
    """(type, req_id, tx_id, len) of a 16-byte header."""
    return tuple(WIRE.get(raw, "xsd_sockmsg", p) for p in ("type", "req_id", "tx_id", "len"))


def c_strings(payload: bytes) -> list[str]:
    """The nul-terminated strings of a payload (bytes after the last nul
    are not a string), as get_strings sees them."""
    parts = payload.split(b"\0")[:-1]
    return [p.decode("latin-1") for p in parts]


def onearg(payload: bytes) -> str | None:
    """The payload as one string, if it holds exactly one nul, at its end."""
    if not payload or payload.find(b"\0") != len(payload) - 1:
        return None
    return payload[:-1].decode("latin-1")


@dataclass
class Watch:
    node: str  # canonical path (or "@name")
    token: str
    relative_prefix: str | None  # set when registered with a relative path


class Connection:
    """One client of the daemon: a domain's ring or a socket."""

    def __init__(self, domid: int, privileged: bool, transport, label: str):
        self.domid = domid
        self.privileged = privileged
        self.transport = transport
        self.label = label
        self.watches: list[Watch] = []
        self.transactions: dict[int, Transaction] = {}
        self.next_tx = 0
        self.current: Transaction | None = None
        self.out: deque[bytes] = deque()
        self.ignored = False
        self.target: int | None = None
        self.shutdown = False

    @property
    def caller(self) -> Caller:
        return Caller(self.domid, self.privileged, self.target)

    def implicit_path(self) -> str:
        return f"/local/domain/{self.domid}"

    def queue(self, msg_type: int, req_id: int, tx_id: int, payload: bytes) -> None:
        if not self.ignored:
            self.out.append(pack(msg_type, req_id, tx_id, payload))

    def forget_state(self) -> None:
        """What resetting or ignoring a connection drops."""
        self.watches.clear()
        self.transactions.clear()
        self.current = None
        self.out.clear()


class Xenstored:
    def __init__(self, domain_exists=None, rings=None, lock=None):
        self.tree = Tree()
        self.conns: list[Connection] = []
        self.domains: dict[int, Connection] = {}  # introduced domains
        self.rings = rings  # binds introduced domains' store pages and ports (xs_ring.DomainRings)
        self.lock = lock or threading.RLock()
        self._exists = domain_exists or (lambda domid: domid == 0 or domid in self.domains)
        self.special_perms = {"@releaseDomain": (Perm(0, XS_PERM_NONE),),
                              "@introduceDomain": (Perm(0, XS_PERM_NONE),)}
        self.notes: deque[str] = deque(maxlen=1000)
        self._req = (0, 0, 0)  # the request being processed: its type, req_id and tx_id
        X = XS
        self._ops = {
            X["XS_CONTROL"]: (self._control, _PRIV),
            X["XS_DIRECTORY"]: (self._directory, 0),
            X["XS_READ"]: (self._read, 0),
            X["XS_GET_PERMS"]: (self._get_perms, 0),
            X["XS_WATCH"]: (self._watch, _NOTID),
            X["XS_UNWATCH"]: (self._unwatch, _NOTID),
            X["XS_TRANSACTION_START"]: (self._transaction_start, 0),
            X["XS_TRANSACTION_END"]: (self._transaction_end, 0),
            X["XS_INTRODUCE"]: (self._introduce, _PRIV),
            X["XS_RELEASE"]: (self._release, _PRIV),
            X["XS_GET_DOMAIN_PATH"]: (self._get_domain_path, 0),
            X["XS_WRITE"]: (self._write, 0),
            X["XS_MKDIR"]: (self._mkdir, 0),
            X["XS_RM"]: (self._rm, 0),
            X["XS_SET_PERMS"]: (self._set_perms, 0),
            X["XS_IS_DOMAIN_INTRODUCED"]: (self._is_domain_introduced, _PRIV),
            X["XS_RESUME"]: (self._resume, _PRIV),
            X["XS_SET_TARGET"]: (self._set_target, _PRIV),
            X["XS_RESET_WATCHES"]: (self._reset_watches, 0),
            X["XS_DIRECTORY_PART"]: (self._directory_part, 0),
        }

    # ---- connections ----
    def connect(self, domid: int, transport, privileged: bool | None = None, label: str = "") -> Connection:
        conn = Connection(domid, domid == 0 if privileged is None else privileged, transport,
                          label or f"dom{domid}")
        self.conns.append(conn)
        return conn

    def disconnect(self, conn: Connection) -> None:
        conn.forget_state()
        conn.ignored = True
        if conn in self.conns:
            self.conns.remove(conn)

    def ignore(self, conn: Connection, why: str) -> None:
        """xenstored's ignore_connection: no more requests or replies; its
        watches and transactions are gone."""
        conn.forget_state()
        conn.ignored = True
        self.notes.append(f"{conn.label}: connection ignored: {why}")

    def flush(self) -> None:
        """Hand queued replies and events to the transports."""
        for conn in list(self.conns):
            if conn.out and not conn.ignored and conn.transport is not None:
                conn.transport.flush(conn)

    # ---- one request ----
    def process(self, conn: Connection, msg_type: int, req_id: int, tx_id: int, payload: bytes) -> None:
        if conn.ignored:
            return
        self._req = (msg_type, req_id, tx_id)
        try:
            op = self._ops.get(msg_type)
            if op is None:  # unknown, or a type only the daemon sends
                raise XsError(errno.ENOSYS)
            handler, flags = op
            if flags & _PRIV and not conn.privileged:
                raise XsError(errno.EACCES)
            conn.current = None
            if not flags & _NOTID and tx_id:
                conn.current = conn.transactions.get(tx_id)
                if conn.current is None:
                    raise XsError(errno.ENOENT)
            out = handler(conn, payload)
            if out is not None:
                self._reply(conn, out)
        except XsError as err:
            self._send(conn, XS["XS_ERROR"], error_name(err.errno).encode() + b"\0")
        finally:
            conn.current = None

    def call(self, conn: Connection, msg_type: int, payload: bytes, tx_id: int = 0,
             req_id: int = 0) -> list[tuple[int, int, int, bytes]]:
        """One request on a connection without a transport (the toolstack's
        own): everything it queued, the reply and any watch events, in order,
        as (type, req_id, tx_id, payload)."""
        with self.lock:
            self.process(conn, msg_type, req_id, tx_id, payload)
            out = [(*unpack_header(m[:HEADER_BYTES])[:3], m[HEADER_BYTES:]) for m in conn.out]
            conn.out.clear()
            self.flush()
        return out

    def _send(self, conn: Connection, msg_type: int, payload: bytes) -> None:
        _, req_id, tx_id = self._req
        conn.queue(msg_type, req_id, tx_id, payload)

    def _reply(self, conn: Connection, payload: bytes) -> None:
        if len(payload) > PAYLOAD_MAX:
            self._send(conn, XS["XS_ERROR"], b"E2BIG\0")
        else:
            self._send(conn, self._req[0], payload)

    def _view(self, conn: Connection):
        return conn.current if conn.current is not None else self.tree

    def _canonical(self, conn: Connection, name: str | None) -> str | None:
        if name is None or name.startswith(("/", "@")):
            return name
        return f"{conn.implicit_path()}/{name}"

    # ---- watches ----
    def fire(self, origin: Connection | None, name: str, node: Node | None, exact: bool, perms=None) -> None:
        """Watch events for a change at `name` (xenstored's fire_watches);
        inside a transaction they wait for its commit."""
        if origin is not None and origin.current is not None:
            origin.current.changes.append((name, exact, perms or (node.perms if node else None)))
            return
        for conn in list(self.conns):
            if conn.ignored or not conn.watches:
                continue
            if name.startswith("@"):
                special = self.special_perms.get(name)
                if special is None or not perm_for(conn.caller, special) & XS_PERM_READ:
                    continue
            elif not self._watch_permitted(conn, name, node, perms):
                continue
            for w in list(conn.watches):
                if (w.node == name) if exact else is_child(name, w.node):
                    self._event(conn, w, name)

    def _watch_permitted(self, conn: Connection, name: str, node: Node | None, perms) -> bool:
        """A watcher hears of a node it may read, or whose parent it may read."""
        caller = conn.caller
        if perms is not None and perm_for(caller, perms) & XS_PERM_READ:
            return True
        node = node or self.tree.read(name)
        if node is None:
            return False
        if perm_for(caller, node.perms) & XS_PERM_READ:
            return True
        parent = self.tree.read(parent_of(name))
        return parent is not None and bool(perm_for(caller, parent.perms) & XS_PERM_READ)

    def _event(self, conn: Connection, w: Watch, name: str) -> None:
        path = name[len(w.relative_prefix):].removeprefix("/") if w.relative_prefix else name
        payload = path.encode("latin-1") + b"\0" + w.token.encode("latin-1") + b"\0"
        if len(payload) <= PAYLOAD_MAX:  # an over-long event is not sent
            conn.queue(XS["XS_WATCH_EVENT"], 0, 0, payload)

    def fire_special(self, name: str) -> None:
        self.fire(None, name, None, False)

    # ---- the requests ----
    def _directory(self, conn, payload):
        node = get_node(conn.caller, self._view(conn), self._canonical(conn, onearg(payload)), XS_PERM_READ)
        return node.children_bytes()

    def _read(self, conn, payload):
        return get_node(conn.caller, self._view(conn), self._canonical(conn, onearg(payload)), XS_PERM_READ).value

    def _get_perms(self, conn, payload):
        node = get_node(conn.caller, self._view(conn), self._canonical(conn, onearg(payload)), XS_PERM_READ)
        return format_perms(node.perms)

    def _write(self, conn, payload):
        cut = payload.find(b"\0")
        if cut < 0:
            raise XsError(errno.EINVAL)
        name = self._canonical(conn, payload[:cut].decode("latin-1"))
        value = payload[cut + 1:]
        view, caller = self._view(conn), conn.caller
        try:
            node = get_node(caller, view, name, XS_PERM_WRITE).copy()
        except XsError as err:
            if err.errno != errno.ENOENT:
                raise
            node = create_node(caller, view, name, value)
        else:
            node.value = value
            check_size(caller, node)
            view.write(name, node)
        self.fire(conn, name, node, False)
        return OK

    def _mkdir(self, conn, payload):
        name = self._canonical(conn, onearg(payload))
        view, caller = self._view(conn), conn.caller
        try:
            get_node(caller, view, name, XS_PERM_WRITE)
        except XsError as err:
            if err.errno != errno.ENOENT:
                raise
            self.fire(conn, name, create_node(caller, view, name, b""), False)
        return OK

    def _rm(self, conn, payload):
        name = self._canonical(conn, onearg(payload))
        view = self._view(conn)
        try:
            get_node(conn.caller, view, name, XS_PERM_WRITE)
        except XsError as err:
            if err.errno == errno.ENOENT and view.read(parent_of(name)) is not None:
                return OK  # already gone, and its parent exists: fine
            raise
        if name == "/" or view.read(parent_of(name)) is None:
            raise XsError(errno.EINVAL)
        # Children first; each deletion fires the watches on exactly that
        # node, the removed node itself also those on its ancestors.
        for path, node in subtree_post_order(view, name):
            self.fire(conn, path, node, path != name)
            view.delete(path)
        remove_child(view, parent_of(name), basename(name))
        return OK

    def _set_perms(self, conn, payload):
        strings = c_strings(payload)
        if len(strings) < 2:
            raise XsError(errno.EINVAL)
        caller = conn.caller
        if not caller.privileged and len(strings) - 1 > QUOTA_PERMS:
            raise XsError(errno.ENOSPC)
        perms = parse_perms(strings[1:])
        if strings[0].startswith("@"):
            special = self.special_perms.get(strings[0])
            if special is None:
                raise XsError(errno.EINVAL)
            need = XS_PERM_WRITE | XS_PERM_OWNER
            if perm_for(caller, special) & need != need:
                raise XsError(errno.EACCES)
            self.special_perms[strings[0]] = perms
            return OK
        name = self._canonical(conn, strings[0])
        view = self._view(conn)
        node = get_node(caller, view, name, XS_PERM_WRITE | XS_PERM_OWNER)
        if not caller.privileged and perms[0].domid != node.owner:
            raise XsError(errno.EPERM)  # only the privileged domain gives nodes away
        # Entries naming a domain that does not exist are kept but ignored,
        # so that a later domain reusing the id inherits nothing.
        # A node whose owner does not exist is dom0's.
        owner = perms[0] if self._exists(perms[0].domid) else Perm(0, perms[0].bits)
        perms = (owner,) + tuple(p if self._exists(p.domid) else Perm(p.domid, p.bits | XS_PERM_IGNORE)
                                 for p in perms[1:])
        new = node.copy()
        new.perms = perms
        check_size(caller, new)
        view.write(name, new)
        self.fire(conn, name, new, False, perms=node.perms)
        return OK

    def _watch(self, conn, payload):
        strings = c_strings(payload)
        if len(strings) != 2:
            raise XsError(errno.EINVAL)
        path, token = strings
        relative = None
        if path.startswith("@"):
            if len(path) > REL_PATH_MAX:
                raise XsError(errno.EINVAL)
        else:
            if not path.startswith("/"):
                relative = conn.implicit_path()
            path = self._canonical(conn, path)
            if not valid_node_path(path):
                raise XsError(errno.EINVAL)
        if any(w.node == path and w.token == token for w in conn.watches):
            raise XsError(errno.EEXIST)
        if not conn.privileged and len(conn.watches) > QUOTA_WATCHES:
            raise XsError(errno.E2BIG)
        w = Watch(path, token, relative)
        conn.watches.append(w)
        self._reply(conn, OK)
        self._event(conn, w, path)  # the event every new watch fires once
        return None

    def _unwatch(self, conn, payload):
        strings = c_strings(payload)
        if len(strings) != 2:
            raise XsError(errno.EINVAL)
        path = self._canonical(conn, strings[0])
        for w in conn.watches:
            if w.node == path and w.token == strings[1]:
                conn.watches.remove(w)
                return OK
        raise XsError(errno.ENOENT)

    def _transaction_start(self, conn, payload):
        if conn.current is not None:
            raise XsError(errno.EBUSY)  # no nested transactions
        if not conn.privileged and len(conn.transactions) > QUOTA_TRANSACTIONS:
            raise XsError(errno.ENOSPC)
        while True:
            tx_id, conn.next_tx = conn.next_tx, (conn.next_tx + 1) & 0xFFFFFFFF
            if tx_id and tx_id not in conn.transactions:
                break
        conn.transactions[tx_id] = Transaction(tx_id, self.tree)
        return f"{tx_id}".encode() + b"\0"

    def _transaction_end(self, conn, payload):
        arg = onearg(payload)
        if arg not in ("T", "F"):
            raise XsError(errno.EINVAL)
        tx = conn.current
        if tx is None:
            raise XsError(errno.ENOENT)
        del conn.transactions[tx.id]
        conn.current = None
        if arg == "T":
            if tx.conflicts():
                raise XsError(errno.EAGAIN)
            tx.commit()
            for name, exact, perms in tx.changes:
                self.fire(conn, name, None, exact, perms)
        return OK

    def _get_domain_path(self, conn, payload):
        arg = onearg(payload)
        if arg is None:
            raise XsError(errno.EINVAL)
        return f"/local/domain/{c_atoi(arg) & 0xFFFFFFFF}".encode() + b"\0"

    def _introduce(self, conn, payload):
        strings = c_strings(payload)
        if len(strings) < 3:
            raise XsError(errno.EINVAL)
        domid, mfn, port = (c_atoi(s) for s in strings[:3])
        if port <= 0 or self.rings is None:
            raise XsError(errno.EINVAL)
        self.introduce(domid & 0xFFFFFFFF, mfn & 0xFFFFFFFF, port)
        return OK

    def introduce(self, domid: int, mfn: int, port: int) -> Connection:
        """XS_INTRODUCE: serve `domid`'s ring (its store page `mfn`, its
        unbound port `port`); again for an introduced domain: rebind the port.
        Either way the connection starts afresh (xenstored's domain_conn_reset)."""
        dc = self.domains.get(domid)
        if dc is None:
            transport = self.rings.attach(domid, mfn, port)  # raises XsError
            dc = self.connect(domid, transport, label=f"dom{domid} ring")
            self.domains[domid] = dc
            transport.conn = dc
            if self.tree.read(dc.implicit_path()) is None:  # a home the domain owns
                create_node(Caller(0, True), self.tree, dc.implicit_path(), b"")
                home = self.tree.read(dc.implicit_path()).copy()
                home.perms = (Perm(domid, XS_PERM_NONE),)
                self.tree.write(dc.implicit_path(), home)
            self.fire_special("@introduceDomain")
        else:
            self.rings.rebind(dc.transport, port)
        dc.forget_state()  # an ignored connection stays ignored: only a release ends it
        dc.transport.reset()
        return dc

    def _onearg_domain(self, payload) -> Connection:
        arg = onearg(payload)
        if arg is None or c_atoi(arg) == 0:
            raise XsError(errno.EINVAL)
        dc = self.domains.get(c_atoi(arg) & 0xFFFFFFFF)
        if dc is None:
            raise XsError(errno.ENOENT)
        return dc

    def _release(self, conn, payload):
        self.release(self._onearg_domain(payload).domid)
        return OK

    def release(self, domid: int) -> None:
        dc = self.domains.pop(domid, None)
        if dc is None:
            return
        self.disconnect(dc)
        if self.rings is not None:
            self.rings.detach(dc.transport)
        self.fire_special("@releaseDomain")

    def domain_destroyed(self, domid: int) -> None:
        """The hypervisor destroyed `domid`: release it, and give its nodes
        to dom0 and void its grants (xenstored's domain_adjust_node_perms),
        so that a new domain with the same id inherits nothing."""
        self.release(domid)
        for node in self.tree.nodes.values():
            if any(p.domid == domid for p in node.perms):
                first = node.perms[0]
                owner = Perm(0, first.bits) if first.domid == domid else first
                node.perms = (owner,) + tuple(Perm(p.domid, p.bits | XS_PERM_IGNORE) if p.domid == domid else p
                                              for p in node.perms[1:])
        self.tree.owned = Counter(n.owner for n in self.tree.nodes.values())

    def _resume(self, conn, payload):
        self._onearg_domain(payload).shutdown = False
        return OK

    def _set_target(self, conn, payload):
        strings = c_strings(payload)
        if len(strings) < 2:
            raise XsError(errno.EINVAL)
        found = []
        for s in strings[:2]:
            dc = self.domains.get(c_atoi(s) & 0xFFFFFFFF)
            if dc is None:
                raise XsError(errno.ENOENT)
            found.append(dc)
        found[0].target = found[1].domid
        return OK

    def _is_domain_introduced(self, conn, payload):
        arg = onearg(payload)
        if arg is None:
            raise XsError(errno.EINVAL)
        domid = c_atoi(arg) & 0xFFFFFFFF
        return b"T\0" if domid == WIRE.c("DOMID_SELF") or domid in self.domains else b"F\0"

    def _reset_watches(self, conn, payload):
        conn.watches.clear()
        conn.transactions.clear()
        return OK

    def _directory_part(self, conn, payload):
        strings = c_strings(payload)
        if len(strings) != 2:
            raise XsError(errno.EINVAL)
        node = get_node(conn.caller, self._view(conn), self._canonical(conn, strings[0]), XS_PERM_READ)
        children = node.children_bytes()
        offset = c_atoi(strings[1]) & 0xFFFFFFFF
        gen = f"{node.generation}".encode() + b"\0"
        if offset >= len(children):
            return gen + b"\0"  # past the end: an empty list
        room = PAYLOAD_MAX - len(gen) - 1
        length, pos = 0, offset
        while True:
            end = children.index(b"\0", pos)
            if length + (end - pos) >= room:
                break
            length, pos = length + end - pos + 1, end + 1
            if offset + length == len(children):
                break
        done = offset + length == len(children)
        return gen + children[offset:offset + length] + (b"\0" if done else b"")

    def _control(self, conn, payload):
        raise XsError(errno.EINVAL)  # no xenstore-control command is modelled
