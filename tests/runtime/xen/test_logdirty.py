"""Log-dirty mode over machine memory: every write path marks its frames
(the host's own writes, a numpy view's, the kernel's read(2) into a frame,
an emulated vCPU's store), a clean reports each written frame once and
protects it again, frames not asked about are left alone, and a second
tracker of the same memory is refused while the first is on."""

from __future__ import annotations

import numpy as np
import pytest
import unicorn
from unicorn.x86_const import UC_X86_REG_RAX, UC_X86_REG_RDI

from pvdsl.runtime.xen.logdirty import LogDirty, LogDirtyUnavailable
from pvdsl.runtime.xen.memory import PAGE_SIZE, MachineMemory


@pytest.fixture(params=[True, False], ids=["prealloc", "lazy"])
def mem(request):
    return MachineMemory(4096, prealloc=request.param)


def test_each_write_path_marks_its_frames_once(mem, tmp_path):
    ld = LogDirty(mem)
    try:
        everything = np.arange(mem.nframes)
        ld.clean(everything)  # tracking starts: what was written before is forgotten
        assert ld.clean(everything).tolist() == []
        mem.write(7 * PAGE_SIZE + 100, b"host")
        np.frombuffer(mem.mm, dtype=np.uint8)[300 * PAGE_SIZE] = 1
        mem.mm[301 * PAGE_SIZE:303 * PAGE_SIZE] = bytes(2 * PAGE_SIZE)  # zeros are a write too
        data = tmp_path / "f"
        data.write_bytes(b"x" * 3 * PAGE_SIZE)
        with open(data, "rb", buffering=0) as f:
            assert f.readinto(memoryview(mem.mm)[1000 * PAGE_SIZE:1003 * PAGE_SIZE]) == 3 * PAGE_SIZE
        uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
        uc.mem_map_ptr(0, mem.size, unicorn.UC_PROT_ALL, mem.host_address)
        code = bytes([0x48, 0x89, 0x07])  # mov [rdi], rax
        mem.write(4000 * PAGE_SIZE, code)  # the code's own frame: a host write
        uc.reg_write(UC_X86_REG_RDI, 2500 * PAGE_SIZE + 8)
        uc.reg_write(UC_X86_REG_RAX, 0x1234)
        uc.emu_start(4000 * PAGE_SIZE, 4000 * PAGE_SIZE + len(code))
        assert mem.u8(2500 * PAGE_SIZE + 8) == 0x34
        assert ld.clean(everything).tolist() == [7, 300, 301, 302, 1000, 1001, 1002, 2500, 4000]
        assert ld.clean(everything).tolist() == []  # protected again
        uc.emu_start(4000 * PAGE_SIZE, 4000 * PAGE_SIZE + len(code))  # the same store again: dirty again
        assert ld.clean(everything).tolist() == [2500]
    finally:
        ld.close()


def test_a_clean_looks_only_at_the_frames_asked_about(mem):
    ld = LogDirty(mem)
    try:
        ld.clean(np.arange(mem.nframes))
        for m in (10, 11, 12, 500, 3000):
            mem.write(m * PAGE_SIZE, b"w")
        assert ld.clean(np.array([500, 12, 11, 12, 2999, 3001])).tolist() == [11, 12, 500]
        # the frames not asked about keep their mark for a later clean
        assert ld.clean(np.arange(mem.nframes)).tolist() == [10, 3000]
        with pytest.raises(ValueError):
            ld.clean(np.array([mem.nframes]))
    finally:
        ld.close()


def test_one_tracker_at_a_time_then_writes_go_on_untracked(mem):
    ld = LogDirty(mem)
    with pytest.raises(LogDirtyUnavailable) as err:
        LogDirty(mem)
    assert "UFFDIO_REGISTER" in str(err.value)
    ld.clean(np.arange(mem.nframes))
    ld.close()
    mem.write(5 * PAGE_SIZE, b"after")  # no tracker: the write just happens
    assert mem.read(5 * PAGE_SIZE, 5) == b"after"
    again = LogDirty(mem)  # and the memory can be tracked again
    again.close()
