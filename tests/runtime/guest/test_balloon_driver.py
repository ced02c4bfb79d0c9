"""The shipped balloon driver (pvdsl/specs/drivers/balloon.pv) on the
emulated vCPU of a domU, initialised with real arrays in guest memory as the
guest kernel gives them: batches of Linux's size, the p2m and tot_pages
following, frames going back to the host, Xen refusing, the floor, and the
spec's laws after a real init."""

from __future__ import annotations

import pytest
from rtsupport import machine

from pvdsl.runtime.session.laws import run_law
from pvdsl.runtime.xen.memory import PAGE_SHIFT, PAGE_SIZE

SPEC = "pvdsl/specs/drivers/balloon.pv"
MIB = 1 << 20
BP_DONE, BP_EAGAIN = 0, 2


class Driver:
    def __init__(self, target: str, mib: int = 64):
        self.m = m = machine(SPEC, target, memory=mib * MIB, kernel_bytes=2 * MIB)
        self.d, self.hv = m.domu if m.role == "domu" else m.dom0, m.hv
        d, k = self.d, self.d.kernel
        self.word = d.rt.word
        mapped = (k.v_end - k.virt_base) >> PAGE_SHIFT
        self.free = list(range(mapped + 16, k.nr_pages - 16))
        self.pool = k.alloc(k.nr_pages * self.word, PAGE_SIZE, "pool")
        self.list = k.alloc(k.nr_pages * self.word, PAGE_SIZE, "ballooned")
        self.frames = k.alloc(PAGE_SIZE, PAGE_SIZE, "frame list")
        from pvdsl.runtime.xen.paging import GuestMemory

        self.g = GuestMemory(d.mem, d.rt, k.root_mfn)
        self.g.write(self.pool, d.abi.pack_words(self.free))

    def init(self) -> int:
        k = self.d.kernel
        return self.call("init", k.p2m_va, k.nr_pages, self.pool, len(self.free), self.list, self.frames)

    def call(self, hook: str, *args: int) -> int:
        r = self.m.call(f"xen_balloon_ops.{hook}", *args, budget=50_000_000, timeout=60)
        assert r.fault is None, r.fault.describe()
        assert not r.abi_violations, r.abi_violations
        self.last = r
        return r.value

    def var(self, name: str) -> int:
        return int.from_bytes(self.g.read(self.m.loaded.symbols[name], self.word), "little")

    def p2m(self, pfn: int) -> int:
        return int.from_bytes(self.g.read(self.d.kernel.p2m_va + pfn * self.word, self.word), "little")


@pytest.fixture(params=["x86_64-domu", "i386-domu"])
def drv(request):
    return Driver(request.param)


def test_release_and_reclaim_in_linux_sized_batches(drv):
    assert drv.init() == 0
    d, hv = drv.d, drv.hv
    batch = PAGE_SIZE // drv.word  # a page of xen_pfn_t: 512 on x86_64, 1024 on i386
    pages0, free0 = d.tot_pages, hv.mem.free_frames
    n = 3 * batch + 5
    victims = drv.free[-n:]
    mfns = [d.p2m[p] for p in victims]
    drv.call("set_target", pages0 - n)
    assert drv.call("process") == BP_DONE
    memory_ops = [h for h in drv.last.hypercalls if h[0] == "memory_op"]
    assert len(memory_ops) == 4 and all(rc >= 0 for _n, rc in memory_ops)  # 3 full batches and 5
    assert d.tot_pages == pages0 - n and hv.mem.free_frames == free0 + n
    assert drv.var("balloon_current_pages") == pages0 - n and drv.var("balloon_nr_ballooned") == n
    invalid = (1 << (8 * drv.word)) - 1
    assert all(drv.p2m(p) == invalid for p in victims)
    assert all(hv.mem.owner[m] != d.domid for m in mfns)
    assert drv.var("balloon_low") == n and drv.var("balloon_high") == 0

    drv.call("set_target", pages0)
    assert drv.call("process") == BP_DONE
    assert d.tot_pages == pages0 and hv.mem.free_frames == free0
    assert drv.var("balloon_nr_ballooned") == 0 and drv.var("balloon_low") == 0
    for p in victims:  # a new frame each, owned by the domain, in its p2m and Xen's M2P
        mfn = drv.p2m(p)
        assert hv.mem.owner[mfn] == d.domid and hv.m2p[mfn] == p and d.p2m[p] == mfn
    assert not hv.check_invariants()


def test_xen_refusing_backs_off_to_32_seconds(drv):
    assert drv.init() == 0
    d = drv.d
    pages0 = d.tot_pages
    drv.call("set_target", pages0 - 1000)
    assert drv.call("process") == BP_DONE
    d.max_pages = pages0 - 990  # XEN_DOMCTL_max_mem: only 10 more pages
    drv.call("set_target", pages0)
    delays = []
    for _ in range(7):
        assert drv.call("process") == BP_EAGAIN
        delays.append(drv.var("balloon_schedule_delay"))
    assert delays == [2, 4, 8, 16, 32, 32, 32]
    assert d.tot_pages == pages0 - 990
    d.max_pages = pages0
    assert drv.call("process") == BP_DONE
    assert d.tot_pages == pages0 and drv.var("balloon_schedule_delay") == 1
    assert drv.var("balloon_retry_count") == 1


def test_the_floor(drv):
    assert drv.init() == 0
    pages = drv.d.kernel.nr_pages  # 64 MiB: under 128 MiB the floor is 8 MiB + max_pfn / 2
    floor = (8 * MIB >> PAGE_SHIFT) + pages // 2
    assert drv.call("floor_pages") == floor
    drv.call("set_target", 0)
    assert drv.var("balloon_target_pages") == floor
    assert drv.call("process") == BP_DONE
    assert drv.d.tot_pages == floor
    drv.call("set_target", floor + 100)
    assert drv.call("process") == BP_DONE and drv.d.tot_pages == floor + 100


def test_uninitialised_hooks_do_nothing(drv):
    d, free0, pages0 = drv.d, drv.hv.mem.free_frames, drv.d.tot_pages
    drv.call("set_target", 1)
    for hook in ("process", "increase_reservation", "decrease_reservation"):
        assert drv.call(hook, *([100] if "reservation" in hook else [])) == BP_DONE
    assert d.tot_pages == pages0 and drv.hv.mem.free_frames == free0
    assert drv.call("init", 0, 10, 0, 0, 0, 0) & ((1 << 8 * drv.word) - 1) == (-22) & ((1 << 8 * drv.word) - 1)


def test_laws_hold_after_a_real_init(drv):
    assert drv.init() == 0
    for law in ("inflate_deflate", "target_floor"):
        res = run_law(drv.m, law)
        assert res.cases >= 3 and res.ok, (law, res.failures, res.faults)
        if law == "inflate_deflate":
            # the cases really moved memory: some gave back a full frame list
            moved = [rc for r in res.calls if r.hook.endswith("decrease_reservation") for _n, rc in r.hypercalls]
            assert max(moved) == PAGE_SIZE // drv.word, moved
    assert drv.var("balloon_nr_ballooned") == 0 and drv.d.tot_pages == drv.d.kernel.nr_pages
