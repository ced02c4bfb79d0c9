"""A domain's pseudo-physical map and its list of frames, as arrays.

Both were Python dicts and sets of a few hundred thousand ints: building a
1 GiB domain allocated about 90 MB of objects for them, which on a host
with freshly mapped memory took 0.3-0.4 s of the build (an arriving
migration waits for it). Arrays indexed by number cost one slice
assignment per 2 MiB extent instead, and hand numpy the whole map without
a copy (the save, the migration and the invariant checks want it so).
They are array.array and bytearray, not numpy arrays: a balloon changes
them a frame at a time, a quarter of a million times a GiB, and those
index in a few tens of nanoseconds; numpy views them when whole arrays
are wanted.

The interfaces stay those of the dict and set they replace: code and tests
that index, iterate or compare them need not know.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterable, Mapping, MutableMapping, MutableSet

import numpy as np

# Entries hold number + 1, 0: none. Keys from ARRAY_LIMIT up, and values
# from _VALUE_LIMIT up (a guest may name any 64-bit pfn, e.g. in
# MMU_MACHPHYS_UPDATE), live in a dict beside the array: 2**22 pfns are
# 16 GiB of guest.
ARRAY_LIMIT = 1 << 22
_VALUE_LIMIT = 1 << 62


def _index(key) -> int | None:
    """`key` as an array index, or None where a dict would just not hold it."""
    if type(key) is int:
        return key if key >= 0 else None
    try:
        i = operator.index(key)
    except TypeError:
        return None
    return i if i >= 0 else None


def _grown(a, need: int):
    """`a` (an array.array or a bytearray) with at least `need` entries: a
    new one, so that a numpy view someone still holds stays valid."""
    if need <= len(a):
        return a
    size = min(max(need, 2 * len(a), 1024), ARRAY_LIMIT)
    out = array(a.typecode, bytes(size * a.itemsize)) if isinstance(a, array) else bytearray(size)
    out[:len(a)] = a
    return out


def _view(a) -> np.ndarray:
    return np.frombuffer(a, dtype=np.int64 if isinstance(a, array) else np.bool_) if len(a) else \
        np.zeros(0, dtype=np.int64 if isinstance(a, array) else np.bool_)


class _Side:
    """One direction of the map: number -> number, in an array.array for
    keys below ARRAY_LIMIT and values below _VALUE_LIMIT, in a dict for the
    rest."""

    __slots__ = ("a", "x")

    def __init__(self):
        self.a = array("q")
        self.x: dict[int, int] = {}

    def get(self, i: int) -> int | None:
        if i < len(self.a):
            v = self.a[i]
            if v:
                return v - 1
        return self.x.get(i) if self.x else None

    def put(self, i: int, v: int) -> None:
        if i < ARRAY_LIMIT and v < _VALUE_LIMIT:
            self.a = _grown(self.a, i + 1)
            self.a[i] = v + 1
        else:
            self.x[i] = v

    def drop(self, i: int) -> None:
        if i < len(self.a):
            self.a[i] = 0
        if self.x:
            self.x.pop(i, None)

    def drop_all(self, keys: np.ndarray) -> None:
        if len(self.a):
            _view(self.a)[keys[keys < len(self.a)]] = 0
        if self.x:
            for i in keys.tolist():
                self.x.pop(i, None)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        a = _view(self.a)
        keys = np.flatnonzero(a)
        values = a[keys] - 1
        if not self.x:
            return keys, values
        merged = sorted(zip(keys.tolist() + list(self.x), values.tolist() + list(self.x.values())))
        return _array([k for k, _ in merged]), _array([v for _, v in merged])


def _array(numbers: list[int]) -> np.ndarray:
    """int64, or uint64 where a guest's 64-bit pfn does not fit it."""
    return np.array(numbers, dtype=np.int64 if max(numbers, default=0) < 1 << 63 else np.uint64)


