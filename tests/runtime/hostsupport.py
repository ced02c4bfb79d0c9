"""A real `pvdsl host start` in a subprocess, as a second shell runs it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from pvdsl.runtime.host.server import request

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "import sys; from pvdsl.cli.host import main_host; sys.exit(main_host(sys.argv[1:]))"


@contextlib.contextmanager
def served_host(sock: str, memory: str = "256M", *extra: str, wait_for: str | None = None):
    """Start a host on `sock`; yield its process once `wait_for` (default:
    the socket) exists; stop it (or kill it) afterwards."""
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "host", "start", "--socket", sock, "--memory", memory,
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(wait_for or sock):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "host did not start"
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            try:
                request(sock, {"op": "stop"}, timeout=10)
                proc.wait(20)
            except Exception:
                proc.kill()
                proc.wait(5)
        if os.path.exists(sock):
            os.unlink(sock)
