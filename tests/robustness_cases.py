"""Broken inputs for the front end, and a harness that runs them.

Shared by `tests/syntax/test_robustness.py` (a few thousand cases) and
`bench/robustness.py` (100,000); both load this file by path, so it needs no
package and works from a fresh clone.

`make_case(seed, i)` deterministically builds case `i` of run `seed` from the
valid seed specs (examples/*.pv, pvdsl/specs/**/*.pv, tests/syntax/cases/*.pv):
random bytes (NUL, invalid UTF-8, huge lines), token shuffles, deletions and
duplications, truncations at every kind of position, splices of two specs,
deep nesting (up to 10,000 levels), very long identifiers and numbers, huge
constant values, keywords in wrong places, and semantic swaps (names, types,
numbers, operators) that keep the syntax valid so the checker runs too.

`run_case(data)` feeds one case to `pvdsl.sema.program.check_text` (parse and
check for both arches), renders the diagnostics as text and JSON, and returns
None or a `Finding` (any exception; a diagnostic whose span lies outside its
file; a case that takes longer than the time limit). `run_cli` does the same
through `pvdsl.cli.main.main`. `minimize` shrinks a finding's input.

The property: whatever the input, only diagnostics come out.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED_GLOBS = ("examples/*.pv", "pvdsl/specs/**/*.pv", "tests/syntax/cases/*.pv")

# Used when the repository's spec files cannot be found (an installed package only).
BUILTIN_SEED = """\
module seed;
import xen.abi;
struct pair [align(8)] { a: u8; b: u64 when x86_64; c: ptr<pair>; d: handle<u8>[2]; }
union word { w: ulong; b: u8[4]; }
const LIMIT: u32 = (1 << 4) | 3;
enum color: u8 { red, green = 4, blue, }
flags bits: u32 { a, b, c }
type pfn = ulong;
hypercall frob = 40 (x: ulong, y: handle<void>) -> long [privileged];
table ops { get() -> ulong [callee_save]; set(v: ulong); halt() { } }
fn helper(x: ulong) -> ulong { var y: ulong = x; while y > 1 { y >>= 1; if y == 3 { break; } } return y; }
backend base for i386, x86_64 roles native, domu {
    percpu cell: pair;
    impl ops.get() -> ulong { return cell.a as ulong + sizeof(pair); }
    impl ops.set(v: ulong) { cell.a = v as u8; cell.c = &cell; }
}
law get_set(v: ulong in 0 ..= 255) for ops { set(v); assert get() == v; }
"""

KEYWORDS = tuple("""
    module import const type struct union enum flags hypercall table backend
    extends for roles percpu impl fn law in when ptr handle var if else while
    return assert break continue as true false null sizeof
""".split())
# Names with a meaning somewhere: attributes, arches, roles, types, intrinsics.
SPECIAL_NAMES = tuple("""
    packed align privileged callee_save i386 x86_64 native domu dom0 u8 u16 u32
    u64 s8 s16 s32 s64 ulong long bool void cli sti pushf popf hlt read_cr0
    read_cr2 read_cr3 read_cr4 write_cr0 write_cr3 invlpg wbinvd rdmsr wrmsr
    rdtsc cpuid barrier asm vcpu_info xen_version pv_irq_ops X86_EFLAGS_IF
