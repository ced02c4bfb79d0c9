"""Source files and spans: every AST node and diagnostic carries a Span."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SourceFile:
    """The text of one spec, kept so diagnostics can quote its lines."""

    path: str
    text: str
    _line_starts: tuple[int, ...] = field(default=(), compare=False, repr=False)

    @staticmethod
    def from_text(path: str, text: str) -> "SourceFile":
        starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                starts.append(i + 1)
        return SourceFile(path, text, tuple(starts))

    @staticmethod
    def read(path: str | Path) -> "SourceFile":
        raw = Path(path).read_bytes()
        return SourceFile.from_text(str(path), raw.decode("utf-8", errors="replace"))

    def line_text(self, line: int) -> str:
        """Line `line` (1-based) without its newline; '' past the end."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column), both 1-based, of a character offset."""
        import bisect

        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def span(self, start: int, end: int) -> "Span":
        line, col = self.position(start)
        end_line, end_col = self.position(end)
        return Span(self, start, end, line, col, end_line, end_col)


@dataclass(frozen=True)
class Span:
    """A half-open range [start, end) of characters in one source file."""

    source: SourceFile | None
    start: int
    end: int
    line: int
    col: int
    end_line: int
    end_col: int

    @property
    def path(self) -> str:
        return self.source.path if self.source else "<builtin>"

    def __str__(self) -> str:
        if self.line == 0:
            return self.path  # the file as a whole (it could not be read)
        return f"{self.path}:{self.line}:{self.col}"

    @staticmethod
    def whole_file(path: str) -> "Span":
        return Span(SourceFile.from_text(path, ""), 0, 0, 0, 0, 0, 0)

    def to(self, other: "Span") -> "Span":
        """The span covering self through other (same file)."""
        return Span(self.source, self.start, other.end, self.line, self.col,
                    other.end_line, other.end_col)

    def __repr__(self) -> str:
        return f"Span({self})"


BUILTIN = Span(None, 0, 0, 0, 0, 0, 0)
