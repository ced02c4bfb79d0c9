"""Helpers for the runtime tests: specs built once per session, small machines."""

from __future__ import annotations

import functools
from pathlib import Path

from pvdsl.arch import TARGETS
from pvdsl.runtime.host.builder import MIB
from pvdsl.runtime.session.machine import Machine, build_backends

ROOT = Path(__file__).resolve().parents[2]
XEN_TARGETS = ["i386-domu", "i386-dom0", "x86_64-domu", "x86_64-dom0"]


@functools.lru_cache(maxsize=None)
def built(spec: str, target: str, backend: str | None = None):
    path = Path(spec) if Path(spec).is_absolute() else ROOT / spec
    out = build_backends(path, TARGETS[target], backend=backend)
    assert out, f"{spec} has no backend for {target}"
    return out[0]


def machine(spec: str, target: str, backend: str | None = None, **kw) -> Machine:
    kw.setdefault("memory", 16 * MIB)
    kw.setdefault("dom0_memory", 16 * MIB)
    return Machine(built(spec, target, backend), **kw)


def write_spec(tmp_path, text: str, name: str = "spec.pv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p
