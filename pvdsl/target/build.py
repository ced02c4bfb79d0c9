"""`pvdsl build`: every backend of the given specs, for every requested
target it supports, to objects, IR, assembly, manifests and C headers.

Everything is built in memory first and written only when all of it built,
each file through a temporary name, so a failed build leaves the output
directory as it was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..arch import TARGETS, Target
from ..codegen.module import CodegenError, lower_backend
from ..sema.program import Program
from .header import header_for
from .manifest import manifest_of
from .objects import BuildError, Compiled, compile_lowered

EMIT_KINDS = ("ll", "asm", "obj", "header", "manifest")
_SUFFIX = {"ll": ".ll", "asm": ".s", "obj": ".o", "manifest": ".manifest.json"}


@dataclass
class BuildResult:
    files: dict[Path, bytes] = field(default_factory=dict)
    built: list[tuple[str, str, Compiled]] = field(default_factory=list)  # backend, target, compiled
    skipped: list[str] = field(default_factory=list)


def parse_targets(spec: str) -> list[Target]:
    if spec == "all":
        return list(TARGETS.values())
    out = []
    for name in spec.split(","):
        name = name.strip()
        if name not in TARGETS:
            raise ValueError(f"unknown target '{name}' (expected 'all' or some of: {', '.join(TARGETS)})")
        out.append(TARGETS[name])
    return out


def build_program(program: Program, targets: list[Target], out_dir: Path,
                  emit: tuple[str, ...] = EMIT_KINDS) -> BuildResult:
    result = BuildResult()
    for unit in program.roots:
        for decl in unit.module.decls:
            if type(decl).__name__ != "BackendDecl":
                continue
            built_any = False
            for target in targets:
                if target.arch.name not in decl.arches or target.role not in decl.roles:
                    result.skipped.append(f"{decl.name}: not built for {target.name} "
                                          f"(declared for {', '.join(decl.arches)} roles {', '.join(decl.roles)})")
                    continue
                view = program.view(target.arch.name)
                backend = view.backends[decl.name]
                try:
                    compiled = compile_lowered(lower_backend(view, backend, target), want_asm="asm" in emit)
                except CodegenError as err:
                    raise BuildError(f"{decl.name}-{target.name}: {err}") from None
                stem = out_dir / f"{decl.name}-{target.name}"
                if "obj" in emit:
                    result.files[stem.with_name(stem.name + ".o")] = compiled.obj
                if "ll" in emit:
                    result.files[stem.with_name(stem.name + ".ll")] = compiled.ir_text.encode()
                if "asm" in emit:
                    result.files[stem.with_name(stem.name + ".s")] = compiled.asm.encode()
                if "manifest" in emit:
                    manifest = manifest_of(compiled, view, str(unit.path), stem.name + ".o",
                                           program.units_of_backend(decl.name))
                    result.files[stem.with_name(stem.name + ".manifest.json")] = \
                        (json.dumps(manifest, indent=2) + "\n").encode()
                result.built.append((decl.name, target.name, compiled))
                built_any = True
            if built_any and "header" in emit:
                result.files[out_dir / f"{decl.name}.h"] = header_for(program, decl.name, str(unit.path)).encode()
    return result


def write_files(files: dict[Path, bytes]) -> None:
    """Write every file, each atomically (temporary name, then rename)."""
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
