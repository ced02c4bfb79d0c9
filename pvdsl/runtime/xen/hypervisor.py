"""The simulated Xen host: machine memory, domains, the m2p, event
delivery, and the hypercall dispatcher.

`Hypervisor.hypercall(vcpu, number, raw_args)` is the one entry point a
vCPU's trap (syscall / int $0x82) calls; it never lets a guest value raise:
a bad guest pointer is -EFAULT, an unknown hypercall -ENOSYS, a privileged
one from an unprivileged domain -EPERM. An exception escaping a handler is a
bug in the model, and the property tests look for exactly that.
"""

from __future__ import annotations

import time
from collections import Counter, deque

import numpy as np

from .hypercalls import evtchn as _evtchn, grant as _grant, memory as _memory, misc as _misc  # noqa: F401 (registration)
from .hypercalls import mmu as _mmu, platform as _platform, sched as _sched, vcpu as _vcpu  # noqa: F401 (registration)
from ..archinfo import RT
from .domain import INVALID_MFN, Domain, VCpu
from ..errors import EFAULT, ENOSYS, EPERM, GuestFault, RuntimeSetupError
from .hypercalls.registry import HANDLERS, Call, decode_args
from .memory import OWNER_FREE, PAGE_SHIFT, MachineMemory
from .domain_kill import frame_freed
from .m2p import M2P_INVALID, MachToPhys, m2p_overhead
from .mm import PageTypes
from .xenabi import xen_abi
from .xenspace import XenSpace

XEN_VERSION = (4, 17)


