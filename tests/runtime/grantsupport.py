"""A dom0 + domU host where both kernels run generated code on emulated
vCPUs: the grant and foreign-mapping tests issue their hypercalls from
there (hook -> hypercall page -> syscall / int $0x82 -> the model) and
touch memory through the vCPUs' own page walks."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from pvdsl.arch import TARGETS
from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.cpu.calls import HookCaller
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.guest.loader import load_object
from pvdsl.runtime.xen.paging import translate, walk
from pvdsl.runtime.session.machine import build_backends
from pvdsl.runtime.cpu.vcpu import EmulatedCpu

SPEC = """\
module tests.grant_ops;
import xen.abi;

// What a kernel's grant and privcmd code does, one hook per hypercall.
table gnt_test_ops {
    gnttab(cmd: u32, uop: ulong, count: u32) -> long;
    memop(cmd: u32, arg: ulong) -> long;
    mmu(ptr: u64, val: u64, dom: u32) -> long;
    set_va(va: ulong, pte: u64) -> long;
    set_va_other(va: ulong, pte: u64, dom: u32) -> long;
    peek(p: ptr<u64>) -> u64;
    poke(p: ptr<u64>, value: u64);
}

backend gnt_test for i386, x86_64 roles domu, dom0 {
    impl gnt_test_ops.gnttab(cmd: u32, uop: ulong, count: u32) -> long {
        return grant_table_op(cmd, uop as handle<void>, count);
    }
    impl gnt_test_ops.memop(cmd: u32, arg: ulong) -> long {
        return memory_op(cmd, arg as handle<void>);
    }
    impl gnt_test_ops.mmu(ptr: u64, val: u64, dom: u32) -> long {
        var u: mmu_update;
        u.ptr = ptr;
        u.val = val;
        return mmu_update(&u as handle<mmu_update>, 1, null, dom as domid_t);
    }
    impl gnt_test_ops.set_va(va: ulong, pte: u64) -> long {
        when i386 {
            return update_va_mapping(va, pte as u32, (pte >> 32) as u32, UVMF_INVLPG | UVMF_LOCAL);
        } else {
            return update_va_mapping(va, pte, UVMF_INVLPG | UVMF_LOCAL);
        }
    }
    impl gnt_test_ops.set_va_other(va: ulong, pte: u64, dom: u32) -> long {
        when i386 {
            return update_va_mapping_otherdomain(va, pte as u32, (pte >> 32) as u32, UVMF_INVLPG | UVMF_LOCAL,
                                                 dom as domid_t);
        } else {
            return update_va_mapping_otherdomain(va, pte, UVMF_INVLPG | UVMF_LOCAL, dom as domid_t);
        }
    }
    impl gnt_test_ops.peek(p: ptr<u64>) -> u64 {
        return *p;
    }
    impl gnt_test_ops.poke(p: ptr<u64>, value: u64) {
        *p = value;
    }
}
"""

PTE_RW = 0x63  # present, writable, accessed, dirty
PTE_RO = 0x21  # present, accessed


@functools.lru_cache(maxsize=None)
def built(target: str):
    """The backend for a target, compiled once per test session."""
    path = Path(tempfile.mkdtemp(prefix="pvdsl-grant-test-")) / "grant_ops.pv"
    path.write_text(SPEC)
    (out,) = build_backends(path, TARGETS[target])
    return out


class Kernel:
    """One domain with the test backend loaded on its vCPU 0."""

    def __init__(self, host, d, target: str):
        self.host, self.d, self.hv = host, d, host.hv
        b = built(target)
        self.cpu = EmulatedCpu(self.hv, d.vcpus[0])
        loaded = load_object(self.hv, d, b.obj, b.manifest, b.signatures, [self.cpu], name=f"gnt_test-{target}.o")
        self.caller = HookCaller(self.cpu, loaded)
        self.scratch = d.kernel.alloc(2 * 4096, 4096, "test arguments")
        self.word = d.rt.word

    @property
    def abi(self):
        return self.d.abi

    def c(self, name: str) -> int:
        return self.d.abi.c(name)

    def call(self, hook: str, *args: int):
        return self.caller.call(f"gnt_test_ops.{hook}", *args)

    def rc(self, hook: str, *args: int) -> int:
        """The hook's result (a hypercall's), signed; the hook must have returned."""
        r = self.call(hook, *args)
        assert r.ok, r.fault.describe() if r.fault else r.abi_violations
        bits = 8 * self.word
        return r.value - (1 << bits) if r.value >> (bits - 1) else r.value

    def hypercall(self, hook: str, name: str, *args: int) -> int:
        r = self.call(hook, *args)
        assert r.ok, r.fault.describe() if r.fault else r.abi_violations
        assert [h for h, _ in r.hypercalls] == [name], r.hypercalls  # went through the vCPU's hypercall path
        return r.hypercalls[0][1]

    def gnttab(self, cmd: str, uop: int, count: int = 1) -> int:
        return self.hypercall("gnttab", "grant_table_op", self.c(cmd), uop, count)

    def peek(self, va: int):
        """(value, fault) of a load the kernel makes at `va`."""
        r = self.call("peek", va)
        return (r.value if r.ok else None), r.fault

    def poke(self, va: int, value: int):
        r = self.call("poke", va, value)
        return r.fault

    # ---- memory as the kernel prepares it (arguments, by its own mapping) ----
    def ma(self, va: int) -> int:
        return translate(self.hv.mem, self.d.rt, self.d.vcpus[0].guest_table, va)

    def put(self, va: int, data: bytes) -> int:
        self.hv.mem.write(self.ma(va), data)
        return va

    def get(self, va: int, n: int) -> bytes:
        return self.hv.mem.read(self.ma(va), n)

    def struct(self, name: str, off: int = 0, **fields) -> int:
        """Write struct `name` at scratch+off; a field path's dots are `__`."""
        buf = bytearray(self.abi.size(name))
        for path, value in fields.items():
            self.abi.put(buf, name, path.replace("__", "."), value)
        return self.put(self.scratch + off, bytes(buf))

    def field(self, name: str, va: int, path: str) -> int:
        return self.abi.get(self.get(va, self.abi.size(name)), name, path.replace("__", "."))

    def page(self, what: str) -> tuple[int, int]:
        """(va, mfn) of a fresh page of the kernel's mapping."""
        va = self.d.kernel.alloc(4096, 4096, what)
        return va, self.ma(va) >> 12

    def pte_maddr(self, va: int) -> int:
        """Machine address of the L1 entry mapping `va`."""
        w = walk(self.hv.mem, self.d.rt, self.d.vcpus[0].guest_table, va)
        return w.tables[-1] + self.d.rt.indices(va)[-1] * 8

    def spare_mfn(self, n: int = 0) -> int:
        """A frame of the domain outside its boot mapping (nothing maps it)."""
        k = self.d.kernel
        return self.d.p2m[((k.v_end - k.virt_base) >> 12) + 40 + n]