class PhysMap(MutableMapping):
    """pfn -> mfn (Domain.p2m), kept with its inverse (Domain.pfn_of): a pfn
    has at most one frame and a frame at most one pfn, as `set_p2m` kept
    the two dicts. The methods a balloon calls per frame take a short way
    while every entry is in the arrays."""

    __slots__ = ("_fwd", "_inv", "_n", "inverse")

    def __init__(self, items: Mapping[int, int] | Iterable[tuple[int, int]] = ()):
        self._fwd, self._inv = _Side(), _Side()  # by pfn, by mfn
        self._n = 0
        self.inverse = _Inverse(self)
        for pfn, mfn in (items.items() if isinstance(items, Mapping) else items):
            self[pfn] = mfn

    # ---- the dict interface ----
    def __getitem__(self, pfn) -> int:
        m = self.get(pfn)
        if m is None:
            raise KeyError(pfn)
        return m

    def get(self, pfn, default=None):
        a = self._fwd.a
        if type(pfn) is int and 0 <= pfn < len(a):
            m = a[pfn]
            if m:
                return m - 1
            if not self._fwd.x:
                return default
        i = _index(pfn)
        m = None if i is None else self._fwd.get(i)
        return default if m is None else m

    def __contains__(self, pfn) -> bool:
        return self.get(pfn) is not None

    def __setitem__(self, pfn, mfn) -> None:
        """pfn maps mfn; whatever either was mapped with before is forgotten."""
        f, i = self._fwd.a, self._inv.a
        if (type(pfn) is int and type(mfn) is int and 0 <= pfn < len(f) and 0 <= mfn < len(i)
                and not self._fwd.x and not self._inv.x):
            old = f[pfn]
            if old:
                i[old - 1] = 0  # every value in f is an mfn below len(i) while there is no dict
                self._n -= 1
            prev = i[mfn]
            if prev:
                f[prev - 1] = 0
                self._n -= 1
            f[pfn] = mfn + 1
            i[mfn] = pfn + 1
            self._n += 1
            return
        p, m = _index(pfn), _index(mfn)
        if p is None or m is None:
            raise ValueError(f"a pfn and an mfn are numbers >= 0, not {pfn!r} -> {mfn!r}")
        self._unmap_pfn(p)
        self._unmap_mfn(m)
        if p < ARRAY_LIMIT and m < ARRAY_LIMIT:  # room for both before the next one, in a domain's range
            self._fwd.a = _grown(self._fwd.a, max(p, m) + 1)
            self._inv.a = _grown(self._inv.a, max(p, m) + 1)
        self._fwd.put(p, m)
        self._inv.put(m, p)
        self._n += 1

    def __delitem__(self, pfn) -> None:
        p = _index(pfn)
        if p is None or not self._unmap_pfn(p):
            raise KeyError(pfn)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def keys(self) -> list[int]:
        """The pfns, in order."""
        return self.arrays()[0].tolist()

    def values(self) -> list[int]:
        """The frames, in pfn order."""
        return self.arrays()[1].tolist()

    def items(self) -> list[tuple[int, int]]:
        pfns, mfns = self.arrays()
        return list(zip(pfns.tolist(), mfns.tolist()))

    def clear(self) -> None:
        self._fwd, self._inv = _Side(), _Side()
        self._n = 0

    def __repr__(self) -> str:
        return f"PhysMap({dict(self.items())!r})"

    # ---- as arrays ----
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(pfns, mfns), in pfn order."""
        return self._fwd.pairs()

    def by_pfn(self, nr: int) -> np.ndarray:
        """The frame of each pfn below `nr` (-1: none)."""
        out = np.full(nr, -1, dtype=np.int64)
        a = _view(self._fwd.a)
        k = min(nr, len(a))
        out[:k] = a[:k] - 1
        for p, m in self._fwd.x.items():
            if p < nr:
                out[p] = m if m < 1 << 63 else m - (1 << 64)  # no frame: its bits, as a uint64 view gives
        return out

    def reserve(self, pfns: int, mfns: int) -> None:
        """Room for pfns below `pfns` and frames below `mfns` at once (a
        builder that knows both), instead of growing extent by extent."""
        self._fwd.a = _grown(self._fwd.a, min(pfns, ARRAY_LIMIT))
        self._inv.a = _grown(self._inv.a, min(mfns, ARRAY_LIMIT))

    def set_run(self, pfn: int, mfn: int, n: int) -> None:
        """pfn .. pfn+n-1 map mfn .. mfn+n-1 (a populated extent), replacing
        what either side was mapped with."""
        if n <= 0:
            return
        if max(pfn, mfn) + n > ARRAY_LIMIT or self._fwd.x or self._inv.x:  # the rare case, one at a time
            for k in range(n):
                self[pfn + k] = mfn + k
            return
        fwd, inv = self._fwd, self._inv
        fwd.a = _grown(fwd.a, pfn + n)
        inv.a = _grown(inv.a, mfn + n)
        f, i = _view(fwd.a), _view(inv.a)
        old = f[pfn:pfn + n]
        olds = old[old != 0] - 1
        i[olds] = 0
        # What still names a frame of the run is a pfn outside it (the
        # inverse of the run's own pfns went just above).
        prev = i[mfn:mfn + n]
        prevs = prev[prev != 0] - 1
        f[prevs] = 0
        f[pfn:pfn + n] = np.arange(mfn + 1, mfn + n + 1, dtype=np.int64)
        i[mfn:mfn + n] = np.arange(pfn + 1, pfn + n + 1, dtype=np.int64)
        self._n += n - len(olds) - len(prevs)

    def drop_mfn(self, mfn) -> None:
        """The frame leaves the domain: its pfn, if any, has none now."""
        i = self._inv.a
        if type(mfn) is int and 0 <= mfn < len(i) and not self._fwd.x and not self._inv.x:
            p = i[mfn]
            if p:
                i[mfn] = 0
                self._fwd.a[p - 1] = 0
                self._n -= 1
            return
        m = _index(mfn)
        if m is not None:
            self._unmap_mfn(m)

    def _unmap_pfn(self, p: int) -> bool:
        m = self._fwd.get(p)
        if m is None:
            return False
        self._inv.drop(m)
        self._fwd.drop(p)
        self._n -= 1
        return True

    def _unmap_mfn(self, m: int) -> bool:
        p = self._inv.get(m)
        return p is not None and self._unmap_pfn(p)


class _Inverse(Mapping):
    """mfn -> pfn: the frames of a PhysMap, read-only (change the map)."""

    __slots__ = ("_map",)

    def __init__(self, physmap: PhysMap):
        self._map = physmap

    def __getitem__(self, mfn) -> int:
        p = self.get(mfn)
        if p is None:
            raise KeyError(mfn)
        return p

    def get(self, mfn, default=None):
        i = _index(mfn)
        p = None if i is None else self._map._inv.get(i)
        return default if p is None else p

    def __contains__(self, mfn) -> bool:
        return self.get(mfn) is not None

    def __iter__(self):
        return iter(self._map._inv.pairs()[0].tolist())

    def __len__(self) -> int:
        return len(self._map)


class FrameSet(MutableSet):
    """The frames a domain owns (Domain.pages), as a bytearray by mfn;
    iterates in ascending order."""

    __slots__ = ("_has", "_big", "_n")

    def __init__(self, frames: Iterable[int] = ()):
        self._has = bytearray()
        self._big: set[int] = set()  # from ARRAY_LIMIT up
        self._n = 0
        for m in frames:
            self.add(m)

    @classmethod
    def _from_iterable(cls, it) -> set[int]:
        return set(it)  # `pages | other` is a plain set, as it was

    def __contains__(self, mfn) -> bool:
        h = self._has
        if type(mfn) is int and 0 <= mfn < len(h):
            return h[mfn] == 1
        i = _index(mfn)
        return i is not None and i >= len(h) and i in self._big

    def __iter__(self):
        return iter(self.array().tolist())

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def add(self, mfn) -> None:
        h = self._has
        if type(mfn) is int and 0 <= mfn < len(h):
            if not h[mfn]:
                h[mfn] = 1
                self._n += 1
            return
        i = _index(mfn)
        if i is None:
            raise ValueError(f"a frame number is a number >= 0, not {mfn!r}")
        if i in self:
            return
        if i < ARRAY_LIMIT:
            self._has = _grown(self._has, i + 1)
            self._has[i] = 1
        else:
            self._big.add(i)
        self._n += 1

    def discard(self, mfn) -> None:
        h = self._has
        if type(mfn) is int and 0 <= mfn < len(h):
            if h[mfn]:
                h[mfn] = 0
                self._n -= 1
            return
        i = _index(mfn)
        if i is not None and i in self._big:
            self._big.discard(i)
            self._n -= 1

    def reserve(self, frames: int) -> None:
        """Room for frames below `frames` at once."""
        self._has = _grown(self._has, min(frames, ARRAY_LIMIT))

    def add_run(self, mfn: int, n: int) -> None:
        """Frames mfn .. mfn+n-1 (an allocated extent)."""
        if mfn + n > ARRAY_LIMIT:
            for m in range(mfn, mfn + n):
                self.add(m)
            return
        self._has = _grown(self._has, mfn + n)
        self._n += n - self._has.count(1, mfn, mfn + n)
        self._has[mfn:mfn + n] = b"\x01" * n

    def discard_array(self, frames: np.ndarray) -> None:
        """discard of each of `frames` (distinct), at once."""
        has = _view(self._has)
        low = frames[frames < len(has)]
        self._n -= int(np.count_nonzero(has[low]))
        has[low] = False
        if self._big:
            for m in frames[frames >= len(has)].tolist():
                self.discard(m)

    def update(self, frames: Iterable[int]) -> None:
        if isinstance(frames, range) and frames.step == 1:
            self.add_run(frames.start, len(frames))
        else:
            for m in frames:
                self.add(m)

    def array(self) -> np.ndarray:
        """The frames, ascending."""
        low = np.flatnonzero(_view(self._has))
        if not self._big:
            return low
        big = _array(sorted(self._big))
        return np.concatenate([low, big]) if big.dtype == low.dtype else _array(low.tolist() + big.tolist())

    def __repr__(self) -> str:
        return f"FrameSet({self.array().tolist()!r})"


__all__ = ["FrameSet", "PhysMap"]
