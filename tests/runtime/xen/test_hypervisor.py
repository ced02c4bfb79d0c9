"""The hypervisor model on its own: hypercalls issued from a domain's vCPU
with arguments in its memory, checked against Xen's semantics and errno
values. (The emulated vCPUs reach the same entry point.)"""

from __future__ import annotations

import pytest

from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.errors import EEXIST, EFAULT, EINVAL, ENOENT, ENOSYS, EPERM, ESRCH
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.xen.memory import PAGE_SHIFT, PGT_L1, PGT_L2, PGT_WRITABLE
from pvdsl.runtime.xen.paging import translate


class Host:
    def __init__(self, arch: str):
        self.hv = Hypervisor(40 * MIB)
        self.dom0 = build_pv_domain(self.hv, arch, 12 * MIB, 0, True)
        self.domu = build_pv_domain(self.hv, arch, 12 * MIB, 1, False, max_bytes=12 * MIB + 16 * 4096)
        self.arch = arch
        self.scratch = {d.domid: d.kernel.alloc(8192, 4096, "test scratch") for d in (self.dom0, self.domu)}

    def abi(self, d=None):
        return (d or self.domu).abi

    def c(self, name):
        return self.domu.abi.c(name)

    def put(self, d, data: bytes, off: int = 0) -> int:
        va = self.scratch[d.domid] + off
        ma = translate(self.hv.mem, d.rt, d.kernel.root_mfn, va)
        self.hv.mem.write(ma, data)
        return va

    def get(self, d, va: int, n: int) -> bytes:
        return self.hv.mem.read(translate(self.hv.mem, d.rt, d.kernel.root_mfn, va), n)

    def struct(self, d, name: str, off: int = 0, **fields) -> int:
        buf = bytearray(d.abi.size(name))
        for path, value in fields.items():
            d.abi.put(buf, name, path.replace("__", "."), value)
        return self.put(d, bytes(buf), off)

    def field(self, d, va: int, name: str, path: str) -> int:
        return d.abi.get(self.get(d, va, d.abi.size(name)), name, path)

    def call(self, d, name: str, *args: int) -> int:
        info = d.abi.hypercalls[name]
        raw = list(args)
        if d.rt.word == 4:  # split 64-bit arguments the way the i386 ABI does
            raw = []
            names = [n for n, _t in info.args]
            it = iter(args)
            for n in names:
                if n.endswith("_hi"):
                    continue
                v = next(it)
                raw.append(v & 0xFFFFFFFF if n.endswith("_lo") else v)
                if n.endswith("_lo"):
                    raw.append(v >> 32)
        return self.hv.hypercall(d.vcpus[0], info.number, raw)


@pytest.fixture(params=["x86_64", "i386"])
def host(request):
    return Host(request.param)


def test_privileged_hypercalls_are_refused_to_a_domu(host):
    va = host.put(host.domu, (host.c("XENPF_settime64")).to_bytes(4, "little")
                  + host.c("XENPF_INTERFACE_VERSION").to_bytes(4, "little"))
    for name, args in [("platform_op", (va,)), ("sysctl", (va,)), ("domctl", (va,)), ("kexec_op", (0, va)),
                       ("dm_op", (0, 0, va)), ("console_io", (host.c("CONSOLEIO_write"), 2, va)), ("mca", (va,))]:
        assert host.call(host.domu, name, *args) == -EPERM, name
    va0 = host.put(host.dom0, host.get(host.domu, va, 8))
    assert host.call(host.dom0, "platform_op", va0) == 0


def test_console_io_writes_the_domain_log(host):
    va = host.put(host.dom0, b"hello from dom0\n")
    assert host.call(host.dom0, "console_io", host.c("CONSOLEIO_write"), 16, va) == 0
    assert host.dom0.console_text() == "hello from dom0\n"
    assert host.call(host.dom0, "console_io", 99, 0, va) == -ENOSYS
    assert host.call(host.dom0, "console_io", host.c("CONSOLEIO_write"), 8, 0) == -EFAULT


def test_unknown_and_unmodelled_hypercalls_are_enosys(host):
    d = host.domu
    assert host.hv.hypercall(d.vcpus[0], 11, [0] * 5) == -ENOSYS  # no hypercall 11
    assert host.hv.hypercall(d.vcpus[0], 4096, [0] * 5) == -ENOSYS
    assert host.call(d, "sched_op", 99, 0) == -ENOSYS
    assert host.call(d, "xen_version", 1234, 0) == -ENOSYS


