"""xenstored's database: a tree of nodes, their permissions, transactions.

A node has a value (bytes), an ordered list of children and a permission
list. The first entry of the list names the owner and what every other
domain may do; later entries grant one domain its own rights (xenstored's
"n0 r1": owner dom0, nobody else, except dom1 may read). The owner, the
privileged domain and a caller whose target domain owns the node may do
anything. Every write stamps the node with the next value of a global
generation counter; a transaction records the generation of every node it
looks at and fails with EAGAIN at commit if any of them changed meanwhile
(xenstored's optimistic transactions: reads conflict as well as writes).

Quotas are xenstored's defaults for unprivileged domains (nodes per domain,
node size, permissions per node, watches, transactions, outstanding
requests); privileged callers have none.
"""

from __future__ import annotations

import errno
import re
from collections import Counter
from dataclasses import dataclass, field

from ..xen.xenabi import xen_abi

# xenstore_lib.h (checked by tests/runtime/test_xenstore_store.py)
XS_PERM_NONE = 0x00
XS_PERM_READ = 0x01
XS_PERM_WRITE = 0x02
XS_PERM_OWNER = 0x08
XS_PERM_IGNORE = 0x10
_LETTER_BITS = {"n": XS_PERM_NONE, "r": XS_PERM_READ, "w": XS_PERM_WRITE, "b": XS_PERM_READ | XS_PERM_WRITE}
_BITS_LETTER = {v: k for k, v in _LETTER_BITS.items()}

# xenstored's default quotas (its -E -S -A -W -t options and the
# outstanding-request limit); they bind unprivileged domains only.
QUOTA_NODES = 1000
QUOTA_NODE_BYTES = 2048
QUOTA_PERMS = 5
QUOTA_WATCHES = 128
QUOTA_TRANSACTIONS = 10
QUOTA_OUTSTANDING = 20
# A node's database record: generation (8), three counts (12), padded to
# 8, then 8 bytes per permission, the value and the children's names.
RECORD_HEADER = 24
PERM_RECORD = 8

NO_GENERATION = -1
REL_PATH_MAX = xen_abi("x86_64").c("XENSTORE_REL_PATH_MAX")
_NODE_CHARS = re.compile(r"[A-Za-z0-9\-/_@]*")
_LOCAL_PREFIX = re.compile(r"^/local/domain/\d{1,5}/")


class XsError(Exception):
    """A request xenstored answers with XS_ERROR and this errno."""

    def __init__(self, err: int):
        super().__init__(errno.errorcode.get(err, str(err)))
        self.errno = err


@dataclass(frozen=True)
class Perm:
    domid: int
    bits: int


@dataclass
class Node:
    value: bytes
    perms: tuple[Perm, ...]
    children: list[str] = field(default_factory=list)
    generation: int = NO_GENERATION

    @property
    def owner(self) -> int:
        return self.perms[0].domid

    def copy(self) -> "Node":
        return Node(self.value, self.perms, list(self.children), self.generation)

    def children_bytes(self) -> bytes:
        return b"".join(c.encode("latin-1") + b"\0" for c in self.children)

    def record_size(self) -> int:
        return RECORD_HEADER + PERM_RECORD * len(self.perms) + len(self.value) + len(self.children_bytes())


@dataclass
class Caller:
    """Who is asking: xenstored's per-connection identity."""

    domid: int
    privileged: bool
    target: int | None = None
    can_write: bool = True


# ---- C string helpers with xenstored's exact semantics ----
def c_strtol(text: str) -> tuple[int, str] | None:
    """strtol(text, &end, 0): the value and the unparsed rest, or None when
    no digits were consumed. Base 0: 0x.. hex, 0.. octal, else decimal."""
    m = re.match(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text)
    if m is None:
        return None
    sign, digits = m.group(1), m.group(2)
    base = 16 if digits[:2].lower() == "0x" else 8 if digits.startswith("0") and len(digits) > 1 else 10
    value = int(digits, base)
    return (-value if sign == "-" else value), text[m.end():]