""".split())
BINARY_OPS = ("||", "&&", "|", "^", "&", "==", "!=", "<", "<=", ">", ">=", "<<", ">>",
              "+", "-", "*", "/", "%")
ASSIGN_OPS = ("=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=")
PUNCT = ("(", ")", "{", "}", "[", "]", "<", ">", ";", ":", ",", ".", "->", "?", "..", "..=",
         "=", "!", "~")
TYPE_SPELLINGS = ("u8", "u64", "ulong", "bool", "void", "ptr<void>", "ptr<u8>", "handle<u8>",
                  "handle<void>", "u8[4]", "ptr<ptr<u8>>", "u8[0]", "nosuchtype", "vcpu_info",
                  "pv_irq_ops", "X86_EFLAGS_IF", "ptr<vcpu_info>[2]", "handle<handle<u32>>")
INTERESTING_NUMBERS = (
    "0", "1", "2", "3", "7", "8", "31", "32", "63", "64", "65", "127", "128", "255", "256",
    "4096", "65535", "65536", "2147483647", "2147483648", "4294967295", "4294967296",
    "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "0xffffffffffffffffffffffffffffffff", "0b1", "0o777", "1_000",
    "0x_1", "1__0", "100000000000000000000000000000", "1000000", "99999999999",
)

TOKEN_RE = re.compile(r"""
    (?P<ws>[ \t\r\n\f]+)
  | (?P<comment>//[^\n]*|/\*[\s\S]*?\*/)
  | (?P<num>0[xXbBoO][0-9a-fA-F_]*|[0-9][0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><<=|>>=|\.\.=|\.\.|->|==|!=|<=|>=|&&|\|\||<<|>>|[-+*/%&|^!~<>=?:;,.(){}\[\]])
  | (?P<other>.)
""", re.X | re.S)


def tokenize(text: str) -> list[tuple[str, str]]:
    return [(m.lastgroup, m.group()) for m in TOKEN_RE.finditer(text)]


def _join(tokens) -> str:
    return "".join(t for _, t in tokens)


def _significant(tokens) -> list[int]:
    return [i for i, (k, _) in enumerate(tokens) if k not in ("ws", "comment")]


def load_seeds(root: Path = REPO, max_chars: int | None = None) -> list[tuple[str, str]]:
    """(name, text) of every valid seed spec that can be found, plus a built-in one;
    with `max_chars`, only the specs up to that size (they still import the big ones)."""
    seeds = []
    for pattern in SEED_GLOBS:
        for path in sorted(root.glob(pattern)):
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError):
                continue
            if max_chars is None or len(text) <= max_chars:
                seeds.append((str(path.relative_to(root)), text))
    if not any(name.startswith("pvdsl/specs") for name, _ in seeds):
        try:
            from pvdsl.sema.modules import SPECS_ROOT

            for path in sorted(SPECS_ROOT.glob("**/*.pv")):
                seeds.append((f"specs/{path.relative_to(SPECS_ROOT)}", path.read_text()))
        except ImportError:
            pass
    seeds.append(("<builtin>", BUILTIN_SEED))
    return seeds


# ---- mutators: (rng, seeds) -> bytes -------------------------------------------------

def _seed_text(rng, seeds) -> str:
    return rng.choice(seeds)[1]


def _rand_bytes(rng: random.Random, n: int) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:  # anything
        return bytes(rng.randrange(256) for _ in range(n))
    if kind == 1:  # grammar characters and a few controls
        alphabet = b"{}()[]<>;:,.=+-*/%&|^!~?_azAZ09 \n\t\r\x00\x0c\x0b"
        return bytes(rng.choice(alphabet) for _ in range(n))
    if kind == 2:  # invalid and odd UTF-8
        parts = [b"\xff", b"\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf0\x9f\x98",
                 b"\xf4\x90\x80\x80", b"\x80", b"\xef\xbb\xbf", b"\x00", "\u2028".encode(),
                 "\u0085".encode(), "é".encode(), "\u200b".encode(), "😀".encode(), b"a"]
        return b"".join(rng.choice(parts) for _ in range(max(1, n // 2)))
    if kind == 3:  # NULs
        return b"\x00" * n
    if kind == 4:  # printable soup
        return bytes(rng.randrange(32, 127) for _ in range(n))
    # keyword soup
    words = KEYWORDS + SPECIAL_NAMES + PUNCT
    return " ".join(rng.choice(words) for _ in range(max(1, n // 4))).encode()


def m_random_bytes(rng, seeds) -> bytes:
    r = rng.random()
    if r < 0.1:  # a huge line
        unit = rng.choice([b"a", b"/", b"x" * 7 + b" ", b"//", b"\x00", b"\xff", b"1", b"(", b"{ "])
        return rng.choice([b"", b"// ", b"const X = "]) + unit * rng.randrange(10_000, 400_000)
    return _rand_bytes(rng, rng.choice([0, 1, 2, 3, 8, 30, 100, 1000, 5000]))


def m_insert_bytes(rng, seeds) -> bytes:
    data = _seed_text(rng, seeds).encode()
    for _ in range(rng.randrange(1, 4)):
        pos = rng.randrange(len(data) + 1)
        data = data[:pos] + _rand_bytes(rng, rng.choice([1, 1, 2, 5, 20])) + data[pos:]
    return data


def m_shuffle_tokens(rng, seeds) -> bytes:
    tokens = tokenize(_seed_text(rng, seeds))
    sig = _significant(tokens)
    if len(sig) < 2:
        return _join(tokens).encode()
    r = rng.random()
    if r < 0.4:  # swap two tokens
        a, b = rng.sample(sig, 2)
        tokens[a], tokens[b] = tokens[b], tokens[a]
    elif r < 0.9:  # shuffle a window
        start = rng.randrange(len(sig))
        window = sig[start:start + rng.randrange(2, 30)]
        vals = [tokens[i] for i in window]
        rng.shuffle(vals)
        for i, v in zip(window, vals):
            tokens[i] = v
    else:  # shuffle everything
        vals = [tokens[i] for i in sig]
        rng.shuffle(vals)
        for i, v in zip(sig, vals):
            tokens[i] = v
    return _join(tokens).encode()


def m_delete_tokens(rng, seeds) -> bytes:
    tokens = tokenize(_seed_text(rng, seeds))
    sig = _significant(tokens)
    if not sig:
        return b""
    if rng.random() < 0.5:
        for i in rng.sample(sig, min(len(sig), rng.randrange(1, 4))):
            tokens[i] = ("ws", " ")
    else:
        start = rng.randrange(len(sig))
        for i in sig[start:start + rng.randrange(1, 40)]:
            tokens[i] = ("ws", " ")
    return _join(tokens).encode()


def m_duplicate_tokens(rng, seeds) -> bytes:
    tokens = tokenize(_seed_text(rng, seeds))
    sig = _significant(tokens)
    if not sig:
        return b""
    start = rng.randrange(len(sig))
    run = sig[start:start + rng.randrange(1, 12)]
    piece = _join(tokens[run[0]:run[-1] + 1])
    times = rng.choice([1, 1, 2, 3, 10, 100, 1000])
    sep = rng.choice(["", " ", "\n"])
    at = rng.choice(sig)
    tokens.insert(at, ("other", (piece + sep) * times))
    return _join(tokens).encode()


def m_truncate(rng, seeds) -> bytes:
    text = _seed_text(rng, seeds)
    tokens = tokenize(text)
    if not tokens:
        return b""
    offsets, pos = [], 0
    for kind, tok in tokens:
        offsets.append((pos, kind, tok))
        pos += len(tok)
    kind = rng.randrange(6)
    if kind == 0:  # at a random byte (may split a multi-byte character)
        data = text.encode()
        return data[:rng.randrange(len(data) + 1)]
    if kind == 1:  # right after a random token
        start, _, tok = rng.choice(offsets)
        return text[:start + len(tok)].encode()
    if kind == 2:  # right before a token of a chosen kind
        want = rng.choice(["name", "num", "op", "comment", "ws"])
        choices = [o for o in offsets if o[1] == want] or offsets
        return text[:rng.choice(choices)[0]].encode()
    if kind == 3:  # inside a token (a keyword, a number, a comment, `->`, `<<=` ...)
        long = [o for o in offsets if len(o[2]) > 1] or offsets
        start, _, tok = rng.choice(long)
        return text[:start + rng.randrange(1, max(2, len(tok)))].encode()
    if kind == 4:  # after a keyword or an opening bracket
        keys = [o for o in offsets if o[2] in KEYWORDS or o[2] in ("(", "{", "[", "<")] or offsets
        start, _, tok = rng.choice(keys)
        return text[:start + len(tok)].encode()
    # drop the end of the file but keep a suffix: a hole in the middle
    a = rng.randrange(len(text) + 1)
    b = rng.randrange(a, len(text) + 1)
    return (text[:a] + text[b:]).encode()


def _decls(text: str) -> list[str]:
    """Split a spec at top-level `}` and `;` (a rough list of declarations)."""
    out, depth, cur = [], 0, []
    for kind, tok in tokenize(text):
        cur.append(tok)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth = max(0, depth - 1)
            if depth == 0:
                out.append("".join(cur))
                cur = []
        elif tok == ";" and depth == 0:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def m_splice(rng, seeds) -> bytes:
    a, b = _seed_text(rng, seeds), _seed_text(rng, seeds)
    r = rng.random()
    if r < 0.4:  # head of one, tail of another, at token boundaries
        ta, tb = tokenize(a), tokenize(b)
        return (_join(ta[:rng.randrange(len(ta) + 1)]) + _join(tb[rng.randrange(len(tb) + 1):])).encode()
    if r < 0.5:  # at arbitrary characters
        return (a[:rng.randrange(len(a) + 1)] + b[rng.randrange(len(b) + 1):]).encode()
    # declarations of both, mixed (duplicates, missing names, two module lines)
    decls = _decls(a) + _decls(b)
    if not decls:
        return (a + b).encode()
    rng.shuffle(decls)
    return "\n".join(decls[:rng.randrange(1, len(decls) + 1)]).encode()


NEST_DEPTHS = (1, 2, 10, 50, 100, 150, 200, 300, 400, 500, 700, 1000, 2000, 5000, 10_000)


def _in_fn(body: str) -> str:
    return f"fn f(x: ulong, p: ptr<ulong>) -> ulong {{ {body} return 0; }}\n"


# Forms that repeat whole declarations or statements stop at this length: past
# the recursion limit, but cheap enough to run thousands of cases.
MAX_REPEATS = 3000


def m_deep_nesting(rng, seeds) -> bytes:
    depth = rng.choice(NEST_DEPTHS)
    op = rng.choice(BINARY_OPS)
    nesting = [
        lambda n: f"const X = {'(' * n}1{')' * n};",
        lambda n: f"const X = {'-' * n}1;",
        lambda n: f"const X = {'~' * n}1;",
        lambda n: f"const X = {'!' * n}true;",
        lambda n: f"const X = {' {} '.format(op).join(['1'] * n)};",
        lambda n: f"const X = {' ? 1 : '.join(['true'] * n)} ? 1 : 0;",
        lambda n: f"const X = {'(' * n}1;",
        lambda n: f"const X = 1{')' * n};",
        lambda n: f"const X = sizeof({'ptr<' * n}u8{'>' * n});",
        lambda n: f"type T = {'ptr<' * n}u8{'>' * n};",
        lambda n: f"type T = {'handle<' * n}u8{'>' * n};",
        lambda n: f"type T = u8{'[1]' * n};",
        lambda n: f"type T = {'ptr<' * n}u8;",
        lambda n: f"const X = 1{' as u64' * n};",
        lambda n: _in_fn("if x > 0 { " * n + "x = 1; " + "} " * n),
        lambda n: _in_fn("while x > 0 { " * n + "break; " + "} " * n),
        lambda n: _in_fn("if x > 0 { } " + "else if x > 1 { } " * n),
        lambda n: _in_fn("{ " * n + "} " * n),
        lambda n: _in_fn("x = " + "*" * n + "p;"),
        lambda n: _in_fn("x = " + "&" * n + "x;"),
        lambda n: _in_fn("x = p" + "[0]" * n + ";"),
        lambda n: _in_fn("x = f" + "(1, p)" * n + ";"),
        lambda n: _in_fn("x = p" + "->a" * n + ";"),
        lambda n: _in_fn("x = x" + ".a" * n + ";"),
        lambda n: _in_fn("x = " + "f(" * n + "1" + ", p)" * n + ";"),
        lambda n: _in_fn("x = " + " + ".join(["x"] * n) + ";"),
    ]
    repeats = [
        lambda n: _in_fn("var y: ulong = 0; " * n),
        lambda n: "".join(f"struct S{i} {{ a: S{i + 1}; }}\n" for i in range(n)) + f"struct S{n} {{ b: u8; }}",
        lambda n: "".join(f"type T{i} = T{i + 1};\n" for i in range(n)) + f"type T{n} = u8;",
        lambda n: "".join(f"const C{i} = C{i + 1} + 1;\n" for i in range(n)) + f"const C{n} = 0;",
        lambda n: "".join(f"const C{i}: u64 = sizeof(S{i});\nstruct S{i} {{ a: u8[C{i + 1}]; }}\n"
                        for i in range(min(n, 3000))),
        lambda n: "".join(f"fn f{i}() -> ulong {{ return f{i + 1}(); }}\n" for i in range(n)) + f"fn f{n}() -> ulong {{ return 0; }}",
        lambda n: "table t { h(); }\n" + "".join(
            f"backend b{i} extends b{i + 1} for i386 roles native {{ }}\n" for i in range(n))
            + f"backend b{n} for i386 roles native {{ impl t.h() {{ }} }}",
        lambda n: "".join(f"struct S{i} {{ a: u8; }}\n" for i in range(n)),  # many declarations
        lambda n: "".join(f"struct S{i} {{ a: S{(i + 1) % n}; }}\n" for i in range(n)),  # a cycle
        lambda n: "".join(f"type T{i} = T{(i + 1) % n};\n" for i in range(n)),
        lambda n: "".join(f"const C{i} = C{(i + 1) % n};\n" for i in range(n)),
        lambda n: "".join(f"backend b{i} extends b{(i + 1) % n} for i386 roles native {{ }}\n" for i in range(n)),
        lambda n: f"law l(x: ulong in {{{', '.join(['1'] * n)}}}) for t {{ }}",
        lambda n: f"enum E: u8 {{ {', '.join(f'm{i}' for i in range(n))} }}",
        lambda n: f"flags F: u64 {{ {', '.join(f'm{i}' for i in range(n))} }}",
        lambda n: f"hypercall h = 1 ({', '.join(f'a{i}: ulong' for i in range(n))});",
        lambda n: f"table t {{ {' '.join(f'h{i}();' for i in range(n))} }}",
    ]
    k = rng.randrange(len(nesting) + len(repeats))
    if k < len(nesting):
        text = nesting[k](depth)
    else:
        text = repeats[k - len(nesting)](min(depth, MAX_REPEATS))
    if rng.random() < 0.3:  # inside a real spec
        seed = _seed_text(rng, seeds)
        pos = rng.choice([0, len(seed)])
        text = seed[:pos] + "\n" + text + "\n" + seed[pos:]
    return text.encode()


def _long_name(rng) -> str:
    n = rng.choice([64, 255, 256, 1000, 4096, 100_000, 1_000_000])
    return "_" + "".join(rng.choice("abcXYZ019_") for _ in range(min(n, 64))) * max(1, n // 64)


def _long_number(rng) -> str:
    n = rng.choice([20, 40, 100, 4000, 4300, 4301, 5000, 100_000])
    r = rng.randrange(5)
    if r == 0:
        return "9" * n
    if r == 1:
        return "0x" + "f" * n
    if r == 2:
        return "0b" + "1" * n
    if r == 3:
        return "1" + "_0" * n
    return "0" * n + "1"


def _huge_value(rng) -> str:
    return rng.choice(["1 << 64", "1 << 128", "1 << 4096", "1 << 20000", "1 << 1000000",
                       "1 << 99999999999", "(1 << 64) * (1 << 64)", "0 - 1", "1 << 63 << 1",
                       "0xffffffffffffffff + 1", "(0 - 1) >> 1", "1 / (1 - 1)", "1 << (0 - 1)",
                       "1 >> 99999999999", "sizeof(u8[1 << 40])", "18446744073709551615 * 2"])


def m_long_tokens(rng, seeds) -> bytes:
    r = rng.random()
    if r < 0.5:  # in a real spec: replace a name or a number
        tokens = tokenize(_seed_text(rng, seeds))
        idx = [i for i, (k, _) in enumerate(tokens) if k in ("name", "num")]
        for i in rng.sample(idx, min(len(idx), rng.randrange(1, 3))):
            kind = tokens[i][0]
            new = _long_name(rng) if kind == "name" and rng.random() < 0.7 else (
                _long_number(rng) if rng.random() < 0.5 else f"({_huge_value(rng)})")
            tokens[i] = (kind, new)
        return _join(tokens).encode()
    big = rng.choice([_long_number(rng), _huge_value(rng)])
    name = _long_name(rng)
    templates = [
        f"const {name} = 1;",
        f"const X = {big};",
        f"const X: u8 = {big};",
        f"const X: u64 = {big};",
        f"struct {name} {{ {name}: u8; }}",
        f"struct S {{ a: u8[{big}]; }}",
        f"struct S [align({big})] {{ a: u8; }}",
        f"hypercall h = {big} ();",
        f"enum E: u8 {{ a = {big} }}",
        f"flags F: u32 {{ a = {big}, b }}",
        f"law l(x: u8 in 0 ..= {big}) for t {{ }}\ntable t {{ h(); }}",
        f"law l(x: u64 in {{{big}}}) for t {{ }}\ntable t {{ h(); }}",
        f"fn f() -> ulong {{ var a: u8[{big}]; return {big}; }}",
        f"fn f(x: u64) -> u64 {{ return x << {big}; }}",
        f"fn f(x: u8) -> u8 {{ return x {rng.choice(BINARY_OPS)} {big}; }}",
        f"const X = sizeof(u8[{big}]);",
        f"const A = {big};\nconst B = A * A * A * A;\nconst C: u32 = B;",
        f"import {name};",
        f"module {'.'.join([name] * rng.randrange(1, 4))};",
    ]
    return rng.choice(templates).encode()


def m_keywords(rng, seeds) -> bytes:
    tokens = tokenize(_seed_text(rng, seeds))
    sig = _significant(tokens)
    if not sig or rng.random() < 0.1:
        words = KEYWORDS + SPECIAL_NAMES
        return " ".join(rng.choice(words) for _ in range(rng.randrange(1, 30))).encode()
    for _ in range(rng.randrange(1, 4)):
        i = rng.choice(sig)
        word = rng.choice(KEYWORDS if rng.random() < 0.8 else SPECIAL_NAMES)
        if rng.random() < 0.5:
            tokens[i] = ("name", word)
        else:
            tokens.insert(i, ("name", word + " "))
            sig = _significant(tokens)
    return _join(tokens).encode()


def m_swap_names(rng, seeds) -> bytes:
    """Replace names with other names, types or specials: valid syntax, broken meaning."""
    text = _seed_text(rng, seeds)
    tokens = tokenize(text)
    names = [i for i, (k, t) in enumerate(tokens) if k == "name" and t not in KEYWORDS]
    if not names:
        return text.encode()
    pool = sorted({tokens[i][1] for i in names}) + list(SPECIAL_NAMES)
    for i in rng.sample(names, min(len(names), rng.randrange(1, 5))):
        tokens[i] = ("name", rng.choice(pool))
    return _join(tokens).encode()


def m_swap_types(rng, seeds) -> bytes:
    text = _seed_text(rng, seeds)
    tokens = tokenize(text)
    # a NAME after `:`, `->` or `type X =`, or inside `ptr<`/`handle<`
    spots = []
    sig = _significant(tokens)
    for a, b in zip(sig, sig[1:]):
        if tokens[a][1] in (":", "->", "<") and tokens[b][0] == "name":
            spots.append(b)
    if not spots:
        return text.encode()
    for i in rng.sample(spots, min(len(spots), rng.randrange(1, 4))):
        tokens[i] = ("name", rng.choice(TYPE_SPELLINGS))
    return _join(tokens).encode()


def m_swap_numbers(rng, seeds) -> bytes:
    text = _seed_text(rng, seeds)
    tokens = tokenize(text)
    nums = [i for i, (k, _) in enumerate(tokens) if k == "num"]
    if not nums:
        return text.encode()
    for i in rng.sample(nums, min(len(nums), rng.randrange(1, 4))):
        r = rng.random()
        tokens[i] = ("num", rng.choice(INTERESTING_NUMBERS) if r < 0.7 else f"({_huge_value(rng)})")
    return _join(tokens).encode()


def m_swap_operators(rng, seeds) -> bytes:
    text = _seed_text(rng, seeds)
    tokens = tokenize(text)
    ops = [i for i, (k, _) in enumerate(tokens) if k == "op"]
    if not ops:
        return text.encode()
    for i in rng.sample(ops, min(len(ops), rng.randrange(1, 4))):
        old = tokens[i][1]
        pool = BINARY_OPS if old in BINARY_OPS else ASSIGN_OPS if old in ASSIGN_OPS else PUNCT
        tokens[i] = ("op", rng.choice(pool))
    return _join(tokens).encode()


def m_unicode(rng, seeds) -> bytes:
    text = _seed_text(rng, seeds)
    odd = ["\t", "\r", "\r\n", "\f", "\v", "\x00", "\u00a0", "\u2028", "\u2029", "\u0085", "\ufeff",
           "\u200b", "é", "ß", "ℌ", "ǅ", "😀", "\u0301", "\U0010ffff", "\ud800", "\x7f", "\x1b[31m"]
    for _ in range(rng.randrange(1, 5)):
        pos = rng.randrange(len(text) + 1)
        text = text[:pos] + rng.choice(odd) * rng.choice([1, 1, 3, 100]) + text[pos:]
    return text.encode("utf-8", errors="surrogatepass")


MUTATORS = {
    "random_bytes": (m_random_bytes, 6),
    "insert_bytes": (m_insert_bytes, 5),
    "shuffle_tokens": (m_shuffle_tokens, 8),
    "delete_tokens": (m_delete_tokens, 8),
    "duplicate_tokens": (m_duplicate_tokens, 6),
    "truncate": (m_truncate, 10),
    "splice": (m_splice, 7),
    "deep_nesting": (m_deep_nesting, 10),
    "long_tokens": (m_long_tokens, 7),
    "keywords": (m_keywords, 8),
    "swap_names": (m_swap_names, 9),
    "swap_types": (m_swap_types, 7),
    "swap_numbers": (m_swap_numbers, 7),
    "swap_operators": (m_swap_operators, 6),
    "unicode": (m_unicode, 4),
}
_NAMES = list(MUTATORS)
_WEIGHTS = [w for _, w in MUTATORS.values()]


@dataclass(frozen=True)
class Case:
    seed: int
    index: int
    mutator: str
    data: bytes


def make_case(seed: int, index: int, seeds: list[tuple[str, str]]) -> Case:
    rng = random.Random(f"pvdsl-robustness:{seed}:{index}")
    names = rng.choices(_NAMES, _WEIGHTS, k=2 if rng.random() < 0.15 else 1)
    data = MUTATORS[names[0]][0](rng, seeds)
    if len(names) > 1:  # a second mutation on top of the first
        text = data.decode("utf-8", errors="replace")
        data = MUTATORS[names[1]][0](rng, [("<stacked>", text)] if len(data) < 200_000 else seeds)
    return Case(seed, index, "+".join(names), data)


def cases(seed: int, count: int, start: int = 0, seeds=None):
    seeds = seeds if seeds is not None else load_seeds()
    for i in range(start, start + count):
        yield make_case(seed, i, seeds)


# ---- running cases ------------------------------------------------------------------

TIME_LIMIT = 20.0  # seconds per case before it counts as a hang
# Rendered diagnostics longer than OUTPUT_FACTOR characters per input character
# plus OUTPUT_PER_DIAGNOSTIC per diagnostic (plus the slack) are reported as
# "huge-output": quoting a very long line whole in every diagnostic makes the
# output quadratic. Not an exception: NON_CRASH_KINDS.
OUTPUT_FACTOR = 50
OUTPUT_PER_DIAGNOSTIC = 2_000
OUTPUT_SLACK = 200_000
NON_CRASH_KINDS = frozenset({"huge-output"})
MEMORY_HEADROOM = 3 << 30  # bytes of address space a case may add


@dataclass
class Finding:
    kind: str  # the exception's type, "timeout", or "bad-span"
    message: str
    where: str  # innermost frame in pvdsl (or lark)
    traceback: str

    @property
    def signature(self) -> tuple[str, str]:
        return (self.kind, self.where)


class CaseTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout(f"case took longer than {TIME_LIMIT:.0f}s")


@contextlib.contextmanager
def guarded(time_limit: float = TIME_LIMIT, headroom: int = MEMORY_HEADROOM, parse_cache: str = "off"):
    """Bound a run's time (SIGALRM) and address space (RLIMIT_AS), so that an input
    that would allocate gigabytes fails with MemoryError instead of taking the machine.

    `parse_cache` is what PVDSL_CACHE_DIR is set to meanwhile: "off" by default,
    so that thousands of generated inputs do not each leave a pickled AST in
    the user's cache directory; a directory exercises the cache as well."""
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + headroom
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    old_cache = os.environ.get("PVDSL_CACHE_DIR")
    os.environ["PVDSL_CACHE_DIR"] = parse_cache
    try:
        yield
    finally:
        if old_cache is None:
            os.environ.pop("PVDSL_CACHE_DIR", None)
        else:
            os.environ["PVDSL_CACHE_DIR"] = old_cache
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old_handler)


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 30


def _where(tb) -> str:
    frames = traceback.extract_tb(tb)
    chosen = None
    for fr in frames:
        if "/pvdsl/" in fr.filename or "/lark/" in fr.filename:
            chosen = fr
    if chosen is None and frames:
        chosen = frames[-1]
    if chosen is None:
        return "?"
    name = chosen.filename
    for marker in ("/pvdsl/", "/lark/"):
        if marker in name:
            name = marker.strip("/") + "/" + name.split(marker, 1)[1]
    return f"{name}:{chosen.lineno} in {chosen.name}"


def _finding(err: BaseException) -> Finding:
    inner = err
    # lark wraps errors raised in transformer callbacks in VisitError
    orig = getattr(err, "orig_exc", None)
    if orig is not None:
        inner = orig
    kind = type(err).__name__ if inner is err else f"{type(err).__name__}({type(inner).__name__})"
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    message = str(inner).splitlines()[0][:300] if str(inner) else ""
    return Finding(kind, message, _where(inner.__traceback__ or err.__traceback__), tb[-6000:])


def decode(data: bytes, latin1: bool = False) -> str:
    """What the CLI does (SourceFile.read), or every byte as one character."""
    return data.decode("latin-1") if latin1 else data.decode("utf-8", errors="replace")


def _check_spans(diags) -> Finding | None:
    for d in diags.items:
        sp = d.span
        if sp is None:
            return Finding("bad-span", f"{d.code} {d.message[:200]} has no span", "diagnostics", "")
        if sp.source is None:
            continue
        n = len(sp.source.text)
        if not (0 <= sp.start <= sp.end <= n) or sp.line < 1 or sp.col < 1:
            return Finding("bad-span", f"{d.code} {d.message[:200]}: span {sp.start}..{sp.end} "
                           f"(line {sp.line}, col {sp.col}) in a file of {n} characters",
                           "diagnostics", "")
    return None


def run_text(text: str, path: str = "<case>.pv") -> Finding | None:
    """The full front end on `text`: parse, check both arches, render diagnostics."""
    from pvdsl.diagnostics import Diagnostics
    from pvdsl.sema.program import check_text

    diags = Diagnostics()
    try:
        signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
        try:
            check_text(text, diags, path)
            rendered = diags.render()
            diags.to_json()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except KeyboardInterrupt:
        raise
    except CaseTimeout as err:
        return Finding("timeout", str(err), "?", "")
    except BaseException as err:  # noqa: BLE001 - anything at all is a finding
        return _finding(err)
    if len(rendered) > OUTPUT_FACTOR * len(text) + OUTPUT_PER_DIAGNOSTIC * len(diags.items) + OUTPUT_SLACK:
        return Finding("huge-output", f"{len(diags.items)} diagnostics render to {len(rendered)} characters "
                       f"for a {len(text)}-character input", "diagnostics.render", "")
    return _check_spans(diags)


def run_case(data: bytes, latin1: bool = False) -> Finding | None:
    return run_text(decode(data, latin1))


CLI_COMMANDS = (["check"], ["check", "--json"], ["abi"], ["fmt"])


def run_cli(data: bytes, workdir: Path, argv_prefix=("check",)) -> Finding | None:
    """`pvdsl <argv_prefix> FILE` on the raw bytes; exit status must be 0 or 1.

    PVDSL_DEBUG=1 makes main() re-raise what it would report as an internal
    error (exit status 3), so the finding keeps its traceback. main() raises
    the recursion limit for the whole process; it is put back afterwards so the
    other cases run with Python's default."""
    from pvdsl.cli.main import main

    path = workdir / "case.pv"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    limit = sys.getrecursionlimit()
    debug = os.environ.get("PVDSL_DEBUG")
    os.environ["PVDSL_DEBUG"] = "1"
    try:
        signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main([*argv_prefix, str(path)])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.setrecursionlimit(limit)
            if debug is None:
                os.environ.pop("PVDSL_DEBUG", None)
            else:
                os.environ["PVDSL_DEBUG"] = debug
    except KeyboardInterrupt:
        raise
    except CaseTimeout as e:
        return Finding("timeout", f"pvdsl {' '.join(argv_prefix)}: {e}", "?", "")
    except BaseException as e:  # noqa: BLE001
        f = _finding(e)
        f.message = f"pvdsl {' '.join(argv_prefix)}: {f.message}"
        return f
    if rc not in (0, 1):
        return Finding("exit-status", f"pvdsl {' '.join(argv_prefix)} exited {rc}", "cli", err.getvalue()[-2000:])
    if "Traceback (most recent call last)" in err.getvalue() + out.getvalue():
        return Finding("traceback-printed", f"pvdsl {' '.join(argv_prefix)} printed a traceback", "cli",
                       err.getvalue()[-4000:])
    return None


# ---- shrinking -------------------------------------------------------------------------

def _token_units(blob: bytes) -> list[bytes]:
    """Tokens, each with the whitespace and comments that follow it (so removing
    one never glues its neighbours together)."""
    units: list[bytes] = []
    for kind, tok in tokenize(blob.decode("utf-8", "surrogateescape")):
        raw = tok.encode("utf-8", "surrogateescape")
        if kind in ("ws", "comment") and units:
            units[-1] += raw
        else:
            units.append(raw)
    return units


def _ddmin(units: list[bytes], best: bytes, still_fails, deadline: float) -> tuple[list[bytes], bytes]:
    chunk = max(1, len(units) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i, changed = 0, False
        while i < len(units) and time.monotonic() < deadline:
            cand = units[:i] + units[i + chunk:]
            blob = b"".join(cand)
            if blob != best and still_fails(blob):
                units, best, changed = cand, blob, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return units, best


def minimize(data: bytes, still_fails, budget: float = 20.0) -> bytes:
    """Delta debugging: remove lines, then tokens, while `still_fails(candidate)`
    holds; then shorten long tokens and squeeze whitespace. Stops when the time
    budget is spent."""
    deadline = time.monotonic() + budget
    best = data
    _, best = _ddmin(best.splitlines(keepends=True), best, still_fails, deadline)
    _, best = _ddmin(_token_units(best), best, still_fails, deadline)
    # shorten long names and numbers (halving, keeping the front)
    units = _token_units(best)
    for i in range(len(units)):
        while len(units[i].strip()) > 8 and time.monotonic() < deadline:
            word = units[i].rstrip()
            tail = units[i][len(word):]
            cand = units[:i] + [word[: max(1, len(word) // 2)] + tail] + units[i + 1:]
            blob = b"".join(cand)
            if still_fails(blob):
                units, best = cand, blob
            else:
                break
    # one space or newline for each run of whitespace
    squeezed = re.sub(rb"[ \t]+", b" ", best)
    squeezed = re.sub(rb"\s*\n\s*", b"\n", squeezed)
    if squeezed != best and time.monotonic() < deadline and still_fails(squeezed):
        best = squeezed
    return best


def _run_at(data: bytes, i: int) -> tuple[bytes, int] | None:
    """A unit of 1..8 bytes repeated at `i` over at least 40 bytes."""
    for width in range(1, 9):
        unit = data[i:i + width]
        if len(unit) < width:
            return None
        reps = 1
        while data[i + reps * width:i + (reps + 1) * width] == unit:
            reps += 1
        if reps * width >= 40:
            return unit, reps
    return None


def describe(data: bytes, limit: int = 600) -> str:
    """A readable Python literal for an input, compressing long runs."""
    out, i, plain = [], 0, bytearray()
    while i < len(data):
        run = _run_at(data, i)
        if run is None:
            plain += data[i:i + 1]
            i += 1
            continue
        if plain:
            out.append(repr(bytes(plain)))
            plain = bytearray()
        unit, reps = run
        out.append(f"{unit!r} * {reps}")
        i += len(unit) * reps
    if plain:
        out.append(repr(bytes(plain)))
    text = " + ".join(out) if out else "b''"
    return text if len(text) <= limit else text[:limit] + f" ... ({len(data)} bytes)"