def test_bad_guest_pointers_are_efault(host):
    d = host.domu
    xen = d.rt.xen_global_va
    for va in (0, 8, xen, d.kernel.v_end + 4096, (1 << (8 * d.rt.word)) - 4):
        assert host.call(d, "sched_op", host.c("SCHEDOP_shutdown"), va) == -EFAULT, hex(va)
        assert host.call(d, "event_channel_op", host.c("EVTCHNOP_alloc_unbound"), va) == -EFAULT
    # A read-only mapping (the page tables) can be read but not written.
    pt = d.kernel.pt_va
    assert host.call(d, "xen_version", host.c("XENVER_extraversion"), pt) == -EFAULT


def test_xen_version(host):
    d = host.domu
    assert host.call(d, "xen_version", 0, 0) == 4 << 16 | 17
    va = host.struct(d, "xen_feature_info", submap_idx=0)
    assert host.call(d, "xen_version", host.c("XENVER_get_features"), va) == 0
    feats = host.field(d, va, "xen_feature_info", "submap")
    assert feats >> host.c("XENFEAT_mmu_pt_update_preserve_ad") & 1 and not feats >> host.c("XENFEAT_dom0") & 1
    assert host.call(d, "xen_version", host.c("XENVER_commandline"), va) == -EPERM
    assert host.call(d, "xen_version", host.c("XENVER_pagesize"), 0) == 4096


def test_sched_op_shutdown_and_suspend(host):
    d = host.domu
    va = host.struct(d, "sched_shutdown", reason=host.c("SHUTDOWN_suspend"))
    assert host.call(d, "sched_op", host.c("SCHEDOP_shutdown"), va) == 0
    assert d.shutdown_reason == host.c("SHUTDOWN_suspend") and d.suspend_count == 1
    va = host.struct(d, "sched_remote_shutdown", domain_id=0, reason=0)
    assert host.call(d, "sched_op", host.c("SCHEDOP_remote_shutdown"), va) == -EPERM
    assert host.dom0.shutdown_reason is None


def test_vcpu_op(host):
    d, c = host.domu, host.c
    assert host.call(d, "vcpu_op", c("VCPUOP_is_up"), 0, 0) == 1
    assert host.call(d, "vcpu_op", c("VCPUOP_is_up"), 5, 0) == -ENOENT
    assert host.call(d, "vcpu_op", c("VCPUOP_down"), 0, 0) == 0
    assert host.call(d, "vcpu_op", c("VCPUOP_is_up"), 0, 0) == 0
    assert host.call(d, "vcpu_op", c("VCPUOP_up"), 0, 0) == 0
    # register_vcpu_info: once, within a page, on an owned frame.
    mfn = d.p2m[d.kernel.pfn_of(host.scratch[d.domid])]
    va = host.struct(d, "vcpu_register_vcpu_info", off=4096, mfn=mfn, offset=4090)
    assert host.call(d, "vcpu_op", c("VCPUOP_register_vcpu_info"), 0, va) == -EINVAL
    va = host.struct(d, "vcpu_register_vcpu_info", off=4096, mfn=host.dom0.p2m[5], offset=0)
    assert host.call(d, "vcpu_op", c("VCPUOP_register_vcpu_info"), 0, va) == -EINVAL
    va = host.struct(d, "vcpu_register_vcpu_info", off=4096, mfn=mfn, offset=64)
    assert host.call(d, "vcpu_op", c("VCPUOP_register_vcpu_info"), 0, va) == 0
    assert d.vcpus[0].vcpu_info_maddr == (mfn << PAGE_SHIFT) + 64
    assert host.call(d, "vcpu_op", c("VCPUOP_register_vcpu_info"), 0, va) == -EINVAL  # only once
    assert host.call(d, "vcpu_op", 99, 0, 0) == -ENOSYS


