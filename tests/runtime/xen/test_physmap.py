"""PhysMap and FrameSet behave as the dict pair and the set they replace,
numbers on either side of the array's limit included."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvdsl.runtime.xen import physmap
from pvdsl.runtime.xen.physmap import FrameSet, PhysMap

LIMIT = 64  # small, so that the dict beside the array is exercised


@pytest.fixture(autouse=True)
def small_limit(monkeypatch):
    monkeypatch.setattr(physmap, "ARRAY_LIMIT", LIMIT)
    monkeypatch.setattr(physmap, "_VALUE_LIMIT", 1 << 20)  # values past it go to the dict too


numbers = st.one_of(st.integers(0, 20), st.integers(LIMIT - 3, LIMIT + 3), st.integers(0, (1 << 64) - 1))
ops = st.one_of(
    st.tuples(st.just("set"), numbers, numbers),
    st.tuples(st.just("drop_mfn"), numbers, st.just(0)),
    st.tuples(st.just("del"), numbers, st.just(0)),
    st.tuples(st.just("run"), st.integers(0, LIMIT + 8), st.integers(0, LIMIT + 8), st.integers(0, 9)),
)


def model_set(p2m: dict, inv: dict, pfn: int, mfn: int) -> None:
    """Domain.set_p2m as it was, on two dicts."""
    old = p2m.pop(pfn, None)
    if old is not None:
        inv.pop(old)
    prev = inv.pop(mfn, None)
    if prev is not None:
        p2m.pop(prev)
    p2m[pfn], inv[mfn] = mfn, pfn


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=40))
def test_physmap_is_the_dict_pair_it_replaced(script):
    pm, p2m, inv = PhysMap(), {}, {}
    for op in script:
        if op[0] == "set":
            model_set(p2m, inv, op[1], op[2])
            pm[op[1]] = op[2]
        elif op[0] == "drop_mfn":
            pfn = inv.pop(op[1], None)
            if pfn is not None:
                del p2m[pfn]
            pm.drop_mfn(op[1])
        elif op[0] == "del":
            if op[1] in p2m:
                inv.pop(p2m.pop(op[1]))
                del pm[op[1]]
            else:
                with pytest.raises(KeyError):
                    del pm[op[1]]
        else:
            _, pfn, mfn, n = op
            for i in range(n):
                model_set(p2m, inv, pfn + i, mfn + i)
            pm.set_run(pfn, mfn, n)
        assert dict(pm.items()) == p2m and dict(pm.inverse.items()) == inv
        assert len(pm) == len(p2m) and bool(pm) == bool(p2m) and pm.keys() == sorted(p2m)
        assert pm.values() == [p2m[k] for k in sorted(p2m)]
    for k, v in p2m.items():
        assert pm[k] == v and k in pm and pm.inverse[v] == k and v in pm.inverse
    nr = LIMIT + 10
    assert pm.by_pfn(nr).tolist() == [p2m.get(p, -1) if p2m.get(p, -1) < 1 << 63 else p2m[p] - (1 << 64)
                                      for p in range(nr)]
    pfns, mfns = pm.arrays()
    assert list(zip(pfns.tolist(), mfns.tolist())) == sorted(p2m.items())


def test_room_reserved_changes_nothing_but_the_room():
    pm, fs = PhysMap({3: 7}), FrameSet([5])
    pm.reserve(40, LIMIT + 100)  # past the array's limit: only up to it
    fs.reserve(50)
    pm.set_run(10, 20, 5)
    fs.add_run(30, 4)
    assert dict(pm.items()) == {3: 7, **{10 + i: 20 + i for i in range(5)}} and len(pm) == 6
    assert list(fs) == [5, 30, 31, 32, 33] and len(fs) == 5


def test_physmap_keys_a_dict_would_just_not_hold():
    pm = PhysMap({3: 7})
    assert pm.get(None) is None and pm.get(-1, "none") == "none" and -1 not in pm and "3" not in pm
    assert pm.inverse.get(-7) is None and pm.get(3) == 7 and pm == {3: 7}
    with pytest.raises(KeyError):
        pm[-3]
    with pytest.raises(ValueError, match="numbers >= 0"):
        pm[-1] = 4


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "discard", "run"]), numbers, st.integers(0, 9)), max_size=40))
def test_frameset_is_the_set_it_replaced(script):
    fs, ref = FrameSet(), set()
    for op, m, n in script:
        if op == "add":
            fs.add(m)
            ref.add(m)
        elif op == "discard":
            fs.discard(m)
            ref.discard(m)
        else:
            m %= LIMIT + 8
            fs.update(range(m, m + n))
            ref.update(range(m, m + n))
        assert len(fs) == len(ref) and list(fs) == sorted(ref) and fs == ref
        assert all(x in fs for x in ref) and (fs | {5}) == ref | {5} and type(fs | {5}) is set
    assert fs.array().tolist() == sorted(ref)
