"""Accounting under the balloon: two guests (one x86_64, one i386) share a
small host and follow random memory targets. After every step nothing has
leaked (every frame is free or owned exactly once), tot_pages is what each
guest's driver says it holds, each guest's own p2m (in its memory) maps only
frames it owns and marks what it ballooned out as invalid, and every page a
guest kept all along still has the contents it had at the start."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvdsl.runtime.host.server import Host, RequestError
from pvdsl.runtime.xen.memory import OWNER_FREE, PAGE_SHIFT

ROOT = Path(__file__).resolve().parents[3]
SPEC = str(ROOT / "examples" / "irq.pv")
MIB = 1 << 20
GUEST_MIB = 48


class Rig:
    """One host, built once: the examples keep moving the same two guests."""

    def __init__(self):
        # Room for dom0, both guests and a few MiB: a guest can only grow
        # back with frames the other one (or its own earlier self) released.
        self.host = Host(memory=2 * GUEST_MIB * MIB + 40 * MIB, dom0_memory=24 * MIB)
        for name, arch in (("a", "x86_64"), ("b", "i386")):
            out = self.host.handle({"op": "create", "name": name, "target": f"{arch}-domu", "spec": SPEC,
                                    "memory": GUEST_MIB * MIB})
            assert out["status"] == "ok"
        self.kept = {}  # (guest, pfn) -> (mfn, digest) of pages never ballooned out
        self.ever_ballooned = {name: set() for name in self.host.vms}
        # The pages outside the kernel's boot mapping: what the balloon may
        # give away. Each gets a pattern of its own; those it keeps must keep it
        # (inside the mapping, the kernel's own pages change as it runs).
        for name, vm in self.host.vms.items():
            d, mem = vm.machine.guest, self.host.hv.mem
            mapped = (d.kernel.v_end - d.kernel.virt_base) >> PAGE_SHIFT
            for pfn, mfn in d.p2m.items():
                if pfn < mapped:
                    continue
                mem.write(mfn << PAGE_SHIFT, (pfn.to_bytes(4, "little") + bytes([vm.domid]) * 4) * 512)
                self.kept[(name, pfn)] = (mfn, hashlib.blake2b(mem.read(mfn << PAGE_SHIFT, 4096)).digest())

    def guest_p2m(self, vm) -> list[int]:
        d = vm.machine.guest
        k = vm.kernel
        raw = k.read_va(d.kernel.p2m_va, d.kernel.nr_pages * d.rt.word)
        w = d.rt.word
        return [int.from_bytes(raw[i:i + w], "little") for i in range(0, len(raw), w)]

    def check(self) -> None:
        hv, mem = self.host.hv, self.host.hv.mem
        assert not hv.check_invariants()
        owned = sum(1 for o in mem.owner if o != OWNER_FREE)
        assert owned + mem.free_frames == mem.nframes
        seen: dict[int, str] = {}
        for name, vm in self.host.vms.items():
            d = vm.machine.guest
            stats = vm.kernel.balloon.stats()
            invalid = (1 << (8 * d.rt.word)) - 1
            p2m = self.guest_p2m(vm)
            valid = 0
            for pfn, mfn in enumerate(p2m):
                if mfn == invalid:
                    self.ever_ballooned[name].add(pfn)
                    continue
                valid += 1
                assert mem.owner[mfn] == d.domid, (name, pfn, mfn)
                assert mfn not in seen, f"mfn {mfn:#x} in the p2m of {seen.get(mfn)} and {name}"
                seen[mfn] = name
            assert stats["current_kb"] == valid * 4
            assert d.tot_pages == valid  # every page the guest holds is one its p2m maps
            for (guest, pfn), (mfn, digest) in self.kept.items():
                if guest == name and pfn not in self.ever_ballooned[name]:
                    assert p2m[pfn] == mfn
                    assert hashlib.blake2b(mem.read(mfn << PAGE_SHIFT, 4096)).digest() == digest, (name, pfn)


RIG: Rig | None = None


def rig() -> Rig:
    global RIG
    if RIG is None:
        RIG = Rig()
    return RIG


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, GUEST_MIB + 8)), min_size=1, max_size=5))
def test_random_targets_over_two_guests(steps):
    r = rig()
    for name, mib in steps:
        try:
            r.host.handle({"op": "mem-set", "name": name, "memory": mib * MIB})
        except RequestError as err:
            assert mib > GUEST_MIB and err.field == "memory"  # above static-max: refused, nothing changed
        r.check()


def test_released_frames_go_to_another_domain():
    host = Host(memory=2 * GUEST_MIB * MIB + 40 * MIB, dom0_memory=24 * MIB)
    host.handle({"op": "create", "name": "a", "target": "x86_64-domu", "spec": SPEC, "memory": GUEST_MIB * MIB})
    host.handle({"op": "create", "name": "b", "target": "i386-domu", "spec": SPEC, "memory": GUEST_MIB * MIB})
    free = host.hv.mem.free_frames
    big = (free >> 8) + 8  # MiB: more than the host has free now
    try:
        host.handle({"op": "create", "name": "c", "target": "x86_64-domu", "spec": SPEC, "memory": big * MIB})
        raise AssertionError("the host should not have room for c yet")
    except RequestError as err:
        assert err.field == "memory"
    a = host.vms["a"].machine.guest
    before = set(a.pages)
    host.handle({"op": "mem-set", "name": "a", "memory": 34 * MIB})  # above its floor (8 MiB + 48/2)
    released = before - set(a.pages)
    assert len(released) == (GUEST_MIB - 34) * 256
    host.handle({"op": "create", "name": "c", "target": "x86_64-domu", "spec": SPEC, "memory": big * MIB})
    c = host.vms["c"].machine.guest
    assert released & set(c.pages)  # a's old frames now hold c's memory
    assert not host.hv.check_invariants()
