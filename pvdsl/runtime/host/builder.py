"""The PV domain builder (what libxenguest's xc_dom_x86.c does for a PV
kernel), and its bare-metal counterpart for native-role backends.

Layout of a PV domain, in pseudo-physical order from pfn 0, all mapped at
`kernel_virt_base + pfn * 4096` by the initial page tables:

    kernel region   hypercall page (pfn 0), then room for the loaded object
    p2m list        start_info.mfn_list: one machine frame number per pfn
    start_info      (xenstore and console pages after it, for a domU)
    boot stacks     one per vCPU
    page tables     start_info.pt_base: root, then the lower levels
    (up to v_end, rounded up to 4 MiB as Xen's builder does)

Page-table frames are mapped read-only (Xen would refuse a writable mapping
of a page table); everything else read-write. The root is then validated
and pinned by the hypervisor model exactly as a guest's MMUEXT_PIN would be,
so the builder's own tables pass the same checks a guest's do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..archinfo import RT, RtArch
from ..xen.domain import Domain, VCpu
from ..errors import RuntimeSetupError
from ..xen.memory import PAGE_SHIFT, PAGE_SIZE
from ..xen.mm import root_type
from ..xen.paging import ENTRY_BYTES, KERNEL_PAGE, KERNEL_PAGE_RO, TABLE_ENTRY, _PAGE_PRESENT, make_entry

MIB = 1 << 20
BOOT_STACK_PAGES = 4
DEFAULT_KERNEL_BYTES = 1 * MIB
EXTRA_MAPPED = 512 * 1024  # Xen's builder maps 512 KiB beyond the boot structures


@dataclass
class KernelLayout:
    rt: RtArch
    virt_base: int
    nr_pages: int
    kernel_pages: int
    v_end: int
    hypercall_page_va: int
    p2m_va: int
    start_info_va: int
    store_pfn: int | None
    console_pfn: int | None
    pt_va: int
    pt_pfns: list[int]
    stack_tops: list[int]
    root_mfn: int
    _next: int = 0
    allocations: list[tuple[str, int, int]] = field(default_factory=list)

    def pfn_of(self, va: int) -> int:
        return (va - self.virt_base) >> PAGE_SHIFT

    def va_of(self, pfn: int) -> int:
        return self.virt_base + (pfn << PAGE_SHIFT)

    def kernel_end(self) -> int:
        return self.virt_base + self.kernel_pages * PAGE_SIZE

    def alloc(self, size: int, align: int = 16, what: str = "") -> int:
        """Room in the kernel region (the loader places sections here)."""
        align = max(align, 1)
        va = -(-self._next // align) * align
        if va + size > self.kernel_end():
            raise RuntimeSetupError(f"the kernel region ({self.kernel_pages * 4} KiB) is full: cannot place "
                                    f"{what or 'data'} ({size} bytes); build the domain with a larger kernel region")
        self._next = va + size
        self.allocations.append((what, va, size))
        return va


def _tables_needed(rt: RtArch, start: int, end: int) -> int:
    """Page-table frames to map [start, end): one root plus every lower table."""
    count = 1
    for shift in rt.shifts()[1:]:  # below the root: each table covers 512 << shift
        span = 512 << shift
        count += ((end - 1) // span) - (start // span) + 1
    return count


def _layout(rt: RtArch, nr_pages: int, nr_vcpus: int, kernel_pages: int, domu: bool) -> dict:
    pos = kernel_pages
    p2m_pages = -(-nr_pages * rt.word // PAGE_SIZE)
    p2m_pfn, pos = pos, pos + p2m_pages
    start_info_pfn, pos = pos, pos + 1
    store_pfn = console_pfn = None
    if domu:
        store_pfn, console_pfn, pos = pos, pos + 1, pos + 2
    stack_pfn, pos = pos, pos + BOOT_STACK_PAGES * nr_vcpus
    pt_pfn = pos
    n_pt = 1
    while True:  # the tables must also map themselves
        v_end = rt.kernel_virt_base + (pt_pfn + n_pt) * PAGE_SIZE + EXTRA_MAPPED
        v_end = -(-v_end // (4 * MIB)) * (4 * MIB)
        need = _tables_needed(rt, rt.kernel_virt_base, v_end)
        if need <= n_pt:
            break
        n_pt = need
    mapped = (v_end - rt.kernel_virt_base) >> PAGE_SHIFT
    if mapped > nr_pages:
        raise RuntimeSetupError(f"a domain of {nr_pages * 4} KiB is too small for its boot mapping "
                                f"({mapped * 4} KiB)")
    return dict(p2m_pfn=p2m_pfn, start_info_pfn=start_info_pfn, store_pfn=store_pfn, console_pfn=console_pfn,
                stack_pfn=stack_pfn, pt_pfn=pt_pfn, n_pt=n_pt, v_end=v_end, mapped=mapped)


def _build_tables(mem, rt: RtArch, d: Domain, lay: dict, writable_tables: bool) -> int:
    """Write the initial page tables into the page-table frames; returns the
    root's mfn. Tables are handed out in order: root, then as needed."""
    pt_pfns = list(range(lay["pt_pfn"], lay["pt_pfn"] + lay["n_pt"]))
    free = iter(pt_pfns)
    root_pfn = next(free)
    root = d.p2m[root_pfn]
    pt_set = set(pt_pfns)
    inter = TABLE_ENTRY if rt.guest_ring == 3 or writable_tables else TABLE_ENTRY & ~0x4
    for pfn in range(lay["mapped"]):
        va = rt.kernel_virt_base + pfn * PAGE_SIZE
        table = root
        for depth, idx in enumerate(rt.indices(va)[:-1]):
            at = (table << PAGE_SHIFT) + idx * ENTRY_BYTES
            e = mem.u64(at)
            if not e & _PAGE_PRESENT:
                nxt = d.p2m[next(free)]
                # A PAE PDPTE takes only the present bit.
                flags = _PAGE_PRESENT if rt.levels == 3 and depth == 0 else inter
                mem.set_u64(at, make_entry(nxt, flags))
                e = mem.u64(at)
            table = (e >> PAGE_SHIFT) & 0xFFFFFFFFFF
        leaf = KERNEL_PAGE_RO if pfn in pt_set and not writable_tables else KERNEL_PAGE
        mem.set_u64((table << PAGE_SHIFT) + rt.indices(va)[-1] * ENTRY_BYTES, make_entry(d.p2m[pfn], leaf))
    return root


