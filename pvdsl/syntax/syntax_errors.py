"""Syntax errors in words: Lark's terminal names become what a user typed."""

from __future__ import annotations

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import comments

# Terminal name -> how a user would spell it.
_WORDS = {
    "SEMICOLON": "';'", "COLON": "':'", "COMMA": "','", "DOT": "'.'",
    "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'",
    "LSQB": "'['", "RSQB": "']'", "LESSTHAN": "'<'", "MORETHAN": "'>'",
    "EQUAL": "'='", "QMARK": "'?'", "__ANON_0": "'->'", "RANGE": "'..' or '..='", "ELLIPSIS": "'...'",
    "NAME": "a name", "INT": "a number", "ASSIGN_OP": "an assignment operator",
    "AGGREGATE": "'struct' or 'union'", "ENUMKIND": "'enum' or 'flags'",
    "EQOP": "'==' or '!='", "RELOP": "a comparison", "SHIFTOP": "'<<' or '>>'",
    "ADDOP": "'+' or '-'", "MULOP": "'*', '/' or '%'", "PREFIXOP": "'!' or '~'",
    "OROR": "'||'", "ANDAND": "'&&'", "BAR": "'|'", "CARET": "'^'", "AMP": "'&'",
}

_EXPR_START = {"INT", "NAME", "LPAR"}
_TYPE_START = {"NAME", "PTR", "HANDLE"}
_DECL_START = {"CONST", "TYPE", "AGGREGATE", "ENUMKIND", "HYPERCALL", "TABLE", "BACKEND", "FN", "LAW"}

# The keyword that opens a construct -> its name in a message.
_CONSTRUCT = {
    "MODULE": "module declaration", "IMPORT": "import", "CONST": "constant declaration",
    "TYPE": "type alias", "HYPERCALL": "hypercall declaration", "VAR": "variable declaration",
    "RETURN": "return statement", "ASSERT": "assert statement", "BREAK": "'break'",
    "CONTINUE": "'continue'", "PERCPU": "percpu declaration", "IMPL": "hook implementation",
    "FN": "function declaration", "LAW": "law declaration", "IF": "'if' condition",
    "WHILE": "'while' condition", "ENUMKIND": "enum declaration", "AGGREGATE": "struct declaration",
    "BACKEND": "backend header", "TABLE": "table declaration",
}
# Inside the braces of these, the items are:
_BODY_ITEM = {"TABLE": "hook declaration", "AGGREGATE": "field declaration",
              "ENUMKIND": "enum member", "BACKEND": "backend member"}


def unterminated_comment(text: str) -> int | None:
    """Offset of a `/*` that is never closed, or None."""
    return next((start for start, _end, closed in comments.scan(text) if not closed), None)


def last_code_end(text: str) -> int:
    """Offset just past the last character that is not blank or comment."""
    end, i = 0, 0
    for start, stop, _closed in [*comments.scan(text), (len(text), len(text), True)]:
        code = text[i:start].rstrip()
        if code:
            end = i + len(code)
        i = stop
    return end


def _word(name: str) -> str:
    if name == "$END":
        return "end of file"
    if name in _WORDS:
        return _WORDS[name]
    return f"'{name.lower()}'"


def _expected_words(expected: set[str]) -> str:
    expected = {e for e in expected if not e.startswith("_") or e == "__ANON_0"}
    if "RPAR" in expected and "COMMA" in expected:
        return "',' or ')'"  # inside parentheses ';' is never the fix
    if "SEMICOLON" in expected:
        return "';'"
    words = []
    if _EXPR_START <= expected:
        words.append("an expression")
        expected -= _EXPR_START | {"ADDOP", "PREFIXOP", "AMP", "MULOP", "TRUE", "FALSE", "NULL", "SIZEOF"}
    elif _TYPE_START <= expected:
        words.append("a type")
        expected -= _TYPE_START
    if _DECL_START <= expected:
        words.append("a declaration")
        expected -= _DECL_START | {"IMPORT", "MODULE"}
    words += sorted(_word(e) for e in expected)
    if not words:
        return "something else"
    if len(words) > 5:
        words = words[:5] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _construct(err: UnexpectedToken) -> str | None:
    """What was being written when the parser stopped, from its value stack."""
    state = getattr(err, "interactive_parser", None)
    stack = getattr(getattr(state, "parser_state", None), "value_stack", None) or []
    depth = 0
    saw_brace = False
    last = getattr(stack[-1], "type", None) if stack else None
    if last in ("SEMICOLON", "RBRACE"):
        return None  # the construct before the error is complete
    for value in reversed(stack):
        kind = getattr(value, "type", None)
        if kind is None:
            continue
        if kind == "RBRACE":
            depth += 1
        elif kind == "LBRACE":
            if depth:
                depth -= 1
            else:
                saw_brace = True
        elif depth == 0 and kind in _CONSTRUCT:
            if saw_brace:
                return _BODY_ITEM.get(kind, "statement")
            return _CONSTRUCT[kind]
    return None


def _found(token) -> str:
    if token.type == "$END":
        return "end of file"
    return f"'{token}'"


def describe_unexpected(err: UnexpectedInput, text: str) -> tuple[str, str, int, int]:
    """(code, message, start offset, end offset) for a Lark syntax error."""
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        if text.startswith("/*", pos):
            return "E002", "unterminated block comment", pos, pos + 2
        ch = text[pos] if pos < len(text) else ""
        if ch.isdigit():
            end = pos
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            return ("E002", f"malformed number '{text[pos:end]}' (a space missing before a name, or a digit "
                    "outside the number's base?)", pos, end)
        if ch.isprintable() and ch not in " \t":
            allowed = _expected_words(set(err.allowed or ()))
            return "E001", f"unexpected character '{ch}', expected {allowed}", pos, pos + 1
        return "E002", f"invalid character {ch!r} in source", pos, pos + 1
    if isinstance(err, UnexpectedToken):
        token = err.token
        pos = getattr(token, "start_pos", None)
        if pos is not None and text.startswith("/*", pos):
            return "E002", "unterminated block comment", pos, pos + 2
        if token.type == "$END":
            pos = last_code_end(text)
            expected = _expected_words(set(err.expected or ()))
            return "E001", f"unexpected end of file, expected {expected}", max(0, pos - 1), pos
        if token.type in ("IMPORT", "MODULE") and "IMPORT" not in set(err.expected or ()):
            what = "imports" if token.type == "IMPORT" else "the module declaration"
            return "E001", f"{what} must come before all declarations", pos, token.end_pos
        expected = _expected_words(set(err.expected or ()))
        where = _construct(err)
        after = f" after {where}" if where and expected == "';'" else (f" in {where}" if where else "")
        start = getattr(token, "start_pos", None)
        if start is None or token.type == "$END":
            start = len(text.rstrip())
            end = start
            if start > 0:
                start -= 1
        else:
            end = token.end_pos
        return "E001", f"expected {expected}{after}, found {_found(token)}", start, end
    if isinstance(err, UnexpectedEOF):
        pos = len(text.rstrip())
        return "E001", f"unexpected end of file, expected {_expected_words(set(err.expected or ()))}", max(0, pos - 1), pos
    return "E001", "syntax error", 0, 0
