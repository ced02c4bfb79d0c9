"""The editor grammars in editors/ stay loadable, consistent and in step with the language.

* editors/vscode/syntaxes/pvdsl.tmLanguage.json is the source of truth;
  editors/pvdsl.tmLanguage is generated from it by editors/make_plist.py and must equal it.
* Every regex compiles with Python's `re`. Editors run them with Oniguruma, which accepts
  more than `re` does in some places (\\h, \\G, \\K, \\z, possessive quantifiers, atomic
  groups) and Python 3.11+ accepts a few things older Onigurumas treat differently, so the
  grammar sticks to the common subset and the test rejects those constructs explicitly.
* A small TextMate-style tokeniser (single line, earliest match wins, ties go to the first
  pattern, a begin/end rule's end wins ties against its inner patterns) checks the scopes
  of sample lines.
* Every keyword of grammar/pvdsl.lark must be highlighted, so adding a keyword to the
  language without updating the editor grammar fails here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import json
import plistlib
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "editors"
VSCODE = EDITORS / "vscode"
JSON_PATH = VSCODE / "syntaxes" / "pvdsl.tmLanguage.json"
PLIST_PATH = EDITORS / "pvdsl.tmLanguage"
LARK_PATHS = [p for p in (ROOT / "grammar" / "pvdsl.lark", ROOT / "pvdsl" / "syntax" / "pvdsl.lark") if p.exists()]

REGEX_KEYS = ("match", "begin", "end", "while")

# Constructs that Python's `re` lacks or that mean something else there than in Oniguruma.
NON_PORTABLE = [
    (re.compile(r"(?<!\\)(?:\\\\)*\\[hHGKzRXy]"), r"Oniguruma-only escape (\h \H \G \K \z \R \X \y)"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[pP]\{"), r"Unicode property \p{...}"),
    (re.compile(r"\(\?>"), "atomic group (?>...)"),
    (re.compile(r"(?<![\\(])[*+?}]\+"), "possessive quantifier"),
    (re.compile(r"\(\?<[A-Za-z]"), "named group in Oniguruma syntax (?<name>...)"),
    (re.compile(r"\[\[:"), "POSIX bracket class [[:alpha:]]"),
    (re.compile(r"\\[0-9]"), "backreference (not supported by the test tokeniser)"),
]


# ---------------------------------------------------------------------------- loading


@lru_cache(maxsize=None)
def _grammar_text() -> str:
    return JSON_PATH.read_text(encoding="utf-8")


def grammar() -> dict:
    return json.loads(_grammar_text())


def _walk_rules(node, path="$"):
    """Yield (path, rule dict) for every rule in the grammar."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk_rules(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_rules(value, f"{path}[{i}]")


def all_regexes() -> list[tuple[str, str]]:
    g = grammar()
    out = []
    for path, rule in _walk_rules(g):
        for key in REGEX_KEYS:
            if isinstance(rule.get(key), str):
                out.append((f"{path}.{key}", rule[key]))
    return out


def lark_keywords() -> set[str]:
    words: set[str] = set()
    for path in LARK_PATHS:
        text = "\n".join(
            line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("//")
        )
        words |= set(re.findall(r'"([A-Za-z_]+)"', text))
    return words


# ---------------------------------------------------------------------------- tokeniser


