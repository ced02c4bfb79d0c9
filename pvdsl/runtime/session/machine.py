"""From a spec to a running machine, in one process and in memory.

`build_backends` compiles a spec for one target the way `pvdsl build` does
(pvdsl.sema.program.check_each + pvdsl.target.build.build_program), keeping
the objects and manifests in memory, plus each hook's argument sizes (which
the manifest does not record). `Machine` is one simulated host: for a Xen
role, dom0 (privileged) and one domU of the target's arch, with the backend
loaded into the domain of its role; for the native role, a bare-metal
machine with no hypervisor.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ...arch import Target
from ...diagnostics import Diagnostics
from ..host.builder import MIB, build_native_machine, build_pv_domain
from ..cpu.calls import CallResult, HookCaller
from ..xen.hypervisor import Hypervisor
from ..guest.loader import LoadedBackend, load_object
from ..cpu.vcpu import EmulatedCpu

HOST_POOL_BYTES = 16 * MIB  # free machine memory for ballooning up
XEN_RESERVE_BYTES = 2 * MIB  # Xen's own frames (GDT, stubs, tables, shared_info)
PEER_DOMU_BYTES = 16 * MIB  # the domU next to a dom0 backend
DOM0_ID, DOMU_ID = 0, 1


class SpecError(Exception):
    """The spec did not check or build; the message is the compiler's diagnostics."""


@dataclass
class BuiltBackend:
    name: str
    target: Target
    obj: bytes
    manifest: dict
    signatures: dict[str, tuple[tuple[int, ...], int]] = field(default_factory=dict)
    params: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # hook -> [(name, type)]
    consts: dict[str, int] = field(default_factory=dict)
    program: object = None


_BUILT: dict[tuple, tuple[tuple, list[BuiltBackend]]] = {}


def _sources_now(built: list[BuiltBackend], dirs: list[Path]) -> tuple:
    """What a build depended on, as it is on disk now: the text of every
    file it read, and which .pv files the directories it searched hold (a
    new file there could be what an import finds next time)."""
    texts = []
    for b in built:
        for unit in getattr(b.program, "units", ()):
            try:
                texts.append((str(unit.path), Path(unit.path).read_text()))
            except (OSError, UnicodeDecodeError):
                texts.append((str(unit.path), None))
    listing = tuple(sorted(str(p) for d in dirs if d.is_dir() for p in d.glob("*.pv")))
    return tuple(sorted(texts)), listing


def build_backends_cached(spec: str | Path, target: Target, include=(), backend: str | None = None
                          ) -> list[BuiltBackend]:
    """build_backends, reusing this process's last build of the same spec
    for the same target while none of the files it read (nor the .pv files
    beside them) changed: `vm create` and every restore or arriving
    migration of a guest build its spec, and a GiB guest's restore should
    not spend a seventh of its time compiling what it compiled before.
    A process new to the spec takes another's build of it from disk on the
    same terms (build_store.py)."""
    path = Path(spec).resolve()
    dirs = [path.parent, *(Path(p).resolve() for p in include)]
    key = (str(path), target.name, tuple(str(p) for p in include), backend)
    hit = _BUILT.get(key)
    if hit is not None and hit[0] == _sources_now(hit[1], dirs):
        return hit[1]
    from .build_store import load, store

    hit = load(key, lambda b: _sources_now(b, dirs))  # another process's build of it
    if hit is not None:
        _BUILT[key] = hit
        return hit[1]
    built = build_backends(spec, target, include, backend)
    if built:  # (an empty answer names no file to watch)
        _BUILT[key] = (_sources_now(built, dirs), built)
        store(key, *_BUILT[key])
    return built


