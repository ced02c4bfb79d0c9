"""The canonical pvdsl printer behind `pvdsl fmt`.

`format_module` turns an AST back into source text such that parsing the text
gives an equal AST (spans aside) and printing is idempotent.  Comments are not
part of the AST; given the source text, `format_module` puts them back: a
comment keeps its place before the declaration, field, hook, member or
statement that follows it, or at the end of the line it ended, and comments
before a closing brace stay inside it. (A comment in the middle of an
expression moves to the line before that statement.)

Layout: 4-space indent; `module` and `import` lines first; a blank line
between top-level declarations; fields, enum members, hooks and backend
members one per line (members with a body are set off by blank lines).

Parentheses are the minimum the grammar needs.  Every expression gets a
binding level; an operand printed in a slot that demands a tighter level is
wrapped.  The levels mirror the grammar rules in pvdsl.lark, lowest first.
"""

from __future__ import annotations

from . import ast, comments

INDENT = "    "

# Binding levels, one per grammar rule of the expression ladder.
_TERNARY = 0
_BINARY_LEVEL = {
    "||": 1,
    "&&": 2,
    "|": 3,
    "^": 4,
    "&": 5,
    "==": 6, "!=": 6,
    "<": 7, "<=": 7, ">": 7, ">=": 7,
    "<<": 8, ">>": 8,
    "+": 9, "-": 9,
    "*": 10, "/": 10, "%": 10,
}
_LOR = 1
_CAST = 11
_UNARY = 12
_POSTFIX = 13
_PRIMARY = 14

# The grammar lexes a prefix `+` (it shares ADDOP) but the parser rejects it.
_UNARY_OPS = {"-", "!", "~", "*", "&"}


class UnprintableError(ValueError):
    """The tree has a shape no pvdsl source can produce (e.g. a cast to an array)."""


class _Comments:
    """The comments of one source text, handed out in order as printing
    reaches the nodes they precede."""

    def __init__(self, text: str):
        self.text = text
        # (start, end, text)
        self.items = [(start, end, text[start:end].rstrip()) for start, end, _closed in comments.scan(text)]
        self.next = 0

    def before(self, pos: int) -> list[str]:
        """Every comment not yet printed that starts before `pos`, as lines."""
        out = []
        while self.next < len(self.items) and self.items[self.next][0] < pos:
            out += [line.strip() if k else line for k, line in enumerate(self.items[self.next][2].split("\n"))]
            self.next += 1
        return out

    def trailing(self, end: int) -> str | None:
        """The comment that shares the line on which a node ends, if any."""
        if self.next >= len(self.items):
            return None
        start, _e, text = self.items[self.next]
        gap = self.text[end:start]
        if start >= end and "\n" not in gap and gap.strip() in ("", ";", ",") and "\n" not in text:
            self.next += 1
            return text
        return None


_comments: _Comments | None = None


def _with_comments(node, lines: list[str]) -> list[str]:
    """`lines` (the printed `node`) with the comments that belong to it."""
    span = getattr(node, "span", None)
    if _comments is None or span is None or span.source is None:
        return lines
    lines = list(lines)
    tail = _comments.trailing(span.end)
    if tail is not None and lines:
        lines[-1] += "  " + tail
    return lines


def _lead(node) -> list[str]:
    span = getattr(node, "span", None)
    if _comments is None or span is None or span.source is None:
        return []
    return _comments.before(span.start)


def _closing(container) -> list[str]:
    """Comments after the last item, before the container's closing brace."""
    span = getattr(container, "span", None)
    if _comments is None or span is None or span.source is None:
        return []
    return _comments.before(span.end - 1)


def _items(nodes, printer) -> list[list[str]]:
    """Each node printed with its leading and trailing comments."""
    groups = []
    for node in nodes:
        lead = _lead(node)
        groups.append(lead + _with_comments(node, printer(node)))
    return groups


# ---- expressions ------------------------------------------------------------

def _int(lit: ast.IntLit) -> str:
    if lit.value < 0:
        # The grammar has no negative literals; `-1` is Unary("-", IntLit(1)).
        raise UnprintableError(f"negative integer literal {lit.value}")
    if lit.base == 16:
        return f"0x{lit.value:x}"
    if lit.base == 2:
        return f"0b{lit.value:b}"
    if lit.base == 8:
        return f"0o{lit.value:o}"
    if lit.base == 10:
        return str(lit.value)
    raise UnprintableError(f"integer literal in base {lit.base}")


def _expr(e: ast.Expr, need: int = _TERNARY) -> str:
    """`e` as text that parses back as `e` in a slot accepting levels >= `need`."""
    text, level = _expr_level(e)
    return f"({text})" if level < need else text