class Tokeniser:
    """A minimal single-line TextMate engine, enough to check scopes of sample lines."""

    def __init__(self, g: dict):
        self.g = g
        self.repo = g.get("repository", {})

    def _expand(self, patterns, seen=frozenset()):
        rules = []
        for p in patterns:
            if "include" in p:
                ref = p["include"]
                if ref == "$self" or ref == "$base":
                    target = {"patterns": self.g["patterns"]}
                    key = ref
                elif ref.startswith("#"):
                    key = ref[1:]
                    target = self.repo[key]
                else:  # another grammar: nothing to do here
                    continue
                if key in seen:
                    continue
                rules.extend(self._expand([target], seen | {key}))
            elif "match" in p or "begin" in p:
                rules.append(p)
            elif "patterns" in p:
                rules.extend(self._expand(p["patterns"], seen))
        return rules

    def tokenise(self, line: str) -> list[list[str]]:
        """Per character of `line`, the list of scopes applied to it (outermost first)."""
        scopes: list[list[str]] = [[] for _ in line]

        def mark(start: int, end: int, name: str | None):
            if name:
                for i in range(start, min(end, len(line))):
                    scopes[i].extend(name.split())

        def mark_captures(m: re.Match, caps: dict | None):
            for k, v in (caps or {}).items():
                idx = int(k)
                if m.group(idx) is not None:
                    mark(m.start(idx), m.end(idx), v.get("name"))

        def run(pos: int, rules: list[dict], end_rx: re.Pattern | None, owner: dict | None) -> int:
            steps = 0
            while pos <= len(line):
                steps += 1
                assert steps < 10_000, "tokeniser loops"
                best = None
                if end_rx is not None:
                    m = end_rx.search(line, pos)
                    if m:
                        best = (m.start(), m, None)
                for rule in rules:
                    rx = re.compile(rule.get("match") or rule["begin"])
                    m = rx.search(line, pos)
                    if m and (best is None or m.start() < best[0]):
                        best = (m.start(), m, rule)
                if best is None:
                    return len(line)
                _, m, rule = best
                if rule is None:  # the enclosing rule's end
                    mark_captures(m, owner.get("endCaptures", owner.get("captures")))
                    return m.end()
                if "match" in rule:
                    mark(m.start(), m.end(), rule.get("name"))
                    mark_captures(m, rule.get("captures"))
                    pos = m.end() if m.end() > m.start() else m.end() + 1
                    continue
                inner = self._expand(rule.get("patterns", []))
                end = run(m.end(), inner, re.compile(rule["end"]), rule)
                mark(m.start(), end, rule.get("name"))
                mark(m.end(), end, rule.get("contentName"))
                mark_captures(m, rule.get("beginCaptures", rule.get("captures")))
                pos = end if end > m.start() else m.start() + 1
            return len(line)

        run(0, self._expand(self.g["patterns"]), None, None)
        return scopes


@lru_cache(maxsize=None)
def _tokeniser() -> Tokeniser:
    return Tokeniser(grammar())


def scopes_of(line: str, word: str, nth: int = 0) -> list[list[str]]:
    """Scopes of each character of the nth whole-word (or exact, for symbols) occurrence of word."""
    pattern = r"(?<![A-Za-z0-9_])" + re.escape(word) + r"(?![A-Za-z0-9_])" if word[0].isalnum() or word[0] == "_" else re.escape(word)
    matches = list(re.finditer(pattern, line))
    assert len(matches) > nth, f"{word!r} not in {line!r}"
    m = matches[nth]
    per_char = _tokeniser().tokenise(line)
    return per_char[m.start() : m.end()]


def has_scope(line: str, word: str, prefix: str, nth: int = 0) -> bool:
    """Every character of `word` carries a scope that starts with `prefix`."""
    return all(any(s.startswith(prefix) for s in char) for char in scopes_of(line, word, nth))


def lacks_scope(line: str, word: str, prefix: str, nth: int = 0) -> bool:
    return not any(any(s.startswith(prefix) for s in char) for char in scopes_of(line, word, nth))


# ---------------------------------------------------------------------------- files


def test_json_grammar_loads():
    g = grammar()
    assert g["scopeName"] == "source.pvdsl"
    assert g["name"] == "pvdsl"
    assert "pv" in g["fileTypes"]
    assert g["patterns"] and g["repository"]


def test_plist_loads_and_equals_json():
    with open(PLIST_PATH, "rb") as f:
        plist = plistlib.load(f)
    assert plist == grammar(), "editors/pvdsl.tmLanguage is stale: run `python editors/make_plist.py`"


