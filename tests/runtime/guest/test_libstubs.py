"""The kernel library routines the loader provides (memset, memcpy, memmove),
alone: their bytes against their listed instructions, then run on emulated
vCPUs of both arches in a Xen domain (the kernel's ring) with random sizes,
alignments and overlaps, compared with Python."""

from __future__ import annotations

import random

import capstone
import pytest

from pvdsl.arch import ARCHES
from pvdsl.runtime.guest import libstubs
from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.xen.paging import GuestMemory
from pvdsl.runtime.cpu.vcpu import EmulatedCpu
from pvdsl.target.objects import KERNEL_LIBRARY

ARCH_NAMES = ["i386", "x86_64"]
EFLAGS_DF = 1 << 10
BUFFER = 2 * 4096
GUARD = 0xA5


@pytest.mark.parametrize("arch", ARCH_NAMES)
@pytest.mark.parametrize("name", sorted(KERNEL_LIBRARY))
def test_bytes_are_the_listed_instructions(arch, name):
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if arch == "x86_64" else capstone.CS_MODE_32)
    code = libstubs.routine(arch, name)
    listed = libstubs.listing(arch, name)
    got = [(i.address, bytes(i.bytes), f"{i.mnemonic} {i.op_str}".strip()) for i in cs.disasm(code, 0)]
    assert got == listed
    assert sum(len(b) for _a, b, _t in listed) == len(code)


class Routines:
    """One vCPU of a small dom0 with the three routines placed in its kernel
    region, a call site per routine and a two-page buffer."""

    def __init__(self, arch: str):
        self.hv = Hypervisor(40 * MIB)
        self.d = build_pv_domain(self.hv, arch, 16 * MIB, 0, True)
        self.cpu = EmulatedCpu(self.hv, self.d.vcpus[0])
        self.arch = ARCHES[arch]
        self.rt = self.d.rt
        self.g = GuestMemory(self.hv.mem, self.rt, self.d.kernel.root_mfn)
        self.sites = {}
        for name in sorted(KERNEL_LIBRARY):
            entry = libstubs.install(self.d, name)
            site = self.d.kernel.alloc(8, 16, f"call site of {name}")
            # call rel32; int3 (the run stops on reaching the int3)
            self.g.write(site, b"\xe8" + ((entry - site - 5) & 0xFFFFFFFF).to_bytes(4, "little") + b"\xcc")
            self.sites[name] = site
        self.buf = self.d.kernel.alloc(BUFFER, 4096, "test buffer")
        self.stack_top = self.d.kernel.stack_tops[0] - 256

    def call(self, name: str, *args: int):
        regs = {r: 0x5EED0000 + 0x111 * i for i, r in enumerate(self.cpu.gprs.names)}
        for reg, value in zip(self.arch.kernel_arg_regs, args):
            regs[reg] = value
        regs[self.rt.sp] = self.stack_top
        before = dict(regs)
        site = self.sites[name]
        res = self.cpu.run(site, site + 5, regs, budget=100_000, timeout=5, label=name)
        assert res.fault is None, res.fault
        kept = list(self.arch.callee_saved) + [self.rt.sp]
        changed = {r: (hex(before[r]), hex(res.registers[r])) for r in kept if res.registers[r] != before[r]}
        assert not changed, f"{name} changed callee-saved registers: {changed}"
        assert not res.registers[self.rt.flags] & EFLAGS_DF, f"{name} returned with DF set"
        return res.registers[self.arch.kernel_ret_regs[0]] & ((1 << (8 * self.rt.word)) - 1)


@pytest.fixture(scope="module", params=ARCH_NAMES)
def routines(request):
    return Routines(request.param)


def _cases(seed: int, count: int):
    rng = random.Random(seed)
    for _ in range(count):
        n = rng.choice([0, 1, 2, 3, 7, 8, 15, 16, 31, 64, 255, 256, 1000, rng.randrange(0, 4096)])
        yield rng, n


def test_memset(routines):
    r = routines
    for rng, n in _cases(1, 60):
        r.g.write(r.buf, bytes([GUARD]) * BUFFER)
        off = rng.randrange(0, BUFFER - n + 1)
        value = rng.randrange(0, 1 << 32)  # only the low byte counts, as an int argument
        assert r.call("memset", r.buf + off, value, n) == r.buf + off
        want = bytearray([GUARD]) * BUFFER
        want[off:off + n] = bytes([value & 0xFF]) * n
        assert r.g.read(r.buf, BUFFER) == bytes(want), (off, n, value)


def test_memcpy(routines):
    r = routines
    half = BUFFER // 2
    for rng, n in _cases(2, 60):
        n = min(n, half)
        data = bytes(rng.randrange(256) for _ in range(BUFFER))
        r.g.write(r.buf, data)
        src = r.buf + rng.randrange(0, half - n + 1)
        dst = r.buf + half + rng.randrange(0, half - n + 1)
        assert r.call("memcpy", dst, src, n) == dst
        want = bytearray(data)
        want[dst - r.buf:dst - r.buf + n] = data[src - r.buf:src - r.buf + n]
        assert r.g.read(r.buf, BUFFER) == bytes(want), (src - r.buf, dst - r.buf, n)


def test_memmove_overlapping_both_ways(routines):
    r = routines
    seen = set()
    for rng, n in _cases(3, 120):
        data = bytes(rng.randrange(256) for _ in range(BUFFER))
        r.g.write(r.buf, data)
        src = rng.randrange(0, BUFFER - n + 1)
        # Half the cases overlap: the destination within n bytes of the source.
        if rng.random() < 0.5:
            dst = min(max(0, src + rng.randrange(-n, n + 1)), BUFFER - n)
        else:
            dst = rng.randrange(0, BUFFER - n + 1)
        seen.add("forward" if dst <= src or dst >= src + n else "backward")
        assert r.call("memmove", r.buf + dst, r.buf + src, n) == r.buf + dst
        want = bytearray(data)
        want[dst:dst + n] = data[src:src + n]
        assert r.g.read(r.buf, BUFFER) == bytes(want), (src, dst, n)
    assert seen == {"forward", "backward"}


def test_memmove_exact_overlaps(routines):
    r = routines
    data = bytes(range(256)) * 2
    for src, dst, n in [(0, 1, 511), (1, 0, 511), (10, 10, 100), (0, 256, 256), (256, 0, 256), (5, 6, 0)]:
        r.g.write(r.buf, data)
        r.call("memmove", r.buf + dst, r.buf + src, n)
        want = bytearray(data)
        want[dst:dst + n] = data[src:src + n]
        assert r.g.read(r.buf, len(data)) == bytes(want), (src, dst, n)


def test_loader_places_only_what_the_object_calls():
    from rtsupport import machine

    m = machine("pvdsl/specs/backends/xen_dom0.pv", "x86_64-dom0")
    assert set(m.loaded.library) == set(m.built.manifest["runtime_library_calls"]) == {"memcpy", "memset"}
    mem = GuestMemory(m.hv.mem, m.guest.rt, m.guest.kernel.root_mfn)
    for name, va in m.loaded.library.items():
        code = libstubs.routine("x86_64", name)
        assert mem.read(va, len(code) + 1) == code + b"\xcc"
        assert m.loaded.symbols[name] == va
