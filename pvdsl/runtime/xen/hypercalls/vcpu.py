"""vcpu_op and the per-vCPU state hypercalls: set_trap_table, stack_switch,
fpu_taskswitch, set/get_debugreg, update_descriptor, set_gdt,
set_segment_base, set_callbacks, callback_op, nmi_op, and iret, which the
emulated vCPU carries out (traps.py) (xen/common/domain.c, arch/x86/pv/*.c,
arch/x86/x86_64/mm.c)."""

from __future__ import annotations

from ..descriptors import check_descriptor, descriptor_base, load_data_segment
from ..domain import INVALID_MFN
from ...errors import EEXIST, EINVAL, ENODEV, ENOENT, ENOSYS, EPERM, ETIME
from .registry import hypercall
from ..memory import PAGE_SHIFT, PAGE_SIZE, PGT_SEG_DESC, PGT_WRITABLE
from ..mm import root_type

MILLISECS = 1_000_000
STIME_DELTA_MAX = (1 << 62) - 1
DR_GENERAL_DETECT = 1 << 13


def _guest_addr_ok(d, va: int, n: int = 1) -> bool:
    lo, hi = d.rt.xen_hole
    top = 1 << (8 * d.rt.word)
    return 0 <= va and va + n <= top and not (va < hi and va + n > lo) and d.rt.canonical(va)


# ---- vcpu_op ----
@hypercall("vcpu_op")
def vcpu_op(call) -> int:
    cmd, arg, c = call.a["cmd"], call.a["extra"], call.c
    v = call.d.vcpu(call.a["vcpuid"])
    if v is None:
        return -ENOENT
    hv = call.hv
    if cmd == c("VCPUOP_initialise"):
        if v.initialised:
            return -EEXIST
        buf = call.read_struct(arg, "vcpu_guest_context")
        cr3 = call.get(buf, "vcpu_guest_context", "ctrlreg[3]")
        # xen_cr3_to_pfn; a 32-bit guest's cr3 carries mfn bits 32+ in its low bits.
        mfn = cr3 >> 12 if v.domain.rt.word == 8 else (cr3 >> 12) | ((cr3 & 0xFFF) << 20)
        rc = hv.mm.get_page_and_type(mfn, v.domain, root_type(v.domain.rt))
        if rc:
            return rc
        v.guest_table = mfn
        v.kernel_ss = call.get(buf, "vcpu_guest_context", "kernel_ss")
        v.kernel_sp = call.get(buf, "vcpu_guest_context", "kernel_sp")
        v.initialised = True
        return 0
    if cmd == c("VCPUOP_up"):
        if not v.initialised:
            return -EINVAL
        v.up = True
        return 0
    if cmd == c("VCPUOP_down"):
        v.up = False
        return 0
    if cmd == c("VCPUOP_is_up"):
        return int(v.up)
    if cmd == c("VCPUOP_get_runstate_info"):
        state = c("RUNSTATE_running") if v.up else c("RUNSTATE_offline")
        call.put_field(arg, "vcpu_runstate_info", "state", state)
        return 0
    if cmd == c("VCPUOP_register_runstate_memory_area"):
        buf = call.read_struct(arg, "vcpu_register_runstate_memory_area")
        v.runstate_area = call.get(buf, "vcpu_register_runstate_memory_area", "addr.p")
        return 0
    if cmd == c("VCPUOP_set_periodic_timer"):
        buf = call.read_struct(arg, "vcpu_set_periodic_timer")
        period = call.get(buf, "vcpu_set_periodic_timer", "period_ns")
        if period < MILLISECS or period > STIME_DELTA_MAX:
            return -EINVAL
        v.periodic_ns = period
        return 0
    if cmd == c("VCPUOP_stop_periodic_timer"):
        v.periodic_ns = 0
        return 0
    if cmd == c("VCPUOP_set_singleshot_timer"):
        buf = call.read_struct(arg, "vcpu_set_singleshot_timer")
        timeout = call.get(buf, "vcpu_set_singleshot_timer", "timeout_abs_ns")
        if call.get(buf, "vcpu_set_singleshot_timer", "flags") & c("VCPU_SSHOTTMR_future") and timeout < hv.now_ns():
            return -ETIME
        v.singleshot_ns = timeout
        return 0
    if cmd == c("VCPUOP_stop_singleshot_timer"):
        v.singleshot_ns = 0
        return 0
    if cmd == c("VCPUOP_register_vcpu_info"):
        buf = call.read_struct(arg, "vcpu_register_vcpu_info")
        return register_vcpu_info(call, v, call.get(buf, "vcpu_register_vcpu_info", "mfn"),
                                  call.get(buf, "vcpu_register_vcpu_info", "offset"))
    if cmd == c("VCPUOP_send_nmi"):
        v.nmi_pending = True
        return 0
    if cmd == c("VCPUOP_get_physid"):
        if not call.d.is_hwdom:
            return -EINVAL
        call.put_field(arg, "vcpu_get_physid", "phys_id", v.vcpu_id)
        return 0
    if cmd == c("VCPUOP_register_vcpu_time_memory_area"):
        buf = call.read_struct(arg, "vcpu_register_time_memory_area")
        v.time_area = call.get(buf, "vcpu_register_time_memory_area", "addr.p")
        return 0
    return -ENOSYS


