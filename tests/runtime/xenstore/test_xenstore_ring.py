"""A guest talks to xenstored through its store page and event channel.

The guest kernel here is Python, as elsewhere in the runtime: it writes
requests into the `req` ring of its store page through its own page tables,
as Linux's xenbus driver does, and notifies its store port with a compiled
hook (`xs_ops.notify`) that makes the EVTCHNOP_send hypercall on the emulated
vCPU. xenstored answers into `rsp` during that hypercall and raises the
guest's store port.
"""

from __future__ import annotations

import random
import struct

import pytest
from rtsupport import machine, write_spec

from pvdsl.runtime.xen.paging import translate
from pvdsl.runtime.xenstore.xenstored import HEADER_BYTES, PAYLOAD_MAX, WIRE, XS, XSD_ERRORS, Xenstored, c_strings, pack
from pvdsl.runtime.xenstore.ring import DomainRings

NOTIFY = """\
module xsnotify;
import xen.abi;

table xs_ops {
    notify(port: u32) -> long;
}

backend guest for i386, x86_64 roles domu {
    impl xs_ops.notify(port: u32) -> long {
        var s: evtchn_send;
        s.port = port;
        return event_channel_op(EVTCHNOP_send, &s as handle<void>);
    }
}
"""
IFACE = "xenstore_domain_interface"
RING = WIRE.c("XENSTORE_RING_SIZE")
XS_NAMES = {v: k for k, v in XS.items() if k not in ("XS_DEBUG", "XS_WATCH_PATH", "XS_WATCH_TOKEN")}


def payload(*args: str) -> bytes:
    return b"".join(a.encode() + b"\0" for a in args)


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return str(write_spec(tmp_path_factory.mktemp("xsring"), NOTIFY))


class Guest:
    """A domU with its store ring served by xenstored in dom0."""

    def __init__(self, spec: str, target: str):
        self.m = m = machine(spec, target)
        self.hv, self.d = m.hv, m.domu
        si = self.d.abi
        raw = self.hv.mem.read(self.d.p2m[self.d.kernel.pfn_of(self.d.start_info_va)] << 12, si.size("start_info"))
        self.store_mfn = si.get(raw, "start_info", "store_mfn")
        self.port = si.get(raw, "start_info", "store_evtchn")
        self.page = self.d.kernel.va_of(self.d.kernel.store_pfn)  # the guest's own mapping of the page
        assert self.d.p2m[self.d.kernel.store_pfn] == self.store_mfn
        self.rings = DomainRings(self.hv)
        self.xs = Xenstored(domain_exists=lambda domid: domid in self.hv.domains, rings=self.rings)
        self.rings.daemon = self.xs
        self.toolstack = self.xs.connect(0, None, label="toolstack")
        self.admin("XS_INTRODUCE", str(self.d.domid), str(self.store_mfn), str(self.port))
        self.next_req = 1
        self.clear_pending()

    def admin(self, type_name: str, *args: str) -> bytes:
        (msg_type, _, _, body), = self.xs.call(self.toolstack, XS[type_name], payload(*args))
        assert msg_type == XS[type_name], (type_name, args, body)
        return body

    # ---- the guest's side of the page, through its page tables ----
    def _ma(self, offset: int) -> int:
        return translate(self.hv.mem, self.d.rt, self.d.vcpus[0].guest_table, self.page + offset, write=True)

    def get(self, field: str) -> int:
        return self.hv.mem.u32(self._ma(WIRE.field(IFACE, field).offset))

    def set(self, field: str, value: int) -> None:
        self.hv.mem.set_u32(self._ma(WIRE.field(IFACE, field).offset), value & 0xFFFFFFFF)

    def put_bytes(self, data: bytes) -> None:
        """Append to `req` at req_prod, wrapping, then publish req_prod."""
        prod = self.get("req_prod")
        base = WIRE.field(IFACE, "req").offset
        for i, byte in enumerate(data):
            self.hv.mem.set_u8(self._ma(base + ((prod + i) & (RING - 1))), byte)
        self.set("req_prod", prod + len(data))

    def request(self, type_name: str, body: bytes, tx: int = 0) -> int:
        req_id = self.next_req
        self.next_req += 1
        self.put_bytes(pack(XS[type_name], req_id, tx, body))
        return req_id

    def notify(self) -> None:
        r = self.m.call("xs_ops.notify", self.port)
        assert r.ok and r.value == 0, r.fault
        assert r.hypercalls == [("event_channel_op", 0)]

    def take(self) -> list[tuple[str, int, int, bytes]]:
        """Every complete message in `rsp`, consumed."""
        cons, prod = self.get("rsp_cons"), self.get("rsp_prod")
        if (prod - cons) & 0xFFFFFFFF > RING:  # indices the guest itself scrambled
            self.set("rsp_cons", prod)
            return []
        base = WIRE.field(IFACE, "rsp").offset
        count = (prod - cons) & 0xFFFFFFFF
        data = bytes(self.hv.mem.u8(self._ma(base + ((cons + i) & (RING - 1)))) for i in range(count))
        out, pos = [], 0
        while len(data) - pos >= HEADER_BYTES:
            t, req_id, tx, n = struct.unpack_from("<IIII", data, pos)
            if len(data) - pos < HEADER_BYTES + n:
                break
            out.append((XS_NAMES.get(t, t), req_id, tx, data[pos + HEADER_BYTES:pos + HEADER_BYTES + n]))
            pos += HEADER_BYTES + n
        self.set("rsp_cons", cons + pos)
        return out

    def pending(self) -> bool:
        bits = 8 * self.d.abi.word
        f = self.d.abi.field("shared_info", f"evtchn_pending[{self.port // bits}]")
        return bool(self.hv.mem.uint((self.d.shared_info_mfn << 12) + f.offset, f.size) >> (self.port % bits) & 1)

    def clear_pending(self) -> None:
        self.m.deliver_events()
        assert not self.pending()

    def write(self, path: str, value: bytes) -> None:
        req_id = self.request("XS_WRITE", path.encode() + b"\0" + value)
        self.notify()
        assert self.take() == [("XS_WRITE", req_id, 0, b"OK\0")]

    def dom0_port_pending(self) -> bool:
        dom0 = self.m.dom0
        port = next(p for p, ch in dom0.evtchns.items()
                    if ch.remote_dom == self.d.domid and ch.remote_port == self.port)
        bits = 8 * dom0.abi.word
        f = dom0.abi.field("shared_info", f"evtchn_pending[{port // bits}]")
        return bool(self.hv.mem.uint((dom0.shared_info_mfn << 12) + f.offset, f.size) >> (port % bits) & 1)

    def ask(self, type_name: str, *args: str, tx: int = 0) -> tuple[str, bytes]:
        req_id = self.request(type_name, payload(*args), tx)
        self.notify()
        msgs = [m for m in self.take() if m[0] != "XS_WATCH_EVENT"]
        assert len(msgs) == 1 and msgs[0][1] == req_id and msgs[0][2] == tx, msgs
        return msgs[0][0], msgs[0][3]


