"""The per-object manifest: what a loader or a reviewer needs to know about
one `<backend>-<target>.o`, as JSON."""

from __future__ import annotations

from ..arch import HYPERCALL_ENTRY_BYTES
from ..sema.abi import struct_abi
from ..sema.model import ArchView
from .objects import PVPATCH_SECTION, Compiled

MANIFEST_VERSION = 1


def manifest_of(c: Compiled, view: ArchView, source: str, object_name: str, units=None) -> dict:
    low = c.lowered
    target = low.target
    arch = target.arch
    kinds = {h.symbol: "hook" for h in low.hooks}
    kinds.update({t: "table" for t in low.tables})
    kinds.update({p: "percpu" for p in low.percpu})
    kinds.update({v: "variable" for v in low.variables})
    symbols = [{"name": s.name, "kind": kinds[s.name], "section": s.section, "size": s.size}
               for s in sorted(c.symbols, key=lambda s: (s.section or "", s.value, s.name))
               if s.section is not None and s.name in kinds]
    return {
        "manifest_version": MANIFEST_VERSION,
        "backend": low.backend,
        "target": target.name,
        "arch": arch.name,
        "role": target.role,
        "source": source,
        "object": object_name,
        "elf": {"class": arch.elf_class, "machine": arch.elf_machine, "ld_emulation": arch.ld_emulation},
        "conventions": {
            "kernel_args": list(arch.kernel_arg_regs),
            "regparm": arch.regparm,
            "caller_saved": list(arch.caller_saved),
            "callee_save_clobbers": list(arch.callee_save_clobbers),
            "hypercall_args": list(arch.hypercall_arg_regs),
            "hypercall_entry_bytes": HYPERCALL_ENTRY_BYTES,
            "percpu_segment": arch.percpu_segment,
            "percpu_addressing": ("rip-relative: set the gs base to (percpu area - link address of the "
                                  "percpu symbols)" if arch.word_bits == 64 else
                                  "absolute: set the fs base to (percpu area - link address of the percpu "
                                  "symbols)"),
        },
        "symbols": symbols,
        "tables": {
            name: [{"slot": h.slot, "hook": h.hook, "symbol": h.symbol, "callee_save": h.callee_save,
                    "source": h.source} for h in hooks]
            for name, hooks in low.tables.items()
        },
        "percpu": {name: {"size": size, "align": align, "section": ".data..percpu"}
                   for name, (size, align) in low.percpu.items()},
        "variables": {name: {"size": size, "align": align, "section": ".bss"}
                      for name, (size, align) in low.variables.items()},
        # The layouts this object's code relies on (fields it reads or writes,
        # its storage, its hooks' pointer arguments), not the whole library.
        "structs": {name: entry for name in low.structs_used
                    if (entry := struct_abi(view, name)) is not None},
        "hypercalls_used": [{"name": name, "number": n, "entry_offset": HYPERCALL_ENTRY_BYTES * n}
                            for name, n in low.hypercalls_used.items()],
        "patch_templates": [t.to_json() for t in c.templates],
        "patch_section": {"name": PVPATCH_SECTION,
                          "record": "ptr hook, ptr table, u32 slot, u8 length, u8 0, u16 clobber_mask, "
                                    "u8 bytes[16]",
                          "clobber_mask_bits": list(arch.caller_saved)},
        "undefined": low.undefined,
        "runtime_library_calls": sorted(low.library_calls),
    }
