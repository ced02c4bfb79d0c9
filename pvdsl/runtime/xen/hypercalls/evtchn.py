"""event_channel_op (xen/common/event_channel.c, event_2l.c): the 2-level
ABI, with pending and mask bits in shared_info and the selector and
upcall-pending flag in each vCPU's vcpu_info."""

from __future__ import annotations

from ..domain import Channel
from ...errors import EEXIST, EINVAL, ENOENT, ENOSPC, ENOSYS, EPERM, ESRCH
from .registry import hypercall

RESERVED = -1  # port 0 (ECS_RESERVED)
DOMU_MAX_EVTCHNS = 1023  # Xen's default max_event_channels for a guest
PER_VCPU_VIRQS = ("VIRQ_TIMER", "VIRQ_DEBUG", "VIRQ_XENOPROF", "VIRQ_XENPMU")


def max_ports(d) -> int:
    limit = d.abi.c("EVTCHN_2L_NR_CHANNELS")
    return limit if d.privileged else min(limit, DOMU_MAX_EVTCHNS + 1)


def ensure_reserved(d) -> None:
    if 0 not in d.evtchns:
        d.evtchns[0] = Channel(RESERVED)


def get_free_port(d) -> int:
    ensure_reserved(d)
    for port in range(1, max_ports(d)):
        if port not in d.evtchns:
            return port
    return -ENOSPC


def valid(d, port: int) -> bool:
    return port in d.evtchns


def _free(hv, d, port: int) -> None:
    ch = d.evtchns.pop(port, None)
    hv.services.pop((d.domid, port), None)
    if ch is not None and ch.state == d.abi.c("EVTCHNSTAT_virq"):
        d.virq_port.pop((ch.vcpu, ch.virq), None)
    d.ipi_ports.discard(port)
    _clear_pending(hv, d, port)


def _bit(hv, d, array: str, port: int) -> tuple[int, int, int]:
    bits = 8 * d.abi.word
    word, bit = divmod(port, bits)
    f = d.abi.field("shared_info", f"{array}[{word}]")
    return (d.shared_info_mfn << 12) + f.offset, f.size, bit


def _clear_pending(hv, d, port: int) -> None:
    at, size, bit = _bit(hv, d, "evtchn_pending", port)
    hv.mem.set_uint(at, size, hv.mem.uint(at, size) & ~(1 << bit))


