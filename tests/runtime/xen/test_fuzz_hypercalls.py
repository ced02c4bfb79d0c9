"""Property: random hypercalls with random arguments from a domU never crash
the model and keep its invariants: no frame owned twice, tot_pages <=
max_pages, every p2m entry names a frame the domain owns, reference and type
counts consistent; and destroying the domU afterwards keeps them too. The
long run is bench/runtime/fuzz_hypercalls.py."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvdsl.runtime.xen.domain_kill import kill_domain
from pvdsl.runtime.probe.hypercall_fuzz import FuzzHost

CALLS_PER_EXAMPLE = 60
EXAMPLES = 175  # 175 * 60 = 10,500 hypercalls per run
_reference = {arch: FuzzHost(arch) for arch in ("x86_64", "i386")}  # the builder is deterministic
_done = {"hypercalls": 0}


def _call(arch: str):
    ref = _reference[arch]
    top = (1 << (8 * ref.word)) - 1
    value = st.one_of(st.sampled_from(ref.pool), st.integers(0, 0xFFFF), st.integers(0, top))
    raw = st.tuples(st.just("raw"), st.sampled_from(ref.numbers), st.lists(value, min_size=5, max_size=5))
    structured = st.tuples(st.just("struct"), st.integers(0, 2**32 - 1), st.just(()))
    return st.one_of(raw, structured)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_hypercalls_never_crash_and_keep_the_invariants(data):
    arch = data.draw(st.sampled_from(["x86_64", "i386"]), label="arch")
    host = FuzzHost(arch)
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="scratch seed"))
    host.fill_scratch([host.value(rng) for _ in range(2 * 4096 // host.word)])
    calls = data.draw(st.lists(_call(arch), min_size=CALLS_PER_EXAMPLE, max_size=CALLS_PER_EXAMPLE), label="calls")
    for kind, a, args in calls:
        if kind == "struct":
            number, args = host.structured_call(random.Random(a))
        else:
            number = a
        rc = host.call(number, list(args))
        assert isinstance(rc, int) and -4096 < rc < (1 << (8 * host.word)), (number, args, rc)
    _done["hypercalls"] += len(calls)
    assert host.hv.check_invariants() == []
    assert host.domu.tot_pages <= host.domu.max_pages
    # Then the domU is destroyed in whatever state the calls left it (grants
    # mapped, pages pinned, frames given back): the invariants still hold,
    # and whatever of it stays is held by another domain's mapping.
    kill_domain(host.hv, host.domu)
    assert host.hv.check_invariants() == []
    kept = host.domu.pages | host.domu.xenheap_pages
    assert all(host.hv.mem.count[m] > 0 for m in kept)
    assert (host.domu.domid in host.hv.domains) == bool(kept)


def test_enough_hypercalls_were_made():
    assert _done["hypercalls"] >= 10_000 or _done["hypercalls"] == 0  # 0: the property test was deselected
