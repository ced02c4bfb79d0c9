"""The runtime tests' shared helpers (rtsupport, grantsupport, trapsupport,
hostsupport, fbsupport, vncsupport) live here; tests in the subfolders import
them by name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _vnc_reactor():
    """Twisted's reactor (vncdotool's) cannot start twice in one process:
    stop it once, after every test that may use it."""
    yield
    if "vncdotool.api" in sys.modules:
        from vncsupport import stop_reactor

        stop_reactor()