def test_memory_reservation(host):
    d, c, hv = host.domu, host.c, host.hv
    assert host.call(d, "memory_op", c("XENMEM_current_reservation"), host.put(d, b"\xf0\x7f")) == d.tot_pages
    assert host.call(d, "memory_op", c("XENMEM_maximum_reservation"), host.put(d, b"\xf0\x7f")) == d.max_pages
    assert host.call(d, "memory_op", c("XENMEM_current_reservation"), host.put(d, b"\x00\x00")) == -EPERM
    assert host.call(d, "memory_op", c("XENMEM_current_reservation"), host.put(d, b"\x33\x00")) == -ESRCH
    # Give back two frames outside the boot mapping, then take two back.
    pfn = (d.kernel.v_end - d.kernel.virt_base >> PAGE_SHIFT) + 30
    gone = [d.p2m[pfn], d.p2m[pfn + 1]]
    tot = d.tot_pages
    lst = host.put(d, d.abi.pack_words(gone), 4096)
    res = host.struct(d, "xen_memory_reservation", extent_start=lst, nr_extents=2, extent_order=0,
                      domid=c("DOMID_SELF"))
    assert host.call(d, "memory_op", c("XENMEM_decrease_reservation"), res) == 2
    assert d.tot_pages == tot - 2 and all(hv.mem.owner[m] == -1 for m in gone) and pfn not in d.p2m
    res = host.struct(d, "xen_memory_reservation", extent_start=lst, nr_extents=2, extent_order=0,
                      domid=c("DOMID_SELF"))
    assert host.call(d, "memory_op", c("XENMEM_increase_reservation"), res) == 2
    new = [int.from_bytes(host.get(d, lst + i * d.rt.word, d.rt.word), "little") for i in range(2)]
    assert all(hv.mem.owner[m] == d.domid for m in new) and d.tot_pages == tot
    # Past max_pages: partial success, never over.
    res = host.struct(d, "xen_memory_reservation", extent_start=0, nr_extents=1000, extent_order=0,
                      domid=c("DOMID_SELF"))
    done = host.call(d, "memory_op", c("XENMEM_increase_reservation"), res)
    assert done == d.max_pages - tot and d.tot_pages == d.max_pages
    # A domU cannot touch another domain's reservation: 0 extents, not an errno (Xen's quirk).
    res = host.struct(d, "xen_memory_reservation", extent_start=0, nr_extents=1, domid=0)
    assert host.call(d, "memory_op", c("XENMEM_increase_reservation"), res) == 0
    assert hv.check_invariants() == []


def test_populate_physmap_sets_p2m_and_m2p(host):
    d, c, hv = host.domu, host.c, host.hv
    pfn = (d.kernel.v_end - d.kernel.virt_base >> PAGE_SHIFT) + 40
    old = d.p2m[pfn]
    lst = host.put(d, d.abi.pack_words([old]), 4096)
    res = host.struct(d, "xen_memory_reservation", extent_start=lst, nr_extents=1, domid=c("DOMID_SELF"))
    assert host.call(d, "memory_op", c("XENMEM_decrease_reservation"), res) == 1
    lst = host.put(d, d.abi.pack_words([pfn]), 4096)
    res = host.struct(d, "xen_memory_reservation", extent_start=lst, nr_extents=1, domid=c("DOMID_SELF"))
    assert host.call(d, "memory_op", c("XENMEM_populate_physmap"), res) == 1
    mfn = int.from_bytes(host.get(d, lst, d.rt.word), "little")
    assert d.p2m[pfn] == mfn and hv.m2p[mfn] == pfn and hv.check_invariants() == []


def test_mmuext_pin_unpin_and_type_checks(host):
    d, c, hv, mem = host.domu, host.c, host.hv, host.hv.mem
    pfn = (d.kernel.v_end - d.kernel.virt_base >> PAGE_SHIFT) + 50
    l1 = d.p2m[pfn]
    # An L1 mapping one of the domain's frames, then one mapping dom0's.
    mem.set_u64(l1 << PAGE_SHIFT, d.p2m[pfn + 1] << PAGE_SHIFT | 0x63)
    op = host.struct(d, "mmuext_op", cmd=c("MMUEXT_PIN_L1_TABLE"), arg1__mfn=l1)
    assert host.call(d, "mmuext_op", op, 1, 0, c("DOMID_SELF")) == 0
    assert mem.ptype[l1] == PGT_L1 and mem.pinned[l1] and mem.ptype[d.p2m[pfn + 1]] == PGT_WRITABLE
    assert host.call(d, "mmuext_op", op, 1, 0, c("DOMID_SELF")) == -EINVAL  # already pinned
    op2 = host.struct(d, "mmuext_op", off=64, cmd=c("MMUEXT_PIN_L2_TABLE"), arg1__mfn=l1)
    assert host.call(d, "mmuext_op", op2, 1, 0, c("DOMID_SELF")) == -EINVAL  # it is an L1
    un = host.struct(d, "mmuext_op", off=128, cmd=c("MMUEXT_UNPIN_TABLE"), arg1__mfn=l1)
    assert host.call(d, "mmuext_op", un, 1, 0, c("DOMID_SELF")) == 0
    assert mem.tcount[l1] == 0 and mem.tcount[d.p2m[pfn + 1]] == 0
    assert host.call(d, "mmuext_op", un, 1, 0, c("DOMID_SELF")) == -EINVAL  # not pinned
    mem.set_u64(l1 << PAGE_SHIFT, host.dom0.p2m[9] << PAGE_SHIFT | 0x61)
    assert host.call(d, "mmuext_op", op, 1, 0, c("DOMID_SELF")) == -EINVAL  # foreign frame
    assert host.call(d, "mmuext_op", op, 1, 0, 0) == -EPERM  # another domain's pages
    bad = host.struct(d, "mmuext_op", off=192, cmd=77)
    done = host.put(d, b"\xff" * 4, 4096)
    assert host.call(d, "mmuext_op", bad, 1, done, c("DOMID_SELF")) == -ENOSYS
    assert host.get(d, done, 4) == b"\0\0\0\0"
    assert hv.check_invariants() == []


