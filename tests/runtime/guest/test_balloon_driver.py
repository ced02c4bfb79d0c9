"""The shipped balloon driver (pvdsl/specs/drivers/balloon.pv) compiled for
each Xen target and run on the domain's vCPU against the hypervisor model:
pages released and reclaimed in frame-list batches, the p2m, the M2P and
Xen's accounting following; Xen refusing (max_pages, an empty host heap)
and the back-off; the floor; hooks called before init; the spec's laws
after a real init."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rtsupport import XEN_TARGETS, built, machine

from pvdsl.interp import CpuState, Interpreter, State
from pvdsl.interp.state import MemoryFault
from pvdsl.runtime.errors import GuestFault
from pvdsl.runtime.guest.kernel import KEEP_AFTER_MAPPING, KEEP_AT_TOP
from pvdsl.runtime.host.builder import MIB
from pvdsl.runtime.session.laws import laws_for, run_law
from pvdsl.runtime.xen.memory import PAGE_SHIFT, PAGE_SIZE
from pvdsl.runtime.xen.paging import GuestMemory

SPEC = "pvdsl/specs/drivers/balloon.pv"
OPS = "xen_balloon_ops"
DOMU_TARGETS = ["x86_64-domu", "i386-domu"]
MIB_PAGES = MIB >> PAGE_SHIFT
BP_DONE, BP_WAIT, BP_EAGAIN, BP_ECANCELED = 0, 1, 2, 3  # Linux's enum bp_state


@pytest.fixture(scope="module", autouse=True)
def compiled():
    """Each target's object built before any test times itself (hypothesis's deadline)."""
    for target in XEN_TARGETS:
        built(SPEC, target)


def linux_floor(max_pfn: int, current_target: int) -> int:
    """XenLinux's minimum_target, written again from its comment's table."""
    for below_mib, base_mib, shift in ((128, 8, 1), (512, 40, 2), (2048, 104, 3)):
        if max_pfn < below_mib * MIB_PAGES:
            return min(base_mib * MIB_PAGES + (max_pfn >> shift), current_target)
    return min(296 * MIB_PAGES + (max_pfn >> 5), current_target)


@dataclass
class Balloon:
    """A domain whose kernel has handed the driver its arrays, as
    pvdsl/runtime/guest/balloon.py does."""
    m: object
    d: object
    g: GuestMemory
    word: int
    nr: int
    free: list[int]
    pool: int
    ballooned: int
    frames: int
    init_rc: int

    def call(self, hook: str, *args: int) -> int:
        r = self.m.call(f"{OPS}.{hook}", *args)
        assert r.fault is None, r.fault.describe()
        assert not r.abi_violations, r.abi_violations
        self.last = r
        return r.value

    def var(self, name: str) -> int:
        return int.from_bytes(self.g.read(self.m.loaded.symbols[f"balloon_{name}"], self.word), "little")

    def words(self, va: int, count: int) -> list[int]:
        return self.g.words(va, count) if count else []

    def p2m(self, pfn: int) -> int:
        return self.g.word(self.d.kernel.p2m_va + pfn * self.word)

    def set_p2m(self, pfn: int, mfn: int) -> None:
        self.g.write(self.d.kernel.p2m_va + pfn * self.word, mfn.to_bytes(self.word, "little"))

    def ballooned_pfns(self) -> list[int]:
        return self.words(self.ballooned, self.var("nr_ballooned"))

    def events(self, kind: str) -> list[dict]:
        return self.m.hv.events_of(kind, self.d.domid)

    @property
    def batch(self) -> int:
        return PAGE_SIZE // self.word  # Linux's frame_list: one page of xen_pfn_t


def booted(target: str, memory: int = 64 * MIB, init: bool = True, **kw) -> Balloon:
    kw.setdefault("kernel_bytes", 4 * MIB)
    m = machine(SPEC, target, memory=memory, budget=50_000_000, timeout=60.0, **kw)
    d = m.guest
    k, word = d.kernel, d.rt.word
    g = GuestMemory(d.mem, d.rt, k.root_mfn)
    mapped = (k.v_end - k.virt_base) >> PAGE_SHIFT
    # The guest kernel's free list: frames outside the boot mapping.
    free = list(range(mapped + KEEP_AFTER_MAPPING, k.nr_pages - KEEP_AT_TOP))
    pool = k.alloc(k.nr_pages * word, PAGE_SIZE, "balloon pool")
    ballooned = k.alloc(k.nr_pages * word, PAGE_SIZE, "balloon list")
    frames = k.alloc(PAGE_SIZE, PAGE_SIZE, "balloon frame list")
    g.write(pool, b"".join(p.to_bytes(word, "little") for p in free))
    b = Balloon(m, d, g, word, k.nr_pages, free, pool, ballooned, frames, 0)
    if init:
        b.init_rc = b.call("init", k.p2m_va, k.nr_pages, pool, len(free), ballooned, frames)
    return b


def test_init_takes_linux_defaults():
    b = booted("x86_64-domu")
    assert b.init_rc == 0
    assert b.var("current_pages") == b.var("target_pages") == b.nr == b.d.tot_pages
    assert (b.var("schedule_delay"), b.var("retry_count"), b.var("max_schedule_delay"),
            b.var("max_retry_count")) == (1, 1, 32, 0)
    assert (b.var("pool_len"), b.var("nr_ballooned"), b.var("low"), b.var("high")) == (len(b.free), 0, 0, 0)
    assert b.call("initialised") == 1


@pytest.mark.parametrize("target", XEN_TARGETS)
def test_release_then_reclaim_in_linux_batches(target):
    b = booted(target)
    hv, d = b.m.hv, b.d
    heap0, p2m0 = hv.mem.free_frames, {pfn: b.p2m(pfn) for pfn in b.free}
    floor = b.call("floor_pages")
    assert floor == linux_floor(b.nr, b.nr)
    b.call("set_target", 0)
    assert b.call("target_pages") == floor
    assert b.call("process") == BP_DONE
    released = b.nr - floor
    assert released > 2000
    batches = -(-released // b.batch)
    assert [h[0] for h in b.last.hypercalls] == ["memory_op"] * batches
    done = [e["done"] for e in b.events("decrease_reservation")]
    assert done == [b.batch] * (released // b.batch) + ([released % b.batch] if released % b.batch else [])
    assert b.var("current_pages") == d.tot_pages == b.call("current_reservation") == floor
    assert hv.mem.free_frames == heap0 + released  # the frames went back to the host's heap
    out = b.ballooned_pfns()
    assert len(out) == released == b.var("low") and b.var("high") == 0
    assert b.var("pool_len") == len(b.free) - released
    for pfn in out:
        assert b.p2m(pfn) == 2 ** (8 * b.word) - 1  # INVALID_P2M_ENTRY
        assert pfn not in d.p2m
        assert not hv.mem.allocated[p2m0[pfn]]

    b.call("set_target", b.nr)
    assert b.call("process") == BP_DONE
    assert [h[0] for h in b.last.hypercalls] == ["memory_op"] * batches
    assert sum(e["done"] for e in b.events("populate_physmap")) == released
    assert b.var("current_pages") == d.tot_pages == b.nr
    assert hv.mem.free_frames == heap0
    assert (b.var("nr_ballooned"), b.var("low"), b.var("pool_len")) == (0, 0, len(b.free))
    for pfn in out:
        mfn = b.p2m(pfn)
        assert d.p2m[pfn] == mfn and hv.m2p[mfn] == pfn and mfn in d.pages
    assert hv.check_invariants() == []


def test_highmem_pages_count_as_high_on_i386():
    # A 1 GiB domain: the pool's top pfns lie above i386's 896 MiB of lowmem.
    b = booted("i386-domu", memory=1024 * MIB, kernel_bytes=4 * MIB)
    lowmem = 896 * MIB_PAGES
    assert b.call("decrease_reservation", 3 * b.batch) == BP_DONE
    assert b.call("decrease_reservation", b.batch) == BP_DONE
    out = b.ballooned_pfns()
    assert len(out) == 2 * b.batch  # one frame list per call, whatever was asked
    high = sum(1 for pfn in out if pfn >= lowmem)
    assert high == len(out) and (b.var("high"), b.var("low")) == (high, 0)
    assert b.call("increase_reservation", b.batch) == BP_DONE
    assert (b.var("high"), b.var("low")) == (b.batch, 0)


def test_max_pages_refusal_backs_off_to_32_seconds():
    b = booted("x86_64-domu")
    d = b.d
    b.call("set_target", 0)
    assert b.call("process") == BP_DONE
    # XEN_DOMCTL_max_mem: room for 100 more pages only.
    d.max_pages = d.tot_pages + 100
    b.call("set_target", b.nr)
    assert b.call("process") == BP_EAGAIN
    assert [e["done"] for e in b.events("populate_physmap")] == [100, 0]
    assert b.var("current_pages") == d.tot_pages == d.max_pages
    delays = [b.var("schedule_delay")]
    for _ in range(6):
        assert b.call("process") == BP_EAGAIN
        assert len(b.last.hypercalls) == 1
        delays.append(b.var("schedule_delay"))
    assert delays == [2, 4, 8, 16, 32, 32, 32]
    assert b.var("retry_count") == 8
    d.max_pages = b.nr
    assert b.call("process") == BP_DONE
    assert b.var("current_pages") == d.tot_pages == b.nr
    assert (b.var("schedule_delay"), b.var("retry_count")) == (1, 1)


def release_frames(m, d, mfns: list[int]) -> int:
    """XENMEM_decrease_reservation made by domain `d` itself, through the
    hypercall the model serves to its vCPU: `mfns` back to the host."""
    abi, k = d.abi, d.kernel
    g = GuestMemory(d.mem, d.rt, k.root_mfn)
    frames, arg = k.alloc(len(mfns) * abi.word, PAGE_SIZE), k.alloc(abi.size("xen_memory_reservation"), 64)
    g.write(frames, abi.pack_words(mfns))
    r = bytearray(abi.size("xen_memory_reservation"))
    for name, value in (("extent_start", frames), ("nr_extents", len(mfns)), ("extent_order", 0),
                        ("mem_flags", 0), ("domid", abi.c("DOMID_SELF"))):
        abi.put(r, "xen_memory_reservation", name, value)
    g.write(arg, bytes(r))
    return m.hv.hypercall(d.vcpus[0], abi.hypercalls["memory_op"].number,
                          [abi.c("XENMEM_decrease_reservation"), arg])


def test_empty_host_heap_gives_eagain_until_frames_come_back():
    b = booted("i386-domu")
    hv, d = b.m.hv, b.d
    assert b.call("decrease_reservation", 300) == BP_DONE
    # Another domain takes every free frame of the host.
    dom0 = b.m.dom0
    dom0.max_pages += hv.mem.free_frames
    taken = []
    while (mfn := hv.alloc_domheap_pages(dom0)) is not None:
        taken.append(mfn)
    b.call("set_target", b.nr)
    assert b.call("process") == BP_EAGAIN
    assert b.events("populate_physmap")[-1]["done"] == 0
    assert (b.var("current_pages"), b.var("schedule_delay")) == (b.nr - 300, 2)
    assert release_frames(b.m, dom0, taken[:120]) == 120  # dom0 balloons 120 frames out
    assert b.call("process") == BP_EAGAIN
    assert [e["done"] for e in b.events("populate_physmap")][-2:] == [120, 0]
    assert b.var("current_pages") == d.tot_pages == b.nr - 180
    # The batch that got 120 frames was a success (delay and retries reset),
    # the one after it a first refusal.
    assert (b.var("schedule_delay"), b.var("retry_count")) == (2, 2)
    assert hv.check_invariants() == []


def test_decrease_gives_back_what_xen_did_not_take():
    b = booted("x86_64-domu")
    top = b.free[-10:]  # the next ten pfns the driver pops, last first
    bogus = b.m.dom0.kernel.root_mfn  # a frame of dom0's: Xen refuses to free it for this domain
    b.set_p2m(top[3], bogus)
    pool_before = b.words(b.pool, b.var("pool_len"))
    assert b.call("decrease_reservation", 10) == BP_EAGAIN
    assert b.events("decrease_reservation")[-1]["done"] == 6
    assert b.ballooned_pfns() == top[4:][::-1]
    assert b.var("current_pages") == b.d.tot_pages == b.nr - 6
    assert b.words(b.pool, b.var("pool_len")) == pool_before[:-6]
    assert b.p2m(top[3]) == bogus  # the kernel's entries back as they were
    assert all(b.p2m(pfn) == b.d.p2m[pfn] for pfn in top[:3])
    assert b.var("low") == 6


def test_retry_limit_cancels():
    b = booted("i386-domu")
    b.call("set_target", 0)
    assert b.call("process") == BP_DONE
    b.call("set_limits", 8, 3)
    b.d.max_pages = b.d.tot_pages
    b.call("set_target", b.nr)
    states = [b.call("process") for _ in range(4)]
    assert states == [BP_EAGAIN, BP_EAGAIN, BP_ECANCELED, BP_EAGAIN]
    assert (b.var("schedule_delay"), b.var("retry_count")) == (2, 2)
    b.call("set_limits", 0, 0)
    assert b.var("max_schedule_delay") == 1


@pytest.mark.parametrize("mib", [16, 32, 64, 128, 300, 512, 1000, 2048, 8192, 32768, 131072])
def test_floor_is_xenlinux_minimum_target(mib):
    b = booted("x86_64-domu", memory=16 * MIB, kernel_bytes=1 * MIB, init=False)
    pages = mib * MIB_PAGES
    assert b.call("init", b.d.kernel.p2m_va, pages, b.pool, 0, b.ballooned, b.frames) == 0
    floor = b.call("floor_pages")
    assert floor == linux_floor(pages, pages)
    table = {16: 16, 32: 24, 128: 72, 512: 168, 2048: 360, 8192: 552, 32768: 1320, 131072: 4392}
    if mib in table:
        assert floor == table[mib] * MIB_PAGES
    b.call("set_target", 1)
    assert b.call("target_pages") == floor
    b.call("set_target", floor + 7)
    assert b.call("target_pages") == floor + 7


def test_process_stops_at_the_floor_and_never_grows_past_memory():
    b = booted("i386-domu")
    floor = b.call("floor_pages")
    b.call("set_target", 1)
    assert b.call("process") == BP_DONE
    assert b.var("current_pages") == b.d.tot_pages == floor
    assert b.call("decrease_reservation", 5) == BP_DONE  # one batch by hand may go below
    b.call("set_target", 10 * b.nr)
    assert b.call("target_pages") == 10 * b.nr
    assert b.call("process") == BP_DONE
    assert b.var("current_pages") == b.nr and b.var("nr_ballooned") == 0


@pytest.mark.parametrize("target", DOMU_TARGETS)
def test_hooks_before_init_do_nothing(target):
    b = booted(target, memory=16 * MIB, kernel_bytes=1 * MIB, init=False)
    junk = 0x5A5A5A5A
    symbols = [s for s in b.m.loaded.symbols if s.startswith("balloon_")]
    before = {s: b.g.read(b.m.loaded.symbols[s], b.word) for s in symbols}
    tot = b.d.tot_pages
    for hook, args in [("set_target", (junk,)), ("process", ()), ("increase_reservation", (junk,)),
                       ("decrease_reservation", (junk,)), ("set_limits", (junk, junk)), ("current_pages", ()),
                       ("target_pages", ()), ("ballooned_pages", ()), ("floor_pages", ()), ("initialised", ())]:
        assert b.call(hook, *args) == 0, hook
        assert b.last.hypercalls == [], hook
    # A refused init leaves it off too.
    assert b.call("init", 0, b.nr, b.pool, 1, b.ballooned, b.frames) == -22 & (2 ** (8 * b.word) - 1)
    assert b.call("init", b.d.kernel.p2m_va, 4, b.pool, 5, b.ballooned, b.frames) == -22 & (2 ** (8 * b.word) - 1)
    assert b.call("initialised") == 0 and b.call("decrease_reservation", 8) == BP_DONE
    assert b.call("current_reservation") == tot == b.d.tot_pages
    changed = {s for s in symbols if b.g.read(b.m.loaded.symbols[s], b.word) != before[s]}
    assert symbols and not changed


@pytest.mark.parametrize("target", DOMU_TARGETS)
def test_laws_hold_after_a_real_init(target):
    b = booted(target)
    names = laws_for(b.m)
    assert set(names) == {"inflate_deflate", "target_floor", "process_floor"}
    for name in names:
        r = run_law(b.m, name)
        assert r.ok, (name, r.failures, r.faults)
        assert r.cases >= 5, name
    # The laws' calls really moved pages: both directions, and the floor.
    assert sum(e["done"] for e in b.events("decrease_reservation")) > 2048
    assert sum(e["done"] for e in b.events("populate_physmap")) > 2048
    assert b.m.hv.check_invariants() == []


# ---- any sequence of what a kernel and a toolstack may do ------------------------------------

OPERATIONS = st.one_of(
    st.tuples(st.just("decrease"), st.integers(0, 1500)),
    st.tuples(st.just("increase"), st.integers(0, 1500)),
    st.tuples(st.just("target"), st.integers(0, 20000)),
    st.tuples(st.just("process"), st.just(0)),
    # XEN_DOMCTL_max_mem: room for this many more pages (or fewer than it holds)
    st.tuples(st.just("max_pages"), st.integers(-200, 700)),
    st.tuples(st.just("limits"), st.tuples(st.integers(0, 64), st.integers(0, 4))),
)


def check_state(b: Balloon) -> None:
    d, hv = b.d, b.m.hv
    invalid = 2 ** (8 * b.word) - 1
    current, nb, pool_len = b.var("current_pages"), b.var("nr_ballooned"), b.var("pool_len")
    assert current == d.tot_pages == b.call("current_reservation")
    assert current + nb == b.nr
    out, pool = b.ballooned_pfns(), b.words(b.pool, pool_len)
    assert sorted(out + pool) == b.free  # every free pfn is in exactly one of the two
    assert b.var("low") == nb and b.var("high") == 0
    for pfn in out:
        assert b.p2m(pfn) == invalid and pfn not in d.p2m
    for pfn in pool:
        mfn = b.p2m(pfn)
        assert d.p2m[pfn] == mfn and mfn in d.pages and hv.m2p[mfn] == pfn
    delay, top = b.var("schedule_delay"), b.var("max_schedule_delay")
    assert 1 <= delay <= max(top, 1) and b.var("retry_count") >= 1


@pytest.mark.parametrize("target", DOMU_TARGETS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPERATIONS, min_size=1, max_size=10))
def test_any_sequence_keeps_driver_xen_and_p2m_in_step(target, ops):
    b = booted(target, memory=32 * MIB, kernel_bytes=2 * MIB)
    for op, arg in ops:
        if op == "decrease":
            assert b.call("decrease_reservation", arg) in (BP_DONE, BP_EAGAIN)
        elif op == "increase":
            assert b.call("increase_reservation", arg) in (BP_DONE, BP_EAGAIN)
        elif op == "target":
            floor = b.call("floor_pages")
            b.call("set_target", arg)
            assert b.call("target_pages") == max(arg, floor)
        elif op == "process":
            state = b.call("process")
            assert state in (BP_DONE, BP_EAGAIN, BP_ECANCELED)
            if state == BP_DONE:
                assert b.var("current_pages") == min(b.var("target_pages"), b.nr)
        elif op == "max_pages":
            b.d.max_pages = b.d.tot_pages + arg
        else:
            b.call("set_limits", *arg)
        check_state(b)
    assert b.m.hv.check_invariants() == []


# ---- the compiled driver against the reference interpreter, after a real init ----------------

class DomainMemory:
    """The domain's kernel address space for the interpreter: what the
    compiled code sees, through the same page tables."""

    def __init__(self, g: GuestMemory):
        self.g = g

    def read(self, va: int, n: int) -> bytes:
        try:
            return self.g.read(va, n)
        except GuestFault:
            raise MemoryFault(va, n) from None

    def write(self, va: int, data: bytes) -> None:
        try:
            self.g.write(va, data)
        except GuestFault:
            raise MemoryFault(va, len(data), write=True) from None


class Interpreted:
    """The same driver, run by pvdsl.interp on a second, identical host:
    its memory is that domain's, its hypercalls go to that host's model."""

    def __init__(self, b: Balloon):
        self.b = b
        arch = b.m.built.target.arch
        self.interp = Interpreter(b.m.built.program.view(arch.name), b.m.built.name)
        v, mask = b.d.vcpus[0], (1 << arch.word_bits) - 1
        self.hypercalls: list[tuple[str, int]] = []

        def hypercall(name: str, number: int, args: tuple) -> int:
            rc = b.m.hv.hypercall(v, number, [a & mask for a in args])
            self.hypercalls.append((name, rc))
            return rc

        self.state = State(DomainMemory(b.g), CpuState(), symbol_address=b.m.loaded.symbols.__getitem__,
                           hypercall=hypercall, stack_top=b.d.kernel.stack_tops[0] - 256)

    def call(self, hook: str, *args: int) -> tuple[int, list]:
        self.hypercalls = []
        r = self.interp.call_hook(f"{OPS}.{hook}", list(args), self.state)
        assert r.fault is None, r.fault.message
        return r.value, self.hypercalls


def snapshot(b: Balloon) -> dict:
    d = b.d
    return {"vars": {s: b.g.read(b.m.loaded.symbols[s], b.word) for s in b.m.loaded.symbols
                     if s.startswith("balloon_")},
            "p2m": b.g.read(d.kernel.p2m_va, b.nr * b.word), "pool": b.g.read(b.pool, b.nr * b.word),
            "list": b.g.read(b.ballooned, b.nr * b.word), "frames": b.g.read(b.frames, PAGE_SIZE),
            "xen": (d.tot_pages, dict(d.p2m), b.m.hv.mem.free_frames)}


@pytest.mark.parametrize("target", DOMU_TARGETS)
def test_compiled_driver_agrees_with_the_interpreter_after_init(target):
    compiled, twin = booted(target, init=False), booted(target, init=False)
    ref = Interpreted(twin)
    k = compiled.d.kernel
    assert snapshot(compiled) == snapshot(twin)  # two identical hosts
    steps = [("init", k.p2m_va, compiled.nr, compiled.pool, len(compiled.free), compiled.ballooned,
              compiled.frames),
             ("set_target", 0), ("process",), ("increase_reservation", 700), ("max_pages", 300),
             ("set_target", compiled.nr), ("process",), ("process",), ("max_pages", 10 ** 6), ("process",),
             ("decrease_reservation", 1500), ("set_limits", 4, 2), ("max_pages", 0), ("set_target", 12000),
             ("process",), ("process",), ("process",), ("floor_pages",), ("current_reservation",)]
    for hook, *args in steps:
        if hook == "max_pages":
            for b in (compiled, twin):
                b.d.max_pages = b.d.tot_pages + args[0]
            continue
        value = compiled.call(hook, *args)
        want = [(name, rc) for name, rc in compiled.last.hypercalls]
        assert ref.call(hook, *args) == (value, want), hook
        assert snapshot(compiled) == snapshot(twin), hook