def test_plist_is_byte_identical_to_regeneration():
    spec = importlib.util.spec_from_file_location("make_plist", EDITORS / "make_plist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert PLIST_PATH.read_bytes() == mod.render(mod.load_grammar()), "run `python editors/make_plist.py`"
    assert mod.main(["--check"]) == 0


def test_package_json_points_at_grammar():
    pkg = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (lang,) = [l for l in pkg["contributes"]["languages"] if l["id"] == "pvdsl"]
    assert ".pv" in lang["extensions"]
    assert (VSCODE / lang["configuration"]).is_file()
    (gram,) = [g for g in pkg["contributes"]["grammars"] if g["language"] == "pvdsl"]
    assert gram["scopeName"] == "source.pvdsl" == grammar()["scopeName"]
    path = (VSCODE / gram["path"]).resolve()
    assert path.is_file()
    assert path == JSON_PATH.resolve()
    assert "vscode" in pkg["engines"]


def test_language_configuration():
    conf = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert conf["comments"]["lineComment"] == "//"
    assert conf["comments"]["blockComment"] == ["/*", "*/"]
    brackets = {tuple(b) for b in conf["brackets"]}
    assert brackets >= {("{", "}"), ("[", "]"), ("(", ")"), ("<", ">")}
    closing = {(p["open"], p["close"]) for p in conf["autoClosingPairs"]}
    assert closing >= {("{", "}"), ("[", "]"), ("(", ")")}
    for key in ("start", "end"):
        re.compile(conf["folding"]["markers"][key])


# ---------------------------------------------------------------------------- regexes


@pytest.mark.parametrize("where,rx", all_regexes(), ids=[w for w, _ in all_regexes()])
def test_regex_compiles_in_python(where, rx):
    re.compile(rx)


@pytest.mark.parametrize("where,rx", all_regexes(), ids=[w for w, _ in all_regexes()])
def test_regex_is_portable(where, rx):
    for bad, what in NON_PORTABLE:
        assert not bad.search(rx), f"{where}: {what} in {rx!r}"


def test_includes_resolve_and_captures_exist():
    g = grammar()
    repo = g["repository"]
    for path, rule in _walk_rules(g):
        inc = rule.get("include")
        if isinstance(inc, str) and inc.startswith("#"):
            assert inc[1:] in repo, f"{path}: unknown include {inc}"
        for key, rx_key in (("captures", "match"), ("beginCaptures", "begin"), ("endCaptures", "end")):
            caps = rule.get(key)
            if isinstance(caps, dict) and isinstance(rule.get(rx_key), str):
                groups = re.compile(rule[rx_key]).groups
                for k in caps:
                    assert int(k) <= groups, f"{path}.{key}: group {k} > {groups}"
        if "begin" in rule:
            assert "end" in rule, f"{path}: begin without end"


def test_every_scope_ends_with_language_suffix():
    for path, rule in _walk_rules(grammar()):
        name = rule.get("name")
        if isinstance(name, str) and path != "$":
            assert name.endswith(".pvdsl"), f"{path}: scope {name!r} lacks the .pvdsl suffix"


# ---------------------------------------------------------------------------- keywords


def test_lark_keywords_found():
    kws = lark_keywords()
    # sanity: the extraction works at all
    assert {"hypercall", "table", "backend", "impl", "law", "sizeof", "as"} <= kws


@pytest.mark.parametrize("kw", sorted(lark_keywords()))
def test_lark_keyword_in_textmate_grammar(kw):
    word = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(kw) + r"(?![A-Za-z0-9_])")
    texts = [re.sub(r"\\[bB]", " ", rx) for _, rx in all_regexes()]  # `\bnull`: the b is no letter
    assert any(word.search(t) for t in texts), f"keyword {kw!r} missing from the TextMate grammar"
    ok = ("keyword.", "storage.", "support.type", "constant.language")
    line = f"{kw} x"
    chars = scopes_of(line, kw)
    assert all(any(s.startswith(ok) for s in c) for c in chars), f"{kw!r} scoped as {chars[0]}"


# ---------------------------------------------------------------------------- tokenisation

