"""build_store: a build one process made is taken from disk by another while
nothing it read has changed, never after an edit, never when the store is
off or damaged; and a guest boots from a build taken so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pvdsl.arch import TARGETS
from pvdsl.runtime.session import build_store, machine
from pvdsl.runtime.session.machine import build_backends_cached

ROOT = Path(__file__).resolve().parents[3]
TARGET = TARGETS["x86_64-domu"]
COMPILE = machine.build_backends


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("PVDSL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(machine, "_BUILT", {})
    path = tmp_path / "src" / "irq.pv"
    path.parent.mkdir()
    shutil.copy(ROOT / "examples" / "irq.pv", path)
    return path


def another_process(monkeypatch) -> list:
    """What a new process sees: no build in memory; compiling is counted."""
    machine._BUILT.clear()
    compiled = []

    def counting(spec, *args, **kwargs):
        if "drivers" not in Path(spec).parts:  # the guest's drivers are built apart (build_driver)
            compiled.append(spec)
        return COMPILE(spec, *args, **kwargs)

    monkeypatch.setattr(machine, "build_backends", counting)
    return compiled


def test_a_stored_build_is_taken_until_a_file_it_read_changes(spec, monkeypatch):
    first = build_backends_cached(spec, TARGET)
    assert list((spec.parent.parent / "cache" / "builds").glob("*.pickle"))
    compiled = another_process(monkeypatch)
    again = build_backends_cached(spec, TARGET)
    assert not compiled and again is not first
    assert [(b.name, b.obj, b.manifest, b.signatures) for b in again] == \
        [(b.name, b.obj, b.manifest, b.signatures) for b in first]
    build_backends_cached(spec, TARGETS["i386-domu"])  # per target
    assert len(compiled) == 1
    spec.write_text(spec.read_text() + "\n// edited\n")
    compiled = another_process(monkeypatch)
    build_backends_cached(spec, TARGET)
    assert len(compiled) == 1
    (spec.parent / "other.pv").write_text("// a new file an import could find\n")
    compiled = another_process(monkeypatch)
    build_backends_cached(spec, TARGET)
    assert len(compiled) == 1


def test_off_or_damaged_means_a_build(spec, monkeypatch):
    build_backends_cached(spec, TARGET)
    for entry in (spec.parent.parent / "cache" / "builds").glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    compiled = another_process(monkeypatch)
    assert build_backends_cached(spec, TARGET) and len(compiled) == 1
    monkeypatch.setenv("PVDSL_CACHE_DIR", "off")
    compiled = another_process(monkeypatch)
    build_backends_cached(spec, TARGET)
    compiled2 = another_process(monkeypatch)
    build_backends_cached(spec, TARGET)
    assert len(compiled) == len(compiled2) == 1


def test_a_guest_boots_from_a_build_taken_from_disk(spec, monkeypatch):
    from pvdsl.runtime.host.server import Host

    build_backends_cached(spec, TARGET)
    compiled = another_process(monkeypatch)
    host = Host(256 << 20, 32 << 20)
    out = host.handle({"op": "create", "name": "g", "target": TARGET.name, "spec": str(spec), "memory": 64 << 20})
    assert not compiled and out["vm"]["name"] == "g" and out["status"] == "ok" and host.vms["g"].status == "ok"


def test_the_store_keeps_at_most_its_limit(spec, monkeypatch):
    monkeypatch.setattr(build_store, "MAX_ENTRIES", 4)
    built = build_backends_cached(spec, TARGET)
    for i in range(9):
        build_store.store(("key", i), (), built)
    assert len(list((spec.parent.parent / "cache" / "builds").glob("*.pickle"))) <= 4
