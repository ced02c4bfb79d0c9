"""xenstored's semantics, request by request: the tree, permissions,
transactions, watches, errors and limits, with clients speaking the wire
protocol to the daemon model (no transport: the replies are taken from the
connection's queue)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pvdsl.runtime.xenstore import store as xs_store
from pvdsl.runtime.xenstore.xenstored import HEADER_BYTES, PAYLOAD_MAX, XS, XSD_ERRORS, Xenstored, c_strings, unpack_header

XS_NAMES = {v: k for k, v in XS.items() if k not in ("XS_DEBUG", "XS_WATCH_PATH", "XS_WATCH_TOKEN")}


def payload(*args: str | bytes) -> bytes:
    return b"".join((a.encode() if isinstance(a, str) else a) + b"\0" for a in args)


class Client:
    """A connection to the daemon: domain `domid` (dom0 is privileged)."""

    def __init__(self, xs: Xenstored, domid: int):
        self.xs = xs
        self.conn = xs.connect(domid, None)
        self._events: list[tuple[str, str]] = []
        self.req_id = 100

    @property
    def events(self) -> list[tuple[str, str]]:
        """Watch events received so far (including those other clients'
        requests queued for this one)."""
        while self.conn.out:
            m = self.conn.out.popleft()
            assert unpack_header(m[:HEADER_BYTES])[:3] == (XS["XS_WATCH_EVENT"], 0, 0)
            path, token = c_strings(m[HEADER_BYTES:])
            self._events.append((path, token))
        return self._events

    def send(self, type_name: str, raw: bytes, tx: int = 0) -> tuple[str, bytes]:
        self.req_id += 1
        reply = None
        for msg_type, req_id, tx_id, body in self.xs.call(self.conn, XS[type_name], raw, tx, self.req_id):
            if msg_type == XS["XS_WATCH_EVENT"]:
                assert (req_id, tx_id) == (0, 0)
                path, token = c_strings(body)
                self._events.append((path, token))
            else:
                assert reply is None, "one reply per request"
                assert (req_id, tx_id) == (self.req_id, tx), "a reply echoes req_id and tx_id"
                reply = (XS_NAMES[msg_type], body)
        assert reply is not None
        return reply

    def ok(self, type_name: str, *args, tx: int = 0) -> bytes:
        kind, body = self.send(type_name, payload(*args), tx)
        assert kind == type_name, f"{type_name} {args}: {kind} {body!r}"
        return body

    def err(self, type_name: str, *args, tx: int = 0, raw: bytes | None = None) -> str:
        kind, body = self.send(type_name, payload(*args) if raw is None else raw, tx)
        assert kind == "XS_ERROR", f"{type_name} {args}: expected an error, got {kind} {body!r}"
        assert body.endswith(b"\0") and body.count(b"\0") == 1
        return body[:-1].decode()

    def write(self, path: str, value: str, tx: int = 0) -> None:
        assert self.send("XS_WRITE", path.encode() + b"\0" + value.encode(), tx) == ("XS_WRITE", b"OK\0")

    def read(self, path: str, tx: int = 0) -> str:
        return self.ok("XS_READ", path, tx=tx).decode()

    def ls(self, path: str) -> list[str]:
        return c_strings(self.ok("XS_DIRECTORY", path))

    def perms(self, path: str) -> list[str]:
        return c_strings(self.ok("XS_GET_PERMS", path))

    def tx_start(self) -> int:
        return int(c_strings(self.ok("XS_TRANSACTION_START", ""))[0])


@pytest.fixture
def xs():
    return Xenstored(domain_exists=lambda domid: domid in (0, 1, 2))


@pytest.fixture
def dom0(xs):
    c = Client(xs, 0)
    for domid in (1, 2):  # what a toolstack gives each guest: a home it owns
        home = f"/local/domain/{domid}"
        c.write(home, "")
        c.ok("XS_SET_PERMS", home, f"n{domid}")
    return c


# ---- facts from the headers ----
def test_error_names_and_permission_bits_are_the_headers():
    wire = Path("/usr/include/xen/io/xs_wire.h").read_text()
    assert tuple(re.findall(r"XSD_ERROR\((E[A-Z0-9]+)\)", wire)) == XSD_ERRORS
    lib = Path("/usr/include/xenstore_lib.h").read_text()
    for name in ("XS_PERM_NONE", "XS_PERM_READ", "XS_PERM_WRITE", "XS_PERM_OWNER", "XS_PERM_IGNORE"):
        value = re.search(rf"#define\s+{name}\s+(0x[0-9a-fA-F]+)", lib).group(1)
        assert getattr(xs_store, name) == int(value, 16), name


# ---- the tree ----
def test_write_read_directory_rm(dom0):
    dom0.write("/a/b/c", "value")  # missing parents are created
    assert dom0.read("/a/b/c") == "value"
    assert dom0.read("/a/b") == ""
    assert dom0.ls("/") == ["tool", "local", "a"]
    assert dom0.ls("/a/b") == ["c"]
    dom0.write("/a/b/c", "")  # an empty value, and binary data
    assert dom0.read("/a/b/c") == ""
    assert dom0.send("XS_WRITE", b"/a/bin\0\x00\xff\x01") == ("XS_WRITE", b"OK\0")
    assert dom0.ok("XS_READ", "/a/bin") == b"\x00\xff\x01"
    assert dom0.ok("XS_MKDIR", "/a/dir") == b"OK\0"
    assert dom0.ok("XS_MKDIR", "/a/dir") == b"OK\0"  # already there: fine
    assert dom0.ok("XS_RM", "/a/b") == b"OK\0"
    assert dom0.err("XS_READ", "/a/b/c") == "ENOENT"
    assert dom0.ok("XS_RM", "/a/b") == b"OK\0"  # gone, and its parent exists: fine
    assert dom0.err("XS_RM", "/a/b/c") == "ENOENT"  # its parent does not exist
    assert dom0.err("XS_RM", "/") == "EINVAL"
    assert sorted(dom0.ls("/a")) == ["bin", "dir"]


@pytest.mark.parametrize("path", ["a/../b", "/trailing/", "//double", "/a//b", "/sp ace", "/dollar$", "@special",
                                  "/newline\n", "/\xe9", "/" + "x" * 2049])
def test_invalid_paths_are_einval(dom0, path):
    assert dom0.err("XS_READ", path) == "EINVAL"
    assert dom0.err("XS_WRITE", raw=path.encode() + b"\0v") == "EINVAL"


def test_path_length_counts_beyond_the_domain_home(dom0):
    # XENSTORE_REL_PATH_MAX (2048) characters beyond /local/domain/N/ are fine, one more is not.
    ok = "/local/domain/1/" + "x" * 2048
    dom0.write(ok, "1")
    assert dom0.err("XS_WRITE", raw=(ok + "y").encode() + b"\0v") == "EINVAL"
    assert dom0.err("XS_READ", "/" + "x" * 2049) == "EINVAL"


def test_relative_paths_are_under_the_callers_home(xs, dom0):
    guest = Client(xs, 1)
    guest.write("data/key", "v")
    assert dom0.read("/local/domain/1/data/key") == "v"
    assert guest.read("data/key") == "v"
    assert guest.ok("XS_GET_DOMAIN_PATH", "7") == b"/local/domain/7\0"
    assert guest.err("XS_GET_DOMAIN_PATH", raw=b"7") == "EINVAL"  # not nul-terminated


def test_malformed_payloads(dom0):
    assert dom0.err("XS_READ", raw=b"/a") == "EINVAL"  # no nul
    assert dom0.err("XS_READ", raw=b"/a\0/b\0") == "EINVAL"  # two strings
    assert dom0.err("XS_READ", raw=b"") == "EINVAL"
    assert dom0.err("XS_WRITE", raw=b"/no-nul-at-all") == "EINVAL"
    assert dom0.err("XS_WATCH", raw=b"/only-path\0") == "EINVAL"
    assert dom0.err("XS_SET_PERMS", raw=b"/tool\0") == "EINVAL"
    assert dom0.err("XS_SET_PERMS", "/tool", "x0") == "EINVAL"
    assert dom0.err("XS_SET_PERMS", "/tool", "r") == "EINVAL"
    assert dom0.err("XS_SET_PERMS", "/tool", "r1z") == "EINVAL"


def test_unknown_and_daemon_only_types_are_enosys(dom0):
    for msg_type in (XS["XS_WATCH_EVENT"], XS["XS_ERROR"], 20, XS["XS_TYPE_COUNT"], 0xFFFF, 0xFFFFFFFF):
        (_, _, _, body), = dom0.xs.call(dom0.conn, msg_type, b"/\0")
        assert body == b"ENOSYS\0"


def test_a_reply_over_the_payload_limit_is_e2big_and_directory_part_pages(dom0):
    names = [f"child-number-{i:05d}" for i in range(300)]  # 6,000 bytes of names
    for n in names:
        dom0.write(f"/big/{n}", "")
    assert dom0.err("XS_DIRECTORY", "/big") == "E2BIG"
    got, offset = [], 0
    while True:
        body = dom0.ok("XS_DIRECTORY_PART", "/big", str(offset))
        assert len(body) <= PAYLOAD_MAX
        gen, rest = body.split(b"\0", 1)
        assert gen.isdigit()
        if rest == b"\0" or rest == b"":
            break
        done = rest.endswith(b"\0\0")
        part = c_strings(rest[:-1] if done else rest)
        got += part
        offset += sum(len(p) + 1 for p in part)
        if done:
            break
    assert got == names


# ---- permissions ----
def test_a_domu_cannot_read_or_write_another_domus_nodes(xs, dom0):
    one, two = Client(xs, 1), Client(xs, 2)
    one.write("/local/domain/1/secret", "s")
    assert two.err("XS_READ", "/local/domain/1/secret") == "EACCES"
    assert two.err("XS_DIRECTORY", "/local/domain/1") == "EACCES"
    assert two.err("XS_WRITE", raw=b"/local/domain/1/secret\0x") == "EACCES"
    assert two.err("XS_RM", "/local/domain/1/secret") == "EACCES"
    assert two.err("XS_GET_PERMS", "/local/domain/1/secret") == "EACCES"
    # Whether a node exists is not revealed either.
    assert two.err("XS_READ", "/local/domain/1/nothing-here") == "EACCES"
    assert one.err("XS_READ", "/local/domain/1/nothing-here") == "ENOENT"
    # Nor may a domU write at the top of the tree.
    assert one.err("XS_WRITE", raw=b"/mine\0x") == "EACCES"
    assert dom0.read("/local/domain/1/secret") == "s"  # dom0 reads everything


def test_permission_lists(xs, dom0):
    one, two = Client(xs, 1), Client(xs, 2)
    dom0.write("/shared/x", "1")
    assert dom0.perms("/shared/x") == ["n0"]  # inherited from the root
    assert one.err("XS_READ", "/shared/x") == "EACCES"
    dom0.ok("XS_SET_PERMS", "/shared/x", "n0", "r1")
    assert one.read("/shared/x") == "1"
    assert one.err("XS_WRITE", raw=b"/shared/x\0z") == "EACCES"
    assert two.err("XS_READ", "/shared/x") == "EACCES"
    dom0.ok("XS_SET_PERMS", "/shared/x", "r0", "w2")  # default read; dom2 may only write
    assert one.read("/shared/x") == "1"
    assert two.err("XS_READ", "/shared/x") == "EACCES"
    two.write("/shared/x", "2")
    assert dom0.perms("/shared/x") == ["r0", "w2"]
    dom0.ok("XS_SET_PERMS", "/shared/x", "b1", "n0x2")  # hex ids, as strtol reads them
    assert dom0.perms("/shared/x") == ["b1", "n2"]
    # An entry naming a domain that does not exist is kept but ignored.
    dom0.ok("XS_SET_PERMS", "/shared/x", "n0", "r5")
    assert dom0.perms("/shared/x") == ["n0"]


def test_what_a_domu_creates_it_owns_and_cannot_give_away(xs, dom0):
    one = Client(xs, 1)
    one.write("/local/domain/1/data/a/b", "v")
    assert one.perms("/local/domain/1/data/a") == ["n1"]
    assert one.err("XS_SET_PERMS", "/local/domain/1/data/a", "n2") == "EPERM"
    assert one.ok("XS_SET_PERMS", "/local/domain/1/data/a", "n1", "r2") == b"OK\0"
    two = Client(xs, 2)
    assert two.read("/local/domain/1/data/a") == ""
    assert two.err("XS_SET_PERMS", "/local/domain/1/data/a", "n2") == "EACCES"  # not the owner
    dom0.write("/local/domain/1/ro", "x")
    dom0.ok("XS_SET_PERMS", "/local/domain/1/ro", "n0", "r1")
    assert one.err("XS_SET_PERMS", "/local/domain/1/ro", "n0", "b1") == "EACCES"
    assert one.err("XS_SET_PERMS", "/local/domain/1/data/a", "n1", "r2", "r3", "r4", "r5", "r6") == "ENOSPC"


def test_privileged_requests_are_refused_to_a_domu(xs, dom0):
    one = Client(xs, 1)
    assert one.err("XS_INTRODUCE", "2", "100", "3") == "EACCES"
    assert one.err("XS_RELEASE", "2") == "EACCES"
    assert one.err("XS_IS_DOMAIN_INTRODUCED", "2") == "EACCES"
    assert one.err("XS_SET_TARGET", "1", "2") == "EACCES"
    assert one.err("XS_RESUME", "2") == "EACCES"
    assert one.err("XS_CONTROL", "print", "x") == "EACCES"
    assert dom0.ok("XS_IS_DOMAIN_INTRODUCED", "2") == b"F\0"
    assert dom0.ok("XS_IS_DOMAIN_INTRODUCED", str(0x7FF0)) == b"T\0"  # DOMID_SELF
    assert dom0.err("XS_RELEASE", "2") == "ENOENT"
    assert dom0.err("XS_RELEASE", "0") == "EINVAL"
    assert dom0.err("XS_INTRODUCE", "2", "100", "0") == "EINVAL"
    assert dom0.err("XS_INTRODUCE", "2", "100") == "EINVAL"


def test_quotas_bind_domus(xs, dom0):
    one = Client(xs, 1)
    # A node's record (24-byte header, 8 bytes a permission, value, children's
    # names) must stay under 2048 bytes.
    assert one.err("XS_WRITE", raw=b"/local/domain/1/big\0" + b"x" * (2048 - 24 - 8)) == "ENOSPC"
    one.write("/local/domain/1/fits", "x" * (2047 - 24 - 8))
    dom0.write("/local/domain/1/dom0-may", "x" * 3000)
    for i in range(100):  # a directory's children count towards its size
        kind, body = one.send("XS_WRITE", f"/local/domain/1/wide/{'c' * 90}{i:03d}".encode() + b"\0")
        if kind == "XS_ERROR":
            break
    assert body == b"ENOSPC\0" and i == (2048 - 24 - 8) // 94
    # At most 1000 nodes per domain.
    dirs = [f"/local/domain/1/d{j}" for j in range(20)]
    for d in dirs:
        one.ok("XS_MKDIR", d)
    i = 0
    while xs.tree.owned_by(1) < xs_store.QUOTA_NODES:
        one.write(f"{dirs[i % 20]}/n{i}", "")
        i += 1
    assert one.err("XS_WRITE", raw=b"/local/domain/1/d0/one-too-many\0") == "ENOSPC"
    assert one.err("XS_MKDIR", "/local/domain/1/d0/one-too-many") == "ENOSPC"
    one.ok("XS_RM", "/local/domain/1/d0/n0")
    one.write("/local/domain/1/d0/again", "")
    for i in range(30):  # dom0 has no such limit
        dom0.write(f"/local/domain/1/d1/dom0-{i}", "")


# ---- transactions ----
def test_a_transaction_is_private_until_it_commits(xs, dom0):
    one = Client(xs, 1)
    tx = one.tx_start()
    assert tx == 1
    one.write("/local/domain/1/t", "in-tx", tx=tx)
    assert one.read("/local/domain/1/t", tx=tx) == "in-tx"
    assert dom0.err("XS_READ", "/local/domain/1/t") == "ENOENT"
    assert one.ok("XS_TRANSACTION_END", "T", tx=tx) == b"OK\0"
    assert dom0.read("/local/domain/1/t") == "in-tx"
    tx = one.tx_start()
    assert tx == 2
    one.write("/local/domain/1/t", "dropped", tx=tx)
    one.ok("XS_RM", "/local/domain/1/t", tx=tx)
    assert one.ok("XS_TRANSACTION_END", "F", tx=tx) == b"OK\0"
    assert dom0.read("/local/domain/1/t") == "in-tx"
    assert one.err("XS_READ", "/local/domain/1/t", tx=tx) == "ENOENT"  # the transaction is gone


def test_a_conflicting_transaction_fails_with_eagain(xs, dom0):
    one, two = Client(xs, 1), Client(xs, 2)
    dom0.write("/shared/counter", "1")
    dom0.ok("XS_SET_PERMS", "/shared/counter", "b0")
    t1, t2 = one.tx_start(), two.tx_start()
    value = int(one.read("/shared/counter", tx=t1))
    int(two.read("/shared/counter", tx=t2))
    two.write("/shared/counter", str(value + 10), tx=t2)
    assert two.ok("XS_TRANSACTION_END", "T", tx=t2) == b"OK\0"
    one.write("/shared/counter", str(value + 1), tx=t1)
    assert one.err("XS_TRANSACTION_END", "T", tx=t1) == "EAGAIN"
    assert dom0.read("/shared/counter") == "11"
    # Reading alone is enough to conflict, and a retry succeeds.
    t1 = one.tx_start()
    one.read("/shared/counter", tx=t1)
    dom0.write("/shared/counter", "12")
    assert one.err("XS_TRANSACTION_END", "T", tx=t1) == "EAGAIN"
    t1 = one.tx_start()
    one.write("/shared/counter", str(int(one.read("/shared/counter", tx=t1)) + 1), tx=t1)
    assert one.ok("XS_TRANSACTION_END", "T", tx=t1) == b"OK\0"
    assert dom0.read("/shared/counter") == "13"
    # Unrelated changes do not conflict.
    t1 = one.tx_start()
    one.read("/shared/counter", tx=t1)
    dom0.write("/elsewhere", "x")
    assert one.ok("XS_TRANSACTION_END", "T", tx=t1) == b"OK\0"


def test_transaction_errors(xs, dom0):
    one = Client(xs, 1)
    tx = one.tx_start()
    assert one.err("XS_TRANSACTION_START", "", tx=tx) == "EBUSY"  # no nesting
    assert one.err("XS_READ", "/local/domain/1", tx=tx + 7) == "ENOENT"
    assert one.err("XS_TRANSACTION_END", "X", tx=tx) == "EINVAL"
    assert one.err("XS_TRANSACTION_END", "T") == "ENOENT"  # no transaction named
    assert one.ok("XS_TRANSACTION_END", "T", tx=tx) == b"OK\0"
    assert one.err("XS_TRANSACTION_END", "T", tx=tx) == "ENOENT"
    ids = [one.tx_start() for _ in range(xs_store.QUOTA_TRANSACTIONS + 1)]
    assert one.err("XS_TRANSACTION_START", "") == "ENOSPC"
    assert len(set(ids)) == len(ids) and 0 not in ids
    assert len([dom0.tx_start() for _ in range(30)]) == 30  # dom0 has no such limit


# ---- watches ----
def test_watches_fire_with_the_changed_path_and_the_token(xs, dom0):
    one = Client(xs, 1)
    assert one.ok("XS_WATCH", "/local/domain/1/data", "tok") == b"OK\0"
    assert one.events == [("/local/domain/1/data", "tok")]  # every watch fires once when set
    one.events.clear()
    dom0.write("/local/domain/1/data/x/y", "1")
    dom0.write("/local/domain/1/database", "1")  # a sibling with a common prefix: not a child
    dom0.write("/local/domain/1", "1")  # the parent: not below the watch
    assert one.events == [("/local/domain/1/data/x/y", "tok")]
    one.events.clear()
    dom0.ok("XS_RM", "/local/domain/1/data")
    assert one.events == [("/local/domain/1/data", "tok")]
    assert one.err("XS_WATCH", "/local/domain/1/data", "tok") == "EEXIST"
    assert one.ok("XS_WATCH", "/local/domain/1/data", "other") == b"OK\0"
    assert one.ok("XS_UNWATCH", "/local/domain/1/data", "tok") == b"OK\0"
    assert one.err("XS_UNWATCH", "/local/domain/1/data", "tok") == "ENOENT"
    one.events.clear()
    dom0.write("/local/domain/1/data", "2")
    assert one.events == [("/local/domain/1/data", "other")]
    assert one.ok("XS_RESET_WATCHES") == b"OK\0"
    one.events.clear()
    dom0.write("/local/domain/1/data", "3")
    assert one.events == []


def test_removing_a_subtree_fires_each_watched_node_once(xs, dom0):
    w = Client(xs, 0)
    dom0.write("/t/a/b/c", "")
    for path in ("/t", "/t/a", "/t/a/b/c", "/t/a/b/c/d"):
        w.ok("XS_WATCH", path, path)
    w.events.clear()
    dom0.ok("XS_RM", "/t/a")
    # Children are deleted first; the removed node also fires its ancestors' watches.
    assert w.events == [("/t/a/b/c", "/t/a/b/c"), ("/t/a", "/t"), ("/t/a", "/t/a")]


def test_relative_watches_report_relative_paths(xs, dom0):
    one = Client(xs, 1)
    one.ok("XS_WATCH", "data", "rel")
    assert one.events == [("data", "rel")]
    dom0.write("/local/domain/1/data/k", "1")
    assert one.events[-1] == ("data/k", "rel")
    assert one.ok("XS_UNWATCH", "data", "rel") == b"OK\0"


def test_a_watcher_hears_only_of_nodes_it_may_read(xs, dom0):
    two = Client(xs, 2)
    two.ok("XS_WATCH", "/local/domain/1", "spy")
    two.events.clear()
    dom0.write("/local/domain/1/private", "1")
    assert two.events == []
    dom0.ok("XS_SET_PERMS", "/local/domain/1/private", "n1", "r2")
    assert two.events == [("/local/domain/1/private", "spy")]


def test_watch_events_of_a_transaction_wait_for_its_commit(xs, dom0):
    one, w = Client(xs, 1), Client(xs, 0)
    w.ok("XS_WATCH", "/local/domain/1", "w")
    w.events.clear()
    tx = one.tx_start()
    one.write("/local/domain/1/a", "1", tx=tx)
    one.ok("XS_RM", "/local/domain/1/a", tx=tx)
    one.write("/local/domain/1/b", "1", tx=tx)
    assert w.events == []
    one.ok("XS_TRANSACTION_END", "T", tx=tx)
    assert w.events == [("/local/domain/1/a", "w"), ("/local/domain/1/a", "w"), ("/local/domain/1/b", "w")]
    tx = one.tx_start()
    one.write("/local/domain/1/c", "1", tx=tx)
    one.ok("XS_TRANSACTION_END", "F", tx=tx)
    assert len(w.events) == 3  # an aborted transaction fires nothing


def test_watch_errors_and_limits(xs, dom0):
    one = Client(xs, 1)
    assert one.err("XS_WATCH", "/bad//path", "t") == "EINVAL"
    assert one.err("XS_WATCH", "@" + "x" * 2048, "t") == "EINVAL"
    for i in range(xs_store.QUOTA_WATCHES + 1):
        one.ok("XS_WATCH", f"/w/{i}", "t")
    assert one.err("XS_WATCH", "/w/last", "t") == "E2BIG"
    for i in range(200):
        dom0.ok("XS_WATCH", f"/w/{i}", "t")


def test_special_watches_are_dom0s_unless_granted(xs, dom0):
    one = Client(xs, 1)
    one.ok("XS_WATCH", "@releaseDomain", "r")
    dom0.ok("XS_WATCH", "@releaseDomain", "r")
    one.events.clear()
    dom0.events.clear()
    xs.fire_special("@releaseDomain")
    assert dom0.events == [("@releaseDomain", "r")] and one.events == []
    assert one.err("XS_SET_PERMS", "@releaseDomain", "r1") == "EACCES"
    assert dom0.err("XS_SET_PERMS", "@nosuch", "r1") == "EINVAL"
    dom0.ok("XS_SET_PERMS", "@releaseDomain", "n0", "r1")
    xs.fire_special("@releaseDomain")
    assert one.events == [("@releaseDomain", "r")]
    one.ok("XS_WATCH", "/", "root")  # "/" watches never hear of special events
    one.events.clear()
    xs.fire_special("@releaseDomain")
    assert one.events == [("@releaseDomain", "r")]


def test_a_destroyed_domains_nodes_go_to_dom0(xs, dom0):
    one = Client(xs, 1)
    one.write("/local/domain/1/data/x", "1")
    dom0.write("/shared/y", "")
    dom0.ok("XS_SET_PERMS", "/shared/y", "n0", "r1")
    xs.domain_destroyed(1)
    assert dom0.perms("/local/domain/1/data/x") == ["n0"]
    assert dom0.perms("/shared/y") == ["n0"]
    assert xs.tree.owned_by(1) == 0


def test_strtol_and_atoi_as_c_has_them():
    assert xs_store.c_strtol("0x1f") == (31, "")
    assert xs_store.c_strtol("010") == (8, "")
    assert xs_store.c_strtol("-1") == (-1, "")
    assert xs_store.c_strtol("12ab") == (12, "ab")
    assert xs_store.c_strtol("") is None and xs_store.c_strtol("x") is None
    assert xs_store.c_atoi("42abc") == 42 and xs_store.c_atoi("abc") == 0 and xs_store.c_atoi(" -3") == -3
    assert xs_store.c_atoi("4294967297") == 1
