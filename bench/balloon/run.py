"""Balloon speed: release and reclaim 1 GiB (262,144 frames) of a running
guest, on each arch, through the whole path a `vm mem-set` takes (the
toolstack writes memory/target, the guest kernel's watch fires over its
store ring, the compiled drivers.balloon hooks run on the emulated vCPU and
make the memory_op hypercalls in Linux-sized batches), against the raw cost
of the same hypercalls measured in the same run: the same number of frames
given back and populated again in the same batches, by calling the
hypervisor model's memory_op directly (no emulation, no guest, no xenstore).

    python3 bench/balloon/run.py                 # both arches, 1 GiB each way
    python3 bench/balloon/run.py --arch i386 --mib 256 --runs 1

Target: each of release and reclaim under 1 s. Prints one line per arch and
direction: seconds, frames/s, and the ratio of the raw hypercalls' time to
the whole path's (1.0 would mean the guest and toolstack cost nothing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pvdsl.runtime.host.server import Host  # noqa: E402
from pvdsl.runtime.xen.memory import PAGE_SHIFT, PAGE_SIZE  # noqa: E402

MIB = 1 << 20
SPEC = str(ROOT / "examples" / "irq.pv")


def guest_size(mib: int) -> int:
    """The smallest guest (MiB) that can give `mib` back above Linux's floor
    (minimum_target: 104 MiB + max/8 between 512 MiB and 2 GiB)."""
    size = mib + 128
    while size - mib < (104 + size // 8 if size < 2048 else 296 + size // 32):
        size += 64
    return size


def balloon_path(host: Host, name: str, mib: int) -> float:
    t = time.perf_counter()
    out = host.handle({"op": "mem-set", "name": name, "memory": mib * MIB})
    dt = time.perf_counter() - t
    assert out["mem"] == mib, f"{name} holds {out['mem']}M, asked {mib}M ({out.get('balloon')})"
    return dt


def raw_hypercalls(host: Host, name: str, frames: int) -> tuple[float, float]:
    """decrease_reservation then populate_physmap of `frames` frames of the
    guest, in its driver's batch, straight into the model's memory_op."""
    vm = host.vms[name]
    d, hv, k = vm.machine.guest, host.hv, vm.kernel
    abi, word = d.abi, d.rt.word
    batch = PAGE_SIZE // word  # a page of xen_pfn_t, which is a word on both arches: the driver's batch
    pfns = k.free_pages(frames)  # frames the balloon holds in its pool: nothing else uses them
    S = "xen_memory_reservation"
    res_va = d.kernel.alloc(abi.size(S), 16, "bench reservation")
    list_va = d.kernel.alloc(PAGE_SIZE, PAGE_SIZE, "bench frame list")
    v0 = d.vcpus[0]
    number = abi.hypercalls["memory_op"].number
    c = abi.c

    def run(cmd: str, values: list[int]) -> int:
        k.write_va(list_va, abi.pack_words(values))
        buf = bytearray(abi.size(S))
        abi.put(buf, S, "nr_extents", len(values))
        abi.put(buf, S, "extent_order", 0)
        abi.put(buf, S, "domid", c("DOMID_SELF"))
        abi.put(buf, S, "extent_start", list_va)
        k.write_va(res_va, bytes(buf))
        return hv.hypercall(v0, number, [c(cmd), res_va])

    t = time.perf_counter()
    for i in range(0, frames, batch):
        chunk = [d.p2m[p] for p in pfns[i:i + batch]]
        assert run("XENMEM_decrease_reservation", chunk) == len(chunk)
    released = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, frames, batch):
        chunk = pfns[i:i + batch]
        assert run("XENMEM_populate_physmap", chunk) == len(chunk)
    reclaimed = time.perf_counter() - t
    return released, reclaimed


def bench(arch: str, mib: int) -> dict:
    size = guest_size(mib)
    host = Host(memory=size * MIB + 160 * MIB, dom0_memory=32 * MIB)
    t = time.perf_counter()
    host.handle({"op": "create", "name": "g", "target": f"{arch}-domu", "spec": SPEC, "memory": size * MIB})
    boot = time.perf_counter() - t
    release = balloon_path(host, "g", size - mib)
    reclaim = balloon_path(host, "g", size)
    raw_release, raw_reclaim = raw_hypercalls(host, "g", mib << (20 - PAGE_SHIFT))
    assert not host.hv.check_invariants()
    return {"arch": arch, "guest_mib": size, "frames": mib << (20 - PAGE_SHIFT), "boot": boot,
            "release": release, "reclaim": reclaim, "raw_release": raw_release, "raw_reclaim": raw_reclaim}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=["x86_64", "i386", "both"], default="both")
    p.add_argument("--mib", type=int, default=1024, help="memory to release and reclaim (default 1024)")
    p.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    a = p.parse_args(argv)
    arches = ["x86_64", "i386"] if a.arch == "both" else [a.arch]
    print(f"balloon: release and reclaim {a.mib} MiB ({a.mib << 8:,} frames), best of {a.runs}")
    print(f"{'arch':<7} {'way':<8} {'seconds':>8} {'frames/s':>11} {'raw hc s':>9} {'raw/path':>9}  target < 1 s")
    for arch in arches:
        runs = [bench(arch, a.mib) for _ in range(a.runs)]
        for way in ("release", "reclaim"):
            best = min(runs, key=lambda r: r[way])
            raw = min(r[f"raw_{way}"] for r in runs)
            print(f"{arch:<7} {way:<8} {best[way]:>8.3f} {best['frames'] / best[way]:>11,.0f} {raw:>9.3f} "
                  f"{raw / best[way]:>9.2f}  {'met' if best[way] < 1.0 else 'MISSED'}")
        print(f"{arch:<7} (guest of {runs[0]['guest_mib']} MiB, booted in {min(r['boot'] for r in runs):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
