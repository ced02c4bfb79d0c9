"""The kernel side of suspend and resume: what Linux's drivers/xen/manage.c
does around `drivers.suspend` (its header says what the hook does).

At start the kernel says what it can do (control/feature-suspend, as
setup_shutdown_watcher writes each feature) and watches control/shutdown.
When the toolstack writes `suspend` there, the kernel acknowledges in a
transaction (the node emptied, shutdown_handler), quiesces its devices and
calls the hook, which suspends the domain: Xen deschedules the vCPU inside
its hypercall, and `state` keeps where it stopped. Other requests
(poweroff, reboot ...) are acknowledged and counted: the runtime's guest
has no other shutdown path.

`resume` goes on from that state (this domain's, after a cancelled
suspend, or the one a restore put back in a new domain) until the hook
returns. With 0 (a new domain) the kernel comes back as do_suspend's
resume side does: its event channels rebound (xen_irq_resume: the new
domain has none but the toolstack's), xenstore reconnected with its
watches registered again (xs_resume), its frontends reconnected
(xenbus_dev_resume). With 1 (cancelled) nothing was lost and nothing is
redone.
"""

from __future__ import annotations

from collections import Counter

from .kernel import DRIVERS

HOOK = "xen_suspend_ops.suspend"
FEATURES = ("suspend",)


class SuspendError(Exception):
    pass


class Suspend:
    def __init__(self, kernel):
        self.k = kernel
        self.drv = kernel.load_driver(DRIVERS / "suspend.pv")
        self.state: dict[str, int] | None = None  # the vCPU inside its suspend hypercall
        self.requests: Counter = Counter()  # control/shutdown values seen
        self.suspends = self.resumes = 0
        for feature in FEATURES:
            kernel.xenbus.write(f"control/feature-{feature}", "1")
        self.watch = kernel.xenbus.watch("control/shutdown", self._shutdown_changed)

    @property
    def suspended(self) -> bool:
        return self.state is not None

    def _shutdown_changed(self, _path: str) -> None:
        """shutdown_handler: read and empty the node in one transaction."""
        xb = self.k.xenbus
        while True:
            tx = xb.transaction_start()
            what = xb.read("control/shutdown", tx=tx)
            if not what:
                xb.transaction_end(tx, commit=False)
                return
            xb.write("control/shutdown", "", tx=tx)
            if xb.transaction_end(tx):
                break
        self.requests[what] += 1
        if what == "suspend" and not self.suspended:
            self.suspend()

    def suspend(self) -> None:
        """do_suspend up to the hypercall: devices quiesced, then the hook."""
        k, d = self.k, self.k.domain
        k.quiesce()
        si_va = d.start_info_va
        si_mfn = d.p2m[d.kernel.pfn_of(si_va)]
        res = self.drv.call(HOOK, si_va, si_mfn, d.kernel.p2m_va, d.kernel.nr_pages)
        if res.fault is not None:
            raise SuspendError(f"{HOOK} faulted: {res.fault.describe()}")
        if res.suspended is None:
            raise SuspendError(f"{HOOK} returned {self._signed(res.value)} without suspending the domain")
        self.state = res.suspended
        self.suspends += 1

    def resume(self, state: dict[str, int] | None = None) -> int:
        """The hook's return from its hypercall, then the kernel's resume;
        the hypercall's result (0: a new domain, 1: cancelled)."""
        state = state if state is not None else self.state
        if state is None:
            raise SuspendError("the domain is not suspended")
        res = self.drv.caller.resume(HOOK, state)
        if res.fault is not None:
            raise SuspendError(f"{HOOK} faulted after its hypercall: {res.fault.describe()}")
        if res.suspended is not None:
            raise SuspendError(f"{HOOK} suspended again before returning")
        self.state = None
        self.resumes += 1
        value = self._signed(res.value)
        self.k.resumed(new_domain=value == 0)
        return value

    def _signed(self, v: int) -> int:
        bits = 8 * self.k.domain.rt.word
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v
