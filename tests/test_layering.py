"""The pipeline's import rules: no stage imports a later one; lark only in
syntax/, llvmlite.ir only in codegen/, llvmlite.binding only in target/,
unicorn only in runtime/."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "pvdsl"
ORDER = ["syntax", "sema", "interp", "codegen", "target", "runtime", "fuzz"]
THIRD_PARTY_HOME = {"lark": "syntax", "llvmlite.ir": "codegen", "llvmlite.binding": "target",
                    "unicorn": "runtime"}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield (node.module or ""), node.level


def _stage(path: Path) -> str | None:
    rel = path.relative_to(ROOT).parts
    return rel[0] if len(rel) > 1 and rel[0] in ORDER else None


def _target_stage(path: Path, module: str, level: int) -> str | None:
    if level:
        base = path.parent
        for _ in range(level - 1):
            base = base.parent
        target = base.joinpath(*module.split(".")) if module else base
        try:
            rel = target.relative_to(ROOT).parts
        except ValueError:
            return None
        return rel[0] if rel and rel[0] in ORDER else None
    parts = module.split(".")
    if parts[0] == "pvdsl" and len(parts) > 1 and parts[1] in ORDER:
        return parts[1]
    return None


SOURCES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_stage_imports(path):
    stage = _stage(path)
    for module, level in _imports(path):
        target = _target_stage(path, module, level)
        if stage and target:
            assert ORDER.index(target) <= ORDER.index(stage), f"{path}: {stage} imports later stage {target}"
        if stage == "interp":
            assert target != "runtime", f"{path}: the interpreter must not import the runtime"
        for lib, home in THIRD_PARTY_HOME.items():
            if level == 0 and (module == lib or module.startswith(lib + ".")):
                assert stage == home, f"{path} imports {module}, which only {home}/ may use"
            if level == 0 and module == "llvmlite" and lib.startswith("llvmlite"):
                assert stage in ("codegen", "target"), f"{path} imports llvmlite"