def build_backends(spec: str | Path, target: Target, include=(), backend: str | None = None) -> list[BuiltBackend]:
    from ...sema.program import check_each
    from ...target.build import build_program
    from ...target.objects import BuildError

    diags = Diagnostics()
    programs = check_each([Path(spec)], diags, [Path(p) for p in include])
    if diags.has_errors:
        raise SpecError(diags.render())
    out: list[BuiltBackend] = []
    for program in programs:
        try:
            result = build_program(program, [target], Path("."), emit=("obj", "manifest"))
        except BuildError as err:
            raise SpecError(str(err)) from None
        view = program.view(target.arch.name)
        for name, _tname, compiled in result.built:
            if backend is not None and name != backend:
                continue
            manifest = json.loads(result.files[Path(f"{name}-{target.name}.manifest.json")])
            sigs = {f"{h.table}.{h.hook}": (tuple(view.layouts.size(t) for _n, t in h.params),
                                            0 if h.ret.spell() == "void" else view.layouts.size(h.ret))
                    for h in compiled.lowered.hooks}
            params = {f"{h.table}.{h.hook}": [(n, t.spell()) for n, t in h.params] for h in compiled.lowered.hooks}
            consts = {n: v for n, (_t, v) in view.consts.items() if isinstance(v, int)}
            out.append(BuiltBackend(name, target, compiled.obj, manifest, sigs, params, consts, program))
    return out


