"""Random hypercalls from a domU, for the property test and the long fuzz run.

The arguments are drawn from a pool of values that mean something to the
model (the domain's own frames and page tables, dom0's and Xen's frames,
shared_info, machine addresses of page-table entries, guest pointers into a
scratch area, Xen's range, unmapped and non-canonical addresses, command
numbers, domain ids, ports) mixed with arbitrary words. The scratch area is
refilled from the same pool, so the structs the hypercalls read hold
plausible fields too; both domains have written a few grant entries, so
grant_table_op meets live grants. After every batch the caller checks the model's
invariants (Hypervisor.check_invariants).
"""

from __future__ import annotations

import random

from ..host.builder import MIB, build_pv_domain
from ..xen.grant_table import grant_access, grant_table
from ..xen.hypervisor import Hypervisor
from ..xen.memory import PAGE_SIZE

SCRATCH_PAGES = 2


class FuzzHost:
    """dom0 + a domU of one arch, small, with a scratch area in the domU."""

    def __init__(self, arch: str = "x86_64", domu_bytes: int = 8 * MIB, dom0_bytes: int = 8 * MIB):
        self.hv = Hypervisor(domu_bytes + dom0_bytes + 4 * MIB)
        self.dom0 = build_pv_domain(self.hv, arch, dom0_bytes, 0, True, kernel_bytes=64 * 1024)
        self.domu = build_pv_domain(self.hv, arch, domu_bytes, 1, False, kernel_bytes=256 * 1024,
                                    max_bytes=domu_bytes + 64 * 4096)
        k = self.domu.kernel
        # Keep the scratch pages clear of the entries the pool names (L1
        # slots 0, 1, 511) and of the pages update_va_mapping is aimed at.
        k.alloc(32 * PAGE_SIZE, PAGE_SIZE, "fuzz padding")
        self.scratch = k.alloc(SCRATCH_PAGES * PAGE_SIZE, PAGE_SIZE, "fuzz scratch")
        from ..xen.paging import translate

        # The frames behind the scratch area, fixed now: the fuzzed guest may
        # well unmap or give back its own pages later.
        self.scratch_mfns = [translate(self.hv.mem, self.domu.rt, k.root_mfn, self.scratch + i * PAGE_SIZE) >> 12
                             for i in range(SCRATCH_PAGES)]
        self.word = self.domu.rt.word
        self.v = self.domu.vcpus[0]
        self._grants()
        self.pool = self._pool()
        from ..xen.hypercalls.registry import HANDLERS

        every = sorted(h.number for h in self.domu.abi.hypercalls.values())
        modelled = [h.number for h in self.domu.abi.hypercalls.values() if h.name in HANDLERS]
        # Mostly hypercalls the model implements; now and then any other number.
        self.numbers = modelled * 6 + every + [11, 43, 64, 127, 4096]

    def _grants(self) -> None:
        """Grant entries the guests would have written, so that random maps
        and copies meet live grants as well as bad refs: the domU grants
        frames to itself and to dom0 (one read-only, one of its page
        tables), dom0 grants two of its frames to the domU."""
        d, k = self.domu, self.domu.kernel
        own = sorted(d.p2m.values())
        table = d.p2m[k.pt_pfns[-1]]
        for ref, (domid, mfn, ro) in enumerate([(1, own[-1], False), (1, own[-2], True), (0, own[-3], False),
                                                (1, table, True), (1, own[-5], False), (1, self.scratch_mfns[1], False)]):
            grant_access(self.hv, d, ref, domid, mfn, ro)
        dom0_own = sorted(self.dom0.p2m.values())
        for ref, mfn in enumerate(dom0_own[-2:]):
            grant_access(self.hv, self.dom0, ref, 1, mfn)
        # Where maps land: the last pages of the boot mapping, by address and
        # by the machine address of their L1 entry (GNTMAP_contains_pte).
        from ..xen.paging import walk

        self.grant_vas = [k.v_end - 4096 * j for j in (1, 2)]
        self.grant_ptes = [walk(self.hv.mem, d.rt, k.root_mfn, va).tables[-1] + d.rt.indices(va)[-1] * 8
                           for va in self.grant_vas]

    def _pool(self) -> list[int]:
        d, k, rt, c = self.domu, self.domu.kernel, self.domu.rt, self.domu.abi.c
        mask = (1 << (8 * self.word)) - 1
        own = sorted(d.p2m.values())
        tables = [d.p2m[p] for p in k.pt_pfns]
        vals = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 15, 16, 17, 24, 31, 32, 63, 64, 255, 256, 511, 512,
                4095, 4096, mask, mask - 1, 1 << 31, (1 << 31) - 1, c("DOMID_SELF"), c("DOMID_IO"),
                c("DOMID_XEN"), c("DOMID_INVALID"), 0x200, 1 << 12, 1 << 20]
        vals += own[:8] + own[-8:] + tables + [d.shared_info_mfn, self.hv.mem.nframes, self.hv.mem.nframes + 5]
        vals += sorted(self.dom0.p2m.values())[:4] + sorted(self.hv.xen_pages)[:4]
        vals += grant_table(self.hv, d).frames + grant_table(self.hv, self.dom0).frames
        self.pte_maddrs = [t << 12 | (i * 8) for t in tables for i in (0, 1, 511)]
        vals += [ma | cmd for ma in self.pte_maddrs for cmd in (0, 1, 2)]
        vals += [m << 12 | 0x63 for m in own[-4:]] + [m << 12 | 0x61 for m in tables] + [tables[0] << 12 | 0x67]
        vals += [self.scratch + off for off in (0, 8, 16, 64, 1024, PAGE_SIZE - 4, PAGE_SIZE, 2 * PAGE_SIZE - 8)]
        vals += [k.virt_base, k.pt_va, k.p2m_va, k.start_info_va, k.v_end - 4096, k.v_end, k.v_end + 4096]
        vals += [rt.xen_global_va, rt.xen_hole[0], rt.xen_hole[1] - 8, 0x1000, 0x7FFF_FFFF_F000 & mask]
        if self.word == 8:
            vals += [1 << 63, 0x0000_8000_0000_0000]
        return [v & mask for v in vals]

    def value(self, rng: random.Random) -> int:
        r = rng.random()
        if r < 0.75:
            return rng.choice(self.pool)
        if r < 0.9:
            return rng.randrange(0, 1 << 16)
        return rng.getrandbits(8 * self.word)

    def fill_scratch(self, words: list[int]) -> None:
        data = b"".join(w.to_bytes(self.word, "little") for w in words)
        data = data[:SCRATCH_PAGES * PAGE_SIZE].ljust(SCRATCH_PAGES * PAGE_SIZE, b"\0")
        mem = self.hv.mem
        for i, mfn in enumerate(self.scratch_mfns):
            if mem.owner[mfn] == self.domu.domid and mem.ptype[mfn] in (0, 5):  # still a data page of the domU
                mem.write(mfn << 12, data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])

    def call(self, number: int, args: list[int]) -> int:
        return self.hv.hypercall(self.v, number, args)

    # ---- structured arguments: a plausible struct for the command ----
    def field_value(self, rng: random.Random, name: str, size: int) -> int:
        d, c = self.domu, self.domu.abi.c
        n = name.rsplit(".", 1)[-1]
        if n in ("dom", "remote_dom", "domid", "domain_id"):
            v = rng.choice([c("DOMID_SELF"), c("DOMID_SELF"), 0, 1, 2, c("DOMID_IO")])
        elif "port" in n and n not in ("ports", "nr_ports"):
            v = rng.randrange(0, 10)
        elif n in ("vcpu", "vcpuid"):
            v = rng.randrange(0, 3)
        elif n in ("ref", "ref_a", "ref_b", "handle"):
            v = rng.choice([rng.randrange(0, 8), rng.randrange(0, 8), 511, 512, 1 << 20])
        elif n == "host_addr":
            k = d.kernel
            # a page of the kernel, an entry's machine address (GNTMAP_contains_pte), anything
            v = rng.choice([k.v_end - 4096, k.virt_base + 4096 * rng.randrange(1, 16), rng.choice(self.pte_maddrs),
                            0, self.value(rng)])
        elif n == "flags":
            v = rng.randrange(0, 32) if rng.random() < 0.8 else self.value(rng)
        elif n in ("len", "length"):
            v = rng.choice([0, 8, 64, 4096, 4097])
        elif n == "version":
            v = rng.randrange(0, 4)
        elif n in ("mfn", "gmfn", "src_mfn", "gpfn"):
            v = rng.choice(self.pool[-80:] + sorted(d.p2m.values())[-16:])
        elif n in ("extent_start", "ports", "vcpumask", "buffer", "frame_list", "h", "v", "p", "idxs"):
            v = self.scratch + PAGE_SIZE + 8 * rng.randrange(0, 32)
        elif n.startswith("nr_") or n in ("count", "entries", "nr_ents"):
            v = rng.randrange(0, 5)
        elif n in ("extent_order", "order"):
            v = rng.randrange(0, 3)
        elif n in ("cmd", "virq", "reason", "type", "irq", "pirq", "which"):
            v = rng.randrange(0, 24)
        elif n == "offset":
            v = rng.choice([0, 64, 4032, 4064, 8])
        else:
            v = self.value(rng)
        return v & ((1 << (8 * size)) - 1)

    def fill_struct(self, rng: random.Random, struct_name: str, at: int = 0) -> None:
        abi = self.domu.abi
        buf = bytearray(abi.size(struct_name))
        self._fill(rng, abi, struct_name, buf, 0, "")
        mfn = self.scratch_mfns[0]
        if self.hv.mem.owner[mfn] == self.domu.domid and self.hv.mem.ptype[mfn] in (0, 5):
            self.hv.mem.write((mfn << 12) + at, bytes(buf[:PAGE_SIZE - at]))

    def _fill(self, rng, abi, struct_name: str, buf: bytearray, base: int, prefix: str) -> None:
        info = abi.structs[struct_name]
        for fname, f in info["fields"].items():
            t = f["type"].split("[")[0]
            if t in abi.structs and "[" not in f["type"]:
                if info["kind"] == "union" and rng.random() < 0.5:
                    continue
                self._fill(rng, abi, t, buf, base + f["offset"], prefix + fname + ".")
            else:
                v = self.field_value(rng, prefix + fname, min(f["size"], 8))
                size = min(f["size"], 8)
                buf[base + f["offset"]:base + f["offset"] + size] = v.to_bytes(size, "little")

    STRUCTS = {
        "event_channel_op": {0: "evtchn_bind_interdomain", 1: "evtchn_bind_virq", 2: "evtchn_bind_pirq",
                             3: "evtchn_close", 4: "evtchn_send", 5: "evtchn_status", 6: "evtchn_alloc_unbound",
                             7: "evtchn_bind_ipi", 8: "evtchn_bind_vcpu", 9: "evtchn_unmask", 10: "evtchn_reset"},
        "vcpu_op": {4: "vcpu_runstate_info", 5: "vcpu_register_runstate_memory_area", 6: "vcpu_set_periodic_timer",
                    8: "vcpu_set_singleshot_timer", 10: "vcpu_register_vcpu_info", 12: "vcpu_get_physid"},
        "memory_op": {0: "xen_memory_reservation", 1: "xen_memory_reservation", 6: "xen_memory_reservation",
                      3: "xen_memory_domain", 4: "xen_memory_domain", 12: "xen_machphys_mapping",
                      10: "xen_memory_map", 15: "xen_remove_from_physmap"},
        "sched_op": {2: "sched_shutdown", 3: "sched_poll", 4: "sched_remote_shutdown", 5: "sched_shutdown",
                     6: "sched_watchdog", 7: "sched_pin_override"},
        "physdev_op": {5: "physdev_irq_status_query", 6: "physdev_set_iopl", 7: "physdev_set_iobitmap",
                       12: "physdev_eoi", 17: "physdev_pirq_eoi_gmfn", 23: "physdev_get_free_pirq",
                       28: "physdev_pirq_eoi_gmfn"},
        "grant_table_op": {0: "gnttab_map_grant_ref", 1: "gnttab_unmap_grant_ref", 2: "gnttab_setup_table",
                           5: "gnttab_copy", 6: "gnttab_query_size", 8: "gnttab_set_version",
                           9: "gnttab_get_status_frames", 10: "gnttab_get_version", 11: "gnttab_swap_grant_ref"},
    }

    def structured_call(self, rng: random.Random) -> tuple[int, list[int]]:
        abi, c = self.domu.abi, self.domu.abi.c
        # grant_table_op twice: its map/unmap pairs need a few tries to meet.
        name = rng.choice(list(self.STRUCTS) + ["mmu_update", "mmuext_op", "update_va_mapping", "multicall",
                                                "grant_table_op"])
        number = abi.hypercalls[name].number
        if name == "grant_table_op":
            # An array of 0-3 ops (setup_table and query_size want exactly
            # one), most of them plausible; map, unmap and copy most often.
            ops = self.STRUCTS[name]
            cmd = rng.choice([0, 0, 1, 1, 5, 5] + list(ops))
            count = rng.choice([0, 1, 1, 2, 3])
            for i in range(count):
                self.fill_struct(rng, ops[cmd], i * abi.size(ops[cmd]))
                if rng.random() < 0.7:
                    self._plausible_grant_op(rng, ops[cmd], i * abi.size(ops[cmd]))
            return number, [cmd, self.scratch, count, 0, 0]
        if name in self.STRUCTS:
            cmd, struct_name = rng.choice(list(self.STRUCTS[name].items()))
            self.fill_struct(rng, struct_name)
            if name == "vcpu_op":
                return number, [cmd, rng.randrange(0, 3), self.scratch, 0, 0]
            return number, [cmd, self.scratch, 0, 0, 0]
        if name in ("mmu_update", "mmuext_op"):
            item = name
            count = rng.randrange(1, 5)
            for i in range(count):
                self.fill_struct(rng, item, i * abi.size(item))
            domid = rng.choice([c("DOMID_SELF"), c("DOMID_SELF"), 0, 1])
            return number, [self.scratch, count, rng.choice([0, self.scratch + PAGE_SIZE]), domid, 0]
        if name == "update_va_mapping":
            k = self.domu.kernel
            va = rng.choice([k.v_end - 4096, k.virt_base + 4096 * rng.randrange(1, 16), k.pt_va])
            pte = rng.choice(self.pool)
            if self.word == 8:
                return number, [va, pte, rng.choice([0, 1, 2, 5, 6]), 0, 0]
            return number, [va, pte & 0xFFFFFFFF, pte >> 32, rng.choice([0, 1, 2, 5, 6]), 0]
        # multicall: a few entries calling cheap hypercalls
        size = abi.size("multicall_entry")
        for i in range(3):
            self.fill_struct(rng, "multicall_entry", i * size)
        return number, [self.scratch, rng.randrange(0, 4), 0, 0, 0]

    def _plausible_grant_op(self, rng: random.Random, struct_name: str, at: int) -> None:
        """Overwrite the fields that decide whether a grant op gets far: a
        live grant (the domU's refs 0-5 granted to itself, dom0's 0-1), a
        host address whose L1 entry exists, a handle a map may have returned."""
        abi, c, mem = self.domu.abi, self.domu.abi.c, self.hv.mem
        mfn = self.scratch_mfns[0]
        if mem.owner[mfn] != self.domu.domid or mem.ptype[mfn] not in (0, 5):
            return
        base = (mfn << 12) + at
        buf = bytearray(mem.read(base, abi.size(struct_name)))
        i = rng.randrange(len(self.grant_vas))
        contains_pte = rng.random() < 0.3
        host = self.grant_ptes[i] if contains_pte else self.grant_vas[i]
        dom = rng.choice([1, 1, 0])
        ref = rng.randrange(0, 6) if dom else rng.randrange(0, 2)
        if struct_name == "gnttab_map_grant_ref":
            flags = c("GNTMAP_host_map") | rng.choice([0, 0, c("GNTMAP_readonly"), c("GNTMAP_device_map")])
            flags |= c("GNTMAP_contains_pte") if contains_pte else 0
            fields = {"dom": dom, "ref": ref, "flags": flags, "host_addr": host}
        elif struct_name == "gnttab_unmap_grant_ref":
            host = rng.choice([self.grant_vas[i], self.grant_ptes[i]])  # the map's flags say which it is
            live = sorted(grant_table(self.hv, self.domu).maptrack)  # the handles the guest holds
            fields = {"handle": rng.choice(live or [0]) if rng.random() < 0.8 else rng.randrange(0, 4),
                      "host_addr": host, "dev_bus_addr": 0}
        elif struct_name == "gnttab_copy":
            fields = {"flags": rng.randrange(0, 4), "len": rng.choice([8, 64, 4096]), "source.offset": 0,
                      "dest.offset": rng.choice([0, 64]), "source.domid": rng.choice([dom, c("DOMID_SELF")]),
                      "dest.domid": rng.choice([dom, c("DOMID_SELF")]), "source.u.ref": ref,
                      "dest.u.ref": rng.randrange(0, 6)}
        else:
            return
        for path, value in fields.items():
            abi.put(buf, struct_name, path, value)
        mem.write(base, bytes(buf))

    def random_batch(self, rng: random.Random, n: int) -> list[tuple[int, list[int], int]]:
        """n random hypercalls (after refilling the scratch area); returns what was called."""
        self.fill_scratch([self.value(rng) for _ in range(SCRATCH_PAGES * PAGE_SIZE // self.word)])
        done = []
        for _ in range(n):
            if rng.random() < 0.5:
                number, args = self.structured_call(rng)
                done.append((number, args, self.call(number, args)))
                continue
            number = rng.choice(self.numbers)
            args = [self.value(rng) for _ in range(5)]
            if rng.random() < 0.6:
                args[0] = rng.randrange(0, 32)  # most hypercalls multiplex on a small command number
            done.append((number, args, self.call(number, args)))
        return done


def fuzz(count: int, seed: int = 0, arch: str = "x86_64", batch: int = 50, check_every: int = 20,
         fresh_every: int = 5_000, progress=None) -> dict:
    """Run `count` random hypercalls; raises AssertionError on the first broken invariant."""
    rng = random.Random(seed)
    host, done, batches = FuzzHost(arch), 0, 0
    results: dict[int, int] = {}
    while done < count:
        if done and done % fresh_every < batch:
            host = FuzzHost(arch)  # a long run would otherwise exhaust the domU's frames
        n = min(batch, count - done)
        for number, args, rc in host.random_batch(rng, n):
            results[rc] = results.get(rc, 0) + 1
            if not isinstance(rc, int):
                raise AssertionError(f"hypercall {number}{args} returned {rc!r}")
        done += n
        batches += 1
        if batches % check_every == 0 or done >= count:
            bad = host.hv.check_invariants()
            if bad:
                raise AssertionError(f"after {done} hypercalls (seed {seed}): " + "; ".join(bad[:5]))
        if progress is not None:
            progress(done)
    return {"hypercalls": done, "results": results}
