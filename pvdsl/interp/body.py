"""One body (hook, table default, helper or law) to a Python function.

Locals live in Python variables, except those that need memory: structs,
arrays and scalars whose address is taken. Those get a slot in a frame the
function opens on the interpreter's stack (`_fp` is its lowest address). As
the code generator does, every local is set to zero where it is declared.

Steps: `_C[0]` counts statements as they run. Straight-line statements are
counted together when their run starts (so a fault in the middle of a run
has counted the whole run); a `while` counts once more for each iteration,
and each iteration checks the budget `_B`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..sema import types as T
from ..sema.exprs import Local
from ..syntax import ast
from .exprs import ExprCompiler
from .values import Types, V

_LOCAL_NAME = re.compile(r"\b(?:a\d+_\w+|v\d+_\w+|_t\d+|_fp)\b")
_ASSIGNED_TEMP = re.compile(r"^\s*(_t\d+) = ", re.M)
_ENDS_RUN = (ast.IfStmt, ast.WhileStmt, ast.WhenStmt, ast.ReturnStmt, ast.BreakStmt, ast.ContinueStmt)


@dataclass
class Slot:
    name: str  # the Python variable, when not in memory
    type: T.Type
    in_memory: bool = False
    offset: int = 0  # in the frame, when in memory


@dataclass
class Compiled:
    name: str
    lines: list[tuple[str, object]]  # (source line, Span of the statement or None)
    has_frame: bool
    callees: set[str]


def _python_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


class BodyCompiler(ExprCompiler):
    def __init__(self, owner, view, ty: Types, when_arch: str):
        self.owner = owner  # interpreter.Generator: names of other functions
        self.view = view
        self.ty = ty
        self.arch_name = when_arch
        self.slots: dict[int, Slot] = {}
        self.lines: list[tuple[str, object]] = []
        self.callees: set[str] = set()
        self._temps = 0
        self._parts = 0
        self._span = None
        self.name = ""
        self.ret: T.Type = T.VOID

    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def hoist(self, v: V) -> V:
        """`v` as a call of a new function that computes it. An expression
        assigns nothing but its own temporaries, so the function needs the
        locals it reads as arguments and nothing else."""
        text = "\n".join(v.pre + [v.code])
        used = set(_LOCAL_NAME.findall(text))
        assigned = set(_ASSIGNED_TEMP.findall("\n".join(v.pre)))
        known = {s.name for s in self.slots.values()} | {f"_t{i}" for i in range(1, self._temps + 1)} | {"_fp"}
        args = sorted((used & known) - assigned)
        self._parts += 1
        name = f"{self.name}_part{self._parts}"
        lines = [(f"def {name}({', '.join(args)}):", None)]
        lines += [("    " + line, self._span) for line in v.pre + [f"return {v.code}"]]
        self.owner.add_compiled(Compiled(name, lines, False, set()))
        return V(f"{name}({', '.join(args)})", depth=1)

    # ---- the function ----
    def function(self, name: str, params: list[tuple[str, T.Type]], ret: T.Type, body: ast.Block) -> Compiled:
        self.ret, self.name = ret, name
        var_locals, param_locals, addressed = self._scan(body)
        pnames = {}
        for i, (pname, ptype) in enumerate(params):
            pnames[pname] = Slot(f"a{i}_{_python_name(pname)}", ptype)
        frame = 0
        memory_slots: list[Slot] = []

        def place(slot: Slot) -> None:
            nonlocal frame
            size, align = self.ty.size_align(slot.type)
            frame = (frame + align - 1) // align * align
            slot.in_memory, slot.offset = True, frame
            frame += max(size, 1)
            memory_slots.append(slot)

        for key, local in param_locals.items():
            slot = pnames.get(local.name)
            if slot is None:
                raise TypeError(f"{name}: '{local.name}' is neither a local nor a parameter")
            self.slots[key] = slot
            if key in addressed and not slot.in_memory:
                place(slot)
        params_in_memory = list(memory_slots)
        for n, (key, local) in enumerate(var_locals.items()):
            slot = self.slots[key] = Slot(f"v{n}_{_python_name(local.name)}", local.type)
            if key in addressed or not T.is_scalar(local.type):
                place(slot)
        head = f"def {name}({', '.join(s.name for s in pnames.values())}):"
        self.lines.append((head, None))
        ind = 1
        if frame:
            self._emit(ind, "_osp = _R.sp")
            self._emit(ind, f"_fp = _R.push({frame})")
            self._emit(ind, "try:")
            ind += 1
            for slot in params_in_memory:
                self._store(ind, self.frame_address(slot), V(slot.name), slot.type)
        self.block(body.stmts, ind)
        if ret != T.VOID:
            self._emit(ind, "return 0")  # unreachable once the checker has accepted the body
        if frame:
            self._emit(ind - 1, "finally:")
            self._emit(ind, "_R.sp = _osp")
        return Compiled(name, self.lines, bool(frame), self.callees)

    def _chosen(self, s: ast.WhenStmt) -> ast.Block | None:
        return s.then if self.arch_name in s.arches else s.otherwise

    def _scan(self, body: ast.Block):
        """The body's locals and parameters (keyed by id of their Local), and
        the ones whose address is taken."""
        var_locals: dict[int, Local] = {}
        param_locals: dict[int, Local] = {}
        addressed: set[int] = set()
        refs = self.view.refs

        def visit(node):
            if isinstance(node, ast.WhenStmt):
                chosen = self._chosen(node)
                if chosen is not None:
                    visit(chosen)
                return
            if isinstance(node, ast.VarStmt):
                local = refs[id(node)]
                var_locals[id(local)] = local
            elif isinstance(node, ast.Name):
                ref = refs.get(id(node))
                if isinstance(ref, Local) and id(ref) not in var_locals:
                    param_locals[id(ref)] = ref
            elif isinstance(node, ast.Unary) and node.op == "&":
                root = node.operand
                while isinstance(root, (ast.FieldAccess, ast.Index)) and not getattr(root, "arrow", False):
                    if isinstance(root, ast.Index) and not isinstance(self.type_of(root.base), T.ArrayType):
                        break  # indexing through a pointer: the pointee is elsewhere
                    root = root.base
                if isinstance(root, ast.Name) and isinstance(refs.get(id(root)), Local):
                    addressed.add(id(refs[id(root)]))
            for child in node.children():
                visit(child)

        visit(body)
        # A name seen before its declaration cannot happen; a parameter shadowed
        # later by a `var` of the same name is a different Local.
        for key in var_locals:
            param_locals.pop(key, None)
        return var_locals, param_locals, addressed

    def frame_address(self, slot: Slot) -> V:
        if not slot.in_memory:
            raise TypeError(f"'{slot.name}' has no address")
        return V("_fp") if slot.offset == 0 else V(f"(_fp + {slot.offset})", depth=1)

    # ---- emission ----
    def _emit(self, ind: int, line: str) -> None:
        self.lines.append(("    " * ind + line, self._span))

    def _emit_pre(self, ind: int, v: V) -> None:
        for line in v.pre:
            self._emit(ind, line)

    def _store(self, ind: int, addr: V, value: V, t: T.Type) -> None:
        both = self.combine([addr, value], lambda a, b: f"_wr({a}, {self.ty.encode(V(b, const=value.const), t)})")
        self._emit_pre(ind, both)
        self._emit(ind, both.code)

    # ---- statements ----
    def block(self, stmts, ind: int, extra: int = 0, loop_head: bool = False) -> None:
        runs, run = [], []
        for s in stmts:
            run.append(s)
            if isinstance(s, _ENDS_RUN):
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        if not runs:
            if extra:
                self._emit(ind, f"_C[0] += {extra}")
            if loop_head:
                self._emit(ind, "if _C[0] > _B: _R.budget()")
            if not extra and not loop_head:
                self._emit(ind, "pass")
            return
        for i, run in enumerate(runs):
            self._span = run[0].span
            self._emit(ind, f"_C[0] += {len(run) + (extra if i == 0 else 0)}")
            if i == 0 and loop_head:
                self._emit(ind, "if _C[0] > _B: _R.budget()")
            for s in run:
                self.stmt(s, ind)

    def stmt(self, s: ast.Stmt, ind: int) -> None:
        self._span = s.span
        getattr(self, "s_" + type(s).__name__)(s, ind)

    def s_Block(self, s: ast.Block, ind: int) -> None:
        self.block(s.stmts, ind)

    def s_VarStmt(self, s: ast.VarStmt, ind: int) -> None:
        local: Local = self.view.refs[id(s)]
        slot = self.slots[id(local)]
        if not slot.in_memory:
            v = self.rvalue(s.init, local.type) if s.init is not None else V.lit(0)
            self._emit_pre(ind, v)
            self._emit(ind, f"{slot.name} = {v.code}")
            return
        size = self.ty.size(local.type)
        self._emit(ind, f"_wr({self.frame_address(slot).code}, bytes({size}))")
        if s.init is not None:
            self._store(ind, self.frame_address(slot), self.rvalue(s.init, local.type), local.type)

    def s_AssignStmt(self, s: ast.AssignStmt, ind: int) -> None:
        tt = self.value_type(s.target)
        target = s.target
        if isinstance(target, ast.Name) and isinstance(self.view.refs[id(target)], Local) \
                and not self.slot(self.view.refs[id(target)]).in_memory:
            name = self.slot(self.view.refs[id(target)]).name
            v = self.rvalue(s.value, tt) if s.op == "=" else self.compound(s.op[:-1], V(name), s.value, tt)
            self._emit_pre(ind, v)
            self._emit(ind, f"{name} = {v.code}")
            return
        addr = self.address(target)
        if s.op == "=":
            self._store(ind, addr, self.rvalue(s.value, tt), tt)
            return
        if not addr.simple:
            addr = self.materialize(addr)  # evaluated once, for the load and the store
        self._emit_pre(ind, addr)
        addr = V(addr.code)
        self._store(ind, addr, self.compound(s.op[:-1], self.ty.load(addr, tt), s.value, tt), tt)

    def compound(self, op: str, current: V, rhs: ast.Expr, tt: T.Type) -> V:
        if op in ("<<", ">>"):
            return self.shift(op, current, self.value(rhs), tt)
        flags = isinstance(tt, T.EnumType) and tt.is_flags
        return self.arith(op, current, self.rvalue(rhs, tt if flags else T.integer_base(tt)), tt)

    def s_IfStmt(self, s: ast.IfStmt, ind: int) -> None:
        cond = self.value(s.cond)
        self._emit_pre(ind, cond)
        self._emit(ind, f"if {cond.code}:")
        self.block(s.then.stmts, ind + 1)
        other, passed = s.otherwise, 0
        # An else-if chain stays flat (Python limits nesting); each else-if
        # passed counts as one statement in the branch finally taken.
        while isinstance(other, ast.IfStmt):
            self._span = other.span
            cond = self.value(other.cond)
            if cond.pre:
                break
            passed += 1
            self._emit(ind, f"elif {cond.code}:")
            self.block(other.then.stmts, ind + 1, extra=passed)
            other = other.otherwise
        if other is None:
            if passed:
                self._emit(ind, "else:")
                self._emit(ind + 1, f"_C[0] += {passed}")
            return
        self._emit(ind, "else:")
        self.block([other] if isinstance(other, ast.IfStmt) else other.stmts, ind + 1, extra=passed)

    def s_WhenStmt(self, s: ast.WhenStmt, ind: int) -> None:
        chosen = self._chosen(s)
        if chosen is not None:
            self.block(chosen.stmts, ind)

    def s_WhileStmt(self, s: ast.WhileStmt, ind: int) -> None:
        cond = self.value(s.cond)
        if not cond.pre:
            self._emit(ind, f"while {cond.code}:")
        else:
            self._emit(ind, "while True:")
            self._emit_pre(ind + 1, cond)
            self._emit(ind + 1, f"if not {cond.code}: break")
        self.block(s.body.stmts, ind + 1, extra=1, loop_head=True)

    def s_BreakStmt(self, s, ind: int) -> None:
        self._emit(ind, "break")

    def s_ContinueStmt(self, s, ind: int) -> None:
        self._emit(ind, "continue")

    def s_ReturnStmt(self, s: ast.ReturnStmt, ind: int) -> None:
        if s.value is None:
            self._emit(ind, "return")
            return
        v = self.rvalue(s.value, self.ret)
        self._emit_pre(ind, v)
        self._emit(ind, f"return {v.code}")

    def s_AssertStmt(self, s: ast.AssertStmt, ind: int) -> None:
        cond = self.value(s.cond)
        self._emit_pre(ind, cond)
        self._emit(ind, f"if not {cond.code}: _R.law_failed({self.owner.assert_site(s.span)})")

    def s_ExprStmt(self, s: ast.ExprStmt, ind: int) -> None:
        v = self.value(s.expr)
        self._emit_pre(ind, v)
        self._emit(ind, v.code)
