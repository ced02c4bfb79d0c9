"""Hypothesis strategies for random pvdsl ASTs.

They generate exactly the trees the parser can produce: no negative literals,
no array types where the grammar wants a base or cast type, hypercall numbers
that are a literal or a name, non-empty arch/role lists, no bare blocks as
statements.  Within those limits anything goes, including nonsense types and
names, because these trees only have to survive printing and parsing.
"""

from __future__ import annotations

from hypothesis import strategies as st

from pvdsl.syntax import ast

# Every word the grammar spells out; a generated name must not be one of them
# (the contextual lexer would then read a keyword where a name is expected).
KEYWORDS = frozenset("""
    module import const type struct union enum flags hypercall table backend
    extends for roles percpu impl fn law in when ptr handle var if else while
    return assert break continue as true false null sizeof
""".split())

UNARY_OPS = ["-", "!", "~", "*", "&"]  # prefix `+` lexes but is rejected
BINARY_OPS = ["||", "&&", "|", "^", "&", "==", "!=", "<", "<=", ">", ">=",
              "<<", ">>", "+", "-", "*", "/", "%"]
ASSIGN_OPS = ["=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="]

# Mostly short names, so that collisions with keywords' prefixes (`i`, `in_`,
# `asx`, `ptr2`) are common, plus a few realistic ones.
identifiers = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True),
    st.sampled_from(["u8", "u32", "ulong", "vcpu_info", "X86_EFLAGS_IF", "typ", "asm",
                     "iff", "fork", "nulls", "_", "i386", "x86_64", "domu"]),
).filter(lambda name: name not in KEYWORDS)

name_lists = st.lists(identifiers, min_size=1, max_size=3).map(tuple)

int_lits = st.builds(
    ast.IntLit,
    # pvdsl integers are at most 64 bits wide; the parser refuses longer literals.
    st.one_of(st.integers(0, 20), st.integers(0, 2**64 - 1)),
    st.sampled_from([2, 8, 10, 16]),
)

named_types = st.builds(ast.NamedType, identifiers)


def _wrap_type(inner, lengths):
    return st.one_of(
        st.builds(ast.PtrType, inner),
        st.builds(ast.HandleType, inner),
        st.builds(ast.ArrayType, inner, lengths),
    )


def _types(lengths):
    return st.recursive(named_types, lambda inner: _wrap_type(inner, lengths), max_leaves=4)


def _base_types(types):
    """Where the grammar allows no array suffix: `-> T` and `as T`."""
    return st.one_of(named_types, st.builds(ast.PtrType, types), st.builds(ast.HandleType, types))


# Array lengths inside types are expressions, and `sizeof(T)` is an expression:
# the two strategies refer to each other through `deferred`.
types = st.deferred(lambda: _types(exprs))
base_types = st.deferred(lambda: _base_types(types))

_leaves = st.one_of(
    int_lits,
    st.builds(ast.BoolLit, st.booleans()),
    st.just(ast.NullLit()),
    st.builds(ast.Name, identifiers),
    st.builds(ast.SizeOf, types),
)


def _extend(sub):
    unary = st.builds(ast.Unary, st.sampled_from(UNARY_OPS), sub)
    cast = st.builds(ast.Cast, sub, base_types)
    return st.one_of(
        unary,
        st.builds(ast.Binary, st.sampled_from(BINARY_OPS), sub, sub),
        st.builds(ast.Ternary, sub, sub, sub),
        cast,
        # The cases the precedence rules are most easily wrong about.
        st.builds(ast.Cast, unary, base_types),
        st.builds(ast.Unary, st.sampled_from(UNARY_OPS), cast),
        st.builds(ast.Call, sub, st.lists(sub, max_size=3).map(tuple)),
        st.builds(ast.FieldAccess, sub, identifiers, st.booleans()),
        st.builds(ast.Index, sub, sub),
    )


exprs = st.deferred(lambda: st.recursive(_leaves, _extend, max_leaves=12))
deep_exprs = st.recursive(_leaves, _extend, max_leaves=60)
optional_exprs = st.none() | exprs

# ---- statements ---------------------------------------------------------------