SAMPLE = """\
module backends.xen;
import xen.abi;
const PAGE_SIZE: ulong = 0x1000;
type pfn_t = ulong;
struct vcpu_info [packed, align(64)] {
    type: u32;
    handle: handle<u8>;
    pad: u8[16];
}
union u { a: u8; b: s64; }
enum op: u32 { A = 0b1010, B = 0o17, C = 1_000 }
flags fl: u16 { X = 0xFFFF_FFFF }
hypercall xen_version = 17 (cmd: long, arg: ptr<void>) -> long;
hypercall mmu_update = 1 (req: ptr<u8>) -> long [privileged];
table pv_irq_ops { save_fl() -> ulong [callee_save]; irq_disable() when native; }
backend xen_dom0 extends xen for i386, x86_64 roles domu, dom0 {
    percpu xen_vcpu_info: vcpu_info;
    impl pv_irq_ops.save_fl() -> ulong { return xen_vcpu_info.type == 0 ? X86_EFLAGS_IF : 0; }
}
fn helper(p: ptr<u8>) -> bool { var n: u32 = sizeof(u64) as u32; cli(); n <<= 2; return n >= 3 && true; }
law irq_roundtrip(f: ulong in {0, X86_EFLAGS_IF}) for pv_irq_ops { restore_fl(f); assert save_fl() == f; }
x = /* block */ 12abc; // trailing
while i < 10 { if p->handle != null { break; } else { continue; } }
"""


def line(startswith: str) -> str:
    (found,) = [l for l in SAMPLE.splitlines() if l.lstrip().startswith(startswith)]
    return found


def test_smoke_brief_examples():
    assert has_scope("hypercall xen_version = 17 ();", "hypercall", "storage.type")
    assert has_scope("const x = 0x200;", "0x200", "constant.numeric.hex")
    assert has_scope("// x", "// x", "comment.line")
    assert has_scope("f: ulong;", "ulong", "support.type")
    assert has_scope("cli();", "cli", "support.function")


def test_comments():
    l = line("x = /*")
    assert has_scope(l, "/* block */", "comment.block")
    assert has_scope(l, "// trailing", "comment.line.double-slash")
    assert lacks_scope(l, "x", "comment")
    assert has_scope("/* hypercall 0x10 */", "hypercall", "comment.block")
    assert lacks_scope("/* hypercall 0x10 */", "hypercall", "storage")


def test_numbers():
    assert has_scope(line("enum op"), "0b1010", "constant.numeric.binary")
    assert has_scope(line("enum op"), "0o17", "constant.numeric.octal")
    assert has_scope(line("enum op"), "1_000", "constant.numeric.decimal")
    assert has_scope(line("flags fl"), "0xFFFF_FFFF", "constant.numeric.hex")
    assert has_scope(line("hypercall xen_version"), "17", "constant.numeric.decimal")
    assert has_scope(line("x = /*"), "12abc", "invalid.illegal")
    assert lacks_scope("x1 = y2;", "x1", "constant.numeric")


def test_declaration_names():
    assert has_scope(line("module"), "backends.xen", "entity.name.namespace")
    assert has_scope(line("import"), "import", "keyword.control.import")
    assert has_scope(line("struct"), "vcpu_info", "entity.name.type.struct")
    assert has_scope(line("union"), "u", "entity.name.type")
    assert has_scope(line("enum op"), "op", "entity.name.type.enum")
    assert has_scope(line("flags fl"), "fl", "entity.name.type.enum")
    assert has_scope(line("type pfn_t"), "pfn_t", "entity.name.type.alias")
    assert has_scope(line("hypercall xen_version"), "xen_version", "entity.name.function.hypercall")
    assert has_scope(line("table"), "pv_irq_ops", "entity.name.type.table")
    assert has_scope(line("backend"), "xen_dom0", "entity.name.type.backend")
    assert has_scope(line("backend"), "xen", "entity.other.inherited-class")
    assert has_scope(line("fn"), "helper", "entity.name.function")
    assert has_scope(line("law"), "irq_roundtrip", "entity.name.function.law")
    assert has_scope(line("const"), "PAGE_SIZE", "variable.other.constant")
    assert has_scope(line("percpu"), "xen_vcpu_info", "variable.other")


def test_impl_table_hook():
    l = line("impl")
    assert has_scope(l, "impl", "keyword.other.impl")
    assert has_scope(l, "pv_irq_ops", "entity.name.type.table")
    assert has_scope(l, "save_fl", "entity.name.function.hook")
    assert has_scope(l, "return", "keyword.control.flow")


