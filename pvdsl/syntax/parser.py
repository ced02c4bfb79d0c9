"""Lark LALR parser -> AST. The only module that imports lark."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..diagnostics import Diagnostics
from ..source import SourceFile, Span
from . import ast
from . import parse_cache
from .syntax_errors import describe_unexpected, unterminated_comment

GRAMMAR_PATH = Path(__file__).with_name("pvdsl.lark")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(GRAMMAR_PATH.read_text(), parser="lalr", lexer="contextual",
                propagate_positions=True, maybe_placeholders=True)


def _int_value(text: str) -> tuple[int, int]:
    digits = text.replace("_", "")
    prefix = digits[:2].lower()
    base = {"0x": 16, "0b": 2, "0o": 8}.get(prefix, 10)
    return int(digits, base) if base == 10 else int(digits[2:], base), base


class SyntaxProblem(Exception):
    """A mistake found while building the AST (the grammar alone admits it)."""

    def __init__(self, code: str, message: str, start: int, end: int):
        super().__init__(message)
        self.code, self.message, self.start, self.end = code, message, start, end


MAX_NESTING = 256  # parse-tree depth; deeper input is refused before any recursive stage


def _depth_problem(tree) -> SyntaxProblem | None:
    """Measure the tree's depth without recursion; report where it is too deep."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = getattr(node, "meta", None)
            pos = getattr(meta, "start_pos", 0) if meta is not None and not meta.empty else 0
            return SyntaxProblem("E003", f"nesting is deeper than {MAX_NESTING} levels", pos, pos + 1)
        for child in getattr(node, "children", ()):
            if hasattr(child, "children"):
                stack.append((child, depth + 1))
    return None