def _simple_stmts():
    return st.one_of(
        st.builds(ast.VarStmt, identifiers, st.none() | types, optional_exprs),
        st.builds(ast.AssignStmt, exprs, st.sampled_from(ASSIGN_OPS), exprs),
        st.builds(ast.ReturnStmt, optional_exprs),
        st.builds(ast.AssertStmt, exprs),
        st.just(ast.BreakStmt()),
        st.just(ast.ContinueStmt()),
        st.builds(ast.ExprStmt, exprs),
    )


def _blocks_of(stmts):
    return st.lists(stmts, max_size=3).map(lambda items: ast.Block(tuple(items)))


def _compound(stmts):
    blocks = _blocks_of(stmts)
    ifs = st.deferred(lambda: st.builds(ast.IfStmt, exprs, blocks, st.none() | blocks | ifs))
    return st.one_of(ifs, st.builds(ast.WhileStmt, exprs, blocks),
                     st.builds(ast.WhenStmt, name_lists, blocks, st.none() | blocks))


stmts = st.recursive(_simple_stmts(), _compound, max_leaves=6)
blocks = _blocks_of(stmts)

# ---- declarations -------------------------------------------------------------

attrs = st.lists(
    st.builds(ast.Attr, identifiers, st.lists(exprs, max_size=2).map(tuple)), max_size=2
).map(tuple)
params = st.lists(st.builds(ast.Param, identifiers, types), max_size=3).map(tuple)
# Only a hypercall argument may be arch-specific, and then for a single arch.
hc_params = st.lists(
    st.builds(ast.Param, identifiers, types, st.just(()) | identifiers.map(lambda a: (a,))),
    max_size=3).map(tuple)
whens = st.just(()) | name_lists

const_decls = st.builds(ast.ConstDecl, identifiers, st.none() | types, exprs)
type_decls = st.builds(ast.TypeDecl, identifiers, types)
struct_decls = st.builds(
    ast.StructDecl, identifiers, st.booleans(), attrs,
    st.lists(st.builds(ast.FieldDecl, identifiers, types, whens), max_size=4).map(tuple))
enum_decls = st.builds(
    ast.EnumDecl, identifiers, st.booleans(), types,
    st.lists(st.builds(ast.EnumMember, identifiers, optional_exprs), max_size=4).map(tuple))
hypercall_decls = st.builds(
    ast.HypercallDecl, identifiers, int_lits | st.builds(ast.Name, identifiers),
    hc_params, st.none() | base_types, attrs, st.booleans())
hooks = st.builds(ast.HookDecl, identifiers, params, st.none() | base_types, attrs, whens,
                  st.none() | blocks)
table_decls = st.builds(ast.TableDecl, identifiers, st.lists(hooks, max_size=4).map(tuple))
fn_decls = st.builds(ast.FnDecl, identifiers, params, st.none() | base_types, blocks)
backend_members = st.one_of(
    st.builds(ast.PercpuDecl, identifiers, types),
    st.builds(ast.BackendVarDecl, identifiers, types),
    fn_decls,
    st.builds(ast.ImplDecl, identifiers, identifiers, params, st.none() | base_types, blocks),
)
backend_decls = st.builds(
    ast.BackendDecl, identifiers, st.none() | identifiers, name_lists, name_lists,
    st.lists(backend_members, max_size=4).map(tuple))
domains = st.one_of(
    st.none(),
    st.builds(ast.SetDomain, st.lists(exprs, min_size=1, max_size=3).map(tuple)),
    st.builds(ast.RangeDomain, exprs, exprs, st.booleans()),
)
law_decls = st.builds(
    ast.LawDecl, identifiers,
    st.lists(st.builds(ast.LawParam, identifiers, types, domains), max_size=3).map(tuple),
    identifiers, blocks)

decls = st.one_of(const_decls, type_decls, struct_decls, enum_decls, hypercall_decls,
                  table_decls, backend_decls, fn_decls, law_decls)



modules = st.builds(
    ast.Module,
    st.none() | name_lists,
    st.lists(st.builds(ast.Import, name_lists), max_size=3).map(tuple),
    st.lists(decls, max_size=5).map(tuple),
)
