"""The error corpus: every diagnostic pvdsl can report, pinned exactly.

Each `tests/errors/*.pv` ends with a `//!` block holding the complete text
`pvdsl check tests/errors/NAME.pv` prints on stderr (run from the repository
root); an optional `//$ check ARGS...` line gives other arguments. Modules the
cases import live in `tests/errors/lib/`. The format is described in
tools/gen_errors_doc.py, which also turns the corpus into docs/errors.md.

After an intended change to a message, rerun with `pytest --update-goldens`
to rewrite the `//!` blocks from the actual output, then review the diff.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pvdsl.cli.main import main
from pvdsl.sema.modules import SPECS_ROOT

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "gen_errors_doc.py"
DOC = ROOT / "docs" / "errors.md"


def _load_tool():
    spec = importlib.util.spec_from_file_location("gen_errors_doc", TOOL)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


tool = _load_tool()
CASES = tool.corpus_files()


def _case_id(path: Path) -> str:
    return path.relative_to(tool.CORPUS).with_suffix("").as_posix()


def _run(argv: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    status = main(argv)
    out, err = capsys.readouterr()
    return status, tool.normalize(out, SPECS_ROOT), tool.normalize(err, SPECS_ROOT)


def _codes_in_source() -> set[str]:
    found = set()
    for path in (ROOT / "pvdsl").rglob("*.py"):
        found |= set(re.findall(r"""["'](E\d{3})["']""", path.read_text(encoding="utf-8")))
    return found


def test_corpus_is_not_empty():
    assert len(CASES) >= 50


@pytest.mark.parametrize("path", CASES, ids=_case_id)
def test_case(path: Path, capsys, monkeypatch, update_goldens: bool):
    case = tool.parse_case(path)
    status, out, err = _run(case.argv, capsys, monkeypatch)
    if update_goldens:
        path.write_text(tool.render_case(case, err), encoding="utf-8")
        return
    assert case.expected is not None, f"{case.rel} has no //! block; run pytest --update-goldens"
    assert err == case.expected
    assert out == ""
    assert status == 1


@pytest.mark.parametrize("path", CASES, ids=_case_id)
def test_case_is_named_for_what_it_reports(path: Path):
    case = tool.parse_case(path)
    codes = case.reported_codes()
    assert codes, f"{case.rel} expects no error"
    if case.path.parent.name == "lib":
        return
    if case.named_code:
        assert case.named_code in codes, f"{case.rel} is named for {case.named_code} but reports {codes}"
    else:
        # Files not named for one code show several errors reported together.
        assert path.name.startswith("multi_") and len(codes) >= 2, case.rel


def test_json_lists_the_same_diagnostics(capsys, monkeypatch):
    rel = "tests/errors/multi_backend.pv"
    _, _, text = _run(["check", rel], capsys, monkeypatch)
    status, out, err = _run(["check", "--json", rel], capsys, monkeypatch)
    assert status == 1 and err == ""
    items = json.loads(out)
    assert isinstance(items, list) and len(items) >= 3
    heads = re.findall(r"^(\S+?):(\d+):(\d+): error\[(E\d{3})\]: ", text, re.M)
    assert [(d["location"]["path"], str(d["location"]["line"]), str(d["location"]["col"]), d["code"])
            for d in items] == heads
    assert all(d["severity"] == "error" for d in items)


def test_every_code_has_a_case_and_a_doc_section():
    emitted = _codes_in_source()
    assert emitted, "found no error codes in pvdsl/"
    named = {tool.parse_case(p).named_code for p in CASES} - {None}
    documented = set(re.findall(r"^## (E\d{3})$", DOC.read_text(encoding="utf-8"), re.M))
    explained = set(tool.EXPLANATIONS)
    assert sorted(emitted - named) == [], "codes without a tests/errors/E0NN_*.pv case"
    assert sorted(named - emitted) == [], "cases named for codes pvdsl never reports"
    assert sorted(emitted - documented) == [], "codes without a section in docs/errors.md"
    assert sorted(documented - emitted) == [], "docs/errors.md documents codes pvdsl never reports"
    assert explained == emitted


def test_doc_is_up_to_date(update_goldens: bool):
    if update_goldens:
        subprocess.run([sys.executable, str(TOOL)], cwd=ROOT, check=True, capture_output=True)
        return
    result = subprocess.run([sys.executable, str(TOOL), "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
