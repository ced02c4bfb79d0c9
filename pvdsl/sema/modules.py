"""Loading specs and their imports.

`import a.b;` looks for `a/b.pv` next to the importing file, then in each
search root (the shipped library `pvdsl/specs/` last). Each file is parsed
once; cycles are reported at the import that closes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import Diagnostics, Note
from ..source import SourceFile, Span
from ..syntax import ast
from ..syntax.parser import parse_source

SPECS_ROOT = Path(__file__).resolve().parent.parent / "specs"


@dataclass(eq=False)
class Unit:
    """One parsed file and the units it imports directly."""

    path: Path
    source: SourceFile
    module: ast.Module
    imports: list["Unit"] = field(default_factory=list)
    # An import failed (missing or broken file): names it would have brought
    # in are unknown, and reporting each use of them would only be noise.
    broken_imports: bool = False

    @property
    def name(self) -> str:
        if self.module.name:
            return ".".join(self.module.name)
        return self.path.stem


def _display_path(path: Path) -> Path:
    """Paths in diagnostics: relative to the working directory when below it
    (so messages read the same in every checkout), else as given."""
    if not path.is_absolute():
        return path
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


class Loader:
    def __init__(self, diags: Diagnostics, search: list[Path] | None = None):
        self.diags = diags
        self.search = list(search or []) + [SPECS_ROOT]
        self.units: dict[Path, Unit | None] = {}
        self.order: list[Unit] = []  # dependencies before dependents
        self._stack: list[Path] = []

    def load_text(self, path: str, text: str) -> Unit | None:
        return self._load(Path(path), SourceFile.from_text(path, text))

    def load_file(self, path: str | Path, at: Span | None = None) -> Unit | None:
        path = _display_path(Path(path))
        try:
            source = SourceFile.read(path)
        except OSError as err:
            reason = err.strerror or str(err)
            if at is None:
                self.diags.error("E004", f"cannot read '{path}': {reason}", Span.whole_file(str(path)))
            else:
                self.diags.error("E004", f"cannot read '{path}': {reason}", at)
            self.units[self._key(path)] = None
            return None
        return self._load(path, source)

    @staticmethod
    def _key(path: Path) -> Path:
        try:
            return path.resolve()
        except OSError:
            return path.absolute()

    def _load(self, path: Path, source: SourceFile) -> Unit | None:
        key = self._key(path)
        if key in self.units:
            return self.units[key]
        module = parse_source(source, self.diags)
        if module is None:
            self.units[key] = None
            return None
        unit = Unit(path, source, module)
        self.units[key] = unit
        self._stack.append(key)
        for imp in module.imports:
            dep = self._import(unit, imp)
            if dep is None:
                unit.broken_imports = True
            elif dep not in unit.imports:
                unit.imports.append(dep)
        self._stack.pop()
        self.order.append(unit)
        return unit

    def _import(self, unit: Unit, imp: ast.Import) -> Unit | None:
        rel = Path(*imp.path).with_suffix(".pv")
        candidates = [unit.path.parent / rel] + [root / rel for root in self.search]
        for cand in candidates:
            try:
                if not cand.is_file():
                    continue
            except OSError:  # e.g. a name longer than the file system allows
                continue
            key = self._key(cand)
            if key in self._stack:
                chain = self._stack[self._stack.index(key):] + [key]
                names = " -> ".join(p.name for p in chain)
                self.diags.error("E011", f"import cycle: {names}", imp.span)
                return None
            return self.load_file(cand, at=imp.span)
        searched = ", ".join(str(_display_path(c)) for c in candidates)
        self.diags.error("E010", f"cannot find module '{imp.dotted}'", imp.span,
                         Note(None, f"looked for {searched}"))
        return None