def test_keywords_and_storage():
    assert has_scope(line("backend"), "for", "keyword.other")
    assert has_scope(line("backend"), "roles", "keyword.other")
    assert has_scope(line("backend"), "extends", "storage.modifier")
    assert has_scope(line("table"), "when", "keyword.other")
    assert has_scope(line("law"), "in", "keyword.other")
    assert has_scope(line("law"), "assert", "keyword.control")
    assert has_scope(line("fn"), "var", "storage.type")
    assert has_scope(line("fn"), "sizeof", "keyword.operator.sizeof")
    assert has_scope(line("fn"), "as", "keyword.operator.cast")
    l = line("while")
    for kw, scope in (("while", "keyword.control.loop"), ("if", "keyword.control.conditional"),
                      ("else", "keyword.control.conditional"), ("break", "keyword.control.flow"),
                      ("continue", "keyword.control.flow")):
        assert has_scope(l, kw, scope), kw


def test_types_and_constants():
    assert has_scope(line("hypercall xen_version"), "void", "support.type")
    assert has_scope(line("hypercall xen_version"), "ptr", "support.type")
    assert has_scope(line("handle:"), "handle", "support.type", nth=1)
    assert has_scope(line("union"), "s64", "support.type")
    assert has_scope(line("fn"), "bool", "support.type")
    assert has_scope(line("fn"), "true", "constant.language.boolean")
    assert has_scope(line("while"), "null", "constant.language.null")
    l = line("backend")
    for name in ("i386", "x86_64", "domu", "dom0"):
        assert has_scope(l, name, "constant.language"), name
    assert has_scope(line("table"), "native", "constant.language.role")


def test_field_names_that_are_keywords_are_not_keywords():
    # The contextual lexer lets a field be called `type` or `handle`, as Xen's headers do.
    assert lacks_scope(line("type:"), "type", "storage")
    assert lacks_scope(line("handle:"), "handle", "support.type", nth=0)
    l = line("impl")
    assert lacks_scope(l, "type", "storage")
    assert has_scope(l, "type", "variable.other.member")
    assert lacks_scope(line("while"), "handle", "support.type")


def test_attributes():
    assert has_scope(line("struct"), "packed", "storage.modifier")
    assert has_scope(line("struct"), "align", "storage.modifier")
    assert has_scope(line("struct"), "64", "constant.numeric")
    assert has_scope(line("struct"), "[", "meta.attribute")
    assert has_scope(line("hypercall mmu_update"), "privileged", "storage.modifier")
    assert has_scope(line("table"), "callee_save", "storage.modifier")
    assert has_scope("hypercall h = 1 () -> long [future_attr];", "future_attr", "entity.other.attribute-name")
    # array types and indexing are not attributes
    assert lacks_scope(line("pad:"), "16", "meta.attribute")
    assert lacks_scope("x = a[i];", "i", "meta.attribute")


def test_calls_and_intrinsics():
    l = line("law")
    assert has_scope(l, "restore_fl", "entity.name.function")
    assert lacks_scope(l, "restore_fl", "support.function")
    for name in ("cli", "sti", "pushf", "popf", "hlt", "read_cr3", "write_cr4", "invlpg", "wbinvd",
                 "rdmsr", "wrmsr", "rdtsc", "cpuid", "barrier"):
        assert has_scope(f"{name}();", name, "support.function.intrinsic"), name
    # an intrinsic's name used as a plain identifier is not a call
    assert lacks_scope("var cli: u8 = 0;", "cli", "support.function")


def test_operators():
    l = line("fn")
    assert has_scope(l, "<<=", "keyword.operator.assignment")
    assert has_scope(l, ">=", "keyword.operator.comparison")
    assert has_scope(l, "&&", "keyword.operator.logical")
    assert has_scope(l, "->", "keyword.operator.arrow")
    assert has_scope(line("impl"), "==", "keyword.operator.comparison")
    assert has_scope(line("impl"), "?", "keyword.operator.ternary")
    assert has_scope("x = a >> 2 | ~b ^ c & d % e;", ">>", "keyword.operator.bitwise.shift")
    assert has_scope("x = a >> 2 | ~b ^ c & d % e;", "~", "keyword.operator.bitwise")
    assert has_scope("x = a >> 2 | ~b ^ c & d % e;", "%", "keyword.operator.arithmetic")
    assert has_scope("x in 0..=9", "..=", "keyword.operator.range")
    assert has_scope("x in 0..9", "..", "keyword.operator.range")
    assert has_scope("hypercall sched_op = 29 (cmd: s32, ...);", "...", "keyword.operator.variadic")
    assert has_scope("x = a / b;", "/", "keyword.operator.arithmetic")
    assert has_scope("x = !a != b;", "!", "keyword.operator.logical")
    assert has_scope("x = !a != b;", "!=", "keyword.operator.comparison")


