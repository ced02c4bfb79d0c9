"""sched_op, sched_op_compat, set_timer_op (xen/common/sched/core.c).

The model has no scheduler: "block" records that the vCPU blocked (with
events enabled, as Xen's vcpu_block_enable_events does) and returns at once,
as if an event had woken it; "poll" returns at once when a polled port is
pending and otherwise records a block; "shutdown" records the reason.
"""

from __future__ import annotations

from ...errors import EBUSY, EINVAL, ENOSYS, EPERM, ESRCH
from .registry import hypercall

NR_DOMAIN_WATCHDOG_TIMERS = 2  # xen/include/xen/sched.h
SCHED_POLL_MAX_PORTS = 128  # do_poll


def enable_events_and_block(call) -> int:
    hv, v = call.hv, call.v
    at, _ = hv.vcpu_info_field(v, "evtchn_upcall_mask")
    hv.mem.set_u8(at, 0)
    pending_at, _ = hv.vcpu_info_field(v, "evtchn_upcall_pending")
    v.blocked += 1
    call.log("block", events_enabled=True, pending=bool(hv.mem.u8(pending_at)))
    return 0


def shutdown(call, d, reason: int) -> int:
    reason &= 0xFF  # domain_shutdown(d, (u8)reason)
    d.shutdown_reason = reason
    if reason == call.c("SHUTDOWN_suspend"):
        d.suspend_count += 1
    call.log("shutdown", domid=d.domid, reason=reason)
    return 0


def _port_pending(call, port: int) -> bool:
    d = call.d
    bits = 8 * d.abi.word
    word, bit = divmod(port, bits)
    f = d.abi.field("shared_info", f"evtchn_pending[{word}]")
    return bool(call.hv.mem.uint((d.shared_info_mfn << 12) + f.offset, f.size) >> bit & 1)


@hypercall("sched_op")
def sched_op(call) -> int:
    cmd, arg, c = call.a["cmd"], call.a["arg"], call.c
    if cmd == c("SCHEDOP_yield"):
        call.log("yield")
        return 0
    if cmd == c("SCHEDOP_block"):
        return enable_events_and_block(call)
    if cmd == c("SCHEDOP_shutdown"):
        buf = call.read_struct(arg, "sched_shutdown")
        return shutdown(call, call.d, call.get(buf, "sched_shutdown", "reason"))
    if cmd == c("SCHEDOP_shutdown_code"):
        buf = call.read_struct(arg, "sched_shutdown")
        call.d.shutdown_code = call.get(buf, "sched_shutdown", "reason") & 0xFF
        return 0
    if cmd == c("SCHEDOP_poll"):
        return _poll(call, arg)
    if cmd == c("SCHEDOP_remote_shutdown"):
        buf = call.read_struct(arg, "sched_remote_shutdown")
        target = call.hv.live_domain(call.get(buf, "sched_remote_shutdown", "domain_id"))
        if target is None:
            return -ESRCH
        if not call.d.privileged:
            return -EPERM  # xsm_schedop_shutdown: XSM_DM_PRIV
        return shutdown(call, target, call.get(buf, "sched_remote_shutdown", "reason"))
    if cmd == c("SCHEDOP_watchdog"):
        buf = call.read_struct(arg, "sched_watchdog")
        return _watchdog(call, call.get(buf, "sched_watchdog", "id"), call.get(buf, "sched_watchdog", "timeout"))
    if cmd == c("SCHEDOP_pin_override"):
        if not call.d.is_hwdom:
            return -EPERM
        buf = call.read_struct(arg, "sched_pin_override")
        pcpu = call.get(buf, "sched_pin_override", "pcpu")
        return 0 if pcpu in (-1, 0) else -EINVAL  # one physical CPU
    return -ENOSYS


def _poll(call, arg: int) -> int:
    buf = call.read_struct(arg, "sched_poll")
    nr = call.get(buf, "sched_poll", "nr_ports")
    ports_va = call.get(buf, "sched_poll", "ports")
    if nr > SCHED_POLL_MAX_PORTS:
        return -EINVAL
    call.v.polling = []
    for i in range(nr):
        port = int.from_bytes(call.g.read(ports_va + 4 * i, 4), "little")
        if port >= _max_ports(call.d):
            return -EINVAL
        call.v.polling.append(port)
        if _port_pending(call, port):
            call.v.polling = []
            return 0
    call.v.blocked += 1
    call.log("poll", ports=list(call.v.polling))
    call.v.polling = []
    return 0


def _max_ports(d) -> int:
    return d.abi.c("EVTCHN_2L_NR_CHANNELS")


def _watchdog(call, wid: int, timeout: int) -> int:
    d = call.d
    if wid > NR_DOMAIN_WATCHDOG_TIMERS:
        return -EINVAL
    if wid == 0:
        if timeout == 0:
            return -EINVAL
        for i in range(1, NR_DOMAIN_WATCHDOG_TIMERS + 1):
            if i not in d.watchdogs:
                d.watchdogs[i] = timeout
                return i
        return -EBUSY
    if wid not in d.watchdogs:
        return -EINVAL
    if timeout == 0:
        del d.watchdogs[wid]
    else:
        d.watchdogs[wid] = timeout
    return 0


@hypercall("sched_op_compat")
def sched_op_compat(call) -> int:
    cmd, c = call.a["cmd"], call.c
    if cmd == c("SCHEDOP_yield"):
        return 0
    if cmd == c("SCHEDOP_block"):
        return enable_events_and_block(call)
    if cmd == c("SCHEDOP_shutdown"):
        return shutdown(call, call.d, call.a["arg"])
    return -ENOSYS


@hypercall("set_timer_op")
def set_timer_op(call) -> int:
    call.v.singleshot_ns = call.a["timeout"]
    return 0

