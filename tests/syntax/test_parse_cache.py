"""The parse cache gives the tree a fresh parse gives, and never a wrong one."""

import os
from pathlib import Path

from pvdsl.diagnostics import Diagnostics
from pvdsl.source import SourceFile
from pvdsl.syntax import parse_cache
from pvdsl.syntax.parser import _parse_uncached, parse_source

ROOT = Path(__file__).resolve().parents[2]


def test_cached_tree_equals_a_fresh_parse(tmp_path, monkeypatch):
    monkeypatch.setenv("PVDSL_CACHE_DIR", str(tmp_path))
    source = SourceFile.read(ROOT / "examples" / "irq.pv")
    first = parse_source(source, Diagnostics())
    assert list(tmp_path.iterdir()), "nothing was stored"
    second = parse_source(SourceFile.read(ROOT / "examples" / "irq.pv"), Diagnostics())
    assert second == first == _parse_uncached(source, Diagnostics())
    # Spans survive: a diagnostic can still quote the source line.
    decl = second.decls[0]
    assert decl.name_span.source.line_text(decl.name_span.line).startswith("backend native")


def test_a_changed_file_is_parsed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("PVDSL_CACHE_DIR", str(tmp_path))
    a = parse_source(SourceFile.from_text("x.pv", "const A = 1;\n"), Diagnostics())
    b = parse_source(SourceFile.from_text("x.pv", "const A = 2;\n"), Diagnostics())
    assert a.decls[0].value.value == 1 and b.decls[0].value.value == 2


def test_corrupt_or_unwritable_cache_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("PVDSL_CACHE_DIR", str(tmp_path))
    source = SourceFile.from_text("y.pv", "const B = 3;\n")
    parse_source(source, Diagnostics())
    for f in tmp_path.iterdir():
        f.write_bytes(b"not a pickle")
    assert parse_source(source, Diagnostics()).decls[0].name == "B"
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("PVDSL_CACHE_DIR", str(blocker / "sub"))  # cannot be created
    assert parse_source(SourceFile.from_text("z.pv", "const C = 4;\n"), Diagnostics()).decls[0].name == "C"


def test_errors_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PVDSL_CACHE_DIR", str(tmp_path))
    diags = Diagnostics()
    assert parse_source(SourceFile.from_text("bad.pv", "const = ;\n"), diags) is None
    assert diags.has_errors and not list(tmp_path.iterdir())


def test_off_disables(tmp_path, monkeypatch):
    monkeypatch.setenv("PVDSL_CACHE_DIR", "off")
    assert parse_cache._directory() is None
    assert parse_source(SourceFile.from_text("w.pv", "const D = 5;\n"), Diagnostics()) is not None


def test_the_cache_stays_under_its_limit_dropping_the_least_recently_used(tmp_path, monkeypatch):
    monkeypatch.setenv("PVDSL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PVDSL_CACHE_MAX", "8")
    sources = [SourceFile.from_text(f"f{i}.pv", f"const C{i} = {i};\n") for i in range(8)]
    for i, src in enumerate(sources):
        parse_source(src, Diagnostics())
        os.utime(parse_cache._path(src), (1000 + i, 1000 + i))  # f0 the oldest, f7 the newest
    assert parse_cache.load(sources[0]) is not None  # a hit: f0 becomes the most recently used
    parse_source(SourceFile.from_text("f8.pv", "const C8 = 8;\n"), Diagnostics())  # the 9th: a prune to 6
    survivors = [i for i, src in enumerate(sources) if parse_cache._path(src).exists()]
    assert survivors == [0, 4, 5, 6, 7]  # f1-f3, the least recently used, went
    for i in range(9, 40):
        parse_source(SourceFile.from_text(f"f{i}.pv", f"const C{i} = {i};\n"), Diagnostics())
        assert 6 <= len(list(tmp_path.glob("*.pickle"))) <= 8


def test_a_process_keeps_the_trees_it_loaded(tmp_path, monkeypatch):
    """A second load of the same text in one process unpickles nothing; a
    changed text is not taken for it; the memo stays under its limit."""
    monkeypatch.setenv("PVDSL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(parse_cache, "_memo", {})
    source = SourceFile.from_text("m.pv", "const M = 1;\n")
    first = parse_source(source, Diagnostics())
    for f in tmp_path.iterdir():
        f.write_bytes(b"not a pickle")  # only the memo can answer now
    again = parse_cache.load(SourceFile.from_text("m.pv", "const M = 1;\n"))
    assert again is first
    assert parse_cache.load(SourceFile.from_text("m.pv", "const M = 2;\n")) is None
    monkeypatch.setattr(parse_cache, "MEMO_ENTRIES", 4)
    for i in range(10):
        parse_source(SourceFile.from_text(f"n{i}.pv", f"const N{i} = {i};\n"), Diagnostics())
    assert len(parse_cache._memo) == 4