def test_mmu_update_validates_entries(host):
    d, c, mem = host.domu, host.c, host.hv.mem
    va = d.kernel.v_end - 4096
    from pvdsl.runtime.xen.paging import walk

    w = walk(mem, d.rt, d.kernel.root_mfn, va)
    ptr = w.tables[-1] + d.rt.indices(va)[-1] * 8
    spare = d.p2m[(d.kernel.v_end - d.kernel.virt_base >> PAGE_SHIFT) + 60]
    req = host.struct(d, "mmu_update", ptr=ptr | c("MMU_NORMAL_PT_UPDATE"), val=spare << PAGE_SHIFT | 0x63)
    done = host.put(d, bytes(4), 4096)
    assert host.call(d, "mmu_update", req, 1, done, c("DOMID_SELF")) == 0
    assert int.from_bytes(host.get(d, done, 4), "little") == 1
    # An L2 entry pointing at a page that is mapped writable: refused.
    l2_ptr = w.tables[-2] + d.rt.indices(va)[-2] * 8
    req = host.struct(d, "mmu_update", ptr=l2_ptr, val=spare << PAGE_SHIFT | 0x63)
    assert host.call(d, "mmu_update", req, 1, 0, c("DOMID_SELF")) == -EINVAL
    # The top-level Xen slots are not the guest's.
    if d.rt.levels == 4:
        req = host.struct(d, "mmu_update", ptr=(d.kernel.root_mfn << PAGE_SHIFT) + 8 * 261, val=0)
        assert host.call(d, "mmu_update", req, 1, 0, c("DOMID_SELF")) == -EINVAL
    # MACHPHYS_UPDATE on an owned frame sets the m2p; on another's, -EINVAL.
    req = host.struct(d, "mmu_update", ptr=spare << PAGE_SHIFT | c("MMU_MACHPHYS_UPDATE"), val=0x1234)
    assert host.call(d, "mmu_update", req, 1, 0, c("DOMID_SELF")) == 0 and host.hv.m2p[spare] == 0x1234
    req = host.struct(d, "mmu_update", ptr=host.dom0.p2m[3] << PAGE_SHIFT | c("MMU_MACHPHYS_UPDATE"), val=1)
    assert host.call(d, "mmu_update", req, 1, 0, c("DOMID_SELF")) == -EINVAL
    # Naming itself by id rather than DOMID_SELF: Xen's get_pg_owner says -ESRCH.
    assert host.call(d, "mmu_update", req, 1, 0, d.domid) == -ESRCH
    assert host.hv.check_invariants() == []


def test_update_va_mapping(host):
    d, c, mem = host.domu, host.c, host.hv.mem
    va = d.kernel.v_end - 4096
    spare = d.p2m[(d.kernel.v_end - d.kernel.virt_base >> PAGE_SHIFT) + 70]
    assert host.call(d, "update_va_mapping", va, spare << PAGE_SHIFT | 0x63, c("UVMF_INVLPG")) == 0
    assert translate(mem, d.rt, d.kernel.root_mfn, va) == spare << PAGE_SHIFT
    assert host.call(d, "update_va_mapping", va, host.dom0.p2m[1] << PAGE_SHIFT | 0x63, 0) == -EINVAL
    assert host.call(d, "update_va_mapping", d.rt.xen_global_va, 0, 0) == -EINVAL
    assert host.call(d, "update_va_mapping", va, 0, c("UVMF_TLB_FLUSH") | 0x1000) == -EFAULT  # bad vcpumask
    assert host.call(d, "update_va_mapping", va, 0, 0) == 0  # unmapped again