def _expr_level(e: ast.Expr) -> tuple[str, int]:
    if isinstance(e, ast.IntLit):
        return _int(e), _PRIMARY
    if isinstance(e, ast.BoolLit):
        return ("true" if e.value else "false"), _PRIMARY
    if isinstance(e, ast.NullLit):
        return "null", _PRIMARY
    if isinstance(e, ast.Name):
        return e.name, _PRIMARY
    if isinstance(e, ast.SizeOf):
        return f"sizeof({_type(e.type)})", _PRIMARY
    if isinstance(e, ast.Call):
        args = ", ".join(_expr(a) for a in e.args)
        return f"{_expr(e.callee, _POSTFIX)}({args})", _POSTFIX
    if isinstance(e, ast.FieldAccess):
        sep = "->" if e.arrow else "."
        return f"{_expr(e.base, _POSTFIX)}{sep}{e.name}", _POSTFIX
    if isinstance(e, ast.Index):
        return f"{_expr(e.base, _POSTFIX)}[{_expr(e.index)}]", _POSTFIX
    if isinstance(e, ast.Unary):
        if e.op not in _UNARY_OPS:
            raise UnprintableError(f"unknown unary operator {e.op!r}")
        operand = _expr(e.operand, _UNARY)
        # `&&x` and `--x` would parse (the contextual lexer splits them) but
        # read as C's `&&` and `--`; a space says what they are.
        sep = " " if e.op in "&-" and operand.startswith(e.op) else ""
        return f"{e.op}{sep}{operand}", _UNARY
    if isinstance(e, ast.Cast):
        # The operand slot is `cast` (left-assoc), so a cast or unary needs no parens.
        return f"{_expr(e.expr, _CAST)} as {_cast_type(e.type)}", _CAST
    if isinstance(e, ast.Binary):
        level = _BINARY_LEVEL.get(e.op)
        if level is None:
            raise UnprintableError(f"unknown binary operator {e.op!r}")
        # Left-associative: the right operand must bind strictly tighter.
        return f"{_expr(e.left, level)} {e.op} {_expr(e.right, level + 1)}", level
    if isinstance(e, ast.Ternary):
        # `lor ? expr : ternary`: only the condition is restricted.
        return (f"{_expr(e.cond, _LOR)} ? {_expr(e.then)} : {_expr(e.otherwise)}",
                _TERNARY)
    raise UnprintableError(f"not an expression: {type(e).__name__}")


# ---- types ------------------------------------------------------------------

def _type(t: ast.TypeExpr) -> str:
    if isinstance(t, ast.ArrayType):
        return f"{_type(t.elem)}[{_expr(t.length)}]"
    return _base_type(t)


def _base_type(t: ast.TypeExpr) -> str:
    """A type where the grammar allows only `base_type` (no array suffix)."""
    if isinstance(t, ast.NamedType):
        return t.name
    if isinstance(t, ast.PtrType):
        return f"ptr<{_type(t.target)}>"
    if isinstance(t, ast.HandleType):
        return f"handle<{_type(t.target)}>"
    if isinstance(t, ast.ArrayType):
        raise UnprintableError("an array type cannot appear here (write a type alias)")
    raise UnprintableError(f"not a type: {type(t).__name__}")


_cast_type = _base_type  # `cast_type` has the same shapes as `base_type`


# ---- statements -------------------------------------------------------------

def _braced(header: str, inner: list[str]) -> list[str]:
    """`header { ... }` with `inner` indented; an empty body stays on one line."""
    if not inner:
        return [f"{header} {{}}"]
    return [f"{header} {{", *(INDENT + line if line else line for line in inner), "}"]


def _block(header: str, block: ast.Block) -> list[str]:
    inner: list[str] = []
    for group in _items(block.stmts, _stmt):
        inner += group
    return _braced(header, inner + _closing(block))


def _stmt(s: ast.Stmt) -> list[str]:
    if isinstance(s, ast.VarStmt):
        text = f"var {s.name}"
        if s.type is not None:
            text += f": {_type(s.type)}"
        if s.init is not None:
            text += f" = {_expr(s.init)}"
        return [text + ";"]
    if isinstance(s, ast.AssignStmt):
        return [f"{_expr(s.target)} {s.op} {_expr(s.value)};"]
    if isinstance(s, ast.IfStmt):
        return _if(s)
    if isinstance(s, ast.WhileStmt):
        return _block(f"while {_expr(s.cond)}", s.body)
    if isinstance(s, ast.WhenStmt):
        lines = _block(f"when {', '.join(s.arches)}", s.then)
        if s.otherwise is None:
            return lines
        rest = _block("", s.otherwise)
        return lines[:-1] + [f"{lines[-1]} else {rest[0].lstrip()}"] + rest[1:]
    if isinstance(s, ast.ReturnStmt):
        return ["return;" if s.value is None else f"return {_expr(s.value)};"]
    if isinstance(s, ast.AssertStmt):
        return [f"assert {_expr(s.cond)};"]
    if isinstance(s, ast.BreakStmt):
        return ["break;"]
    if isinstance(s, ast.ContinueStmt):
        return ["continue;"]
    if isinstance(s, ast.ExprStmt):
        return [f"{_expr(s.expr)};"]
    if isinstance(s, ast.Block):
        raise UnprintableError("a bare block is not a statement in pvdsl")
    raise UnprintableError(f"not a statement: {type(s).__name__}")


