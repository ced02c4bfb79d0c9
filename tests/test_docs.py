"""The documentation is tested: its examples and its transcripts must match
what pvdsl does.

- Every ```pv block in docs/*.md must parse. The HTML comment on the line
  before a block says more:
    <!-- check -->        the block passes the whole checker, no diagnostics;
    <!-- error E0NN -->   the block produces diagnostics, all with code E0NN;
    <!-- file: NAME -->   (tutorial) the block is the new content of file NAME.
- In docs/tutorial.md, a ```diff block after <!-- patch: NAME --> edits NAME:
  its ' ' and '-' lines must occur once in the file and are replaced by its
  ' ' and '+' lines.
- Every `$ pvdsl ...` line of a ```console block in docs/tutorial.md is run
  in-process (pvdsl.cli.main.main) in a temporary directory holding the tutorial's
  files as they stand at that point; its stdout and stderr, together, must be
  the lines shown after it. A shown line `...` matches any number of lines.
- docs/examples/tutorial/ holds the tutorial's files as they end up.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from pvdsl.cli.main import main as pvdsl_main
from pvdsl.diagnostics import Diagnostics
from pvdsl.sema.program import check_text
from pvdsl.syntax.parser import parse_text

DOCS = Path(__file__).resolve().parent.parent / "docs"
TUTORIAL = DOCS / "tutorial.md"
TUTORIAL_FILES = DOCS / "examples" / "tutorial"

_FENCE = re.compile(r"^```(\S*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*(.*?)\s*-->$")


@dataclass(frozen=True)
class Block:
    doc: str  # file name under docs/
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    directive: str | None  # the HTML comment just before the fence

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a markdown file, in order."""
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        assert j < len(lines), f"{path.name}:{start + 1}: unclosed code block"
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        d = _DIRECTIVE.match(lines[k].strip()) if k >= 0 else None
        text = "\n".join(lines[start + 1:j]) + "\n"
        out.append(Block(path.name, start + 1, m.group(1), text, d.group(1) if d else None))
        i = j + 1
    return out


def _docs() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


PV_BLOCKS = [b for doc in _docs() for b in blocks(doc) if b.lang == "pv"]


def _codes(diags: Diagnostics) -> list[str]:
    return sorted({d.code for d in diags.items})


@pytest.mark.parametrize("block", PV_BLOCKS, ids=lambda b: b.id)
def test_pv_block(block: Block, tmp_path: Path):
    directive = block.directive or ""
    # Checked as a file alone in an empty directory: imports resolve to the
    # shipped library only.
    path = str(tmp_path / "example.pv")
    if directive == "check":
        diags = Diagnostics()
        check_text(block.text, diags, path)
        assert not diags.items, f"{block.id}: expected no diagnostics:\n{diags.render()}"
    elif directive.startswith("error "):
        want = directive.split()[1]
        assert re.fullmatch(r"E\d{3}", want), f"{block.id}: bad directive {directive!r}"
        diags = Diagnostics()
        if parse_text(block.text, path, diags) is not None:
            diags = Diagnostics()
            check_text(block.text, diags, path)
        assert _codes(diags) == [want], f"{block.id}: expected only {want}, got:\n{diags.render()}"
    else:
        assert directive == "" or directive.startswith("file: "), \
            f"{block.id}: unknown directive <!-- {directive} -->"
        diags = Diagnostics()
        module = parse_text(block.text, path, diags)
        assert module is not None and not diags.items, f"{block.id}: does not parse:\n{diags.render()}"


def test_docs_have_checked_examples():
    # Guards the extraction itself: a broken fence regex would test nothing.
    assert len(PV_BLOCKS) >= 40
    directives = [b.directive for b in PV_BLOCKS if b.doc == "language.md"]
    assert directives.count("check") >= 20
    assert sum(1 for d in directives if d and d.startswith("error ")) >= 10


# ---- the tutorial transcript ------------------------------------------------------