def register_vcpu_info(call, v, mfn: int, offset: int) -> int:
    """Xen's map_vcpu_info: move vcpu_info into a guest frame (the guest
    keeps it in a percpu variable), copying its current contents, then mark
    every event pending so that nothing raised meanwhile is lost."""
    hv, d = call.hv, v.domain
    size = d.abi.size("vcpu_info")
    if v is not call.v and v.up:
        return -EINVAL
    if v.vcpu_info_mfn != INVALID_MFN:
        return -EINVAL  # once only
    if offset > PAGE_SIZE - size:
        return -EINVAL
    if not hv.mm.get_page(mfn, d):
        return -EINVAL
    if hv.mm.get_page_type(mfn, PGT_WRITABLE, d):
        hv.mm.put_page(mfn)
        return -EINVAL
    new = (mfn << PAGE_SHIFT) + offset
    hv.mem.write(new, hv.mem.read(v.vcpu_info_maddr, size))
    v.vcpu_info_maddr = new
    v.vcpu_info_mfn = mfn
    pending, _ = hv.vcpu_info_field(v, "evtchn_upcall_pending")
    hv.mem.set_u8(pending, 1)
    sel, sel_size = hv.vcpu_info_field(v, "evtchn_pending_sel")
    hv.mem.set_uint(sel, sel_size, (1 << (8 * sel_size)) - 1)
    call.log("register_vcpu_info", vcpu=v.vcpu_id, maddr=new)
    return 0


# ---- trap table, stacks, FPU, debug registers ----
@hypercall("set_trap_table")
def set_trap_table(call) -> int:
    table = call.a["table"]
    v = call.v
    if table == 0:
        v.trap_table.clear()
        return 0
    size = call.abi.size("trap_info")
    for i in range(256):
        buf = call.read_struct(table + i * size, "trap_info")
        address = call.get(buf, "trap_info", "address")
        if address == 0:
            break
        if not call.d.rt.canonical(address):
            return -EINVAL
        v.trap_table[call.get(buf, "trap_info", "vector")] = (
            call.get(buf, "trap_info", "flags"), _guest_code_selector(call.d, call.get(buf, "trap_info", "cs")),
            address)
    return 0


def _guest_code_selector(d, sel: int) -> int:
    """fixup_guest_code_selector: an RPL below the guest kernel's ring is raised to it."""
    return sel if sel & 3 >= d.rt.guest_ring else (sel & ~3) | d.rt.guest_ring


@hypercall("stack_switch")
def stack_switch(call) -> int:
    ss = call.a["ss"] & 0xFFFF
    if ss & 3 < call.d.rt.guest_ring:  # fixup_guest_stack_selector
        ss = (ss & ~3) | call.d.rt.guest_ring
    call.v.kernel_ss, call.v.kernel_sp = ss, call.a["esp"]
    return 0


@hypercall("fpu_taskswitch")
def fpu_taskswitch(call) -> int:
    call.v.fpu_ts = call.a["set"] != 0
    return 0


@hypercall("set_debugreg")
def set_debugreg(call) -> int:
    reg, value, v = call.a["reg"], call.a["value"], call.v
    if 0 <= reg <= 3:
        if not _guest_addr_ok(call.d, value, call.d.rt.word):
            return -EPERM
        v.debugreg[reg] = value
        return 0
    if reg in (4, 6):
        if value >> 32:
            return -EINVAL
        v.debugreg[6] = value
        return 0
    if reg in (5, 7):
        if value >> 32:
            return -EINVAL
        if value & DR_GENERAL_DETECT:
            return -EPERM
        v.debugreg[7] = value
        return 0
    return -ENODEV


