"""`pvdsl fmt` keeps comments: where they stand, trailing ones on their line."""

from pathlib import Path

import pytest

from pvdsl.syntax.parser import parse_text
from pvdsl.syntax.printer import format_module

ROOT = Path(__file__).resolve().parents[2]

SOURCE = """\
// file header
module m;

import xen.abi;

/* a block comment
   over two lines */
struct s {
    a: u8;      // first field
    // before b
    b: u16;
    // at the end of the struct
}

table t {
    h() -> ulong [callee_save];  // trailing a hook
}

backend b for x86_64 roles native {
    var counter: u32;   // a backend variable
    impl t.h() -> ulong {
        // before the statement
        counter += 1;   // after it
        if counter == 2 {
            return 1;
            // last in the then-block
        }
        return 0;
    }
}
// the end
"""


def fmt(text: str) -> str:
    return format_module(parse_text(text), text)


def test_every_comment_survives_in_order():
    out = fmt(SOURCE)
    comments = [line[line.index("//"):] if "//" in line else line.strip()
                for line in SOURCE.splitlines() if "//" in line or "/*" in line]
    at = 0
    for c in comments:  # each one, in the original order
        at = out.index(c, at) + len(c)
    assert "    a: u8;  // first field" in out
    assert "    // before b\n    b: u16;" in out
    assert "    // at the end of the struct\n}" in out
    assert "        counter += 1;  // after it" in out
    assert "            // last in the then-block\n        }" in out
    assert out.rstrip().endswith("// the end")


def test_formatting_with_comments_is_a_fixpoint():
    once = fmt(SOURCE)
    assert fmt(once) == once
    assert parse_text(once) == parse_text(SOURCE)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.pv")), ids=lambda p: p.name)
def test_examples_are_canonical(path):
    text = path.read_text()
    assert fmt(text) == text, f"run: pvdsl fmt --write {path.relative_to(ROOT)}"
