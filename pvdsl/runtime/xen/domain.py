"""What the hypervisor model knows about a domain and its vCPUs.

This is Xen's `struct domain` / `struct vcpu`, reduced to what the modelled
hypercalls read and write. The emulated CPU of a vCPU (vcpu.py) is attached
as `VCpu.cpu`; without one (the property tests drive the model directly) the
model still runs, it just has no registers to update.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..archinfo import RtArch
from .physmap import FrameSet, PhysMap
from .xenabi import XenAbi

INVALID_MFN = -1


@dataclass
class Channel:
    """One 2-level event channel port (Xen's struct evtchn)."""

    state: int  # EVTCHNSTAT_*
    vcpu: int = 0  # notified vCPU
    remote_dom: int = 0  # unbound: who may bind; interdomain: the peer
    remote_port: int = 0
    virq: int = 0
    pirq: int = 0


@dataclass
class VCpu:
    domain: "Domain"
    vcpu_id: int
    up: bool = False
    initialised: bool = False
    # Page tables: the guest_table (kernel cr3) and, on x86_64, the user one.
    guest_table: int = INVALID_MFN
    guest_table_user: int = 0
    # vcpu_info: in shared_info until VCPUOP_register_vcpu_info moves it.
    vcpu_info_maddr: int = 0
    vcpu_info_mfn: int = INVALID_MFN  # the registered frame (holds a writable type reference)
    blocked: int = 0  # times the vCPU blocked (SCHEDOP_block / poll)
    polling: list[int] = field(default_factory=list)
    kernel_ss: int = 0
    kernel_sp: int = 0
    trap_table: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # vector -> (flags, cs, address)
    fpu_ts: bool = False
    debugreg: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0, 0, 0xFFFF0FF0, 0x400])
    ldt: tuple[int, int] = (0, 0)  # (linear base, entries)
    gdt_frames: list[int] = field(default_factory=list)
    gdt_entries: int = 0
    fs_base: int = 0
    gs_base_kernel: int = 0
    gs_base_user: int = 0
    callbacks: dict[int, int] = field(default_factory=dict)  # CALLBACKTYPE_* -> address
    callback_cs: dict[int, int] = field(default_factory=dict)  # i386: CALLBACKTYPE_* -> code selector
    periodic_ns: int = 0
    singleshot_ns: int = 0
    runstate_area: int = 0
    time_area: int = 0
    nmi_pending: bool = False
    multicall_depth: int = 0  # a multicall may not contain a multicall
    cpu: object | None = None  # the emulated CPU (vcpu.EmulatedCpu), when there is one

    @property
    def cr3_mfn(self) -> int:
        return self.guest_table


@dataclass
class Domain:
    domid: int
    rt: RtArch
    abi: XenAbi
    privileged: bool
    max_pages: int
    tot_pages: int = 0
    pages: FrameSet = field(default_factory=FrameSet)  # every frame the domain owns (not its xenheap pages)
    xenheap_pages: set[int] = field(default_factory=set)
    p2m: PhysMap = field(default_factory=PhysMap)  # pfn -> mfn, and its inverse (pfn_of)
    vcpus: list[VCpu] = field(default_factory=list)
    evtchns: dict[int, Channel] = field(default_factory=dict)
    virq_port: dict[tuple[int, int], int] = field(default_factory=dict)  # (vcpu, virq) -> port
    ipi_ports: set[int] = field(default_factory=set)
    shared_info_mfn: int = INVALID_MFN
    console: bytearray = field(default_factory=bytearray)
    console_capability: bool = False  # Xen's console_io permission for a non-privileged domain
    shutdown_reason: int | None = None
    shutdown_code: int | None = None
    suspend_count: int = 0
    vm_assist: int = 0
    iopl: int = 0
    watchdogs: dict[int, int] = field(default_factory=dict)
    name: str = ""
    start_info_va: int = 0
    kernel: object | None = None  # builder.KernelLayout
    creation_finished: bool = False
    # Being destroyed (domain_kill.py): it stays until another domain drops
    # its last mapping of one of its frames; new mappings, grants and
    # channels to it are refused meanwhile.
    dying: bool = False
    xenheap_released: bool = False  # a dying domain's shared Xen frames have lost Xen's reference
    native: bool = False  # a bare-metal machine (native role): no Xen at all
    mem: object | None = None  # the machine memory its frames live in
    # Xen's per-domain mappings (xenspace.py): the slot Xen owns in the
    # domain's top-level tables, the table under it, each vCPU's Xen stack.
    xen_perdomain_slot: int | None = None
    xen_perdomain_top: int = INVALID_MFN
    xen_stack_mfn: dict[int, int] = field(default_factory=dict)
    pirq_eoi_mfn: int | None = None  # PHYSDEVOP_pirq_eoi_gmfn's frame
    boot_scratch: int = 0  # a kernel page the loader passes hypercall arguments in

    @property
    def is_hwdom(self) -> bool:
        return self.privileged and self.domid == 0

    # The model's pseudo-physical map. A PV guest keeps its own p2m; Xen only
    # knows the m2p. The model keeps both directions so that its invariants
    # (every p2m entry names a frame the domain owns) can be checked.
    @property
    def pfn_of(self):
        """mfn -> pfn, the inverse of p2m (read-only: change the p2m)."""
        return self.p2m.inverse

    def set_p2m(self, pfn: int, mfn: int) -> None:
        self.p2m[pfn] = mfn  # what pfn and mfn were mapped with before goes

    def drop_mfn(self, mfn: int) -> None:
        self.p2m.drop_mfn(mfn)

    def vcpu(self, vcpu_id: int) -> VCpu | None:
        return self.vcpus[vcpu_id] if 0 <= vcpu_id < len(self.vcpus) else None

    def console_text(self) -> str:
        return self.console.decode("utf-8", "replace")
