"""A cache of parsed files, like Python's bytecode cache.

Parsing is most of the time a check takes, and the same library files
(`xen.abi` alone is 1,500 lines) are parsed by every run. An AST is stored
under the hash of the file's text, the grammar and pvdsl's version, in
$PVDSL_CACHE_DIR, else $XDG_CACHE_HOME/pvdsl, else ~/.cache/pvdsl. Only
files that parsed without error are stored. PVDSL_CACHE_DIR=off disables it;
any problem with the cache (unwritable, corrupt) means a normal parse.

The cache keeps at most MAX_ENTRIES trees (PVDSL_CACHE_MAX overrides): a hit
marks its file as used, and a store that takes the directory past the limit
removes the least recently used quarter, so edits over months (every
version of a spec is a new entry) cannot fill a disk.

A process also keeps the last MEMO_ENTRIES trees it loaded or stored (ASTs
are immutable, and SourceFiles compare by path and text): a long-lived
host builds every arriving guest's spec, and unpickling `xen.abi` again
for each took longer than the rest of the spec's check.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from functools import lru_cache
from pathlib import Path

from .. import __version__
from ..source import SourceFile

_FORMAT = 1
MAX_ENTRIES = 4096
MEMO_ENTRIES = 256
_memo: dict[Path, object] = {}  # cache path -> tree, oldest first


@lru_cache(maxsize=1)
def _salt() -> bytes:
    grammar = (Path(__file__).with_name("pvdsl.lark")).read_bytes()
    ast_source = (Path(__file__).with_name("ast.py")).read_bytes()
    return hashlib.sha256(grammar + ast_source + f"{__version__}/{_FORMAT}".encode()).digest()


def cache_directory() -> Path | None:
    """pvdsl's cache directory (None: caching is off); parsed files go in
    it, or in its `ast/` when it is the default one."""
    explicit = os.environ.get("PVDSL_CACHE_DIR")
    if explicit == "off":
        return None
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pvdsl"


def _directory() -> Path | None:
    root = cache_directory()
    if root is None or os.environ.get("PVDSL_CACHE_DIR"):
        return root
    return root / "ast"


def _path(source: SourceFile) -> Path | None:
    directory = _directory()
    if directory is None:
        return None
    key = hashlib.sha256(_salt() + source.path.encode() + b"\0" + source.text.encode("utf-8", "replace"))
    return directory / f"{key.hexdigest()}.pickle"


def _remember(path: Path, module) -> None:
    _memo.pop(path, None)
    _memo[path] = module
    while len(_memo) > MEMO_ENTRIES:
        del _memo[next(iter(_memo))]


def load(source: SourceFile):
    path = _path(source)
    if path is None:
        return None
    module = _memo.get(path)
    if module is None:
        try:
            with open(path, "rb") as f:
                module = pickle.load(f)
        except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, ValueError, TypeError):
            return None
        # The spans must point at this SourceFile (diagnostics quote it).
        if getattr(module.span, "source", None) != source:
            return None
    try:
        os.utime(path)  # recently used: the last to be pruned
    except OSError:
        pass
    _remember(path, module)
    return module


def _limit() -> int:
    try:
        return max(1, int(os.environ.get("PVDSL_CACHE_MAX", MAX_ENTRIES)))
    except ValueError:
        return MAX_ENTRIES


def prune(directory: Path, limit: int) -> None:
    """Past `limit` entries, drop the least recently used down to three
    quarters of it (so a prune is rare, not one per store)."""
    try:
        entries = [e for e in os.scandir(directory) if e.name.endswith(".pickle")]
        if len(entries) <= limit:
            return
        entries.sort(key=lambda e: e.stat().st_mtime_ns)
        for e in entries[:len(entries) - limit * 3 // 4]:
            os.unlink(e.path)
    except OSError:
        pass


def store(source: SourceFile, module) -> None:
    path = _path(source)
    if path is None:
        return
    _remember(path, module)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump(module, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PickleError, RecursionError):
        return
    prune(path.parent, _limit())
