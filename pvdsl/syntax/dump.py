"""A stable, indented text dump of an AST, for golden files and debugging.

Each node is one line, `ClassName field=value ...`, listing its scalar
fields (strings, numbers, booleans, None, tuples of names) in declaration
order.  Child nodes follow on indented lines labelled with their field name;
a tuple of nodes becomes a labelled list of `- ` items.  Spans (every field
that does not take part in equality) are left out, so a dump depends only on
what the tree means, not on where its text sat in a file.  Fields that still
hold their dataclass default (`IntLit.base` 10, an empty `when`) are left out
too, so adding a defaulted field to a node does not churn every golden file.

    ConstDecl name='X'
      type: NamedType name='u32'
      value: Binary op='+'
        left: IntLit value=1 base=16
        right: Name name='Y'
"""

from __future__ import annotations

from dataclasses import MISSING, fields

from .ast import Node

_STEP = "  "


def dump(node: Node) -> str:
    """The dump of `node`, one line per node, ending in a newline."""
    lines: list[str] = []
    _node(node, "", "", lines)
    return "".join(line + "\n" for line in lines)


def _is_node_list(value) -> bool:
    return isinstance(value, tuple) and any(isinstance(v, Node) for v in value)


def _scalar(value) -> str:
    # repr() is stable for the scalars an AST holds (str, int, bool, None,
    # tuples of str); ints print in decimal whatever radix the source used,
    # the radix itself being a field of IntLit.
    return repr(value)


def _node(node: Node, label: str, indent: str, lines: list[str]) -> None:
    scalars, children = [], []
    for f in fields(node):
        if not f.compare:  # spans
            continue
        value = getattr(node, f.name)
        if f.default is not MISSING and value == f.default:
            continue
        if isinstance(value, Node) or _is_node_list(value):
            children.append((f.name, value))
        else:
            scalars.append(f"{f.name}={_scalar(value)}")
    lines.append(indent + label + " ".join([type(node).__name__, *scalars]))
    inner = indent + _STEP
    for name, value in children:
        if isinstance(value, Node):
            _node(value, f"{name}: ", inner, lines)
            continue
        lines.append(f"{inner}{name}:")
        for item in value:
            if isinstance(item, Node):
                _node(item, "- ", inner + _STEP, lines)
            else:
                lines.append(f"{inner}{_STEP}- {_scalar(item)}")


__all__ = ["dump"]