class Hypervisor:
    def __init__(self, memory_bytes: int, clobber_args: bool = True, log_limit: int = 100_000,
                 prealloc: bool = False):
        # The machine-to-phys tables come on top of the memory asked for, as
        # Xen's own data: callers size domains from `memory_bytes`.
        base = memory_bytes >> PAGE_SHIFT
        nframes = base
        for _ in range(3):
            nframes = base + m2p_overhead(nframes)
        self.mem = MachineMemory(nframes, prealloc)
        self.mm = PageTypes(self)
        self.domains: dict[int, Domain] = {}
        self.xen_pages: set[int] = set()
        self.domid_xen = xen_abi("x86_64").c("DOMID_XEN")
        self.m2p = MachToPhys(self)  # machine_to_phys_mapping, readable by the guests (m2p.py)
        self._space: dict[str, XenSpace] = {}
        # Xen debug builds poison the argument registers a hypercall used
        # (pv/hypercall.c "Deliberately corrupt parameter regs"): generated
        # code must not expect them back.
        self.clobber_args = clobber_args
        self.stats: dict[int, Counter] = {}
        self.events: deque = deque(maxlen=log_limit)
        self.hypercall_count = 0
        # An observer of every hypercall (the fuzzer's recorder): None, or an
        # object with enter(v, number, raw) and leave(v, number, raw, rc).
        self.trace = None
        # In-host services: daemons of dom0 user space bound to an event
        # channel (xenstored). (domid, port) -> callable; an event sent to that
        # port goes to the service instead of dom0's pending bits, as the dom0
        # kernel's evtchn driver hands it to the daemon.
        self.services: dict[tuple[int, int], object] = {}
        self._t0 = time.monotonic_ns()

    def now_ns(self) -> int:
        """Xen's system time (NOW()): nanoseconds since the host started."""
        return time.monotonic_ns() - self._t0

    # ---- frames ----
    def alloc_xen_page(self) -> int:
        mfn = self.mem.alloc()
        if mfn is None:
            raise RuntimeSetupError("machine memory exhausted by Xen's own pages")
        self.mem.owner[mfn] = self.domid_xen
        self.mem.count[mfn] = 1
        self.xen_pages.add(mfn)
        return mfn

    def alloc_domheap_pages(self, d: Domain, order: int = 0) -> int | None:
        """A naturally aligned extent assigned to `d`, or None (Xen's
        alloc_domheap_pages: fails past max_pages or when the heap is empty)."""
        n = 1 << order
        if d.tot_pages + n > d.max_pages:
            return None
        mfn = self.mem.alloc(order)
        if mfn is None:
            return None
        mem = self.mem
        if n == 1:  # one frame: what a balloon asks for, a few hundred thousand times
            mem.owner[mfn] = d.domid
            mem.count[mfn] = 1
            mem.allocated[mfn] = 1
            d.pages.add(mfn)
            self.m2p[mfn] = M2P_INVALID
            d.tot_pages += 1
            return mfn
        # An extent: the same per-frame state, a slice at a time (the
        # builder asks for 2 MiB extents, 512 of them a GiB).
        mem.owner[mfn:mfn + n] = [d.domid] * n
        mem.count[mfn:mfn + n] = [1] * n
        mem.allocated[mfn:mfn + n] = b"\x01" * n
        d.pages.add_run(mfn, n)
        self.m2p.invalidate_run(mfn, n)
        d.tot_pages += n
        return mfn

    def free_page(self, mfn: int) -> None:
        """The last reference to a frame is gone: back to the heap."""
        owner = self.mem.owner[mfn]
        d = self.domains.get(owner)
        if d is not None:
            if mfn in d.pages:
                d.pages.discard(mfn)
                d.tot_pages -= 1
            d.xenheap_pages.discard(mfn)
            d.drop_mfn(mfn)
            if d.dying:
                frame_freed(self, d)  # its last page may be gone: then its shared frames, then itself
        self.xen_pages.discard(mfn)
        self.m2p[mfn] = M2P_INVALID
        self.mem.release(mfn)

    # ---- domains ----
    def live_domain(self, domid: int) -> Domain | None:
        """Domain `domid` unless it is being destroyed: what a new mapping,
        grant, channel or request may target (a dying domain only waits for
        the mappings others still hold of its frames to go)."""
        d = self.domains.get(domid)
        return None if d is None or d.dying else d

    def space(self, arch_name: str) -> XenSpace:
        if arch_name not in self._space:
            self._space[arch_name] = XenSpace(self, RT[arch_name])
        return self._space[arch_name]

    def create_domain(self, arch_name: str, domid: int, privileged: bool, max_pages: int,
                      nr_vcpus: int = 1, name: str = "") -> Domain:
        if domid in self.domains:
            raise RuntimeSetupError(f"domain {domid} exists")
        abi = xen_abi(arch_name)
        d = Domain(domid=domid, rt=RT[arch_name], abi=abi, privileged=privileged, max_pages=max_pages,
                   name=name or f"dom{domid}", mem=self.mem)
        d.console_capability = privileged
        d.vcpus = [VCpu(d, i) for i in range(nr_vcpus)]
        self.domains[domid] = d
        self.stats[domid] = Counter()
        # shared_info: a Xen page shared with the guest, not counted in tot_pages.
        si = self.mem.alloc()
        if si is None:
            raise RuntimeSetupError("no machine memory for shared_info")
        self.mem.owner[si] = domid
        self.mem.count[si] = 1
        self.mem.xenheap[si] = 1
        d.xenheap_pages.add(si)
        d.shared_info_mfn = si
        for v in d.vcpus:
            if v.vcpu_id < abi.c("XEN_LEGACY_MAX_VCPUS"):
                v.vcpu_info_maddr = (si << PAGE_SHIFT) + abi.field("shared_info", f"vcpu_info[{v.vcpu_id}]").offset
                # Events start masked: the guest unmasks once it can take them.
                self.mem.set_u8(v.vcpu_info_maddr + abi.field("vcpu_info", "evtchn_upcall_mask").offset, 1)
        self.space(arch_name).setup_domain(d)
        return d

    def xen_slot_entry(self, d: Domain, idx: int) -> int:
        return self.space(d.rt.name).slot_entry(d, idx)

    def flush_all_tlbs(self, d: Domain | None = None) -> None:
        for dom in ([d] if d is not None else self.domains.values()):
            for v in dom.vcpus:
                if v.cpu is not None:
                    v.cpu.flush_tlb()

    # ---- events (2-level ABI) ----
    def vcpu_info_field(self, v: VCpu, path: str) -> tuple[int, int]:
        f = v.domain.abi.field("vcpu_info", path)
        return v.vcpu_info_maddr + f.offset, f.size

    def evtchn_set_pending(self, d: Domain, port: int) -> None:
        """Xen's evtchn_2l_set_pending + vcpu_mark_events_pending."""
        abi, mem = d.abi, self.mem
        bits = 8 * abi.word
        si = d.shared_info_mfn << PAGE_SHIFT
        word, bit = divmod(port, bits)
        pend = si + abi.field("shared_info", f"evtchn_pending[{word}]").offset
        mask = si + abi.field("shared_info", f"evtchn_mask[{word}]").offset
        cur = mem.uint(pend, abi.word)
        if cur >> bit & 1:
            return
        mem.set_uint(pend, abi.word, cur | 1 << bit)
        if mem.uint(mask, abi.word) >> bit & 1:
            return
        ch = d.evtchns.get(port)
        v = d.vcpu(ch.vcpu if ch else 0) or d.vcpus[0]
        self.mark_selector(v, word)

    def mark_selector(self, v: VCpu, word: int) -> None:
        mem = self.mem
        at, size = self.vcpu_info_field(v, "evtchn_pending_sel")
        sel = mem.uint(at, size)
        if sel >> word & 1:
            return
        mem.set_uint(at, size, sel | 1 << word)
        pending, _ = self.vcpu_info_field(v, "evtchn_upcall_pending")
        mem.set_u8(pending, 1)
        self.log(v, "upcall_pending", {})

    # ---- hypercalls ----
    def hypercall(self, v: VCpu, number: int, raw: list[int]) -> int:
        d = v.domain
        info = d.abi.by_number.get(number)
        self.hypercall_count += 1
        if self.trace is not None:
            self.trace.enter(v, number, raw)
        if info is None:
            name, rc = f"#{number}", -ENOSYS
        else:
            name = info.name
            handler = HANDLERS.get(name)
            if info.privileged and not d.privileged and not (name == "console_io" and d.console_capability):
                rc = -EPERM  # Xen's default XSM policy: control domain only
            elif handler is None:
                rc = -ENOSYS  # a Xen hypercall the model does not implement
            else:
                call = Call(self, v, name, decode_args(info, raw, 8 * d.abi.word))
                try:
                    rc = handler(call)
                except GuestFault:
                    rc = -EFAULT
        self.stats[d.domid][(name, rc)] += 1
        if self.trace is not None:
            self.trace.leave(v, number, raw, rc)
        return rc

    def hypercall_arg_count(self, d: Domain, number: int) -> int:
        info = d.abi.by_number.get(number)
        return len(info.args) if info is not None else 0

    def log(self, v: VCpu, kind: str, details: dict) -> None:
        self.events.append((v.domain.domid, v.vcpu_id, kind, details))

    def events_of(self, kind: str, domid: int | None = None) -> list[dict]:
        return [e[3] for e in self.events if e[2] == kind and (domid is None or e[0] == domid)]

    def write_hypercall_page(self, d: Domain, mfn: int) -> None:
        """Xen's hypercall_page_initialise for a PV guest: int3 filler, one
        stub per 32-byte entry, the iret entry special."""
        from ...arch import HYPERCALL_ENTRY_BYTES

        rt = d.rt
        page = bytearray(b"\xcc" * 4096)
        iret = d.abi.hypercalls["iret"].number
        for n in range(4096 // HYPERCALL_ENTRY_BYTES):
            stub = rt.iret_stub(n) if n == iret else rt.hypercall_stub(n)
            page[n * HYPERCALL_ENTRY_BYTES:n * HYPERCALL_ENTRY_BYTES + len(stub)] = stub
        self.mem.write(mfn << PAGE_SHIFT, bytes(page))

    # ---- invariants (checked by the property tests) ----
    def check_invariants(self) -> list[str]:
        """What is inconsistent between the domains and the frame table, one
        line each. Array-wise: a host has hundreds of thousands of frames,
        and `vm create` checks this for every domain it boots."""
        bad = []
        mem = self.mem
        nframes = mem.nframes
        owner = np.array(mem.owner, dtype=np.int64)
        seen = np.full(nframes, -2, dtype=np.int64)  # the domain whose lists hold each frame
        for d in self.domains.values():
            listed = np.union1d(d.pages.array(), _frames(d.xenheap_pages))
            bad += [f"mfn {m:#x} owned by dom{seen[m]} and dom{d.domid}" for m in listed[seen[listed] != -2].tolist()]
            seen[listed] = d.domid
            bad += [f"mfn {m:#x} in dom{d.domid}'s list but the frame table says {mem.owner[m]}"
                    for m in listed[owner[listed] != d.domid].tolist()]
            if d.tot_pages != len(d.pages):
                bad.append(f"dom{d.domid}: tot_pages {d.tot_pages} != {len(d.pages)} pages owned")
            # tot_pages above max_pages is no violation: XEN_DOMCTL_max_mem may
            # lower max_pages under what a domain holds ("ratchet down"); Xen
            # then refuses it any new page (alloc_domheap_pages).
            owned = np.zeros(nframes + 1, dtype=bool)
            owned[d.pages.array()] = True
            pfns, mfns = d.p2m.arrays()
            outside = ~owned[np.where((mfns >= 0) & (mfns < nframes), mfns, nframes)]
            if outside.any():
                bad += [f"dom{d.domid}: p2m[{p:#x}] = {m:#x}, not a frame it owns"
                        for p, m in zip(pfns[outside].tolist(), mfns[outside].tolist())]
            for v in d.vcpus:
                if v.guest_table != INVALID_MFN and mem.owner[v.guest_table] != d.domid:
                    bad.append(f"dom{d.domid} vcpu{v.vcpu_id}: cr3 {v.guest_table:#x} not owned")
        count = np.array(mem.count, dtype=np.int64)
        tcount = np.array(mem.tcount, dtype=np.int64)
        is_free = np.frombuffer(mem.is_free, dtype=np.uint8).astype(bool)
        pinned = np.frombuffer(mem.pinned, dtype=np.uint8).astype(bool)
        free = owner == OWNER_FREE
        rules = [
            (free & (~is_free | (count != 0) | (tcount != 0)),
             lambda m: f"free mfn {m:#x} has references or is not on the free list"),
            (~free & is_free, lambda m: f"owned mfn {m:#x} is on the free list"),
            (~free & (owner != self.domid_xen) & (seen == -2),
             lambda m: f"mfn {m:#x} owned by {mem.owner[m]} but in no domain's list"),
            (~free & ((count <= 0) | (tcount < 0)),
             lambda m: f"mfn {m:#x}: count {mem.count[m]} tcount {mem.tcount[m]}"),
            (~free & pinned & (tcount < 1), lambda m: f"mfn {m:#x} pinned without a type reference"),
        ]
        for m in np.flatnonzero(np.logical_or.reduce([hit for hit, _ in rules])).tolist():
            bad += [say(m) for hit, say in rules if hit[m]]
        return bad


def _frames(frames: set[int]) -> np.ndarray:
    return np.fromiter(frames, dtype=np.int64, count=len(frames))