TARGETS = ["x86_64-domu", "i386-domu"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_request_written_to_the_ring_is_answered_with_an_event(spec, target):
    g = Guest(spec, target)
    assert g.get("connection") == WIRE.c("XENSTORE_CONNECTED")
    assert g.get("server_features") & WIRE.c("XENSTORE_SERVER_FEATURE_ERROR")
    req_id = g.request("XS_WRITE", b"data/greeting\0hello")
    assert not g.pending()
    g.notify()
    assert g.get("req_cons") == g.get("req_prod")
    assert g.take() == [("XS_WRITE", req_id, 0, b"OK\0")]
    assert g.pending(), "xenstored notifies the guest's store port"
    g.clear_pending()
    assert g.ask("XS_READ", "data/greeting") == ("XS_READ", b"hello")
    assert g.ask("XS_READ", "/local/domain/0") == ("XS_ERROR", b"EACCES\0")
    assert g.ask("XS_GET_DOMAIN_PATH", str(g.d.domid)) == ("XS_GET_DOMAIN_PATH",
                                                           f"/local/domain/{g.d.domid}\0".encode())
    assert g.ask("XS_INTRODUCE", "1", "1", "1") == ("XS_ERROR", b"EACCES\0")  # dom0 only
    assert g.admin("XS_READ", f"/local/domain/{g.d.domid}/data/greeting") == b"hello"
    # dom0 keeps nothing pending for the daemon's port: the service took every event.
    assert not g.dom0_port_pending()
    assert not g.hv.check_invariants()


@pytest.mark.parametrize("target", TARGETS)
def test_messages_wrap_around_the_ring_and_the_index_space(spec, target):
    g = Guest(spec, target)
    start = 0xFFFFFFFF - 40  # indices are free-running u32: they wrap past 2**32 too
    for f in ("req_cons", "req_prod"):
        g.set(f, start)
    for f in ("rsp_cons", "rsp_prod"):
        g.set(f, start + 7)
    value = "v" * 300
    for round_ in range(12):  # 12 x ~330 bytes each way: around the 1 KiB rings several times
        g.write(f"data/k{round_}", value.encode())
        assert g.ask("XS_READ", f"data/k{round_}") == ("XS_READ", value.encode())
    assert g.get("req_prod") < start  # wrapped past 2**32
    assert g.get("rsp_prod") < start


@pytest.mark.parametrize("target", TARGETS)
def test_a_partial_message_waits_for_the_rest(spec, target):
    g = Guest(spec, target)
    msg = pack(XS["XS_WRITE"], 77, 0, b"data/p\0part")
    for cut in (5, HEADER_BYTES, HEADER_BYTES + 3):
        g.put_bytes(msg[:cut])
        g.notify()
        assert g.take() == [] and g.get("req_cons") == g.get("req_prod")
        g.put_bytes(msg[cut:])
        g.notify()
        assert g.take() == [("XS_WRITE", 77, 0, b"OK\0")]


@pytest.mark.parametrize("target", TARGETS)
def test_watch_events_reach_the_guest_ring(spec, target):
    g = Guest(spec, target)
    req_id = g.request("XS_WATCH", payload("data", "mytoken"))
    g.notify()
    assert g.take() == [("XS_WATCH", req_id, 0, b"OK\0"), ("XS_WATCH_EVENT", 0, 0, b"data\0mytoken\0")]
    g.clear_pending()
    # dom0 writes below the watched node: the event arrives with no request of the guest's.
    g.admin("XS_WRITE", f"/local/domain/{g.d.domid}/data/k", "")
    assert g.pending()
    assert g.take() == [("XS_WATCH_EVENT", 0, 0, b"data/k\0mytoken\0")]


@pytest.mark.parametrize("target", TARGETS)
def test_replies_wait_while_the_guest_does_not_consume_them(spec, target):
    g = Guest(spec, target)
    value = "x" * 300
    g.write("data/big", value.encode())
    ids = [g.request("XS_READ", payload("data/big")) for _ in range(4)]
    g.notify()
    assert (g.get("rsp_prod") - g.get("rsp_cons")) & 0xFFFFFFFF == RING  # rsp full, the rest waits
    got = []
    for _ in range(10):
        got += g.take()
        g.notify()
    assert [(m[0], m[1], m[3]) for m in got] == [("XS_READ", i, value.encode()) for i in ids]
    # More requests than xenstored keeps outstanding: it stops reading until
    # the guest takes its replies.
    ids = [g.request("XS_READ", payload("data/big")) for _ in range(24)]
    g.notify()
    assert g.get("req_cons") != g.get("req_prod")
    got = []
    for _ in range(60):
        got += g.take()
        g.notify()
    assert [m[1] for m in got] == ids and g.get("req_cons") == g.get("req_prod")


def _ignored(g, error: str) -> None:
    assert g.get("error") == WIRE.c(error)
    notes = g.hv.events_of("xenstore", g.d.domid)
    assert notes and notes[-1]["error"] == error
    # An ignored connection answers nothing, ever; the guest and the host go on.
    g.take()
    g.request("XS_READ", payload("data"))
    g.notify()
    assert g.take() == []
    assert not g.hv.check_invariants()


@pytest.mark.parametrize("target", TARGETS)
def test_bad_request_indices_get_the_connection_ignored(spec, target):
    g = Guest(spec, target)
    g.set("req_prod", g.get("req_cons") + RING + 1)
    g.notify()
    _ignored(g, "XENSTORE_ERROR_RINGIDX")
    assert "bad request ring indices" in g.hv.events_of("xenstore", g.d.domid)[-1]["ignored"]


@pytest.mark.parametrize("target", TARGETS)
def test_an_oversized_request_gets_the_connection_ignored(spec, target):
    g = Guest(spec, target)
    g.put_bytes(struct.pack("<IIII", XS["XS_WRITE"], 1, 0, PAYLOAD_MAX + 1))
    g.notify()
    _ignored(g, "XENSTORE_ERROR_PROTO")


@pytest.mark.parametrize("target", TARGETS)
def test_bad_response_indices_get_the_connection_ignored(spec, target):
    g = Guest(spec, target)
    g.set("rsp_cons", g.get("rsp_prod") - RING - 5)
    g.request("XS_READ", payload("data"))
    g.notify()
    _ignored(g, "XENSTORE_ERROR_RINGIDX")


@pytest.mark.parametrize("target", TARGETS)
def test_garbage_gets_error_replies(spec, target):
    g = Guest(spec, target)
    assert g.ask("XS_WATCH_EVENT", "x", "y") == ("XS_ERROR", b"ENOSYS\0")
    req_id = g.request("XS_READ", b"")
    g.put_bytes(struct.pack("<IIII", 999, 5, 0, 3) + b"abc")
    g.notify()
    assert g.take() == [("XS_ERROR", req_id, 0, b"EINVAL\0"), ("XS_ERROR", 5, 0, b"ENOSYS\0")]


@pytest.mark.parametrize("target", TARGETS)
def test_random_ring_contents_never_hurt_the_host(spec, target):
    g = Guest(spec, target)
    rng = random.Random(1234)
    fields = ("req_cons", "req_prod", "rsp_cons", "rsp_prod", "connection", "server_features", "error")
    for round_ in range(150):
        choice = rng.randrange(4)
        if choice == 0:  # random bytes, sane indices
            g.put_bytes(rng.randbytes(rng.randrange(1, 300)))
        elif choice == 1:  # well-framed messages with random types, ids and payloads
            g.put_bytes(pack(rng.randrange(30), rng.getrandbits(32), rng.choice((0, 1, rng.getrandbits(32))),
                             rng.randbytes(rng.randrange(0, 200))))
        elif choice == 2:  # a random index
            g.set(rng.choice(fields), rng.getrandbits(32))
        else:  # plausible requests with random strings
            t = rng.choice([n for n in XS if n.startswith("XS_") and n not in ("XS_TYPE_COUNT", "XS_INVALID")])
            args = [rng.choice(["data", "/", "@introduceDomain", "a/b", "", "r0", "T", "1", "/local/domain/0"])
                    for _ in range(rng.randrange(0, 4))]
            g.put_bytes(pack(XS[t], round_, 0, payload(*args)))
        g.notify()  # asserts the hypercall returned 0 without a fault
        for kind, _, _, body in g.take():
            if kind == "XS_ERROR":
                assert body[:-1].decode() in XSD_ERRORS
        conn = g.xs.domains[g.d.domid]
        if conn.ignored and rng.random() < 0.5:  # the toolstack starts the domain's connection afresh
            g.admin("XS_RELEASE", str(g.d.domid))
            g.admin("XS_INTRODUCE", str(g.d.domid), str(g.store_mfn), str(g.port))
        assert not g.hv.check_invariants()


@pytest.mark.parametrize("target", TARGETS)
def test_release_unbinds_and_fires_release_domain(spec, target):
    g = Guest(spec, target)
    domid = str(g.d.domid)
    watcher = g.xs.connect(0, None, label="watcher")
    g.xs.call(watcher, XS["XS_WATCH"], payload("@releaseDomain", "rel"))
    g.xs.call(watcher, XS["XS_WATCH"], payload("@introduceDomain", "intro"))
    watcher.out.clear()
    assert g.admin("XS_IS_DOMAIN_INTRODUCED", domid) == b"T\0"
    assert g.admin("XS_RELEASE", domid) == b"OK\0"
    assert list(watcher.out) == [pack(XS["XS_WATCH_EVENT"], 0, 0, b"@releaseDomain\0rel\0")]
    watcher.out.clear()
    assert g.admin("XS_IS_DOMAIN_INTRODUCED", str(g.d.domid)) == b"F\0"
    assert not any(key[0] == 0 for key in g.hv.services)
    ch = g.d.evtchns[g.port]
    assert ch.state == g.d.abi.c("EVTCHNSTAT_unbound") and ch.remote_dom == 0
    g.request("XS_READ", payload("data"))
    g.notify()  # the port is unbound again: Xen drops the event
    assert g.take() == []
    # Introduced again, the domain is served again, from a fresh ring.
    g.admin("XS_INTRODUCE", str(g.d.domid), str(g.store_mfn), str(g.port))
    assert list(watcher.out) == [pack(XS["XS_WATCH_EVENT"], 0, 0, b"@introduceDomain\0intro\0")]
    assert g.get("req_cons") == g.get("req_prod") == 0
    assert g.ask("XS_READ", "data") == ("XS_ERROR", b"ENOENT\0")


@pytest.mark.parametrize("target", TARGETS)
def test_introduce_checks_its_arguments(spec, target):
    g = Guest(spec, target)
    other = g.m.dom0
    bad = [(str(g.d.domid + 5), str(g.store_mfn), str(g.port)),  # no such domain
           (str(g.d.domid), str(next(iter(other.pages))), str(g.port)),  # not the domain's page
           (str(g.d.domid), str(g.store_mfn), "0")]  # no port
    g.admin("XS_RELEASE", str(g.d.domid))
    for args in bad:
        (t, _, _, body), = g.xs.call(g.toolstack, XS["XS_INTRODUCE"], payload(*args))
        assert (t, body) == (XS["XS_ERROR"], b"EINVAL\0"), args
    # A port that is not offered to dom0 cannot be bound.
    (t, _, _, body), = g.xs.call(g.toolstack, XS["XS_INTRODUCE"], payload(str(g.d.domid), str(g.store_mfn), "100"))
    assert (t, body) == (XS["XS_ERROR"], b"EINVAL\0")
    assert c_strings(g.admin("XS_INTRODUCE", str(g.d.domid), str(g.store_mfn), str(g.port))) == ["OK"]