def _if(s: ast.IfStmt) -> list[str]:
    lines = _block(f"if {_expr(s.cond)}", s.then)
    if s.otherwise is None:
        return lines
    # `else` continues the closing line: `} else if ...` / `} else {`.
    if isinstance(s.otherwise, ast.IfStmt):
        rest = _if(s.otherwise)
    elif isinstance(s.otherwise, ast.Block):
        rest = _block("", s.otherwise)
        rest[0] = rest[0].lstrip()
    else:
        raise UnprintableError(f"else branch is a {type(s.otherwise).__name__}")
    return lines[:-1] + [f"{lines[-1]} else {rest[0]}"] + rest[1:]


# ---- declarations -----------------------------------------------------------

def _param(p: ast.Param, hypercall: bool = False) -> str:
    if p.when and not (hypercall and len(p.when) == 1):
        # Only a hypercall argument may be arch-specific, and for one arch:
        # a comma after `when` would start the next argument.
        raise UnprintableError(f"parameter {p.name!r} cannot have `when {', '.join(p.when)}`")
    return f"{p.name}: {_type(p.type)}{_when(p.when)}"


def _params(params) -> str:
    return ", ".join(_param(p) for p in params)


def _attrs(attrs) -> str:
    if not attrs:
        return ""
    return " [" + ", ".join(_attr(a) for a in attrs) + "]"


def _attr(a: ast.Attr) -> str:
    if not a.args:
        return a.name
    return f"{a.name}({', '.join(_expr(x) for x in a.args)})"


def _ret(t) -> str:
    return "" if t is None else f" -> {_base_type(t)}"


def _when(names) -> str:
    return f" when {', '.join(names)}" if names else ""


def _signature(params, ret) -> str:
    return f"({_params(params)}){_ret(ret)}"


def _hc_number(e: ast.Expr) -> str:
    # The grammar takes only a literal or a name here, not an expression.
    if isinstance(e, (ast.IntLit, ast.Name)):
        return _expr(e)
    raise UnprintableError("a hypercall number must be an integer literal or a name")


def _domain(d) -> str:
    if d is None:
        return ""
    if isinstance(d, ast.SetDomain):
        return " in {" + ", ".join(_expr(v) for v in d.values) + "}"
    if isinstance(d, ast.RangeDomain):
        op = "..=" if d.inclusive else ".."
        return f" in {_expr(d.lo)}{op}{_expr(d.hi)}"
    raise UnprintableError(f"not a law domain: {type(d).__name__}")


def _law_param(p: ast.LawParam) -> str:
    return f"{p.name}: {_type(p.type)}{_domain(p.domain)}"


def _members(groups: list[list[str]]) -> list[str]:
    """Join member line groups; a multi-line member is set off by blank lines."""
    out: list[str] = []
    prev_multi = False
    for group in groups:
        multi = len(group) > 1
        if out and (multi or prev_multi):
            out.append("")
        out += group
        prev_multi = multi
    return out


def _hook(h: ast.HookDecl) -> list[str]:
    header = f"{h.name}{_signature(h.params, h.ret)}{_attrs(h.attrs)}{_when(h.when)}"
    if h.default is None:
        return [header + ";"]
    return _block(header, h.default)


def _fn(f: ast.FnDecl) -> list[str]:
    return _block(f"fn {f.name}{_signature(f.params, f.ret)}", f.body)


def _backend_member(m) -> list[str]:
    if isinstance(m, ast.PercpuDecl):
        return [f"percpu {m.name}: {_type(m.type)};"]
    if isinstance(m, ast.BackendVarDecl):
        return [f"var {m.name}: {_type(m.type)};"]
    if isinstance(m, ast.FnDecl):
        return _fn(m)
    if isinstance(m, ast.ImplDecl):
        return _block(f"impl {m.table}.{m.hook}{_signature(m.params, m.ret)}", m.body)
    raise UnprintableError(f"not a backend member: {type(m).__name__}")


