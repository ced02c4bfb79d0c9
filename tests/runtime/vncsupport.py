"""A real VNC client (vncdotool) for the tests, with the two things its
defaults get wrong for a test suite: every call is bounded (its proxy waits
forever by default), and Twisted's reactor, which cannot be restarted once
stopped, is stopped only once, when the whole session ends (conftest).
Also free port pairs for the host's VNC servers."""

from __future__ import annotations

import random
import socket

from vncdotool import api
from vncdotool.client import VNCDoToolFactory

TIMEOUT = 30.0  # seconds a connect, capture or disconnect may take before the test fails


def vnc_connect(port: int, factory_class: type = VNCDoToolFactory, host: str = "127.0.0.1"):
    return api.connect(f"{host}::{port}", factory_class=factory_class, timeout=TIMEOUT)


def free_port() -> int:
    """A port P with P + 1 free too (a second VM's display), below the
    kernel's ephemeral range, where no client connection can take P + 1
    in the meantime."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 30000, 2)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise AssertionError("no two free ports in 20000-30000")


def stop_reactor() -> None:
    api.shutdown()
