"""xen_version, console_io, vm_assist, multicall (xen/common/kernel.c,
drivers/char/console.c, common/multicall.c)."""

from __future__ import annotations

from ...errors import EINVAL, ENODATA, ENOSYS, EPERM
from .registry import hypercall

# Buffer sizes of version.h's string types (char arrays, not structs).
XEN_EXTRAVERSION_LEN = 16
XEN_CAPABILITIES_INFO_LEN = 1024
XEN_CHANGESET_INFO_LEN = 64
XEN_COMPILE_INFO_LEN = 64 + 16 + 32 + 32  # compiler, compile_by, compile_domain, compile_date
XEN_DOMAIN_HANDLE_LEN = 16
XEN_COMMANDLINE_LEN = 1024
CONSOLE_LOG_LIMIT = 1 << 20
MULTICALL_MAX_DEPTH = 1  # Xen refuses a multicall inside a multicall


def _cstr(text: str, size: int) -> bytes:
    raw = text.encode()[:size - 1]
    return raw + bytes(size - len(raw))


@hypercall("xen_version")
def xen_version(call) -> int:
    from ..hypervisor import XEN_VERSION

    cmd, arg, c = call.a["cmd"], call.a["arg"], call.c
    d = call.d
    if cmd == c("XENVER_version"):
        return XEN_VERSION[0] << 16 | XEN_VERSION[1]
    if cmd == c("XENVER_extraversion"):
        call.g.write(arg, _cstr(".0-pvdsl", XEN_EXTRAVERSION_LEN))
        return 0
    if cmd == c("XENVER_compile_info"):
        call.g.write(arg, _cstr("pvdsl model", 64) + _cstr("pvdsl", 16) + _cstr("localdomain", 32)
                     + _cstr("", 32))
        return 0
    if cmd == c("XENVER_capabilities"):
        call.g.write(arg, _cstr(d.rt.capabilities.strip(), XEN_CAPABILITIES_INFO_LEN))
        return 0
    if cmd == c("XENVER_changeset"):
        call.g.write(arg, _cstr("unavailable", XEN_CHANGESET_INFO_LEN))
        return 0
    if cmd == c("XENVER_platform_parameters"):
        call.put_field(arg, "xen_platform_parameters", "virt_start", c("HYPERVISOR_VIRT_START"))
        return 0
    if cmd == c("XENVER_get_features"):
        buf = call.read_struct(arg, "xen_feature_info")
        if call.get(buf, "xen_feature_info", "submap_idx") >= c("XENFEAT_NR_SUBMAPS"):
            return -EINVAL
        call.put_field(arg, "xen_feature_info", "submap", features(call))
        return 0
    if cmd == c("XENVER_pagesize"):
        return 1 << 12
    if cmd == c("XENVER_guest_handle"):
        call.g.write(arg, d.domid.to_bytes(XEN_DOMAIN_HANDLE_LEN, "little"))
        return 0
    if cmd == c("XENVER_commandline"):
        if not d.privileged:  # xsm_xen_version: XSM_PRIV
            return -EPERM
        call.g.write(arg, _cstr("console=com1 dom0_mem=auto", XEN_COMMANDLINE_LEN))
        return 0
    if cmd == c("XENVER_build_id"):
        return -EPERM if not d.privileged else -ENODATA  # this Xen was built without a build id
    return -ENOSYS


def features(call) -> int:
    """XENVER_get_features submap 0 for a PV guest (kernel.c)."""
    c, d = call.c, call.d
    bits = [c("XENFEAT_memory_op_vnode_supported"), c("XENFEAT_mmu_pt_update_preserve_ad"),
            c("XENFEAT_highmem_assist"), c("XENFEAT_gnttab_map_avail_bits")]
    if d.is_hwdom:
        bits.append(c("XENFEAT_dom0"))
    if d.vm_assist >> c("VMASST_TYPE_pae_extended_cr3") & 1:
        bits.append(c("XENFEAT_pae_pgdir_above_4gb"))
    if d.vm_assist >> c("VMASST_TYPE_writable_pagetables") & 1:
        bits.append(c("XENFEAT_writable_page_tables"))
    return sum(1 << b for b in bits)


@hypercall("console_io")
def console_io(call) -> int:
    cmd, count, buf = call.a["cmd"], call.a["count"], call.a["buffer"]
    d = call.d
    if cmd == call.c("CONSOLEIO_write"):
        # guest_console_write copies in chunks: what was copied before a
        # fault is printed, then -EFAULT.
        done = 0
        while done < count:
            chunk = min(128, count - done)
            data = call.g.read(buf + done, chunk)
            d.console += data
            done += chunk
        if len(d.console) > CONSOLE_LOG_LIMIT:
            del d.console[:len(d.console) - CONSOLE_LOG_LIMIT]
        call.log("console", count=count)
        return 0
    if cmd == call.c("CONSOLEIO_read"):
        return 0  # Xen's console ring is empty in the model
    return -ENOSYS


@hypercall("vm_assist")
def vm_assist(call) -> int:
    cmd, type_ = call.a["cmd"], call.a["type"]
    d, c = call.d, call.c
    valid = [c("VMASST_TYPE_4gb_segments"), c("VMASST_TYPE_4gb_segments_notify"),
             c("VMASST_TYPE_writable_pagetables"), c("VMASST_TYPE_pae_extended_cr3"),
             c("VMASST_TYPE_architectural_iopl"), c("VMASST_TYPE_runstate_update_flag")]
    if d.rt.word == 8:
        valid.append(c("VMASST_TYPE_m2p_strict"))
    if type_ >= 8 * d.rt.word or type_ not in valid:
        return -EINVAL
    if cmd == c("VMASST_CMD_enable"):
        d.vm_assist |= 1 << type_
        return 0
    if cmd == c("VMASST_CMD_disable"):
        d.vm_assist &= ~(1 << type_)
        return 0
    return -ENOSYS


@hypercall("multicall")
def multicall(call) -> int:
    hv, abi = call.hv, call.abi
    base, n = call.a["call_list"], call.a["nr_calls"]
    size = abi.size("multicall_entry")
    depth = call.v.multicall_depth
    if depth >= MULTICALL_MAX_DEPTH:
        return -EINVAL
    call.v.multicall_depth = depth + 1
    try:
        for i in range(n):
            entry = base + i * size
            buf = call.read_struct(entry, "multicall_entry")
            op = abi.get(buf, "multicall_entry", "op")
            args = [abi.get(buf, "multicall_entry", f"args[{j}]") for j in range(6)]
            rc = hv.hypercall(call.v, op, args) if op != abi.hypercalls["multicall"].number else -EINVAL
            call.put_field(entry, "multicall_entry", "result", rc)
    finally:
        call.v.multicall_depth = depth
    return 0

