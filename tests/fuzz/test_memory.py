"""The interpreter's memory in the batch (pvdsl/fuzz/memory.py): the access
log and its replay, which lets a kept interpreter run stand in for a new
one only when every read would see the same bytes."""

from __future__ import annotations

import pytest

from pvdsl.fuzz.memory import OverlayMemory
from pvdsl.interp import MemoryFault

PAGE = 4096
A, B = 0x10000, 0x20000  # two watched pages


def overlay() -> OverlayMemory:
    before = {A: bytes(range(256)) * 16, B: bytes(PAGE)}
    return OverlayMemory(before, lambda page, write=False: None, lambda ma, n: bytes(n))


def logged_run(mem: OverlayMemory) -> list:
    """Read a byte, write it elsewhere plus one, read back what was written."""
    mem.log = []
    v = mem.read(A + 5, 1)[0]
    mem.write(B + 8, bytes((v + 1,)))
    assert mem.read(B + 8, 1) == bytes((v + 1,))
    log, mem.log = mem.log, None
    return log


def test_the_log_holds_every_access_in_order():
    assert logged_run(overlay()) == [("r", A + 5, b"\x05"), ("w", B + 8, b"\x06"), ("r", B + 8, b"\x06")]


def test_a_log_replays_where_every_read_sees_the_same_bytes():
    log = logged_run(overlay())
    mem = overlay()
    mem.write(B + 8, b"\xff")  # read by the log, but only after the log itself wrote it
    generation = mem.generation
    assert mem.replay(log)
    assert mem.read(B + 8, 1) == b"\x06" and mem.generation == generation + 1


def test_a_log_whose_read_would_differ_changes_nothing():
    log = logged_run(overlay())
    mem = overlay()
    mem.write(A + 5, b"\x09")  # the byte the run read first
    assert not mem.replay(log)
    assert mem.final(B) == bytes(PAGE)  # its write was not made


def test_a_read_that_would_fault_is_a_miss_not_an_error():
    mem = overlay()
    mem.log = []
    mem.read(A, 4)
    log, mem.log = mem.log, None
    unmapped = OverlayMemory({}, lambda page, write=False: None, lambda ma, n: bytes(n))
    with pytest.raises(MemoryFault):
        unmapped.read(A, 4)
    assert not unmapped.replay(log)
