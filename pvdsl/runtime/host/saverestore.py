"""The toolstack's side of save and restore for a suspended PV domain: what
libxc's xg_sr_save_x86_pv.c and xg_sr_restore_x86_pv.c do between Xen's
state and the stream's records (migration/image.py's DomainImage).

Saving canonicalises as libxc does: each present entry of a page table
names a pfn instead of a machine frame, Xen's own slots (x86_64: L4 256-271;
i386 PAE: the top of the L2 under L3 slot 3) are zeroed; in each vCPU's
context cr3, the GDT frames and, for vCPU 0, the start_info frame in
edx/rdx (HYPERVISOR_suspend's third argument) become pfns. The p2m is the
guest's own list (start_info.mfn_list), checked against what the domain
owns.

Restoring goes into a domain built from the saved configuration (new
machine frames): every page by pfn, the page tables with their entries
turned back into the new frames and Xen's slots refilled, typed and
pinned as the stream says; the guest's p2m list rewritten with the new
frames; start_info's xenstore and console frames (which the guest left as
pfns) and event channels set to the new domain's, its shared_info address
too; shared_info from the stream with no event pending and every channel
masked (the guest rebinds and unmasks); each vCPU's state from its context.
"""

from __future__ import annotations

import numpy as np

from ..migration import layout as L
from ..migration.image import DomainImage, Page, TscInfo, VcpuState
from ..xen.memory import PAGE_SHIFT, PAGE_SIZE, PGT_L1, PGT_L4, PGT_XEN_L2_FLAG, pt_level
from ..xen.mm import root_type

MFN_MASK = (1 << 40) - 1  # bits 12-51 of an entry
ENTRY_FRAME = MFN_MASK << PAGE_SHIFT
CTX = "vcpu_guest_context"


class SaveRestoreError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# ---- frame numbers in cr3 (xen.h xen_pfn_to_cr3; compat: the PAE fold) ----
def pfn_to_cr3(word: int, pfn: int) -> int:
    return pfn << 12 if word == 8 else ((pfn << 12) | (pfn >> 20)) & 0xFFFFFFFF


def cr3_to_pfn(word: int, cr3: int) -> int:
    return cr3 >> 12 if word == 8 else ((cr3 >> 12) | (cr3 << 20)) & 0xFFFFFFFF


def _stream_type(mem, mfn: int) -> int:
    """XEN_DOMCTL_PFINFO_* of a frame, as getpageframeinfo3 reports it."""
    level = pt_level(mem.ptype[mfn]) if mem.tcount[mfn] else 0
    if not level:
        return L.NOTAB
    return (level << 28) | (L.LPINTAB if mem.pinned[mfn] else 0)


def _entries(raw) -> np.ndarray:
    return np.frombuffer(bytes(raw), dtype="<u8").copy()


def _xen_slots(hv, d, mfn: int) -> range:
    """The indices Xen owns in this table frame (none for most)."""
    ptype, rt = hv.mem.ptype[mfn], d.rt
    if (rt.xen_slot_level == 4 and ptype == PGT_L4) or ptype == PGT_L2_XEN:
        return rt.xen_slots
    return range(0)


PGT_L2_XEN = 2 | PGT_XEN_L2_FLAG


# ---- save ----
def suspend_record_in_register(d, state: dict[str, int]) -> bool:
    """Whether the guest passed start_info's frame in the third argument
    register of its suspend hypercall, as HYPERVISOR_suspend does."""
    reg = d.rt.arch.hypercall_arg_regs[2]
    return state.get(reg, -1) & ((1 << (8 * d.rt.word)) - 1) == d.p2m[d.kernel.pfn_of(d.start_info_va)]


def capture(vm, state: dict[str, int]) -> DomainImage:
    """The suspended domain of `vm` as a DomainImage; `state` is vCPU 0's
    registers inside its suspend hypercall. vCPU 0's edx/rdx carries
    start_info's pfn, as libxc canonicalises the suspend record; the
    toolstack takes it from the domain it built (the same frame the guest
    passes when its driver puts it in the register, see
    suspend_record_in_register)."""
    d = vm.machine.guest
    hv, rt = vm.machine.hv, d.rt
    p2m, p2m_frames = guest_p2m(d, hv.mem)
    p2m = p2m.tolist()
    pages = [page_of(hv, d, pfn, mfn) for pfn, mfn in enumerate(p2m)]
    vcpus, shared, tsc = final_records(vm, state)
    return DomainImage(rt.word, tuple(p2m), tuple(p2m_frames), tuple(pages), shared, vcpus, tsc)


