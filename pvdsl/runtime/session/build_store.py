"""Compiled backends kept on disk between processes, beside the parse cache.

`vm create`, every `vm restore` and every arriving migration builds the
guest's spec for its target: a host process new to the spec (a receiving
host started with `--listen`) spent about 0.13 s of a GiB guest's arrival
compiling what the sending host had compiled before. A build is stored
under the hash of pvdsl's own code, the spec's path and what it was built
for; it is taken again only when every file it read still has the text it
had and the directories it searched hold the same .pv files (the check
build_backends_cached makes in a process), so an edit anywhere it looked
means a new build.

Where: `builds/` in the parse cache's directory ($PVDSL_CACHE_DIR, else
$XDG_CACHE_HOME/pvdsl, else ~/.cache/pvdsl); PVDSL_CACHE_DIR=off disables
both. At most MAX_ENTRIES builds are kept, least recently used out first.
Any problem with the store (unwritable, corrupt, from another pvdsl)
means a normal build.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from functools import lru_cache
from pathlib import Path

from ... import __version__
from ...syntax import parse_cache

MAX_ENTRIES = 256
_FORMAT = 1


@lru_cache(maxsize=1)
def _salt() -> bytes:
    """pvdsl's code, all of it: any change to how a backend is compiled, or
    to what a stored one holds, is a different store."""
    h = hashlib.sha256(f"{__version__}/{_FORMAT}".encode())
    package = Path(__file__).resolve().parents[2]
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.digest()


def _path(key: tuple) -> Path | None:
    directory = parse_cache.cache_directory()
    if directory is None:
        return None
    name = hashlib.sha256(_salt() + repr(key).encode()).hexdigest()
    return directory / "builds" / f"{name}.pickle"


def load(key: tuple, sources_now):
    """The stored build for `key`, if what it read is as it was: (sources,
    built), `sources_now(built)` being the check of it against the disk."""
    path = _path(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            sources, built = pickle.load(f)
        if sources != sources_now(built):
            return None
    except Exception:  # noqa: BLE001 - a store from anywhere is only a hint: any failure means a build
        return None
    try:
        os.utime(path)  # recently used: the last to be pruned
    except OSError:
        pass
    return sources, built


def store(key: tuple, sources: tuple, built) -> None:
    path = _path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump((sources, built), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PickleError, RecursionError, TypeError, AttributeError):
        return
    parse_cache.prune(path.parent, MAX_ENTRIES)


__all__ = ["MAX_ENTRIES", "load", "store"]