POPULATE_ORDER = 9  # 2 MiB extents, as Xen's builder asks for superpages first


def _populate(hv, d: Domain, nr_pages: int) -> None:
    """Every pfn a frame: extents of 512 while the heap has them (one step
    each for the p2m, the m2p and the frame table), single frames after."""
    d.p2m.reserve(nr_pages, hv.mem.nframes)
    d.pages.reserve(hv.mem.nframes)
    pfn = 0
    while pfn < nr_pages:
        order = POPULATE_ORDER if nr_pages - pfn >= 1 << POPULATE_ORDER else 0
        mfn = hv.alloc_domheap_pages(d, order)
        if mfn is None and order:
            order, mfn = 0, hv.alloc_domheap_pages(d, 0)
        if mfn is None:
            raise RuntimeSetupError(f"machine memory exhausted building {d.name} ({nr_pages * 4} KiB)")
        n = 1 << order
        hv.m2p.set_run(mfn, pfn, n)
        d.p2m.set_run(pfn, mfn, n)
        pfn += n


def build_pv_domain(hv, arch_name: str, memory_bytes: int, domid: int, privileged: bool, nr_vcpus: int = 1,
                    kernel_bytes: int = DEFAULT_KERNEL_BYTES, max_bytes: int | None = None,
                    cmdline: str = "", console_backend: int = 0) -> Domain:
    rt = RT[arch_name]
    nr_pages = memory_bytes >> PAGE_SHIFT
    max_pages = max(nr_pages, (max_bytes or 0) >> PAGE_SHIFT)
    d = hv.create_domain(arch_name, domid, privileged, max_pages, nr_vcpus)
    abi, mem, c = d.abi, hv.mem, d.abi.c
    kernel_pages = -(-kernel_bytes // PAGE_SIZE)
    lay = _layout(rt, nr_pages, nr_vcpus, kernel_pages, domu=not privileged)
    _populate(hv, d, nr_pages)
    root = _build_tables(mem, rt, d, lay, writable_tables=False)
    # Validate and pin the root (MMUEXT_PIN_L4/L3_TABLE), then give every
    # vCPU its cr3 reference (arch_set_info_guest).
    rc = hv.mm.get_page_and_type(root, d, root_type(rt))
    if rc:
        raise RuntimeSetupError(f"the builder's page tables did not validate ({rc}): {mem.describe(root)}")
    mem.pinned[root] = 1
    va = rt.kernel_virt_base
    stack_tops = []
    for v in d.vcpus:
        hv.mm.get_page_and_type(root, d, root_type(rt))
        v.guest_table = root
        v.initialised = True
        top = va + (lay["stack_pfn"] + BOOT_STACK_PAGES * (v.vcpu_id + 1)) * PAGE_SIZE
        stack_tops.append(top)
        v.kernel_ss, v.kernel_sp = c("FLAT_KERNEL_SS"), top
    d.vcpus[0].up = True
    hv.write_hypercall_page(d, d.p2m[0])
    # The p2m list, as the guest's mfn_list: every pfn has its frame.
    p2m = abi.pack_words(d.p2m.by_pfn(nr_pages))
    for i in range(0, len(p2m), PAGE_SIZE):
        mem.write(d.p2m[lay["p2m_pfn"] + i // PAGE_SIZE] << PAGE_SHIFT, p2m[i:i + PAGE_SIZE])
    layout = KernelLayout(rt, va, nr_pages, kernel_pages, lay["v_end"], va, va + lay["p2m_pfn"] * PAGE_SIZE,
                          va + lay["start_info_pfn"] * PAGE_SIZE, lay["store_pfn"], lay["console_pfn"],
                          va + lay["pt_pfn"] * PAGE_SIZE, list(range(lay["pt_pfn"], lay["pt_pfn"] + lay["n_pt"])),
                          stack_tops, root, _next=va + PAGE_SIZE)
    d.kernel = layout
    _write_start_info(hv, d, layout, cmdline, console_backend)
    d.start_info_va = layout.start_info_va
    d.creation_finished = True
    return d


def _write_start_info(hv, d: Domain, lay: KernelLayout, cmdline: str, backend: int) -> None:
    from ..xen.hypercalls.evtchn import alloc_unbound

    abi, c = d.abi, d.abi.c
    S = "start_info"
    buf = bytearray(abi.size(S))
    buf[0:32] = lay.rt.magic.encode().ljust(32, b"\0")
    abi.put(buf, S, "nr_pages", lay.nr_pages)
    abi.put(buf, S, "shared_info", d.shared_info_mfn << PAGE_SHIFT)  # a machine address
    flags = c("SIF_PRIVILEGED") | c("SIF_INITDOMAIN") if d.is_hwdom else 0
    abi.put(buf, S, "flags", flags)
    if lay.store_pfn is not None:
        abi.put(buf, S, "store_mfn", d.p2m[lay.store_pfn])
        abi.put(buf, S, "store_evtchn", alloc_unbound(hv, d, backend))
        abi.put(buf, S, "console.domU.mfn", d.p2m[lay.console_pfn])
        abi.put(buf, S, "console.domU.evtchn", alloc_unbound(hv, d, backend))
    abi.put(buf, S, "pt_base", lay.pt_va)
    abi.put(buf, S, "nr_pt_frames", len(lay.pt_pfns))
    abi.put(buf, S, "mfn_list", lay.p2m_va)
    raw = cmdline.encode()[:c("MAX_GUEST_CMDLINE") - 1]
    off = abi.field(S, "cmd_line").offset
    buf[off:off + len(raw)] = raw
    hv.mem.write(d.p2m[lay.pfn_of(lay.start_info_va)] << PAGE_SHIFT, bytes(buf))


def build_native_machine(hv, arch_name: str, memory_bytes: int, nr_vcpus: int = 1,
                         kernel_bytes: int = DEFAULT_KERNEL_BYTES) -> Domain:
    """Bare metal for a native-role backend: the same kernel mapping, but
    physical = machine, page tables writable by the kernel, no Xen, no
    hypercall page. Registered in the model as domain 0 only so that its
    frames are accounted for."""
    from ..xen.xenabi import xen_abi

    rt = RT[arch_name]
    nr_pages = memory_bytes >> PAGE_SHIFT
    d = Domain(domid=0, rt=rt, abi=xen_abi(arch_name), privileged=True, max_pages=nr_pages, name="native",
               mem=hv.mem)
    d.vcpus = [VCpu(d, i) for i in range(nr_vcpus)]
    hv.domains[0] = d
    from collections import Counter

    hv.stats[0] = Counter()
    kernel_pages = -(-kernel_bytes // PAGE_SIZE)
    lay = _layout(rt, nr_pages, nr_vcpus, kernel_pages, domu=False)
    _populate(hv, d, nr_pages)
    root = _build_tables(hv.mem, rt, d, lay, writable_tables=True)
    va = rt.kernel_virt_base
    stack_tops = [va + (lay["stack_pfn"] + BOOT_STACK_PAGES * (v.vcpu_id + 1)) * PAGE_SIZE for v in d.vcpus]
    for v in d.vcpus:
        v.guest_table, v.initialised, v.up = root, True, True
    d.kernel = KernelLayout(rt, va, nr_pages, kernel_pages, lay["v_end"], 0, va + lay["p2m_pfn"] * PAGE_SIZE,
                            va + lay["start_info_pfn"] * PAGE_SIZE, None, None, va + lay["pt_pfn"] * PAGE_SIZE,
                            list(range(lay["pt_pfn"], lay["pt_pfn"] + lay["n_pt"])), stack_tops, root,
                            _next=va + PAGE_SIZE)
    d.native = True
    return d