def guest_p2m(d, mem) -> tuple[np.ndarray, list[int]]:
    """The guest's own p2m list (start_info.mfn_list) and the pfns of the
    frames holding it, as libxc's save reads them."""
    g = L.WIDTHS[d.rt.word]
    nr = d.kernel.nr_pages
    p2m_pfn0 = d.kernel.pfn_of(d.kernel.p2m_va)
    p2m_frames = list(range(p2m_pfn0, p2m_pfn0 + -(-nr * d.rt.word // PAGE_SIZE)))
    listed = np.frombuffer(b"".join(mem.page(d.p2m[p]) for p in p2m_frames), dtype=g.p2m_dtype)[:nr]
    return listed.astype(np.uint64), p2m_frames


def page_of(hv, d, pfn: int, mfn: int) -> Page:
    """One pfn as the stream carries it: its type, and its contents
    (canonical for a page table); XTAB for a pfn with no frame."""
    mem = hv.mem
    if mfn == L.WIDTHS[d.rt.word].invalid_mfn:
        if pfn in d.p2m:
            raise SaveRestoreError(f"pfn {pfn:#x}: the guest's p2m list says no frame, Xen says mfn "
                                   f"{d.p2m[pfn]:#x}", "p2m")
        return Page(pfn, L.XTAB, b"")
    if d.p2m.get(pfn) != mfn or mem.owner[mfn] != d.domid:
        raise SaveRestoreError(f"pfn {pfn:#x}: the guest's p2m list names mfn {mfn:#x}, which is not this "
                               f"pfn's frame of domain {d.domid}", "p2m")
    t = _stream_type(mem, mfn)
    raw = bytes(mem.page(mfn))
    return Page(pfn, t, _canonical_table(hv, d, pfn, mfn, raw) if t != L.NOTAB else raw)


def final_records(vm, state: dict[str, int]):
    """What follows the pages of a suspended domain: its vCPUs' contexts,
    shared_info and the TSC."""
    d = vm.machine.guest
    hv = vm.machine.hv
    vcpus = tuple(VcpuState(v.vcpu_id, _context(hv, d, v, state if v.vcpu_id == 0 else None))
                  for v in d.vcpus if v.up)
    return vcpus, bytes(hv.mem.page(d.shared_info_mfn)), TscInfo(mode=0, khz=0, nsec=0, incarnation=0)


def _canonical_table(hv, d, pfn: int, mfn: int, raw: bytes) -> bytes:
    e = _entries(raw)
    slots = _xen_slots(hv, d, mfn)
    if len(slots):
        e[slots.start:slots.stop] = 0
    present = np.nonzero(e & 1)[0]
    for i in present.tolist():
        frame = int(e[i] >> 12) & MFN_MASK
        target = d.pfn_of.get(frame)
        if target is None:
            raise SaveRestoreError(f"pfn {pfn:#x} (page table) entry {i} maps mfn {frame:#x}, not the domain's",
                                   "pages")
        e[i] = (int(e[i]) & ~ENTRY_FRAME) | (target << PAGE_SHIFT)
    return e.tobytes()


def _pfn(d, mfn: int, what: str) -> int:
    pfn = d.pfn_of.get(mfn)
    if pfn is None:
        raise SaveRestoreError(f"{what} is mfn {mfn:#x}, not a frame of domain {d.domid}", "vcpu")
    return pfn


def _context(hv, d, v, state: dict[str, int] | None) -> bytes:
    """vcpu_guest_context as XEN_DOMCTL_getvcpucontext gives it, frame
    numbers canonicalised as libxc's write_one_vcpu_basic does."""
    abi, rt, c = d.abi, d.rt, d.abi.c
    buf = bytearray(abi.size(CTX))
    put = lambda path, value: abi.put(buf, CTX, path, value & ((1 << 64) - 1))  # noqa: E731
    regs = state if state is not None else (v.cpu.guest_state() if v.cpu is not None else {})
    word_mask = (1 << (8 * rt.word)) - 1
    for name, value in regs.items():
        try:
            put(f"user_regs.{name}", value & word_mask)
        except KeyError:
            pass  # unicorn registers Xen's context does not hold
    if v.vcpu_id == 0 and state is not None:
        # The suspend record: start_info's frame, which restore finds here.
        reg = "rdx" if rt.word == 8 else "edx"
        put(f"user_regs.{reg}", d.kernel.pfn_of(d.start_info_va))
    flags = c("VGCF_online") | (c("VGCF_in_kernel") if rt.word == 8 else 0)
    put("flags", flags)
    for i, (vector, (tflags, cs, address)) in enumerate(sorted(v.trap_table.items())):
        put(f"trap_ctxt[{i}].vector", vector)
        put(f"trap_ctxt[{i}].flags", tflags)
        put(f"trap_ctxt[{i}].cs", cs)
        put(f"trap_ctxt[{i}].address", address)
    put("ldt_base", v.ldt[0])
    put("ldt_ents", v.ldt[1])
    for i, mfn in enumerate(v.gdt_frames):
        put(f"gdt_frames[{i}]", _pfn(d, mfn, f"GDT frame {i}"))
    put("gdt_ents", v.gdt_entries)
    put("kernel_ss", v.kernel_ss)
    put("kernel_sp", v.kernel_sp)
    put("ctrlreg[3]", pfn_to_cr3(rt.word, _pfn(d, v.guest_table, "cr3")))
    if rt.word == 8 and v.guest_table_user:
        put("ctrlreg[1]", pfn_to_cr3(rt.word, _pfn(d, v.guest_table_user, "the user cr3")))
    for i, value in enumerate(v.debugreg[:8]):
        put(f"debugreg[{i}]", value)
    put("event_callback_eip", v.callbacks.get(c("CALLBACKTYPE_event"), 0))
    put("failsafe_callback_eip", v.callbacks.get(c("CALLBACKTYPE_failsafe"), 0))
    if rt.word == 8:
        put("syscall_callback_eip", v.callbacks.get(c("CALLBACKTYPE_syscall"), 0))
        put("fs_base", v.fs_base)
        put("gs_base_kernel", v.gs_base_kernel)
        put("gs_base_user", v.gs_base_user)
    else:
        put("event_callback_cs", v.callback_cs.get(c("CALLBACKTYPE_event"), 0))
        put("failsafe_callback_cs", v.callback_cs.get(c("CALLBACKTYPE_failsafe"), 0))
    put("vm_assist", d.vm_assist)
    return bytes(buf)


# ---- restore ----
def check_fits(width: int, levels: int, nr_pfns: int, d) -> None:
    """The stream's guest against the domain built for it."""
    g = L.WIDTHS[width]
    if width != d.rt.word or levels != d.rt.levels:
        raise SaveRestoreError(f"the stream holds a {8 * width}-bit guest with {levels}-level page "
                               f"tables ({g.arch}); the domain is {d.rt.name}", "target")
    if nr_pfns != d.kernel.nr_pages:
        raise SaveRestoreError(f"the stream holds {nr_pfns} pfns; the domain built for it has "
                               f"{d.kernel.nr_pages}", "memory")


class Incoming:
    """A stream's guest going into domain `d` (built from the saved
    configuration, not running), record by record as they arrive: pages in
    any number of rounds (the last copy of a pfn wins), then `finish`."""

    def __init__(self, hv, d, width: int, levels: int, nr_pfns: int):
        check_fits(width, levels, nr_pfns, d)
        self.hv, self.d, self.nr_pfns = hv, d, nr_pfns
        abi, mem = d.abi, hv.mem
        self.si_mfn = d.p2m[d.kernel.pfn_of(d.start_info_va)]
        si_old = mem.read(self.si_mfn << PAGE_SHIFT, abi.size("start_info"))
        # The channels the toolstack gave the new domain (the builder's).
        self.ports = {f: abi.get(si_old, "start_info", f) for f in ("store_evtchn", "console.domU.evtchn")}
        from ..xen.hypercalls.memory import _PlainRemover
        from .pagebatch import Frames, model_p2m

        self._remover = _PlainRemover(hv, d)
        self.frames = Frames(mem)
        self.xen = model_p2m(d, nr_pfns)

    def place(self, pfns: np.ndarray, types: np.ndarray) -> memoryview | None:
        """Where a batch of plain pages may be read straight into: the
        frames themselves, when every page is a normal one (no type in the
        stream or in the domain) and they go to consecutive frames in order,
        as a domain built from 2 MiB extents has them. The domain must not
        change under the read: the host refuses requests on it meanwhile
        (VM.incoming) and it does not run."""
        if not len(pfns) or (types != L.NOTAB).any() or int(pfns.max()) >= self.nr_pfns:
            return None
        frames = self.xen[pfns.astype(np.int64)]
        m0 = int(frames[0])
        if m0 < 0 or int(frames[-1]) - m0 != len(frames) - 1 or (len(frames) > 1 and (np.diff(frames) != 1).any()):
            return None
        if self.frames.ptype[m0:m0 + len(frames)].any():
            return None
        return memoryview(self.hv.mem.mm)[m0 << PAGE_SHIFT:(m0 + len(frames)) << PAGE_SHIFT]

    def frame_of(self, pfns: np.ndarray) -> np.ndarray:
        return self.xen[pfns]

    def pages(self, pfns, types, data) -> None:
        """One PAGE_DATA batch: data holds the pages of the pfns with data, in order."""
        from .pagebatch import write_batch

        write_batch(self.hv, self.d, self.frames, pfns, types, memoryview(data).cast("B"), self)

    def page(self, pfn: int, t: int, page: bytes) -> None:
        """One page that is not a plain copy: a hole, a page table, a frame with a type."""
        hv, d, mem = self.hv, self.d, self.hv.mem
        if not 0 <= pfn < self.nr_pfns:
            raise SaveRestoreError(f"pfn {pfn:#x} beyond the domain's {self.nr_pfns} pfns", "pages")
        mfn = d.p2m.get(pfn)
        if t in (L.XTAB, L.XALLOC, L.BROKEN):
            # A pfn the saved guest had given back (ballooned) has no frame here either.
            if t == L.XTAB and mfn is not None:
                if not self._remover.remove(mfn):
                    raise SaveRestoreError(f"pfn {pfn:#x} is a hole in the stream, but its frame in the new "
                                           f"domain is in use ({mem.describe(mfn)})", "pages")
                self.xen[pfn] = -1
            return
        if mfn is None:
            raise SaveRestoreError(f"pfn {pfn:#x} has data in the stream but no frame in the new domain "
                                   f"(a hole in an earlier round)", "pages")
        level = L.page_table_level(t)
        have = pt_level(mem.ptype[mfn]) if mem.tcount[mfn] else 0
        if level != have:
            raise SaveRestoreError(f"pfn {pfn:#x} is {L.page_type_name(t)} in the stream but "
                                   f"{'an L%d table' % have if have else 'no page table'} in the domain built "
                                   f"for it", "pages")
        mem.write(mfn << PAGE_SHIFT, _local_table(hv, d, pfn, mfn, page) if level else page)
        if t & L.LPINTAB and not mem.pinned[mfn]:
            raise SaveRestoreError(f"pfn {pfn:#x} is pinned in the stream, not in the new domain", "pages")

    def finish(self, p2m_frames, shared_info: bytes, vcpus) -> dict[str, int]:
        """The guest's p2m list, start_info, shared_info and the vCPUs; vCPU
        0's registers to resume from."""
        hv, d, mem, abi = self.hv, self.d, self.hv.mem, self.d.abi
        g = L.WIDTHS[d.rt.word]
        # update_guest_p2m: the guest's list now names the new frames.
        from .pagebatch import model_p2m

        words = np.full(len(p2m_frames) * g.pfns_per_frame, 0, dtype=g.p2m_dtype)
        frames = model_p2m(d, self.nr_pfns)
        words[:self.nr_pfns] = np.where(frames >= 0, frames, g.invalid_mfn).astype(g.p2m_dtype)
        raw = words.tobytes()
        for i, pfn in enumerate(p2m_frames):
            mem.write(d.p2m[pfn] << PAGE_SHIFT, raw[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
        # start_info: the frames the guest left as pfns, the new channels and shared_info.
        si = bytearray(mem.read(self.si_mfn << PAGE_SHIFT, abi.size("start_info")))
        for f in ("store_mfn", "console.domU.mfn"):
            pfn = abi.get(si, "start_info", f)
            if pfn not in d.p2m:
                raise SaveRestoreError(f"start_info.{f} is {pfn:#x}, not a pfn of the guest (did it suspend "
                                       f"through its driver?)", "start_info")
            abi.put(si, "start_info", f, d.p2m[pfn])
        for f, port in self.ports.items():
            abi.put(si, "start_info", f, port)
        abi.put(si, "start_info", "shared_info", d.shared_info_mfn << PAGE_SHIFT)
        mem.write(self.si_mfn << PAGE_SHIFT, bytes(si))
        _shared_info(hv, d, shared_info)
        state = {}
        for vs in vcpus:
            v = d.vcpu(vs.vcpu_id)
            if v is None:
                raise SaveRestoreError(f"the stream has vCPU {vs.vcpu_id}; the domain has {len(d.vcpus)}",
                                       "vcpus")
            regs = _set_context(hv, d, v, vs.basic)
            if vs.vcpu_id == 0:
                state = regs
        return state


def apply(hv, d, image: DomainImage, progress=None) -> dict[str, int]:
    """Put a whole image into domain `d`; vCPU 0's registers to resume from."""
    inc = Incoming(hv, d, image.width, image.levels, len(image.p2m))
    if progress:
        progress("total", len(image.pages))
    for lo in range(0, len(image.pages), L.MAX_BATCH_PAGES):
        batch = image.pages[lo:lo + L.MAX_BATCH_PAGES]
        inc.pages([p.pfn for p in batch], [p.type for p in batch], b"".join(p.data for p in batch))
        if progress:
            progress("pages", len(batch))
    return inc.finish(image.p2m_frames, image.shared_info, image.vcpus)


def _local_table(hv, d, pfn: int, mfn: int, raw: bytes) -> bytes:
    e = _entries(raw)
    slots = _xen_slots(hv, d, mfn)
    for i in np.nonzero(e & 1)[0].tolist():
        if i in slots:
            continue
        target = int(e[i] >> 12) & MFN_MASK
        frame = d.p2m.get(target)
        if frame is None:
            raise SaveRestoreError(f"pfn {pfn:#x} (page table) entry {i} names pfn {target:#x}, which has no "
                                   f"frame", "pages")
        e[i] = (int(e[i]) & ~ENTRY_FRAME) | (frame << PAGE_SHIFT)
    for i in slots:
        e[i] = hv.xen_slot_entry(d, i)
    return e.tobytes()


def _shared_info(hv, d, saved: bytes) -> None:
    abi = d.abi
    buf = bytearray(saved)
    for name, fill in (("evtchn_pending", 0), ("evtchn_mask", 0xFF)):
        f = abi.field("shared_info", f"{name}[0]")
        n = 32 if d.rt.word == 4 else 64
        buf[f.offset:f.offset + n * f.size] = bytes([fill]) * (n * f.size)
    hv.mem.write(d.shared_info_mfn << PAGE_SHIFT, bytes(buf))


def _set_context(hv, d, v, blob: bytes) -> dict[str, int]:
    """XEN_DOMCTL_setvcpucontext, reduced to what the model keeps; the
    registers (frames back to machine numbers) to run the vCPU from."""
    abi, rt, c = d.abi, d.rt, d.abi.c
    get = lambda path: abi.get(blob, CTX, path)  # noqa: E731
    root_pfn = cr3_to_pfn(rt.word, get("ctrlreg[3]"))
    root = d.p2m.get(root_pfn)
    if root is None or not hv.mem.pinned[root] or hv.mem.ptype[root] != root_type(rt):
        raise SaveRestoreError(f"vCPU {v.vcpu_id}: cr3 names pfn {root_pfn:#x}, not a pinned top-level table",
                               "vcpu")
    if v.guest_table != root:
        hv.mm.get_page_and_type(root, d, root_type(rt))
        hv.mm.put_page_and_type(v.guest_table)
        v.guest_table = root
    v.kernel_ss, v.kernel_sp = get("kernel_ss"), get("kernel_sp")
    v.ldt = (get("ldt_base"), get("ldt_ents"))
    v.debugreg = [get(f"debugreg[{i}]") for i in range(8)]
    v.trap_table = {}
    for i in range(256):
        address = get(f"trap_ctxt[{i}].address")
        if address:
            v.trap_table[get(f"trap_ctxt[{i}].vector")] = (get(f"trap_ctxt[{i}].flags"), get(f"trap_ctxt[{i}].cs"),
                                                           address)
    for kind in ("event", "failsafe") + (("syscall",) if rt.word == 8 else ()):
        address = get(f"{kind}_callback_eip")
        if address:
            v.callbacks[c(f"CALLBACKTYPE_{kind}")] = address
        if rt.word == 4:
            v.callback_cs[c(f"CALLBACKTYPE_{kind}")] = get(f"{kind}_callback_cs")
    if rt.word == 8:
        v.fs_base, v.gs_base_kernel, v.gs_base_user = get("fs_base"), get("gs_base_kernel"), get("gs_base_user")
    frames = [get(f"gdt_frames[{i}]") for i in range(-(-get("gdt_ents") * 8 // PAGE_SIZE))]
    if [d.pfn_of.get(m) for m in v.gdt_frames] != frames:
        raise SaveRestoreError(f"vCPU {v.vcpu_id}: GDT frames {frames} differ from the new domain's", "vcpu")
    regs = {}
    for name in (*rt.regs, "cs", "ss", "ds", "es", "fs", "gs"):
        try:
            regs[name] = get(f"user_regs.{name}")
        except KeyError:
            pass
    if v.vcpu_id == 0:
        reg = "rdx" if rt.word == 8 else "edx"
        regs[reg] = d.p2m[regs[reg]]
    if v.cpu is not None:
        v.cpu.sync_segment_bases()
    return regs
