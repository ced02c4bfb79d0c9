"""Finding comments in source text. pvdsl has no string literals, so a
comment starts at any `//` or `/*` outside another comment."""

from __future__ import annotations


def scan(text: str):
    """Yield (start, end, closed) for every comment, in order. A line comment
    ends before its newline; an unclosed block comment runs to the end."""
    i, n = 0, len(text)
    while i < n:
        j = text.find("/", i)
        if j < 0 or j + 1 >= n:
            return
        if text[j + 1] == "/":
            end = text.find("\n", j)
            end = n if end < 0 else end
            yield j, end, True
            i = end
        elif text[j + 1] == "*":
            close = text.find("*/", j + 2)
            yield j, (n if close < 0 else close + 2), close >= 0
            i = n if close < 0 else close + 2
        else:
            i = j + 1