def test_event_channels(host):
    d, d0, c, hv = host.domu, host.dom0, host.c, host.hv
    va = host.struct(d, "evtchn_alloc_unbound", dom=c("DOMID_SELF"), remote_dom=0)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_alloc_unbound"), va) == 0
    port = host.field(d, va, "evtchn_alloc_unbound", "port")
    assert port > 0 and d.evtchns[port].remote_dom == 0
    va0 = host.struct(d0, "evtchn_bind_interdomain", remote_dom=d.domid, remote_port=port)
    assert host.call(d0, "event_channel_op", c("EVTCHNOP_bind_interdomain"), va0) == 0
    lport = host.field(d0, va0, "evtchn_bind_interdomain", "local_port")
    # dom0 sends: the domU's port becomes pending and, unmasked, raises the upcall.
    hv.mem.set_u8(hv.vcpu_info_field(d.vcpus[0], "evtchn_upcall_pending")[0], 0)
    va0 = host.struct(d0, "evtchn_send", off=64, port=lport)
    assert host.call(d0, "event_channel_op", c("EVTCHNOP_send"), va0) == 0
    at, _ = hv.vcpu_info_field(d.vcpus[0], "evtchn_upcall_pending")
    assert hv.mem.u8(at) == 1
    st = host.struct(d, "evtchn_status", off=128, dom=c("DOMID_SELF"), port=port)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_status"), st) == 0
    assert host.field(d, st, "evtchn_status", "status") == c("EVTCHNSTAT_interdomain")
    assert host.field(d, st, "evtchn_status", "u.interdomain.port") == lport
    vq = host.struct(d, "evtchn_bind_virq", off=256, virq=c("VIRQ_TIMER"), vcpu=0)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_bind_virq"), vq) == 0
    assert host.call(d, "event_channel_op", c("EVTCHNOP_bind_virq"), vq) == -EEXIST
    bad = host.struct(d, "evtchn_bind_virq", off=320, virq=c("VIRQ_CONSOLE"), vcpu=1)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_bind_virq"), bad) == -EINVAL  # global VIRQ on vcpu1
    cl = host.struct(d, "evtchn_close", off=384, port=port)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_close"), cl) == 0
    assert d0.evtchns[lport].state == c("EVTCHNSTAT_unbound")
    assert host.call(d, "event_channel_op", c("EVTCHNOP_close"), cl) == -EINVAL
    zero = host.struct(d, "evtchn_close", off=448, port=0)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_close"), zero) == -EINVAL  # reserved port
    other = host.struct(d, "evtchn_alloc_unbound", off=512, dom=0, remote_dom=0)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_alloc_unbound"), other) == -EPERM


def test_unmask_delivers_a_pending_event(host):
    d, c, hv = host.domu, host.c, host.hv
    va = host.struct(d, "evtchn_bind_ipi", vcpu=0)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_bind_ipi"), va) == 0
    port = host.field(d, va, "evtchn_bind_ipi", "port")
    word = port // (8 * d.abi.word)
    f = d.abi.field("shared_info", f"evtchn_mask[{word}]")
    hv.mem.set_uint((d.shared_info_mfn << 12) + f.offset, f.size, 1 << (port % (8 * d.abi.word)))
    pending = hv.vcpu_info_field(d.vcpus[0], "evtchn_upcall_pending")[0]
    hv.mem.set_u8(pending, 0)
    s = host.struct(d, "evtchn_send", off=64, port=port)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_send"), s) == 0
    assert hv.mem.u8(pending) == 0  # masked
    u = host.struct(d, "evtchn_unmask", off=128, port=port)
    assert host.call(d, "event_channel_op", c("EVTCHNOP_unmask"), u) == 0
    assert hv.mem.u8(pending) == 1