def test_every_sample_line_tokenises():
    # No sample line makes the tokeniser loop or leaves keyword-like text unscoped at top level.
    for l in SAMPLE.splitlines():
        _tokeniser().tokenise(l)


# ---------------------------------------------------------------------------- real Oniguruma (optional)


def _load_oniguruma():
    """ctypes binding to the system's libonig (Debian: libonig5), or None."""
    for name in ("libonig.so.5", ctypes.util.find_library("onig")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            enc = ctypes.addressof(ctypes.c_char.in_dll(lib, "OnigEncodingUTF8"))
            syntax = ctypes.c_void_p.in_dll(lib, "OnigDefaultSyntax").value
        except (OSError, ValueError, AttributeError):
            continue
        if lib.onig_initialize((ctypes.c_void_p * 1)(enc), 1) != 0:
            continue
        return lib, enc, syntax
    return None


class _Region(ctypes.Structure):  # the leading fields of OnigRegion
    _fields_ = [("allocated", ctypes.c_int), ("num_regs", ctypes.c_int),
                ("beg", ctypes.POINTER(ctypes.c_int)), ("end", ctypes.POINTER(ctypes.c_int))]


def test_regexes_agree_with_oniguruma():
    """Where libonig is installed: every regex compiles with Oniguruma (Ruby syntax, as
    VS Code and TextMate use it) and finds the same match and groups as Python's `re`
    on every sample line from every start position."""
    onig = _load_oniguruma()
    if onig is None:
        pytest.fail("libonig not installed: tools/bootstrap installs Debian libonig5")
    lib, enc, syntax = onig
    lib.onig_region_new.restype = ctypes.POINTER(_Region)
    ONIG_OPTION_CAPTURE_GROUP = 256

    lines = SAMPLE.splitlines() + ["x = !a != b;", "hypercall h = 1 () -> long [future_attr];",
                                   "x in 0..=9 0..9", "p->handle<u8>", "/* a */ b // c"]
    for where, rx in all_regexes():
        pat = rx.encode()
        pbuf = ctypes.create_string_buffer(pat, len(pat))
        reg = ctypes.c_void_p()
        einfo = ctypes.create_string_buffer(64)
        rc = lib.onig_new(ctypes.byref(reg), pbuf, ctypes.c_void_p(ctypes.addressof(pbuf) + len(pat)),
                          ONIG_OPTION_CAPTURE_GROUP, ctypes.c_void_p(enc), ctypes.c_void_p(syntax), einfo)
        if rc != 0:
            msg = ctypes.create_string_buffer(256)
            lib.onig_error_code_to_str(msg, rc, einfo)
            pytest.fail(f"{where}: Oniguruma rejects {rx!r}: {msg.value.decode()}")
        py = re.compile(rx)
        region = lib.onig_region_new()
        try:
            for line in lines:
                data = line.encode()
                buf = ctypes.create_string_buffer(data, len(data))
                base = ctypes.addressof(buf)
                for start in range(len(data) + 1):
                    r = lib.onig_search(reg, buf, ctypes.c_void_p(base + len(data)), ctypes.c_void_p(base + start),
                                        ctypes.c_void_p(base + len(data)), region, 0)
                    got = None
                    if r >= 0:
                        rg = region.contents
                        got = tuple((rg.beg[i], rg.end[i]) for i in range(rg.num_regs))
                    m = py.search(line, start)
                    want = None if m is None else tuple(
                        m.span(i) if m.group(i) is not None else (-1, -1) for i in range(py.groups + 1))
                    assert got == want, f"{where}: {rx!r} on {line!r} from {start}: onig {got} vs re {want}"
        finally:
            lib.onig_region_free(region, 1)
            lib.onig_free(reg)