def _decl(d: ast.Decl) -> list[str]:
    if isinstance(d, ast.ConstDecl):
        typed = "" if d.type is None else f": {_type(d.type)}"
        return [f"const {d.name}{typed} = {_expr(d.value)};"]
    if isinstance(d, ast.TypeDecl):
        return [f"type {d.name} = {_type(d.type)};"]
    if isinstance(d, ast.StructDecl):
        kind = "union" if d.is_union else "struct"
        fields = _items(d.fields, lambda f: [f"{f.name}: {_type(f.type)}{_when(f.when)};"])
        return _braced(f"{kind} {d.name}{_attrs(d.attrs)}", [ln for g in fields for ln in g] + _closing(d))
    if isinstance(d, ast.EnumDecl):
        kind = "flags" if d.is_flags else "enum"
        members = _items(d.members, lambda m: [m.name + ("" if m.value is None else f" = {_expr(m.value)}") + ","])
        return _braced(f"{kind} {d.name}: {_type(d.base)}", [ln for g in members for ln in g] + _closing(d))
    if isinstance(d, ast.HypercallDecl):
        params = [_param(p, hypercall=True) for p in d.params] + (["..."] if d.variadic else [])
        return [f"hypercall {d.name} = {_hc_number(d.number)} ({', '.join(params)}){_ret(d.ret)}{_attrs(d.attrs)};"]
    if isinstance(d, ast.TableDecl):
        return _braced(f"table {d.name}", _members(_items(d.hooks, _hook)) + _closing(d))
    if isinstance(d, ast.BackendDecl):
        if not d.arches or not d.roles:
            raise UnprintableError("a backend needs at least one arch and one role")
        header = f"backend {d.name}"
        if d.extends is not None:
            header += f" extends {d.extends}"
        header += f" for {', '.join(d.arches)} roles {', '.join(d.roles)}"
        return _braced(header, _members(_items(d.members, _backend_member)) + _closing(d))
    if isinstance(d, ast.FnDecl):
        return _fn(d)
    if isinstance(d, ast.LawDecl):
        params = ", ".join(_law_param(p) for p in d.params)
        return _block(f"law {d.name}({params}) for {d.table}", d.body)
    raise UnprintableError(f"not a declaration: {type(d).__name__}")


# ---- entry points -----------------------------------------------------------

def format_module(m: ast.Module, source_text: str | None = None) -> str:
    """Canonical source for `m`, ending in a newline ('' for an empty module).
    With the text `m` was parsed from, its comments are kept."""
    global _comments
    _comments = _Comments(source_text) if source_text is not None else None
    try:
        sections: list[list[str]] = []
        first = (list(m.imports) + list(m.decls) or [None])[0]
        header = _lead(first) if first is not None else []
        if m.name is not None:
            sections.append(header + [f"module {'.'.join(m.name)};"])
            header = []
        if m.imports:
            sections.append(header + [ln for g in _items(m.imports, lambda i: [f"import {i.dotted};"]) for ln in g])
            header = []
        groups = _items(m.decls, _decl)
        if groups and header:
            groups[0] = header + groups[0]
        sections += groups
        rest = _comments.before(len(source_text) + 1) if _comments is not None else []
        if rest:
            sections.append(rest)
        lines: list[str] = []
        for section in sections:
            if lines:
                lines.append("")
            lines += section
        return "".join(line + "\n" for line in lines)
    finally:
        _comments = None


def format_node(node: ast.Node) -> str:
    """Any node as source text, for messages; multi-line nodes keep their newlines."""
    if isinstance(node, ast.Expr):
        return _expr(node)
    if isinstance(node, ast.TypeExpr):
        return _type(node)
    if isinstance(node, ast.Block):
        return "\n".join(_block("", node)).lstrip()
    if isinstance(node, ast.Stmt):
        return "\n".join(_stmt(node))
    if isinstance(node, ast.Decl):
        return "\n".join(_decl(node))
    if isinstance(node, ast.Module):
        return format_module(node).rstrip("\n")
    if isinstance(node, ast.HookDecl):
        return "\n".join(_hook(node))
    if isinstance(node, (ast.PercpuDecl, ast.BackendVarDecl, ast.ImplDecl)):
        return "\n".join(_backend_member(node))
    if isinstance(node, ast.Param):
        return _param(node, hypercall=True)
    if isinstance(node, ast.LawParam):
        return _law_param(node)
    if isinstance(node, (ast.SetDomain, ast.RangeDomain)):
        return _domain(node).lstrip()
    if isinstance(node, ast.Attr):
        return _attr(node)
    if isinstance(node, ast.FieldDecl):
        return f"{node.name}: {_type(node.type)}{_when(node.when)};"
    if isinstance(node, ast.EnumMember):
        return node.name + ("" if node.value is None else f" = {_expr(node.value)}")
    if isinstance(node, ast.Import):
        return f"import {node.dotted};"
    raise UnprintableError(f"cannot format a {type(node).__name__}")


__all__ = ["format_module", "format_node", "UnprintableError", "INDENT"]