@dataclass(frozen=True)
class Command:
    line: int
    argv: tuple[str, ...]
    expected: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # the tutorial's files at this point

    @property
    def id(self) -> str:
        return f"tutorial.md:{self.line}:{' '.join(self.argv)}"


def _apply_patch(files: dict[str, str], name: str, block: Block) -> None:
    assert name in files, f"{block.id}: patch of unknown file {name}"
    old, new = [], []
    for line in block.text.splitlines():
        tag, body = (line[:1], line[1:]) if line else (" ", "")
        assert tag in " -+", f"{block.id}: diff line must start with ' ', '-' or '+': {line!r}"
        if tag in " -":
            old.append(body)
        if tag in " +":
            new.append(body)
    old_text, new_text = "\n".join(old) + "\n", "\n".join(new) + "\n"
    count = files[name].count(old_text)
    assert count == 1, f"{block.id}: the patch's old lines occur {count} times in {name}"
    files[name] = files[name].replace(old_text, new_text)


def tutorial_steps() -> tuple[list[Command], dict[str, str]]:
    """The commands of the tutorial, each with the files it runs against, and
    the files as they end up."""
    files: dict[str, str] = {}
    commands: list[Command] = []
    for block in blocks(TUTORIAL):
        directive = block.directive or ""
        if directive.startswith("file: "):
            assert block.lang == "pv", f"{block.id}: a file block must be ```pv"
            files[directive[len("file: "):]] = block.text
        elif directive.startswith("patch: "):
            assert block.lang == "diff", f"{block.id}: a patch block must be ```diff"
            _apply_patch(files, directive[len("patch: "):], block)
        elif block.lang == "console":
            current = None
            for offset, line in enumerate(block.text.splitlines(), start=1):
                if line.startswith("$ "):
                    current = None
                    argv = tuple(shlex.split(line[2:]))
                    if argv and argv[0] == "pvdsl":
                        current = Command(block.line + offset, argv, (), tuple(sorted(files.items())))
                        commands.append(current)
                elif current is not None:
                    commands[-1] = current = Command(current.line, current.argv, current.expected + (line,),
                                                     current.files)
    return commands, files


try:
    COMMANDS, FINAL_FILES = tutorial_steps()
    STEPS_ERROR = None
except AssertionError as err:  # reported by test_tutorial_steps, not at collection
    COMMANDS, FINAL_FILES, STEPS_ERROR = [], {}, str(err)


def test_tutorial_steps():
    assert STEPS_ERROR is None, STEPS_ERROR


def _matches(expected: tuple[str, ...], actual: str) -> bool:
    pattern = "".join(r"(?:[^\n]*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in expected)
    return re.fullmatch(pattern, actual) is not None


def _run(argv: tuple[str, ...]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = pvdsl_main(list(argv[1:]))
        except SystemExit as exc:  # argparse on a bad command line
            status = exc.code
    return status, out.getvalue()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_tutorial_command(command: Command, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, text in command.files:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    # Diagnostics name files relative to the working directory.
    monkeypatch.chdir(tmp_path)
    status, output = _run(command.argv)
    assert status in (0, 1), f"{command.id}: exit status {status}\n{output}"
    assert ("error[" in output) == (status == 1), f"{command.id}: exit status {status} with:\n{output}"
    actual = output if output.endswith("\n") or not output else output + "\n"
    expected = "\n".join(command.expected)
    assert _matches(command.expected, actual), \
        f"{command.id}: output differs.\n--- shown in the tutorial\n{expected}\n--- printed\n{actual}"


def test_tutorial_has_a_transcript():
    assert len(COMMANDS) >= 5
    assert any(any("error[" in line for line in c.expected) for c in COMMANDS)
    assert any(c.argv[1] == "abi" for c in COMMANDS)


def test_tutorial_example_files_are_the_final_versions():
    shipped = {p.name: p.read_text() for p in sorted(TUTORIAL_FILES.glob("*.pv"))}
    assert shipped == FINAL_FILES
