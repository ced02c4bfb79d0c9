"""Machine memory's scrub: freed frames read as zeros; the ones the host
holds in RAM stay there (zeroed in place), the others go back untouched."""

from __future__ import annotations

from pvdsl.runtime.xen.memory import MachineMemory


def _free(mem, frames):
    for m in frames:
        mem.owner[m] = 1
        mem.release(m)


def test_scrub_zeroes_frames_in_ram_in_place():
    mem = MachineMemory(64)
    lo = mem.alloc(5)  # 32 frames
    for m in range(lo, lo + 32, 2):  # every other frame written: in RAM
        mem.write(m << 12, b"secret" * 100)
    held = mem.in_ram(lo, lo + 32)
    assert held[::2].all() and not held[1::2].any()
    _free(mem, range(lo, lo + 32))
    mem.scrub()
    # the written frames are still in RAM (a restore into them faults nothing); the others were never brought in
    after = mem.in_ram(lo, lo + 32)
    assert after[::2].all() and not after[1::2].any()
    assert mem.mm[lo << 12:(lo + 32) << 12] == bytes(32 << 12)


def test_scrub_gives_back_frames_not_in_ram():
    mem = MachineMemory(1024)
    lo = mem.alloc(9)  # 512 frames
    assert not mem.in_ram(lo, lo + 512).any()
    _free(mem, range(lo, lo + 512))
    mem.scrub()
    assert not mem.in_ram(lo, lo + 512).any()
    assert mem.read(lo << 12, 4096) == bytes(4096)


def test_prealloc_commits_every_frame_at_start():
    lazy, ready = MachineMemory(2048), MachineMemory(2048, prealloc=True)
    assert not lazy.in_ram(0, 2048).any()
    assert ready.in_ram(0, 2048).all()
    # and keeps them when they are freed again: scrubbing zeroes in place
    lo = ready.alloc(10)
    ready.write(lo << 12, b"x" * 4096)
    _free(ready, range(lo, lo + 1024))
    ready.scrub()
    assert ready.in_ram(0, 2048).all() and ready.read(lo << 12, 4096) == bytes(4096)
