"""A domain's pseudo-physical map and its list of frames, as arrays.

Both were Python dicts and sets of a few hundred thousand ints: building a
1 GiB domain allocated about 90 MB of objects for them, which on a host
with freshly mapped memory took 0.3-0.4 s of the build (an arriving
migration waits for it). Arrays indexed by number cost one slice
assignment per 2 MiB extent instead, and hand numpy the whole map without
a copy (the save, the migration and the invariant checks want it so).

The interfaces stay those of the dict and set they replace: code and tests
that index, iterate or compare them need not know.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, MutableMapping, MutableSet

import numpy as np

_NONE = 0  # entries hold number + 1: a zeroed array (calloc, committed lazily) is an empty map
# Numbers from here up (a guest may name any pfn, e.g. in MMU_MACHPHYS_UPDATE)
# live in a dict beside the array: 2**22 pfns are 16 GiB of guest.
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


def _grown(a: np.ndarray, need: int) -> np.ndarray:
    if need <= len(a):
        return a
    out = np.zeros(min(max(need, 2 * len(a), 1024), ARRAY_LIMIT), dtype=a.dtype)
    out[:len(a)] = a
    return out


class _Side:
    """One direction of the map: number -> number, in an array (entries + 1,
    0: none) for keys below ARRAY_LIMIT and values that fit it, in a dict
    for the rest (a guest may name any 64-bit pfn)."""

    __slots__ = ("a", "x")

    def __init__(self):
        self.a = np.zeros(0, dtype=np.int64)
        self.x: dict[int, int] = {}

    def get(self, i: int) -> int | None:
        if i < len(self.a):
            v = self.a.item(i)
            if v != _NONE:
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
            self.a[i] = _NONE
        if self.x:
            self.x.pop(i, None)

    def drop_all(self, keys: np.ndarray) -> None:
        self.a[keys[keys < len(self.a)]] = _NONE
        if self.x:
            for i in keys.tolist():
                self.x.pop(i, None)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.flatnonzero(self.a)
        values = self.a[keys] - 1
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
    the two dicts."""

    __slots__ = ("_fwd", "_inv", "_n", "inverse")

    def __init__(self, items: Mapping[int, int] | Iterable[tuple[int, int]] = ()):
        self._fwd, self._inv = _Side(), _Side()  # by pfn, by mfn
        self._n = 0
        self.inverse = _Inverse(self)
        for pfn, mfn in (items.items() if isinstance(items, Mapping) else items):
            self[pfn] = mfn

    # ---- the dict interface ----
    def __getitem__(self, pfn) -> int:
        i = _index(pfn)
        m = None if i is None else self._fwd.get(i)
        if m is None:
            raise KeyError(pfn)
        return m

    def get(self, pfn, default=None):
        i = _index(pfn)
        m = None if i is None else self._fwd.get(i)
        return default if m is None else m

    def __contains__(self, pfn) -> bool:
        i = _index(pfn)
        return i is not None and self._fwd.get(i) is not None

    def __setitem__(self, pfn, mfn) -> None:
        """pfn maps mfn; whatever either was mapped with before is forgotten."""
        p, m = _index(pfn), _index(mfn)
        if p is None or m is None:
            raise ValueError(f"a pfn and an mfn are numbers >= 0, not {pfn!r} -> {mfn!r}")
        self._unmap_pfn(p)
        self._unmap_mfn(m)
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
        a = self._fwd.a
        k = min(nr, len(a))
        out[:k] = a[:k] - 1
        for p, m in self._fwd.x.items():
            if p < nr:
                out[p] = m if m < 1 << 63 else m - (1 << 64)  # no frame: its bits, as a uint64 view gives
        return out

    def set_run(self, pfn: int, mfn: int, n: int) -> None:
        """pfn .. pfn+n-1 map mfn .. mfn+n-1 (a populated extent), replacing
        what either side was mapped with."""
        if n <= 0:
            return
        if max(pfn, mfn) + n > ARRAY_LIMIT or self._fwd.x or self._inv.x:  # the rare case, one at a time
            for i in range(n):
                self[pfn + i] = mfn + i
            return
        fwd, inv = self._fwd, self._inv
        fwd.a = _grown(fwd.a, pfn + n)
        inv.a = _grown(inv.a, mfn + n)
        old = fwd.a[pfn:pfn + n]
        olds = old[old != _NONE] - 1
        inv.drop_all(olds)
        # What still names a frame of the run is a pfn outside it (the
        # inverse of the run's own pfns went just above).
        prev = inv.a[mfn:mfn + n]
        prevs = prev[prev != _NONE] - 1
        fwd.drop_all(prevs)
        fwd.a[pfn:pfn + n] = np.arange(mfn + 1, mfn + n + 1, dtype=np.int64)
        inv.a[mfn:mfn + n] = np.arange(pfn + 1, pfn + n + 1, dtype=np.int64)
        self._n += n - len(olds) - len(prevs)

    def drop_mfn(self, mfn: int) -> None:
        """The frame leaves the domain: its pfn, if any, has none now."""
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
    """The frames a domain owns (Domain.pages), as a bitmap by mfn; iterates
    in ascending order."""

    __slots__ = ("_has", "_big", "_n")

    def __init__(self, frames: Iterable[int] = ()):
        self._has = np.zeros(0, dtype=bool)
        self._big: set[int] = set()  # from ARRAY_LIMIT up
        self._n = 0
        for m in frames:
            self.add(m)

    @classmethod
    def _from_iterable(cls, it) -> set[int]:
        return set(it)  # `pages | other` is a plain set, as it was

    def __contains__(self, mfn) -> bool:
        i = _index(mfn)
        if i is None:
            return False
        return self._has.item(i) if i < len(self._has) else i in self._big

    def __iter__(self):
        return iter(self.array().tolist())

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def add(self, mfn) -> None:
        i = _index(mfn)
        if i is None:
            raise ValueError(f"a frame number is a number >= 0, not {mfn!r}")
        if i in self:
            return
        if i < ARRAY_LIMIT:
            self._has = _grown(self._has, i + 1)
            self._has[i] = True
        else:
            self._big.add(i)
        self._n += 1

    def discard(self, mfn) -> None:
        i = _index(mfn)
        if i is None or i not in self:
            return
        if i < len(self._has):
            self._has[i] = False
        else:
            self._big.discard(i)
        self._n -= 1

    def add_run(self, mfn: int, n: int) -> None:
        """Frames mfn .. mfn+n-1 (an allocated extent)."""
        if mfn + n > ARRAY_LIMIT:
            for m in range(mfn, mfn + n):
                self.add(m)
            return
        self._has = _grown(self._has, mfn + n)
        run = self._has[mfn:mfn + n]
        self._n += n - int(np.count_nonzero(run))
        run[:] = True

    def discard_array(self, frames: np.ndarray) -> None:
        """discard of each of `frames` (distinct), at once."""
        low = frames[frames < len(self._has)]
        self._n -= int(np.count_nonzero(self._has[low]))
        self._has[low] = False
        if self._big:
            for m in frames[frames >= len(self._has)].tolist():
                self.discard(m)

    def update(self, frames: Iterable[int]) -> None:
        if isinstance(frames, range) and frames.step == 1:
            self.add_run(frames.start, len(frames))
        else:
            for m in frames:
                self.add(m)

    def array(self) -> np.ndarray:
        """The frames, ascending."""
        low = np.flatnonzero(self._has)
        if not self._big:
            return low
        big = _array(sorted(self._big))
        return np.concatenate([low, big]) if big.dtype == low.dtype else _array(low.tolist() + big.tolist())

    def __repr__(self) -> str:
        return f"FrameSet({self.array().tolist()!r})"


__all__ = ["FrameSet", "PhysMap"]
