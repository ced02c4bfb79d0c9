"""Running a spec's laws against a loaded backend.

A law (`law irq_roundtrip(f: ulong in {0, X86_EFLAGS_IF}) for pv_irq_ops {
restore_fl(f); assert save_fl() == f; }`) is checked for every value of its
parameters' domains (a range contributes its ends, their neighbours and its
middle; an unbounded parameter 0, 1 and its maximum), each hook call made on
the emulated vCPU. The body is evaluated here with the checker's types (each
value wrapped to the width of its expression's type); the statements a law
uses are supported: var, assignment to a variable, if, while (capped), return,
assert, calls of the table's hooks; anything else is reported as
unsupported, not guessed at.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ...sema import types as T
from ...syntax import ast

MAX_LOOP = 100_000
MAX_CASES = 64


class LawError(Exception):
    """A law this runtime cannot evaluate (an unsupported construct)."""


class _Return(Exception):
    pass


@dataclass
class LawResult:
    law: str
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    faults: list = field(default_factory=list)
    calls: list = field(default_factory=list)  # every CallResult, for the statistics

    @property
    def ok(self) -> bool:
        return not self.failures and not self.faults


def _domain(p, arch) -> list[int]:
    if p.values is not None:
        return list(p.values)
    if p.range is not None:
        lo, hi = p.range
    elif T.integer_base(p.type) is not None:
        lo, hi = T.integer_base(p.type).range(arch)
        return sorted({v for v in (lo, -1, 0, 1, hi) if lo <= v <= hi})
    else:  # bool
        return [0, 1]
    return sorted({lo, min(lo + 1, hi), (lo + hi) // 2, max(hi - 1, lo), hi})


def laws_for(machine) -> list[str]:
    """The spec's laws about tables this backend fills."""
    view = machine.built.program.view(machine.built.target.arch.name)
    tables = set(machine.built.manifest["tables"])
    return [name for name, law in view.laws.items() if law.table in tables]


def run_law(machine, name: str, vcpu: int = 0) -> LawResult:
    program = machine.built.program
    view = program.view(machine.built.target.arch.name)
    law = view.laws.get(name)
    if law is None:
        raise LawError(f"no law '{name}' in the spec (it has: {', '.join(sorted(view.laws)) or 'none'})")
    res = LawResult(name)
    domains = [_domain(p, view.arch) for p in law.params]
    for values in itertools.islice(itertools.product(*domains), MAX_CASES):
        ev = _Eval(machine, view, law, vcpu, res)
        env = _Scope(values={p.name: v for p, v in zip(law.params, values)})
        res.cases += 1
        try:
            ev.block(law.decl.body, env)
        except _Return:
            pass
        except _Stop:
            pass
    return res


class _Stop(Exception):
    """A hook faulted: this case ends."""


class _Scope(dict):
    """Variables of a block; assignment finds the block that declared the name."""

    def __init__(self, parent: "_Scope | None" = None, values: dict | None = None):
        super().__init__(values or {})
        self.parent = parent

    def lookup(self, name: str) -> "_Scope | None":
        scope = self
        while scope is not None and name not in scope:
            scope = scope.parent
        return scope

    def visible(self) -> dict:
        out = dict(self.parent.visible()) if self.parent is not None else {}
        out.update(self)
        return out


