"""The toolstack's memory verbs, as libxl_mem.c does them for `xl mem-set`
and `xl mem-max` on a PV domain.

mem-set (libxl_set_memory_target with enforce, as xl calls it): reads
memory/target and memory/static-max, refuses a target above static-max,
sets the domain's max_pages to the new target plus LIBXL_MAXMEM_CONSTANT
(XEN_DOMCTL_max_mem), then writes memory/target and /vm/<uuid>/memory, all
in one transaction retried on EAGAIN. The guest's balloon driver watches
memory/target and does the rest.

mem-max (libxl_domain_setmaxmem): refuses a maximum below the current
target, then sets max_pages to it plus the constant; memory/static-max is
left as it is, as libxl leaves it.
"""

from __future__ import annotations

from ..xen.memory import PAGE_SHIFT
from ..xenstore.store import XsError

LIBXL_MAXMEM_CONSTANT_KIB = 1024  # libxl__arch_extra_memory on x86
KIB_SHIFT = PAGE_SHIFT - 10


class MemoryError_(Exception):
    """A refused request, with the field at fault."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def _read_kib(xs, path: str, what: str, tx: int = 0) -> int:
    try:
        raw = xs.request("XS_READ", path, tx=tx).decode(errors="replace")
    except XsError:
        raise MemoryError_(f"cannot get {what} from {path}", "name") from None
    if not raw.isdigit():
        raise MemoryError_(f"invalid {what} {raw!r} in {path}", "name")
    return int(raw)


def set_max_pages(d, kib: int) -> None:
    """XEN_DOMCTL_max_mem: max_pages in pages; a domain may hold more than
    that already (Xen lets it keep them, it just gets no more)."""
    d.max_pages = kib >> KIB_SHIFT


def mem_set(host, vm, target_kib: int) -> dict:
    xs, domid = host.xenstore, vm.domid
    dom = f"/local/domain/{domid}"
    if target_kib < 0:
        raise MemoryError_("the memory target cannot be negative", "memory")
    result = {}

    def body(tx: int) -> None:
        static_max = _read_kib(xs, f"{dom}/memory/static-max", "max memory", tx)
        _read_kib(xs, f"{dom}/memory/target", "target memory", tx)
        try:
            videoram = int(xs.request("XS_READ", f"{dom}/memory/videoram", tx=tx) or b"0")
        except (XsError, ValueError):
            videoram = 0
        new_target = target_kib - videoram
        if new_target > static_max:
            raise MemoryError_(f"memory_dynamic_max must be less than or equal to memory_static_max "
                               f"({target_kib >> 10}M asked, static-max {static_max >> 10}M; raise it with "
                               f"the domain's configuration, not mem-max)", "memory")
        set_max_pages(vm.machine.guest, new_target + videoram + LIBXL_MAXMEM_CONSTANT_KIB)
        xs.write(f"{dom}/memory/target", str(new_target), tx)
        uuid = xs.uuids.get(domid)
        if uuid:
            xs.write(f"/vm/{uuid}/memory", str(new_target >> 10), tx)
        result["target_kib"] = new_target

    xs.transaction(body)
    return result


def mem_max(host, vm, max_kib: int) -> dict:
    xs, dom = host.xenstore, f"/local/domain/{vm.domid}"
    target = _read_kib(xs, f"{dom}/memory/target", "memory info")
    if max_kib < target:
        raise MemoryError_(f"memory_static_max must be greater than or equal to memory_dynamic_max "
                           f"({max_kib >> 10}M asked, target {target >> 10}M)", "memory")
    set_max_pages(vm.machine.guest, max_kib + LIBXL_MAXMEM_CONSTANT_KIB)
    return {"max_kib": max_kib}


def memory_row(host, vm) -> dict:
    """What `vm list` shows: current (tot_pages), target and maximum, in MiB."""
    xs, dom = host.xenstore, f"/local/domain/{vm.domid}"
    d = vm.machine.guest
    row = {"mem": d.tot_pages >> (20 - PAGE_SHIFT), "max_pages": d.max_pages}
    for key, path in (("target", "memory/target"), ("static_max", "memory/static-max")):
        try:
            row[key] = int(xs.read(f"{dom}/{path}")) >> 10
        except (XsError, ValueError):
            row[key] = None
    balloon = getattr(vm, "kernel", None) and vm.kernel.balloon
    if balloon is not None:
        row["balloon"] = balloon.stats()
    return row