def test_physdev_privileged_subops(host):
    d, c = host.domu, host.c
    va = host.struct(d, "physdev_map_pirq", domid=c("DOMID_SELF"))
    assert host.call(d, "physdev_op", c("PHYSDEVOP_map_pirq"), va) == -EPERM
    va0 = host.struct(host.dom0, "physdev_map_pirq", domid=c("DOMID_SELF"))
    assert host.call(host.dom0, "physdev_op", c("PHYSDEVOP_map_pirq"), va0) == 0
    q = host.struct(d, "physdev_irq_status_query", off=64, irq=3)
    assert host.call(d, "physdev_op", c("PHYSDEVOP_irq_status_query"), q) == 0


def test_descriptor_and_debug_registers(host):
    d, c, mem = host.domu, host.c, host.hv.mem
    assert host.call(d, "set_debugreg", 7, 1 << 13) == -EPERM
    assert host.call(d, "set_debugreg", 0, d.kernel.virt_base) == 0
    assert host.call(d, "get_debugreg", 0) == d.kernel.virt_base
    assert host.call(d, "set_debugreg", 0, d.rt.xen_global_va) == -EPERM
    assert host.call(d, "get_debugreg", 9) == -19
    ma = translate(mem, d.rt, d.kernel.root_mfn, host.scratch[d.domid])
    assert host.call(d, "update_descriptor", ma, 0x00cf9a000000ffff) == 0  # DPL raised to the guest ring
    assert (mem.u64(ma) >> 45) & 3 == d.rt.guest_ring
    assert host.call(d, "update_descriptor", ma + 4, 0) == -EINVAL  # misaligned
    assert host.call(d, "update_descriptor", ma, 0x0000890000000000) == -EINVAL  # a TSS: system descriptor


def test_invariants_after_building(host):
    assert host.hv.check_invariants() == []
    d = host.domu
    assert d.tot_pages == 12 * MIB >> PAGE_SHIFT
    si = d.kernel.start_info_va
    raw = host.get(d, si, d.abi.size("start_info"))
    assert raw.startswith(d.rt.magic.encode())
    assert d.abi.get(raw, "start_info", "nr_pages") == d.tot_pages
    assert d.abi.get(raw, "start_info", "shared_info") == d.shared_info_mfn << PAGE_SHIFT
    assert d.abi.get(raw, "start_info", "pt_base") == d.kernel.pt_va
    assert d.abi.get(raw, "start_info", "flags") == 0
    raw0 = host.get(host.dom0, host.dom0.kernel.start_info_va, d.abi.size("start_info"))
    assert d.abi.get(raw0, "start_info", "flags") == host.c("SIF_PRIVILEGED") | host.c("SIF_INITDOMAIN")
    mfn_list = d.abi.get(raw, "start_info", "mfn_list")
    assert int.from_bytes(host.get(d, mfn_list + 7 * d.rt.word, d.rt.word), "little") == d.p2m[7]
    assert host.hv.mem.ptype[d.kernel.root_mfn] in (3, 4)
    assert host.hv.mem.ptype[d.p2m[d.kernel.pt_pfns[-1]]] in (PGT_L1, PGT_L2)


def test_check_invariants_names_each_kind_of_inconsistency():
    hv = Hypervisor(40 * MIB)
    a = build_pv_domain(hv, "x86_64", 8 * MIB, 1, False)
    b = build_pv_domain(hv, "i386", 8 * MIB, 2, False)
    assert hv.check_invariants() == []
    mem = hv.mem
    free = mem.is_free.find(1)
    mem.count[free] = 1  # a free frame with a reference
    shared = a.p2m[40]
    b.pages.add(shared)  # listed by both
    b.tot_pages += 1
    stray = a.p2m[41]
    a.pages.discard(stray)  # owned, listed nowhere, yet in a's p2m
    a.tot_pages -= 1
    on_list = a.p2m[42]
    mem.is_free[on_list] = 1  # owned but on the free list
    unpinned = a.p2m[43]
    mem.pinned[unpinned] = 1  # pinned without a type reference
    mem.tcount[unpinned] = 0
    bad = hv.check_invariants()
    assert bad == [
        f"dom1: p2m[0x29] = {stray:#x}, not a frame it owns",
        f"mfn {shared:#x} owned by dom1 and dom2",
        f"mfn {shared:#x} in dom2's list but the frame table says 1",
        f"free mfn {free:#x} has references or is not on the free list",
        f"mfn {stray:#x} owned by 1 but in no domain's list",
        f"owned mfn {on_list:#x} is on the free list",
        f"mfn {unpinned:#x} pinned without a type reference",
    ]