class Host:
    """dom0 (privileged) and a domU, both running the test backend."""

    def __init__(self, dom0_arch: str, domu_arch: str | None = None):
        domu_arch = domu_arch or dom0_arch
        self.hv = Hypervisor(48 * MIB)
        d0 = build_pv_domain(self.hv, dom0_arch, 12 * MIB, 0, True)
        du = build_pv_domain(self.hv, domu_arch, 12 * MIB, 1, False, max_bytes=12 * MIB + 16 * 4096)
        self.dom0 = Kernel(self, d0, f"{dom0_arch}-dom0")
        self.domu = Kernel(self, du, f"{domu_arch}-domu")

    def invariants(self) -> list[str]:
        return self.hv.check_invariants()


PATTERN = 0x0123_4567_89AB_CDEF


def entry(k, ref: int, domid: int, frame: int, flags: int) -> int:
    buf = bytearray(k.abi.size("grant_entry_v1"))
    for name, value in (("flags", flags), ("domid", domid), ("frame", frame)):
        k.abi.put(buf, "grant_entry_v1", name, value)
    return int.from_bytes(buf, "little")


class Granter:
    """The domU's side: its grant table set up and mapped writable, as
    Linux's gnttab_init does, then entries written by the kernel's stores."""

    def __init__(self, k):
        self.k = k
        uop = k.struct("gnttab_setup_table", dom=k.c("DOMID_SELF"), nr_frames=1, frame_list=k.scratch + 4096)
        assert k.gnttab("GNTTABOP_setup_table", uop) == 0
        assert k.field("gnttab_setup_table", uop, "status") == 0
        self.frame = int.from_bytes(k.get(k.scratch + 4096, k.word), "little")
        self.va, _ = k.page("grant table mapping")
        assert k.rc("set_va", self.va, self.frame << 12 | PTE_RW) == 0

    def grant(self, ref: int, domid: int, frame: int, readonly: bool = False, flags: int | None = None) -> None:
        k = self.k
        if flags is None:
            flags = k.c("GTF_permit_access") | (k.c("GTF_readonly") if readonly else 0)
        assert k.poke(self.va + 8 * ref, entry(k, ref, domid, frame, flags)) is None

    def flags(self, ref: int) -> int:
        value, fault = self.k.peek(self.va + 8 * ref)
        assert fault is None
        return value & 0xFFFF


def map_grant(k, dom: int, ref: int, host_addr: int, flags: int | None = None, off: int = 0):
    """dom0's GNTTABOP_map_grant_ref of one op: (rc, status, handle, dev_bus_addr)."""
    flags = k.c("GNTMAP_host_map") if flags is None else flags
    uop = k.struct("gnttab_map_grant_ref", off, host_addr=host_addr, flags=flags, ref=ref, dom=dom)
    rc = k.gnttab("GNTTABOP_map_grant_ref", uop)
    S = "gnttab_map_grant_ref"
    return rc, k.field(S, uop, "status"), k.field(S, uop, "handle"), k.field(S, uop, "dev_bus_addr")


def unmap_grant(k, handle: int, host_addr: int, dev_bus_addr: int = 0) -> int:
    uop = k.struct("gnttab_unmap_grant_ref", 512, host_addr=host_addr, dev_bus_addr=dev_bus_addr, handle=handle)
    assert k.gnttab("GNTTABOP_unmap_grant_ref", uop) == 0
    return k.field("gnttab_unmap_grant_ref", uop, "status")


def granted_mapping(granter, mapper, ref: int, mfn: int):
    """`granter` grants its frame `mfn` to `mapper`, which maps it with
    GNTMAP_host_map: (the Granter, mapper's address, the handle)."""
    g = Granter(granter)
    g.grant(ref, mapper.d.domid, mfn)
    host_addr, _ = mapper.page("map target")
    _, status, handle, _ = map_grant(mapper, granter.d.domid, ref, host_addr)
    assert status == 0
    return g, host_addr, handle
