"""The parser's trees, pinned as text dumps in tests/golden/ast/<name>.ast.

Run `pytest --update-goldens` to rewrite them after an intended change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pvdsl.diagnostics import Diagnostics
from pvdsl.syntax.dump import dump
from pvdsl.syntax.parser import parse_text

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
GOLDEN_DIR = TESTS / "golden" / "ast"
SOURCES = sorted((TESTS / "syntax" / "cases").glob("*.pv")) + sorted((ROOT / "examples").glob("*.pv"))


def _parse(path: Path):
    diags = Diagnostics()
    module = parse_text(path.read_text(), str(path), diags)
    assert module is not None, diags.render()
    return module


def test_corpus_is_not_empty():
    assert len(SOURCES) >= 6


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_ast_matches_golden(path: Path, update_goldens: bool):
    actual = dump(_parse(path))
    golden = GOLDEN_DIR / f"{path.stem}.ast"
    if update_goldens:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
        return
    assert golden.exists(), f"no golden file {golden}; run pytest --update-goldens"
    assert actual == golden.read_text()


def test_golden_names_are_unique():
    # A case and an example with the same stem would overwrite each other's golden.
    stems = [p.stem for p in SOURCES]
    assert len(stems) == len(set(stems))
