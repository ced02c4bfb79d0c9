"""physdev_op and platform_op subsets (xen/arch/x86/physdev.c,
platform_hypercall.c). The model has no devices: it answers the operations
any PV guest uses (eoi, irq_status_query, set_iopl, set_iobitmap,
get_free_pirq, pirq_eoi_gmfn) and refuses the privileged ones to a domU
with -EPERM, as Xen's default XSM policy does; for dom0 they succeed
without effect."""

from __future__ import annotations

from ...errors import EACCES, EBUSY, EINVAL, ENOSYS, EPERM
from .registry import hypercall
from ..memory import PGT_WRITABLE

NR_PIRQS = 256
# physdev sub-ops that need privilege under the default policy (see the
# "privileged sub-ops" comment in xen/abi.pv).
PRIVILEGED_PHYSDEV = ("PHYSDEVOP_apic_read", "PHYSDEVOP_apic_write", "PHYSDEVOP_alloc_irq_vector",
                      "PHYSDEVOP_map_pirq", "PHYSDEVOP_unmap_pirq", "PHYSDEVOP_manage_pci_add",
                      "PHYSDEVOP_manage_pci_remove", "PHYSDEVOP_manage_pci_add_ext", "PHYSDEVOP_pci_device_add",
                      "PHYSDEVOP_pci_device_remove", "PHYSDEVOP_restore_msi", "PHYSDEVOP_restore_msi_ext",
                      "PHYSDEVOP_prepare_msix", "PHYSDEVOP_release_msix", "PHYSDEVOP_setup_gsi",
                      "PHYSDEVOP_pci_mmcfg_reserved", "PHYSDEVOP_dbgp_op")


def _physdev(call, cmd: int, arg: int) -> int:
    c, d, hv = call.c, call.d, call.hv
    if cmd in {c(n) for n in PRIVILEGED_PHYSDEV}:
        if not d.privileged:
            return -EPERM
        if cmd == c("PHYSDEVOP_apic_read"):
            call.put_field(arg, "physdev_apic", "value", 0)
        return 0
    if cmd == c("PHYSDEVOP_eoi"):
        irq = call.get(call.read_struct(arg, "physdev_eoi"), "physdev_eoi", "irq")
        return -EINVAL if irq >= NR_PIRQS else 0
    if cmd == c("PHYSDEVOP_irq_status_query"):
        irq = call.get(call.read_struct(arg, "physdev_irq_status_query"), "physdev_irq_status_query", "irq")
        if irq >= NR_PIRQS:
            return -EINVAL
        call.put_field(arg, "physdev_irq_status_query", "flags", 0)
        return 0
    if cmd == c("PHYSDEVOP_set_iopl"):
        iopl = call.get(call.read_struct(arg, "physdev_set_iopl"), "physdev_set_iopl", "iopl")
        if iopl > 3:
            return -EINVAL
        d.iopl = iopl
        return 0
    if cmd == c("PHYSDEVOP_set_iobitmap"):
        buf = call.read_struct(arg, "physdev_set_iobitmap")
        return -EINVAL if call.get(buf, "physdev_set_iobitmap", "nr_ports") > 65536 else 0
    if cmd == c("PHYSDEVOP_get_free_pirq"):
        call.read_struct(arg, "physdev_get_free_pirq")
        call.put_field(arg, "physdev_get_free_pirq", "pirq", 16)
        return 0
    if cmd in (c("PHYSDEVOP_pirq_eoi_gmfn_v1"), c("PHYSDEVOP_pirq_eoi_gmfn_v2")):
        mfn = call.get(call.read_struct(arg, "physdev_pirq_eoi_gmfn"), "physdev_pirq_eoi_gmfn", "gmfn")
        if not hv.mm.get_page(mfn, d):
            return -EINVAL
        if hv.mm.get_page_type(mfn, PGT_WRITABLE, d):
            hv.mm.put_page(mfn)
            return -EINVAL
        if d.pirq_eoi_mfn is not None:
            hv.mm.put_page_and_type(mfn)
            return -EBUSY  # one map per domain
        d.pirq_eoi_mfn = mfn
        return 0
    if cmd == c("PHYSDEVOP_free_irq_vector"):
        return 0 if d.privileged else -EPERM
    return -ENOSYS


@hypercall("physdev_op")
def physdev_op(call) -> int:
    return _physdev(call, call.a["cmd"], call.a["arg"])


@hypercall("physdev_op_compat")
def physdev_op_compat(call) -> int:
    op = call.a["op"]
    buf = call.read_struct(op, "physdev_op")
    cmd = call.get(buf, "physdev_op", "cmd")
    cmd = cmd - (1 << 32) if cmd >= 1 << 31 else cmd
    return _physdev(call, cmd, op + call.abi.field("physdev_op", "u").offset)


@hypercall("platform_op")
def platform_op(call) -> int:
    """Only reached by a privileged domain (the dispatcher refuses others).
    struct xen_platform_op starts with u32 cmd, u32 interface_version."""
    head = call.g.read(call.a["op"], 8)
    cmd = int.from_bytes(head[:4], "little")
    if int.from_bytes(head[4:], "little") != call.c("XENPF_INTERFACE_VERSION"):
        return -EACCES
    if cmd in (call.c("XENPF_settime32"), call.c("XENPF_settime64"), call.c("XENPF_platform_quirk")):
        return 0
    return -ENOSYS

