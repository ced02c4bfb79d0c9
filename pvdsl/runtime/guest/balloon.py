"""The kernel side of the memory balloon: what Linux's xen-balloon.c and the
balloon's workqueue do around the driver.

The driver itself is the shipped `drivers.balloon` module (its header says
what each hook and variable is), compiled for the domain's target and run on
its vCPU: it keeps the ballooned pfn list and the p2m in guest memory and
issues the memory_op hypercalls. This module gives it its arrays at start
(the kernel's free pages, an empty ballooned list, a one-page frame list),
watches `memory/target` over the kernel's own store ring (xenbus.py) and
hands the new target to the driver, plays the workqueue (process() again
after the driver's schedule_delay seconds while it answers BP_EAGAIN), and
publishes the numbers Linux shows in /sys/devices/system/xen_memory/
xen_memory0/info (current_kb, low_kb, high_kb, and target_kb) under the
domain's own `data/balloon/` in xenstore, the part of its home a guest may
write.
"""

from __future__ import annotations

from ..errors import RuntimeSetupError
from ..xen.memory import PAGE_SHIFT, PAGE_SIZE
from .kernel import DRIVERS

STATES = {0: "done", 1: "wait", 2: "eagain", 3: "canceled"}  # Linux's enum bp_state
PUBLISHED = ("current_kb", "target_kb", "low_kb", "high_kb")
# The driver's variables the kernel reads (drivers/balloon.pv's header).
VARS = {"current": "balloon_current_pages", "target": "balloon_target_pages", "low": "balloon_low",
        "high": "balloon_high", "delay": "balloon_schedule_delay", "retries": "balloon_retry_count",
        "pool_len": "balloon_pool_len", "ballooned": "balloon_nr_ballooned"}
KIB_PER_PAGE = PAGE_SIZE >> 10


class BalloonError(Exception):
    pass


class Balloon:
    def __init__(self, kernel):
        self.k = kernel
        self.drv = kernel.load_driver(DRIVERS / "balloon.pv")
        d = kernel.domain
        self.word = d.rt.word
        free = kernel.take_free_list()
        n = d.kernel.nr_pages
        try:
            self.pool_va = d.kernel.alloc(max(n, 1) * self.word, PAGE_SIZE, "balloon pool (free pfns)")
            self.ballooned_va = d.kernel.alloc(max(n, 1) * self.word, PAGE_SIZE, "balloon list")
            self.frames_va = d.kernel.alloc(PAGE_SIZE, PAGE_SIZE, "balloon frame list")
        except RuntimeSetupError as err:
            raise RuntimeSetupError(f"{err} (a balloon needs GuestKernel.kernel_bytes_for(memory))") from None
        kernel.write_va(self.pool_va, d.abi.pack_words(free))
        self._call("init", d.kernel.p2m_va, n, self.pool_va, len(free), self.ballooned_va, self.frames_va)
        self.due: float | None = None
        self.state = "done"
        self.bad_targets = 0  # memory/target values that were not a number of KiB
        self.runs = 0
        self._published: dict[str, int] = {}
        self.publish()
        self.watch = kernel.xenbus.watch("memory/target", self._target_changed)

    def _call(self, hook: str, *args: int) -> int:
        r = self.drv.call(f"xen_balloon_ops.{hook}", *args)
        if r.fault is not None:
            raise BalloonError(f"xen_balloon_ops.{hook} faulted: {r.fault.describe()}")
        return r.value

    def _var(self, key: str) -> int:
        va = self.drv.symbol(VARS[key])
        return int.from_bytes(self.k.read_va(va, self.word), "little")

    def _set_var(self, key: str, value: int) -> None:
        self.k.write_va(self.drv.symbol(VARS[key]), value.to_bytes(self.word, "little"))

    # ---- xenstore ----
    def _target_changed(self, _path: str) -> None:
        raw = self.k.xenbus.read("memory/target")
        try:
            kib = int(raw or "")
        except ValueError:
            self.bad_targets += 1  # xen-balloon.c's watch ignores what sscanf cannot read
            return
        if kib < 0:
            self.bad_targets += 1
            return
        self.set_target_kib(kib)

    def set_target_kib(self, kib: int) -> None:
        """balloon_set_new_target(kib >> (PAGE_SHIFT - 10)), then schedule the work now."""
        pages = min(kib >> (PAGE_SHIFT - 10), (1 << (8 * self.word)) - 1)
        self._call("set_target", pages)
        self.due = self.k.clock()

    def publish(self) -> None:
        """data/balloon/{current,target,low,high}_kb, each written when it changed."""
        s = self.stats()
        for key in PUBLISHED:
            if self._published.get(key) != s[key]:
                self.k.xenbus.write(f"data/balloon/{key}", str(s[key]))
                self._published[key] = s[key]

    def resumed(self) -> None:
        """In a new domain: what data/balloon says is the new domain's to
        write (its nodes are the toolstack's fresh ones); the work runs once,
        toward the target the driver kept."""
        self._published.clear()
        self.due = self.k.clock()

    # ---- the workqueue ----
    def run_due(self, now: float) -> int:
        if self.due is None or now < self.due:
            return 0
        code = self._call("process") & 0xFFFFFFFF
        self.runs += 1
        self.state = STATES.get(code, f"bad state {code}")
        self.due = now + self._var("delay") if self.state == "eagain" else None
        self.publish()
        return 1

    def settle(self, max_runs: int = 64) -> str:
        """Run the work until it is done or cancelled, without waiting for its
        delays (a test's or a benchmark's clock); the final state."""
        for _ in range(max_runs):
            if self.due is None:
                break
            self.due = min(self.due, self.k.clock())
            self.run_due(self.k.clock())
        return self.state

    def stats(self) -> dict:
        v = {key: self._var(key) for key in VARS}
        return {"current_kb": v["current"] * KIB_PER_PAGE, "target_kb": v["target"] * KIB_PER_PAGE,
                "low_kb": v["low"] * KIB_PER_PAGE, "high_kb": v["high"] * KIB_PER_PAGE,
                "schedule_delay": v["delay"], "retry_count": v["retries"], "pool_pages": v["pool_len"],
                "ballooned_pages": v["ballooned"], "state": self.state}

    # ---- the kernel's page allocator, once the balloon holds the free pages ----
    def take_from_pool(self, n: int) -> list[int]:
        left = self._var("pool_len")
        if n > left:
            raise RuntimeSetupError(f"{self.k.domain.name}: {n} free pages asked, {left} left")
        raw = self.k.read_va(self.pool_va + (left - n) * self.word, n * self.word)
        self._set_var("pool_len", left - n)
        return [int.from_bytes(raw[i:i + self.word], "little") for i in range(0, len(raw), self.word)]
