"""The guest kernel's drivers: warm_drivers compiles them into the very
cache entries a booting domain's load_driver asks for, so that a host that
warmed up (`host start --listen`) compiles nothing when a guest arrives."""

from __future__ import annotations

from pathlib import Path

from pvdsl.runtime.guest.kernel import build_driver, warm_drivers
from pvdsl.runtime.host.server import Host

SPEC = str(Path(__file__).resolve().parents[3] / "examples" / "irq.pv")
MIB = 1 << 20


def test_a_warmed_host_compiles_no_driver_for_an_arriving_guest():
    warm_drivers()
    misses = build_driver.cache_info().misses
    host = Host(128 * MIB, 32 * MIB)
    for target in ("i386-domu", "x86_64-domu"):
        out = host.handle({"op": "create", "name": target, "target": target, "spec": SPEC, "memory": 16 * MIB,
                           "fb": "320x200"})
        assert out["status"] == "ok"
    assert build_driver.cache_info().misses == misses