class _Build(Transformer):
    """Turns Lark's parse tree into AST nodes with spans."""

    def __init__(self, source: SourceFile):
        super().__init__(visit_tokens=False)
        self.src = source

    # -- helpers --
    def _sp(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return self.src.span(0, 0)
        return self.src.span(meta.start_pos, meta.end_pos)

    def _tok(self, tok: Token) -> Span:
        return self.src.span(tok.start_pos, tok.end_pos)

    # -- module level --
    @v_args(meta=True)
    def start(self, meta, items):
        name = None
        imports, decls = [], []
        for item in items:
            if item is None:
                continue
            if isinstance(item, tuple) and item and item[0] == "module":
                name = item[1]
            elif isinstance(item, ast.Import):
                imports.append(item)
            else:
                decls.append(item)
        return ast.Module(name, tuple(imports), tuple(decls), span=self._sp(meta))

    def dotted(self, items):
        return tuple(str(t) for t in items)

    def module_decl(self, items):
        return ("module", items[0])

    @v_args(meta=True)
    def import_decl(self, meta, items):
        return ast.Import(items[0], span=self._sp(meta))

    @v_args(meta=True)
    def const_decl(self, meta, items):
        name, type_, value = items
        return ast.ConstDecl(str(name), type_, value, span=self._sp(meta), name_span=self._tok(name))

    @v_args(meta=True)
    def type_decl(self, meta, items):
        name, type_ = items
        return ast.TypeDecl(str(name), type_, span=self._sp(meta), name_span=self._tok(name))

    @v_args(meta=True)
    def struct_decl(self, meta, items):
        kind, name, attrs, *fields = items
        return ast.StructDecl(str(name), str(kind) == "union", attrs or (), tuple(fields),
                              span=self._sp(meta), name_span=self._tok(name))

    @v_args(meta=True)
    def field_decl(self, meta, items):
        name, type_, when = items
        return ast.FieldDecl(str(name), type_, when or (), span=self._sp(meta))

    @v_args(meta=True)
    def enum_decl(self, meta, items):
        kind, name, base, *members = items
        members = tuple(m for m in members if m is not None)
        return ast.EnumDecl(str(name), str(kind) == "flags", base, members,
                            span=self._sp(meta), name_span=self._tok(name))

    @v_args(meta=True)
    def enum_member(self, meta, items):
        name, value = items
        return ast.EnumMember(str(name), value, span=self._sp(meta))

    @v_args(meta=True)
    def hypercall_decl(self, meta, items):
        name, number, params, ret, attrs = items
        params = params or ()
        dots = params[-1] if params and isinstance(params[-1], Token) else None
        if dots is not None:
            params = params[:-1]
        extra = {"variadic_span": self._tok(dots)} if dots is not None else {}
        return ast.HypercallDecl(str(name), number, params, ret, attrs or (), dots is not None,
                                 span=self._sp(meta), name_span=self._tok(name), **extra)

    @v_args(meta=True)
    def table_decl(self, meta, items):
        name, *hooks = items
        return ast.TableDecl(str(name), tuple(hooks), span=self._sp(meta), name_span=self._tok(name))

    @v_args(meta=True)
    def hook(self, meta, items):
        name, params, ret, attrs, when, *body = items
        default = body[0] if body and isinstance(body[0], ast.Block) else None
        return ast.HookDecl(str(name), params or (), ret, attrs or (), when or (), default,
                            span=self._sp(meta), name_span=self._tok(name))

    @v_args(meta=True)
    def backend_decl(self, meta, items):
        name, extends, arches, roles, *members = items
        base, base_span = extends if extends else (None, self.src.span(0, 0))
        return ast.BackendDecl(
            str(name), base, tuple(a for a, _ in arches), tuple(r for r, _ in roles), tuple(members),
            span=self._sp(meta), name_span=self._tok(name), extends_span=base_span,
            arch_spans=tuple(s for _, s in arches), role_spans=tuple(s for _, s in roles))

    def extends(self, items):
        return (str(items[0]), self._tok(items[0]))

    def name_list(self, items):
        return [(str(t), self._tok(t)) for t in items]

    def when(self, items):
        return tuple(n for n, _ in items[0])

    def hc_when(self, items):
        return (str(items[0]),)

    @v_args(meta=True)
    def percpu_decl(self, meta, items):
        name, type_ = items
        return ast.PercpuDecl(str(name), type_, span=self._sp(meta), name_span=self._tok(name))

    @v_args(meta=True)
    def backend_var(self, meta, items):
        name, type_ = items
        return ast.BackendVarDecl(str(name), type_, span=self._sp(meta), name_span=self._tok(name))

    @v_args(meta=True)
    def impl_decl(self, meta, items):
        table, hook, params, ret, body = items
        return ast.ImplDecl(str(table), str(hook), params or (), ret, body, span=self._sp(meta),
                            name_span=self.src.span(table.start_pos, hook.end_pos))

    @v_args(meta=True)
    def fn_decl(self, meta, items):
        name, params, ret, body = items
        return ast.FnDecl(str(name), params or (), ret, body, span=self._sp(meta),
                          name_span=self._tok(name))

    @v_args(meta=True)
    def law_decl(self, meta, items):
        name, *rest = items
        table, body = rest[-2], rest[-1]
        params = tuple(p for p in rest[:-2] if p is not None)
        return ast.LawDecl(str(name), params, str(table), body, span=self._sp(meta),
                           name_span=self._tok(name), table_span=self._tok(table))

    @v_args(meta=True)
    def law_param(self, meta, items):
        name, type_, domain = items
        return ast.LawParam(str(name), type_, domain, span=self._sp(meta))

    @v_args(meta=True)
    def set_domain(self, meta, items):
        return ast.SetDomain(tuple(i for i in items if i is not None), span=self._sp(meta))

    @v_args(meta=True)
    def range_domain(self, meta, items):
        lo, op, hi = items
        return ast.RangeDomain(lo, hi, str(op) == "..=", span=self._sp(meta))

    def params(self, items):
        return tuple(items)

    def hc_params(self, items):
        # The declared parameters, then the `...` token if there is one.
        return tuple(i for i in items if i is not None)

    @v_args(meta=True)
    def hc_param(self, meta, items):
        name, type_, when = items
        return ast.Param(str(name), type_, when or (), span=self._sp(meta))

    @v_args(meta=True)
    def param(self, meta, items):
        name, type_ = items
        return ast.Param(str(name), type_, span=self._sp(meta))

    def ret(self, items):
        return items[0]

    def attrs(self, items):
        return tuple(items)

    @v_args(meta=True)
    def attr(self, meta, items):
        name, *args = items
        return ast.Attr(str(name), tuple(a for a in args if a is not None), span=self._sp(meta))

    # -- types --
    @v_args(meta=True)
    def named_type(self, meta, items):
        return ast.NamedType(str(items[0]), span=self._sp(meta))

    @v_args(meta=True)
    def ptr_type(self, meta, items):
        return ast.PtrType(items[0], span=self._sp(meta))

    @v_args(meta=True)
    def handle_type(self, meta, items):
        return ast.HandleType(items[0], span=self._sp(meta))

    @v_args(meta=True)
    def array_type(self, meta, items):
        return ast.ArrayType(items[0], items[1], span=self._sp(meta))

    # -- statements --
    @v_args(meta=True)
    def block(self, meta, items):
        return ast.Block(tuple(items), span=self._sp(meta))

    body = block
    default_body = block

    @v_args(meta=True)
    def var_stmt(self, meta, items):
        name, type_, init = items
        return ast.VarStmt(str(name), type_, init, span=self._sp(meta))

    @v_args(meta=True)
    def assign_stmt(self, meta, items):
        target, op, value = items
        return ast.AssignStmt(target, str(op), value, span=self._sp(meta))

    @v_args(meta=True)
    def if_stmt(self, meta, items):
        cond, then, *rest = items
        otherwise = rest[0] if rest else None
        return ast.IfStmt(cond, then, otherwise, span=self._sp(meta))

    @v_args(meta=True)
    def when_stmt(self, meta, items):
        arches, then, otherwise = items
        return ast.WhenStmt(tuple(n for n, _ in arches), then, otherwise, span=self._sp(meta))

    @v_args(meta=True)
    def while_stmt(self, meta, items):
        return ast.WhileStmt(items[0], items[1], span=self._sp(meta))

    @v_args(meta=True)
    def return_stmt(self, meta, items):
        return ast.ReturnStmt(items[0], span=self._sp(meta))

    @v_args(meta=True)
    def assert_stmt(self, meta, items):
        return ast.AssertStmt(items[0], span=self._sp(meta))

    @v_args(meta=True)
    def break_stmt(self, meta, items):
        return ast.BreakStmt(span=self._sp(meta))

    @v_args(meta=True)
    def continue_stmt(self, meta, items):
        return ast.ContinueStmt(span=self._sp(meta))

    @v_args(meta=True)
    def expr_stmt(self, meta, items):
        return ast.ExprStmt(items[0], span=self._sp(meta))

    # -- expressions --
    @v_args(meta=True)
    def ternary(self, meta, items):
        return ast.Ternary(*items, span=self._sp(meta))

    @v_args(meta=True)
    def binary(self, meta, items):
        left, op, right = items
        return ast.Binary(str(op), left, right, span=self._sp(meta))

    @v_args(meta=True)
    def unary(self, meta, items):
        op, operand = items
        if str(op) in ("+", "/", "%"):
            raise SyntaxProblem("E001", f"'{op}' is not a prefix operator", op.start_pos, op.end_pos)
        return ast.Unary(str(op), operand, span=self._sp(meta))

    @v_args(meta=True)
    def cast(self, meta, items):
        return ast.Cast(items[0], items[1], span=self._sp(meta))

    @v_args(meta=True)
    def call(self, meta, items):
        callee, args = items
        return ast.Call(callee, tuple(args or ()), span=self._sp(meta))

    def args(self, items):
        return tuple(items)

    @v_args(meta=True)
    def field(self, meta, items):
        base, name = items
        return ast.FieldAccess(base, str(name), False, span=self._sp(meta))

    @v_args(meta=True)
    def arrow(self, meta, items):
        base, name = items
        return ast.FieldAccess(base, str(name), True, span=self._sp(meta))

    @v_args(meta=True)
    def index(self, meta, items):
        return ast.Index(items[0], items[1], span=self._sp(meta))

    @v_args(meta=True)
    def int_lit(self, meta, items):
        tok = items[0]
        text = str(tok).replace("_", "")
        if len(text) > 1 and text[0] == "0" and text[1].isdigit():
            raise SyntaxProblem("E001", f"'{tok}' has a leading zero; write 0o{text.lstrip('0') or '0'} for an octal "
                                "number, or drop the zero", tok.start_pos, tok.end_pos)
        if len(text) > 66:  # 0b + 64 digits: nothing wider is a pvdsl integer
            raise SyntaxProblem("E040", f"the number '{tok}' is wider than 64 bits", tok.start_pos, tok.end_pos)
        value, base = _int_value(str(tok))
        return ast.IntLit(value, base, span=self._sp(meta))

    @v_args(meta=True)
    def true_lit(self, meta, items):
        return ast.BoolLit(True, span=self._sp(meta))

    @v_args(meta=True)
    def false_lit(self, meta, items):
        return ast.BoolLit(False, span=self._sp(meta))

    @v_args(meta=True)
    def null_lit(self, meta, items):
        return ast.NullLit(span=self._sp(meta))

    @v_args(meta=True)
    def sizeof(self, meta, items):
        return ast.SizeOf(items[0], span=self._sp(meta))

    @v_args(meta=True)
    def name(self, meta, items):
        return ast.Name(str(items[0]), span=self._sp(meta))


def parse_source(source: SourceFile, diags: Diagnostics) -> ast.Module | None:
    """Parse one file; on a syntax error report it and return None. A file
    parsed before (same text, same grammar) comes from the parse cache."""
    cached = parse_cache.load(source)
    if cached is not None:
        return cached
    module = _parse_uncached(source, diags)
    if module is not None:
        parse_cache.store(source, module)
    return module


def _parse_uncached(source: SourceFile, diags: Diagnostics) -> ast.Module | None:
    unterminated = unterminated_comment(source.text)
    if unterminated is not None:
        diags.error("E002", "unterminated block comment", source.span(unterminated, unterminated + 2))
        return None
    try:
        tree = _lark().parse(source.text)
    except UnexpectedInput as err:
        code, message, start, end = describe_unexpected(err, source.text)
        diags.error(code, message, source.span(start, end))
        return None
    except RecursionError:
        diags.error("E003", f"nesting is deeper than {MAX_NESTING} levels", source.span(0, 0))
        return None
    problem = _depth_problem(tree)
    if problem is None:
        try:
            return _Build(source).transform(tree)
        except VisitError as err:
            problem = err.orig_exc if isinstance(err.orig_exc, SyntaxProblem) else None
            if problem is None:
                raise
    diags.error(problem.code, problem.message, source.span(problem.start, problem.end))
    return None


def parse_text(text: str, path: str = "<string>", diags: Diagnostics | None = None) -> ast.Module | None:
    return parse_source(SourceFile.from_text(path, text), diags if diags is not None else Diagnostics())


__all__ = ["parse_source", "parse_text", "GRAMMAR_PATH", "UnexpectedCharacters",
           "UnexpectedEOF", "UnexpectedToken"]