def c_atoi(text: str) -> int:
    """atoi(): leading decimal digits, 0 when there are none, as a C int."""
    m = re.match(r"\s*([+-]?\d+)", text)
    if m is None:
        return 0
    v = int(m.group(1)) & 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def parse_perms(strings: list[str]) -> tuple[Perm, ...]:
    """xs_strings_to_perms: "<n|r|w|b><domid>" each; EINVAL otherwise."""
    out = []
    for s in strings:
        if not s or s[0] not in _LETTER_BITS:
            raise XsError(errno.EINVAL)
        parsed = c_strtol(s[1:])
        if parsed is None or parsed[1]:
            raise XsError(errno.EINVAL)
        out.append(Perm(parsed[0] & 0xFFFFFFFF, _LETTER_BITS[s[0]]))
    return tuple(out)


def format_perms(perms) -> bytes:
    """What XS_GET_PERMS sends: each "<letter><id>\\0", ignored entries left out."""
    out = []
    for p in perms:
        if p.bits & XS_PERM_IGNORE:
            continue
        domid = p.domid - (1 << 32) if p.domid >> 31 else p.domid  # printed with %i
        out.append(f"{_BITS_LETTER[p.bits & (XS_PERM_READ | XS_PERM_WRITE)]}{domid}".encode() + b"\0")
    return b"".join(out)


def perm_for(caller: Caller, perms) -> int:
    """xenstored's perm_for_conn."""
    mask = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER
    if not caller.can_write:
        mask &= ~XS_PERM_WRITE
    owner = perms[0].domid
    if caller.privileged or owner == caller.domid or (caller.target is not None and owner == caller.target):
        return mask
    for p in perms[1:]:
        if not p.bits & XS_PERM_IGNORE and (p.domid == caller.domid or p.domid == caller.target):
            return p.bits & mask
    return perms[0].bits & mask


def parent_of(path: str) -> str:
    cut = path.rfind("/")
    return path[:cut] if cut > 0 else "/"


def basename(path: str) -> str:
    return path[path.rfind("/") + 1:]


def valid_node_path(path: str) -> bool:
    """is_valid_nodename: absolute, no trailing or double slash, xenstored's
    character set, at most XENSTORE_REL_PATH_MAX beyond a /local/domain/N/."""
    if not path.startswith("/") or (path.endswith("/") and path != "/") or "//" in path:
        return False
    m = _LOCAL_PREFIX.match(path)
    local = m.end() if m else 0
    if len(path) > local + REL_PATH_MAX:
        return False
    return _NODE_CHARS.fullmatch(path) is not None


def is_child(child: str, parent: str) -> bool:
    """Whether a change at `child` concerns a watch on `parent`; special
    ("@...") names are nobody's children."""
    if parent == "/":
        return child.startswith("/")
    return child.startswith(parent) and (len(child) == len(parent) or child[len(parent)] == "/")


# ---- the database and its transactional views ----
class Tree:
    """The committed store. Owners' node counts are kept for the quota."""

    def __init__(self):
        self.nodes: dict[str, Node] = {}
        self.generation = 0
        self.owned: Counter = Counter()
        root_perms = (Perm(0, XS_PERM_NONE),)
        for path, child in (("/", "tool"), ("/tool", "xenstored"), ("/tool/xenstored", None)):
            self.write(path, Node(b"", root_perms, [child] if child else []))

    def read(self, path: str) -> Node | None:
        return self.nodes.get(path)

    def write(self, path: str, node: Node) -> None:
        old = self.nodes.get(path)
        if old is not None:
            self.owned[old.owner] -= 1
        node.generation = self.generation
        self.generation += 1
        self.nodes[path] = node
        self.owned[node.owner] += 1

    def delete(self, path: str) -> None:
        old = self.nodes.pop(path, None)
        if old is not None:
            self.owned[old.owner] -= 1

    def owned_by(self, domid: int) -> int:
        return self.owned[domid]