class Machine:
    """A simulated host running one backend."""

    def __init__(self, built: BuiltBackend, memory: int = 128 * MIB, dom0_memory: int = 64 * MIB,
                 vcpus: int = 1, count_instructions: bool = True, clobber_args: bool = True,
                 budget: int = 1_000_000, timeout: float = 5.0, kernel_bytes: int = 1 * MIB,
                 max_memory: int | None = None):
        self.built = built
        target = built.target
        self.role, arch = target.role, target.arch.name
        if target.role == "native":
            self.hv = Hypervisor(memory + XEN_RESERVE_BYTES, clobber_args=clobber_args)
            self.guest = build_native_machine(self.hv, arch, memory, vcpus, kernel_bytes)
            self.dom0 = self.domu = None
        else:
            # `memory` is the size of the domain the backend runs in; the
            # other one is dom0 (dom0_memory) or, for a dom0 backend, a small domU.
            if target.role == "dom0":
                dom0_memory, domu_memory = memory, PEER_DOMU_BYTES
            else:
                domu_memory = memory
            self.hv = Hypervisor(dom0_memory + domu_memory + HOST_POOL_BYTES + XEN_RESERVE_BYTES,
                                 clobber_args=clobber_args)
            self.dom0 = build_pv_domain(self.hv, arch, dom0_memory, DOM0_ID, True,
                                        nr_vcpus=vcpus if target.role == "dom0" else 1, kernel_bytes=kernel_bytes)
            self.domu = build_pv_domain(self.hv, arch, domu_memory, DOMU_ID, False,
                                        nr_vcpus=vcpus if target.role == "domu" else 1, kernel_bytes=kernel_bytes,
                                        max_bytes=max_memory, console_backend=DOM0_ID)
            self.guest = self.dom0 if target.role == "dom0" else self.domu
        self.cpus = [EmulatedCpu(self.hv, v, count_instructions) for v in self.guest.vcpus]
        self.loaded: LoadedBackend = load_object(self.hv, self.guest, built.obj, built.manifest, built.signatures,
                                                 self.cpus, name=f"{built.name}-{target.name}.o")
        self.callers = [HookCaller(cpu, self.loaded, budget, timeout) for cpu in self.cpus]
        # What booting cost (percpu setup, vcpu_info registration): kept apart
        # from what the workload's hooks do.
        self.boot_stats = Counter(self.hv.stats.get(self.guest.domid, {}))

    def call(self, hook: str, *args: int, vcpu: int = 0, patched: bool = False, **kw) -> CallResult:
        return self.callers[vcpu].call(hook, *args, patched=patched, **kw)

    # ---- the model state tests and workloads look at ----
    def vcpu_info(self, field_path: str, vcpu: int = 0) -> int:
        v = self.guest.vcpus[vcpu]
        at, size = self.hv.vcpu_info_field(v, field_path)
        return self.hv.mem.uint(at, size)

    def set_vcpu_info(self, field_path: str, value: int, vcpu: int = 0) -> None:
        v = self.guest.vcpus[vcpu]
        at, size = self.hv.vcpu_info_field(v, field_path)
        self.hv.mem.set_uint(at, size, value)

    def deliver_events(self, vcpu: int = 0) -> list[int]:
        """What Linux's upcall handler (xen_evtchn_do_upcall) does once events
        are unmasked: clear upcall_pending and the selector, collect and clear
        the pending, unmasked ports. Returns those ports."""
        v = self.guest.vcpus[vcpu]
        d, mem = self.guest, self.hv.mem
        if d.native or not self.vcpu_info("evtchn_upcall_pending", vcpu):
            return []
        self.set_vcpu_info("evtchn_upcall_pending", 0, vcpu)
        sel = self.vcpu_info("evtchn_pending_sel", vcpu)
        self.set_vcpu_info("evtchn_pending_sel", 0, vcpu)
        ports, bits = [], 8 * d.abi.word
        si = d.shared_info_mfn << 12
        for word in range(bits):
            if not sel >> word & 1:
                continue
            pf = d.abi.field("shared_info", f"evtchn_pending[{word}]")
            mf = d.abi.field("shared_info", f"evtchn_mask[{word}]")
            pending = mem.uint(si + pf.offset, pf.size) & ~mem.uint(si + mf.offset, mf.size)
            for bit in range(bits):
                if pending >> bit & 1:
                    ports.append(word * bits + bit)
            mem.set_uint(si + pf.offset, pf.size, mem.uint(si + pf.offset, pf.size) & ~pending)
        self.hv.log(v, "upcall_delivered", {"ports": ports})
        return ports

    # ---- values a workload can name ($cr3, $ptep ...) ----
    SYMBOLS = ("cr0", "cr3", "cr4", "scratch", "scratch_ma", "va", "ptep", "pte_ma", "pte", "mfn", "pt")

    def symbol(self, name: str, vcpu: int = 0) -> int:
        """Handy argument values: `cr0` / `cr4` what the vCPU's control
        register holds; `cr3` the current root's machine address;
        `scratch` a zeroed, writable kernel page (`scratch_ma` its machine
        address); `va` a mapped kernel page nothing uses, `pte_ma` the machine
        address of the L1 entry that maps it and `ptep` the value a set_pte
        hook takes for that entry (Xen roles: the machine address, as the
        example backends expect; native: its virtual address); `mfn` a frame
        of the domain outside the boot mapping and `pte` an entry mapping it
        present+writable; `pt` the virtual address of the root page table."""
        from ..xen.paging import translate, walk

        d, k, mem = self.guest, self.guest.kernel, self.hv.mem
        if name in ("cr0", "cr4"):
            return self.cpus[vcpu].control_register(int(name[2]))
        if name == "cr3":
            return d.vcpus[vcpu].guest_table << 12
        if name in ("scratch", "scratch_ma"):
            if not hasattr(self, "_scratch"):
                self._scratch = k.alloc(4096, 4096, "workload scratch page")
            return self._scratch if name == "scratch" else translate(mem, d.rt, k.root_mfn, self._scratch)
        va = k.v_end - 4096
        if name == "va":
            return va
        if name in ("ptep", "pte_ma"):
            w = walk(mem, d.rt, d.vcpus[vcpu].guest_table, va)
            ma = w.tables[-1] + d.rt.indices(va)[-1] * 8
            if name == "pte_ma" or not d.native:
                return ma
            return k.va_of(d.pfn_of[ma >> 12]) + (ma & 4095)
        mfn = d.p2m[((k.v_end - k.virt_base) >> 12) + 8]
        if name == "mfn":
            return mfn
        if name == "pte":
            return mfn << 12 | 0x63  # present, writable, accessed, dirty
        if name == "pt":
            return k.pt_va
        raise KeyError(f"unknown symbol ${name} (known: {', '.join('$' + s for s in self.SYMBOLS)})")