def unmask(hv, d, port: int) -> None:
    """evtchn_2l_unmask: clear the mask bit; a pending event then raises the upcall."""
    at, size, bit = _bit(hv, d, "evtchn_mask", port)
    hv.mem.set_uint(at, size, hv.mem.uint(at, size) & ~(1 << bit))
    p_at, p_size, _ = _bit(hv, d, "evtchn_pending", port)
    if hv.mem.uint(p_at, p_size) >> bit & 1:
        ch = d.evtchns.get(port)
        v = d.vcpu(ch.vcpu if ch else 0) or d.vcpus[0]
        hv.mark_selector(v, port // (8 * d.abi.word))


def close_port(hv, d, port: int) -> int:
    c = d.abi.c
    ch = d.evtchns.get(port)
    if ch is None or ch.state == RESERVED:
        return -EINVAL
    if ch.state == c("EVTCHNSTAT_interdomain"):
        rd = hv.domains.get(ch.remote_dom)
        peer = rd.evtchns.get(ch.remote_port) if rd is not None else None
        if peer is not None and peer.state == c("EVTCHNSTAT_interdomain"):
            peer.state, peer.remote_dom = c("EVTCHNSTAT_unbound"), d.domid
    _free(hv, d, port)
    return 0


def send(hv, d, port: int) -> int:
    c = d.abi.c
    ch = d.evtchns.get(port)
    if ch is None:
        return -EINVAL
    if ch.state == c("EVTCHNSTAT_interdomain"):
        rd = hv.domains.get(ch.remote_dom)
        service = hv.services.get((ch.remote_dom, ch.remote_port))
        if service is not None:
            service()
        elif rd is not None:
            hv.evtchn_set_pending(rd, ch.remote_port)
        return 0
    if ch.state == c("EVTCHNSTAT_ipi"):
        hv.evtchn_set_pending(d, port)
        return 0
    if ch.state == c("EVTCHNSTAT_unbound"):
        return 0  # silently dropped
    return -EINVAL


def alloc_unbound(hv, d, remote_dom: int) -> int:
    port = get_free_port(d)
    if port > 0:
        d.evtchns[port] = Channel(d.abi.c("EVTCHNSTAT_unbound"), remote_dom=remote_dom)
    return port


def bind_interdomain(hv, d, rd, rport: int) -> int:
    """A new port of `d` connected to `rd`'s port `rport`, which must be
    unbound and offered to `d`; the port, or a negative errno."""
    c = d.abi.c
    lport = get_free_port(d)
    if lport < 0:
        return lport
    rch = rd.evtchns.get(rport)
    if rch is None or rch.state != c("EVTCHNSTAT_unbound") or rch.remote_dom != d.domid:
        return -EINVAL
    d.evtchns[lport] = Channel(c("EVTCHNSTAT_interdomain"), remote_dom=rd.domid, remote_port=rport)
    rch.state, rch.remote_dom, rch.remote_port = c("EVTCHNSTAT_interdomain"), d.domid, lport
    # A notification sent to the unbound port may have been lost: Xen
    # conservatively raises the new local port.
    hv.evtchn_set_pending(d, lport)
    return lport


def _op(call, cmd: int, arg: int) -> int:
    hv, d, c = call.hv, call.d, call.c
    S = "evtchn_alloc_unbound"
    if cmd == c("EVTCHNOP_alloc_unbound"):
        buf = call.read_struct(arg, S)
        target = call.target_domain(call.get(buf, S, "dom"))
        if target is None:
            return -ESRCH
        if target is not d and not d.privileged:
            return -EPERM
        remote = call.get(buf, S, "remote_dom")
        port = alloc_unbound(hv, target, d.domid if remote == c("DOMID_SELF") else remote)
        if port < 0:
            return port
        call.put_field(arg, S, "port", port)
        return 0
    if cmd == c("EVTCHNOP_bind_interdomain"):
        S = "evtchn_bind_interdomain"
        buf = call.read_struct(arg, S)
        rdom = call.get(buf, S, "remote_dom")
        rd = d if rdom == c("DOMID_SELF") else hv.live_domain(rdom)
        if rd is None:
            return -ESRCH
        lport = bind_interdomain(hv, d, rd, call.get(buf, S, "remote_port"))
        if lport < 0:
            return lport
        call.put_field(arg, S, "local_port", lport)
        return 0
    if cmd == c("EVTCHNOP_bind_virq"):
        S = "evtchn_bind_virq"
        buf = call.read_struct(arg, S)
        virq, vcpu = call.get(buf, S, "virq"), call.get(buf, S, "vcpu")
        if virq >= c("NR_VIRQS"):
            return -EINVAL
        per_vcpu = virq in {c(n) for n in PER_VCPU_VIRQS}
        if not per_vcpu and vcpu != 0:
            return -EINVAL
        if d.vcpu(vcpu) is None:
            return -ENOENT
        if (vcpu, virq) in d.virq_port:
            return -EEXIST
        port = get_free_port(d)
        if port < 0:
            return port
        d.evtchns[port] = Channel(c("EVTCHNSTAT_virq"), vcpu=vcpu, virq=virq)
        d.virq_port[(vcpu, virq)] = port
        call.put_field(arg, S, "port", port)
        return 0
    if cmd == c("EVTCHNOP_bind_ipi"):
        S = "evtchn_bind_ipi"
        buf = call.read_struct(arg, S)
        vcpu = call.get(buf, S, "vcpu")
        if d.vcpu(vcpu) is None:
            return -ENOENT
        port = get_free_port(d)
        if port < 0:
            return port
        d.evtchns[port] = Channel(c("EVTCHNSTAT_ipi"), vcpu=vcpu)
        d.ipi_ports.add(port)
        call.put_field(arg, S, "port", port)
        return 0
    if cmd == c("EVTCHNOP_bind_pirq"):
        S = "evtchn_bind_pirq"
        buf = call.read_struct(arg, S)
        pirq = call.get(buf, S, "pirq")
        if pirq >= 256:
            return -EINVAL
        if not d.privileged:
            return -EPERM  # no physical IRQ was granted to this domain
        port = get_free_port(d)
        if port < 0:
            return port
        d.evtchns[port] = Channel(c("EVTCHNSTAT_pirq"), pirq=pirq)
        call.put_field(arg, S, "port", port)
        return 0
    if cmd == c("EVTCHNOP_close"):
        return close_port(hv, d, call.get(call.read_struct(arg, "evtchn_close"), "evtchn_close", "port"))
    if cmd == c("EVTCHNOP_send"):
        rc = send(hv, d, call.get(call.read_struct(arg, "evtchn_send"), "evtchn_send", "port"))
        if rc == 0:
            call.log("evtchn_send")
        return rc
    if cmd == c("EVTCHNOP_status"):
        return _status(call, arg)
    if cmd == c("EVTCHNOP_bind_vcpu"):
        S = "evtchn_bind_vcpu"
        buf = call.read_struct(arg, S)
        port, vcpu = call.get(buf, S, "port"), call.get(buf, S, "vcpu")
        if d.vcpu(vcpu) is None:
            return -ENOENT
        ch = d.evtchns.get(port)
        if ch is None:
            return -EINVAL
        ok = (c("EVTCHNSTAT_unbound"), c("EVTCHNSTAT_interdomain"), c("EVTCHNSTAT_pirq"))
        if ch.state in ok or (ch.state == c("EVTCHNSTAT_virq") and ch.virq not in {c(n) for n in PER_VCPU_VIRQS}):
            ch.vcpu = vcpu
            return 0
        return -EINVAL
    if cmd == c("EVTCHNOP_unmask"):
        port = call.get(call.read_struct(arg, "evtchn_unmask"), "evtchn_unmask", "port")
        if not valid(d, port):
            return -EINVAL
        unmask(hv, d, port)
        return 0
    if cmd == c("EVTCHNOP_reset"):
        target = call.target_domain(call.get(call.read_struct(arg, "evtchn_reset"), "evtchn_reset", "dom"))
        if target is None:
            return -ESRCH
        if target is not d and not d.privileged:
            return -EPERM
        for port in [p for p in target.evtchns if p]:
            close_port(hv, target, port)
        return 0
    return -ENOSYS  # FIFO ABI (init_control, expand_array, set_priority): not modelled


def _status(call, arg: int) -> int:
    d, c = call.d, call.c
    S = "evtchn_status"
    buf = call.read_struct(arg, S)
    target = call.target_domain(call.get(buf, S, "dom"))
    if target is None:
        return -ESRCH
    if target is not d and not d.privileged:
        return -EPERM
    port = call.get(buf, S, "port")
    ch = target.evtchns.get(port)
    if ch is None:
        return -EINVAL
    out = bytearray(len(buf))
    call.abi.put(out, S, "dom", call.get(buf, S, "dom"))
    call.abi.put(out, S, "port", port)
    state = c("EVTCHNSTAT_closed") if ch.state == RESERVED else ch.state
    call.abi.put(out, S, "status", state)
    call.abi.put(out, S, "vcpu", ch.vcpu)
    if state == c("EVTCHNSTAT_unbound"):
        call.abi.put(out, S, "u.unbound.dom", ch.remote_dom)
    elif state == c("EVTCHNSTAT_interdomain"):
        call.abi.put(out, S, "u.interdomain.dom", ch.remote_dom)
        call.abi.put(out, S, "u.interdomain.port", ch.remote_port)
    elif state == c("EVTCHNSTAT_virq"):
        call.abi.put(out, S, "u.virq", ch.virq)
    elif state == c("EVTCHNSTAT_pirq"):
        call.abi.put(out, S, "u.pirq", ch.pirq)
    call.g.write(arg, bytes(out))
    return 0


@hypercall("event_channel_op")
def event_channel_op(call) -> int:
    return _op(call, call.a["cmd"], call.a["arg"])


@hypercall("event_channel_op_compat")
def event_channel_op_compat(call) -> int:
    op = call.a["op"]
    buf = call.read_struct(op, "evtchn_op")
    cmd = call.get(buf, "evtchn_op", "cmd")
    cmd = cmd - (1 << 32) if cmd >= 1 << 31 else cmd
    return _op(call, cmd, op + call.abi.field("evtchn_op", "u").offset)