class Transaction:
    """A connection's transaction: its changes are private until commit."""

    def __init__(self, tx_id: int, tree: Tree):
        self.id = tx_id
        self.tree = tree
        self.overlay: dict[str, Node | None] = {}
        self.seen: dict[str, int] = {}  # path -> generation when first looked at
        self.changes: list[tuple[str, bool, tuple[Perm, ...]]] = []  # watch events to fire at commit
        self.owned_delta: Counter = Counter()

    def read(self, path: str) -> Node | None:
        if path in self.overlay:
            return self.overlay[path]
        node = self.tree.read(path)
        self.seen.setdefault(path, node.generation if node is not None else NO_GENERATION)
        return node

    def write(self, path: str, node: Node) -> None:
        old = self.read(path)
        if old is not None:
            self.owned_delta[old.owner] -= 1
        self.owned_delta[node.owner] += 1
        node.generation = self.tree.generation  # what DIRECTORY_PART reports inside the transaction
        self.overlay[path] = node

    def delete(self, path: str) -> None:
        old = self.read(path)
        if old is not None:
            self.owned_delta[old.owner] -= 1
        self.overlay[path] = None

    def owned_by(self, domid: int) -> int:
        return self.tree.owned_by(domid) + self.owned_delta[domid]

    def conflicts(self) -> bool:
        for path, gen in self.seen.items():
            node = self.tree.read(path)
            if (node.generation if node is not None else NO_GENERATION) != gen:
                return True
        return False

    def commit(self) -> None:
        for path, node in self.overlay.items():
            if node is None:
                self.tree.delete(path)
            else:
                self.tree.write(path, node)


# ---- operations on a view (the tree, or a transaction over it) ----
def access_error(caller: Caller, view, path: str, err: int, perm: int) -> int:
    """errno_from_parents: a caller who may not `perm` the nearest existing
    ancestor learns EACCES, not whether the node exists."""
    name = path
    while name != "/":
        name = parent_of(name)
        node = view.read(name)
        if node is not None:
            return err if perm_for(caller, node.perms) & perm else errno.EACCES
    return errno.EACCES


def get_node(caller: Caller, view, path: str | None, perm: int) -> Node:
    if path is None or not valid_node_path(path):
        raise XsError(errno.EINVAL)
    node = view.read(path)
    if node is not None and perm_for(caller, node.perms) & perm == perm:
        return node
    err = errno.EACCES if node is not None else errno.ENOENT
    raise XsError(access_error(caller, view, path, err, perm))


def check_size(caller: Caller, node: Node) -> None:
    if not caller.privileged and node.record_size() >= QUOTA_NODE_BYTES:
        raise XsError(errno.ENOSPC)


def create_node(caller: Caller, view, path: str, value: bytes) -> Node:
    """A new node and any missing ancestors, each inheriting its parent's
    permissions; an unprivileged creator owns what it creates."""
    missing = [path]
    while True:
        parent_path = parent_of(missing[-1])
        parent = view.read(parent_path)
        if parent is not None:
            break
        missing.append(parent_path)
    if not caller.privileged and view.owned_by(caller.domid) + len(missing) > QUOTA_NODES:
        raise XsError(errno.ENOSPC)
    writes: list[tuple[str, Node]] = []
    parent = parent.copy()
    writes.append((parent_path, parent))
    for name in reversed(missing):
        parent.children.append(basename(name))
        perms = parent.perms
        if not caller.privileged:
            perms = (Perm(caller.domid, perms[0].bits),) + perms[1:]
        node = Node(value if name == path else b"", perms)
        writes.append((name, node))
        parent = node
    for _, node in writes:
        check_size(caller, node)
    for name, node in writes:
        view.write(name, node)
    return view.read(path)


def subtree_post_order(view, path: str) -> list[tuple[str, Node]]:
    """Every node under `path` (children before their parent), as the
    deletion walk visits them."""
    out: list[tuple[str, Node]] = []
    stack: list[tuple[str, bool]] = [(path, False)]
    while stack:
        name, expanded = stack.pop()
        node = view.read(name)
        if node is None:
            continue
        if expanded:
            out.append((name, node))
            continue
        stack.append((name, True))
        for child in reversed(node.children):
            stack.append((f"{name}/{child}" if name != "/" else f"/{child}", False))
    return out


def remove_child(view, parent_path: str, child: str) -> None:
    parent = view.read(parent_path)
    if parent is not None and child in parent.children:
        parent = parent.copy()
        parent.children.remove(child)
        view.write(parent_path, parent)
