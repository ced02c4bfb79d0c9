"""The host's guests keep running between requests: one thread gives each
guest kernel its turn (GuestKernel.poll: event channels, xenstore watches,
delayed work), so that a `xenstore-write .../memory/target` from another
shell balloons the guest without any pvdsl command.

Every guest runs under the host's lock, the one requests and the xenstore
socket take too: the hypervisor model is single-threaded. A guest whose
kernel fails (a driver hook faults, its store ring breaks) is marked
crashed with the reason, and the others go on.
"""

from __future__ import annotations

import threading

POLL_SECONDS = 0.02


def run_guest(vm) -> int:
    """One turn of one guest's kernel; a failure crashes that guest only."""
    from ..errors import RuntimeSetupError
    from ..guest.balloon import BalloonError
    from ..guest.xenbus import XenbusError

    kernel = getattr(vm, "kernel", None)
    if kernel is None or vm.status != "ok" or vm.paused:
        return 0
    from ..guest.xenfb import XenfbError
    from .framebuffers import turn

    try:
        return kernel.poll() + turn(vm)
    except (XenbusError, BalloonError, RuntimeSetupError, XenfbError) as err:
        vm.status = "crashed"
        vm.crash_reason = f"guest kernel: {err}"
        return 0


class GuestLoop:
    def __init__(self, host, interval: float = POLL_SECONDS):
        self.host, self.interval = host, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pvdsl-guests", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self.host.lock:
                for vm in list(self.host.vms.values()):
                    run_guest(vm)