@hypercall("get_debugreg")
def get_debugreg(call) -> int:
    reg = call.a["reg"]
    if 0 <= reg <= 3 or reg in (6, 7):
        return call.v.debugreg[reg]
    if reg in (4, 5):
        return call.v.debugreg[reg + 2]
    return -ENODEV


# ---- descriptors ----
@hypercall("update_descriptor")
def update_descriptor(call) -> int:
    """do_update_descriptor: one descriptor, checked by check_descriptor and
    stored as Xen fixes it up, into a frame of the caller's. A frame that is
    (or was last) typed as a descriptor page stays one; any other must be
    one the guest may write."""
    ma, desc = call.a["ma"], call.a["desc"]
    hv, d = call.hv, call.d
    fixed = check_descriptor(d, desc)
    if ma % 8 or fixed is None:
        return -EINVAL
    mfn = ma >> PAGE_SHIFT
    if not hv.mm.get_page(mfn, d):
        return -EINVAL
    mem = hv.mem
    # A descriptor page whose validation failed has no type in Xen.
    seg_desc = mem.ptype[mfn] == PGT_SEG_DESC and (mem.tcount[mfn] or mem.validated[mfn])
    rc = hv.mm.get_page_type(mfn, PGT_SEG_DESC if seg_desc else PGT_WRITABLE, d)
    if rc == 0:
        mem.set_u64(ma, fixed)
        hv.mm.put_page_type(mfn)
        call.log("update_descriptor", ma=ma, desc=fixed)
    hv.mm.put_page(mfn)
    return rc and -EINVAL


@hypercall("set_gdt")
def set_gdt(call) -> int:
    """pv_set_gdt: up to 14 frames of descriptors (every one checked when a
    frame is first typed as a descriptor page) become the vCPU's GDT; the
    old frames are released. Segment registers keep what they loaded until
    they are reloaded (the emulated vCPU checks the new table then)."""
    entries = call.a["entries"]
    if entries > call.c("FIRST_RESERVED_GDT_ENTRY"):
        return -EINVAL
    nr = (entries * 8 + PAGE_SIZE - 1) // PAGE_SIZE
    frames = call.g.words(call.a["frame_list"], nr) if nr else []
    rc = install_gdt(call.hv, call.v, frames, entries)
    if rc == 0:
        call.log("set_gdt", frames=list(frames), entries=entries)
    return rc


def install_gdt(hv, v, frames: list[int], entries: int) -> int:
    """Make `frames` vCPU `v`'s GDT (each typed as a descriptor page, the
    old ones released); 0, or -EINVAL with nothing changed."""
    d = v.domain
    taken = []
    for mfn in frames:
        if hv.mm.get_page_and_type(mfn, d, PGT_SEG_DESC):
            for m in taken:
                hv.mm.put_page_and_type(m)
            return -EINVAL
        taken.append(mfn)
    for m in v.gdt_frames:
        hv.mm.put_page_and_type(m)
    v.gdt_frames, v.gdt_entries = taken, entries
    hv.space(d.rt.name).map_gdt_frames(v, taken)
    hv.flush_all_tlbs(d)
    return 0


# ---- segment bases and callbacks ----
@hypercall("set_segment_base")
def set_segment_base(call) -> int:
    d, v, c = call.d, call.v, call.c
    if d.rt.word != 8:
        return -ENOSYS  # x86_64 only: a 32-bit guest has no such hypercall
    which, base = call.a["which"], call.a["base"]
    if which in (c("SEGBASE_FS"), c("SEGBASE_GS_USER"), c("SEGBASE_GS_KERNEL")):
        if not d.rt.canonical(base):
            return -EINVAL
        if which == c("SEGBASE_FS"):
            v.fs_base = base
        elif which == c("SEGBASE_GS_USER"):
            v.gs_base_user = base
        else:
            v.gs_base_kernel = base
        if v.cpu is not None:
            v.cpu.sync_segment_bases()
        return 0
    if which == c("SEGBASE_GS_USER_SEL"):
        return _load_user_gs(call, base & 0xFFFF)
    return -EINVAL