class _Eval:
    def __init__(self, machine, view, law, vcpu: int, res: LawResult):
        self.m, self.view, self.law, self.vcpu, self.res = machine, view, law, vcpu, res

    # ---- statements ----
    def block(self, b: ast.Block, env: _Scope) -> None:
        for s in b.stmts:
            self.stmt(s, env)

    def stmt(self, s, env: _Scope) -> None:
        if isinstance(s, ast.Block):
            self.block(s, _Scope(env))
        elif isinstance(s, ast.ExprStmt):
            self.expr(s.expr, env)
        elif isinstance(s, ast.VarStmt):
            env[s.name] = self.expr(s.init, env) if s.init is not None else 0
        elif isinstance(s, ast.AssignStmt) and isinstance(s.target, ast.Name) and env.lookup(s.target.name):
            scope = env.lookup(s.target.name)
            value = self.expr(s.value, env)
            if s.op != "=":
                value = self._binary(s.op[:-1], scope[s.target.name], value, s.target)
            scope[s.target.name] = self._wrap(s.target, value)
        elif isinstance(s, ast.IfStmt):
            if self.expr(s.cond, env):
                self.block(s.then, _Scope(env))
            elif s.otherwise is not None:
                self.stmt(s.otherwise, env)
        elif isinstance(s, ast.WhileStmt):
            for _ in range(MAX_LOOP):
                if not self.expr(s.cond, env):
                    break
                self.block(s.body, _Scope(env))
        elif isinstance(s, ast.ReturnStmt):
            raise _Return()
        elif isinstance(s, ast.AssertStmt):
            if not self.expr(s.cond, env):
                shown = ", ".join(f"{k} = {v:#x}" for k, v in env.visible().items())
                self.res.failures.append(f"law {self.law.name}: assertion at line {s.span.line} failed ({shown})")
        else:
            raise LawError(f"law {self.law.name}: line {s.span.line}: {type(s).__name__} is not supported")

    # ---- expressions ----
    def _type(self, e):
        return self.view.expr_types.get(id(e))

    def _wrap(self, e, value: int) -> int:
        t = self._type(e)
        if isinstance(t, T.BoolType):
            return int(bool(value))
        base = T.integer_base(t) if t is not None else None
        if base is None:
            return value
        w = base.width(self.view.arch)
        value &= (1 << w) - 1
        if base.signed and value >> (w - 1):
            value -= 1 << w
        return value

    def expr(self, e, env: _Scope) -> int:
        if id(e) in self.view.expr_values:
            return self.view.expr_values[id(e)]
        if isinstance(e, ast.IntLit):
            return e.value
        if isinstance(e, ast.BoolLit):
            return int(e.value)
        if isinstance(e, ast.Name):
            scope = env.lookup(e.name)
            if scope is not None:
                return scope[e.name]
            if e.name in self.view.consts:
                return self.view.consts[e.name][1]
            raise LawError(f"law {self.law.name}: line {e.span.line}: '{e.name}' has no value here")
        if isinstance(e, ast.Unary) and e.op in ("-", "!", "~"):
            v = self.expr(e.operand, env)
            return self._wrap(e, -v if e.op == "-" else (int(not v) if e.op == "!" else ~v))
        if isinstance(e, ast.Binary):
            if e.op == "&&":
                return int(bool(self.expr(e.left, env)) and bool(self.expr(e.right, env)))
            if e.op == "||":
                return int(bool(self.expr(e.left, env)) or bool(self.expr(e.right, env)))
            return self._binary(e.op, self.expr(e.left, env), self.expr(e.right, env), e)
        if isinstance(e, ast.Ternary):
            return self.expr(e.then if self.expr(e.cond, env) else e.otherwise, env)
        if isinstance(e, ast.Cast):
            return self._wrap(e, self.expr(e.expr, env))
        if isinstance(e, ast.Call):
            return self._call(e, env)
        raise LawError(f"law {self.law.name}: line {e.span.line}: {type(e).__name__} is not supported")

    def _binary(self, op: str, a: int, b: int, e) -> int:
        cmp = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
        if op in cmp:
            return int(cmp[op])
        if op in ("/", "%") and b == 0:
            raise LawError(f"law {self.law.name}: division by zero")
        value = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: int(a / b),
                 "%": lambda: a - b * int(a / b), "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
                 "<<": lambda: a << (b & 127), ">>": lambda: a >> (b & 127)}.get(op)
        if value is None:
            raise LawError(f"law {self.law.name}: operator '{op}' is not supported")
        return self._wrap(e, value())

    def _call(self, e: ast.Call, env: _Scope) -> int:
        callee = e.callee
        if isinstance(callee, ast.Name):
            hook = f"{self.law.table}.{callee.name}"
        elif isinstance(callee, ast.FieldAccess) and isinstance(callee.base, ast.Name):
            hook = f"{callee.base.name}.{callee.name}"
        else:
            raise LawError(f"law {self.law.name}: line {e.span.line}: only hooks can be called")
        args = [self.expr(a, env) & ((1 << 64) - 1) for a in e.args]
        r = self.m.call(hook, *args, vcpu=self.vcpu)
        self.res.calls.append(r)
        if r.fault is not None:
            self.res.faults.append(r.fault)
            raise _Stop()
        return self._wrap(e, r.value)
