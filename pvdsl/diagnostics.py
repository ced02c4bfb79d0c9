"""Compiler-style diagnostics, collected into a sink and rendered together.

Every stage reports problems into a `Diagnostics` sink instead of raising, so
one run shows all of a file's errors, sorted by position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .source import Span


@dataclass(frozen=True)
class Note:
    span: Span | None
    message: str


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    code: str  # "E001"
    message: str
    span: Span
    notes: tuple[Note, ...] = ()

    def sort_key(self):
        return (self.span.path, self.span.line, self.span.col, self.code, self.message)

    def render(self) -> str:
        out = [f"{self.span}: {self.severity}[{self.code}]: {self.message}"]
        out += _excerpt(self.span)
        for note in self.notes:
            if note.span is not None and note.span.source is not None:
                out.append(f"{note.span}: note: {note.message}")
                out += _excerpt(note.span)
            else:
                out.append(f"note: {note.message}")
        return "\n".join(out)

    def to_json(self) -> dict:
        def loc(span: Span | None):
            if span is None or span.source is None:
                return None
            return {"path": span.path, "line": span.line, "col": span.col,
                    "end_line": span.end_line, "end_col": span.end_col}

        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "location": loc(self.span),
            "notes": [{"message": n.message, "location": loc(n.span)} for n in self.notes],
        }


EXCERPT_WIDTH = 160  # longer source lines are shown as a window around the span


def _excerpt(span: Span) -> list[str]:
    """The source line and a caret line under the span (first line only)."""
    if span.source is None or span.line == 0:
        return []
    text = span.source.line_text(span.line)
    gutter = f"{span.line:>4} | "
    width = span.end_col - span.col if span.end_line == span.line else len(text) - span.col + 1
    width = max(1, width)
    start = span.col - 1
    if len(text) > EXCERPT_WIDTH:
        # A window around the span, so a diagnostic stays short on a huge line.
        lo = max(0, start - 40)
        hi = min(len(text), lo + EXCERPT_WIDTH)
        width = max(1, min(width, hi - start))
        text = ("..." if lo else "") + text[lo:hi] + ("..." if hi < len(text) else "")
        start = start - lo + (3 if lo else 0)
    # Tabs keep their width in the caret line so the caret stays aligned.
    pad = "".join("\t" if c == "\t" else " " for c in text[:start])
    return [f"{gutter}{text}", f"{' ' * (len(gutter) - 2)}| {pad}{'^' * width}"]


@dataclass
class Diagnostics:
    """The sink every stage reports into."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set = field(default_factory=set)
    # Every report, duplicates included: a stage compares it before and after
    # a step to know whether that step already explained its failure.
    reported: int = 0

    def error(self, code: str, message: str, span: Span, *notes: Note) -> None:
        self.add(Diagnostic("error", code, message, span, tuple(notes)))

    def warning(self, code: str, message: str, span: Span, *notes: Note) -> None:
        self.add(Diagnostic("warning", code, message, span, tuple(notes)))

    def add(self, diag: Diagnostic) -> None:
        self.reported += 1
        # The same program is checked once per arch: a mistake the second
        # arch finds at the same place, with the same code, is the same one.
        key = (diag.code, diag.span.path, diag.span.start, diag.span.end)
        if key in self._seen:
            return
        self._seen.add(key)
        self.items.append(diag)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)

    def render(self) -> str:
        return "\n".join(d.render() for d in self.sorted())

    def to_json(self) -> str:
        return json.dumps([d.to_json() for d in self.sorted()], indent=2)