def _load_user_gs(call, requested: int) -> int:
    """SEGBASE_GS_USER_SEL: Xen loads the user %gs selector itself, in ring
    0 with RPL 3 forced on a non-null one, from the vCPU's GDT or LDT, and
    keeps the base the descriptor gives as the user GS base. A selector that
    faults is replaced by the null one (base 0) and the hypercall still
    succeeds: Xen never fails it (Linux would BUG())."""
    hv, d, v = call.hv, call.d, call.v
    selector = requested | 3 if requested > 3 else 0
    base, why = 0, ""
    if selector:
        space = hv.space(d.rt.name)
        ldt_base, ldt_entries = v.ldt
        check = load_data_segment(hv.mem, d.rt, v.guest_table, selector, 0, (space.gdt_window(v), space.gdt_limit()),
                                  (ldt_base, ldt_entries * 8 - 1))
        if check.ok:
            base = descriptor_base(check.desc)
        else:
            selector, why = 0, check.reason
    v.gs_base_user = base
    call.log("load_user_gs", requested=requested, selector=selector, base=base, refused=why)
    return 0


@hypercall("set_callbacks")
def set_callbacks(call) -> int:
    """Each callback registered as CALLBACKOP_register would (a 64-bit
    non-canonical address is refused there); the result is always 0."""
    c, a = call.c, call.a
    for kind in ("event", "failsafe", "syscall"):
        if f"{kind}_address" in a:
            _register_callback(call, c(f"CALLBACKTYPE_{kind}"), a[f"{kind}_address"], a.get(f"{kind}_selector"))
    return 0


def _register_callback(call, type_: int, address: int, cs: int | None) -> int:
    """cs: the selector of a far-pointer callback (a 32-bit guest's xen_callback_t)."""
    if not call.d.rt.canonical(address):
        return -EINVAL
    call.v.callbacks[type_] = address
    if cs is not None:
        call.v.callback_cs[type_] = _guest_code_selector(call.d, cs & 0xFFFF)
    return 0


@hypercall("callback_op")
def callback_op(call) -> int:
    cmd, arg, c = call.a["cmd"], call.a["arg"], call.c
    types = {c("CALLBACKTYPE_event"), c("CALLBACKTYPE_failsafe"), c("CALLBACKTYPE_nmi"),
             c("CALLBACKTYPE_sysenter"), c("CALLBACKTYPE_syscall32")}
    if call.d.rt.word == 8:
        types.add(c("CALLBACKTYPE_syscall"))
    if cmd == c("CALLBACKOP_register"):
        buf = call.read_struct(arg, "callback_register")
        type_ = call.get(buf, "callback_register", "type")
        if type_ not in types:
            return -EINVAL
        if call.abi.field("callback_register", "address").type in call.abi.structs:  # {cs, eip}
            return _register_callback(call, type_, call.get(buf, "callback_register", "address.eip"),
                                      call.get(buf, "callback_register", "address.cs"))
        return _register_callback(call, type_, call.get(buf, "callback_register", "address"), None)
    if cmd == c("CALLBACKOP_unregister"):
        buf = call.read_struct(arg, "callback_unregister")
        if call.get(buf, "callback_unregister", "type") != c("CALLBACKTYPE_nmi"):
            return -EINVAL
        call.v.callbacks.pop(c("CALLBACKTYPE_nmi"), None)
        return 0
    return -ENOSYS


@hypercall("iret")
def iret(call) -> int:
    """HYPERVISOR_iret reads its frame from the guest stack at the caller's
    stack pointer: it needs the vCPU's registers, so the emulated vCPU does
    it (traps.py). Driven without one, the model has no frame to read."""
    cpu = call.v.cpu
    if cpu is None or cpu.traps is None:
        return -ENOSYS
    return cpu.traps.hypercall_iret()


@hypercall("nmi_op")
def nmi_op(call) -> int:
    cmd, c = call.a["cmd"], call.c
    if cmd == c("XENNMI_register_callback"):
        buf = call.read_struct(call.a["arg"], "xennmi_callback")
        call.v.callbacks[c("CALLBACKTYPE_nmi")] = call.get(buf, "xennmi_callback", "handler_address")
        return 0
    if cmd == c("XENNMI_unregister_callback"):
        call.v.callbacks.pop(c("CALLBACKTYPE_nmi"), None)
        return 0
    return -ENOSYS

