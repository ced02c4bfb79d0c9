"""A real VNC client (vncdotool) for the tests, with the two things its
defaults get wrong for a test suite: every call is bounded (its proxy waits
forever by default), and Twisted's reactor, which cannot be restarted once
stopped, is stopped only once, when the whole session ends (conftest)."""

from __future__ import annotations

from vncdotool import api
from vncdotool.client import VNCDoToolFactory

TIMEOUT = 30.0  # seconds a connect, capture or disconnect may take before the test fails


def vnc_connect(port: int, factory_class: type = VNCDoToolFactory, host: str = "127.0.0.1"):
    return api.connect(f"{host}::{port}", factory_class=factory_class, timeout=TIMEOUT)


def stop_reactor() -> None:
    api.shutdown()
