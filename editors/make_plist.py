#!/usr/bin/env python3
"""Generate editors/pvdsl.tmLanguage (XML plist, TextMate classic format) from the
VS Code grammar editors/vscode/syntaxes/pvdsl.tmLanguage.json.

The JSON file is the source of truth; never edit the plist by hand.

    python editors/make_plist.py           # (re)write editors/pvdsl.tmLanguage
    python editors/make_plist.py --check   # exit 1 if the plist is stale

tests/editors/test_editor_grammar.py runs the equivalent of --check, so a grammar
change that is not followed by a regeneration fails the test suite.
"""

from __future__ import annotations

import json
import plistlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
JSON_PATH = HERE / "vscode" / "syntaxes" / "pvdsl.tmLanguage.json"
PLIST_PATH = HERE / "pvdsl.tmLanguage"


def load_grammar(path: Path = JSON_PATH) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def render(grammar: dict) -> bytes:
    """The plist bytes for `grammar` (keys kept in the JSON's order)."""
    return plistlib.dumps(grammar, fmt=plistlib.FMT_XML, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    data = render(load_grammar())
    if check:
        current = PLIST_PATH.read_bytes() if PLIST_PATH.exists() else b""
        if current != data:
            print(f"{PLIST_PATH} is stale: run `python editors/make_plist.py`", file=sys.stderr)
            return 1
        print(f"{PLIST_PATH} is up to date")
        return 0
    PLIST_PATH.write_bytes(data)
    print(f"wrote {PLIST_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
