"""Lowering one body (hook, helper or table default) to an LLVM function.

Semantics the interpreter mirrors: integers wrap; a shift count is taken
modulo the operand's width (as x86 shifts do for 32/64-bit operands);
locals start at zero; `&&`, `||` and `?:` evaluate lazily.
"""

from __future__ import annotations

from llvmlite import ir

from ..sema import types as T
from ..sema.exprs import Local
from ..sema.intrinsics import Intrinsic
from ..sema.layout import FieldLayout
from ..sema.model import FnInfo, HookInfo, HypercallInfo, PercpuInfo
from ..syntax import ast
from .irtypes import I1, I8, PTR

_ARITH = {"+": "add", "-": "sub", "*": "mul", "&": "and_", "|": "or_", "^": "xor"}
_CMP = {"==", "!=", "<", "<=", ">", ">="}


class FunctionLowering:
    def __init__(self, owner, fn: ir.Function, params, ret: T.Type, callee_save: bool):
        self.m = owner  # module.BackendLowering
        self.view = owner.view
        self.ty = owner.types
        self.asm = owner.asm
        self.fn = fn
        self.ret = ret
        # Stack slots go in a block of their own, first in the function (where
        # LLVM's mem2reg looks for them); the code starts in the next block.
        self.entry = fn.append_basic_block("entry")
        self.slots = ir.IRBuilder(self.entry)
        self.b = ir.IRBuilder(fn.append_basic_block("start"))
        self.exit = fn.append_basic_block("exit")
        self.loops: list[tuple[ir.Block, ir.Block]] = []
        self.locals: dict[int, ir.Value] = {}  # id(Local) -> alloca
        self.param_slots: dict[str, ir.Value] = {}
        self.pinned = self.asm.pin_entry(self.b, self._word_args(params)) if callee_save else None
        self.retval = None
        if ret != T.VOID:
            self.retval = self._alloca(self.ty.memory(ret), self.m.layouts.size(ret), "retval")
        for (name, ptype), arg in zip(params, fn.args):
            slot = self._alloca(self.ty.memory(ptype), self.m.layouts.size(ptype), name)
            self._store(arg, slot, ptype)
            self.param_slots[name] = slot

    def _word_args(self, params) -> dict[str, ir.Value]:
        """Register -> argument, for the word-sized arguments that arrive in
        registers (the only ones whose whole register the argument defines)."""
        regs = self.m.arch.kernel_arg_regs
        if self.m.arch.regparm:
            regs = regs[:self.m.arch.regparm]
        out = {}
        for i, ((_n, t), arg) in enumerate(zip(params, self.fn.args)):
            if i >= len(regs):
                break
            if isinstance(arg.type, ir.IntType) and arg.type.width == self.ty.word.width:
                out[regs[i]] = arg
            elif isinstance(arg.type, ir.PointerType):
                out[regs[i]] = self.b.ptrtoint(arg, self.ty.word)
        return out

    # ---- plumbing ----
    def _alloca(self, typ, size: int, name: str = "") -> ir.Value:
        return self.slots.alloca(typ, name=name)

    def _load(self, ptr: ir.Value, t: T.Type) -> ir.Value:
        v = self.b.load(ptr, typ=self.ty.memory(t))
        return self.b.trunc(v, I1) if isinstance(t, T.BoolType) else v

    def _store(self, v: ir.Value, ptr: ir.Value, t: T.Type) -> None:
        if isinstance(t, T.BoolType):
            v = self.b.zext(v, I8)
        self.b.store(v, ptr)

    def _offset(self, base: ir.Value, offset) -> ir.Value:
        if isinstance(offset, int):
            # Even offset 0 goes through a GEP: it gives llvmlite a pointer to
            # bytes whatever the base was declared as (LLVM folds it away).
            offset = ir.Constant(self.ty.word, offset)
        gep = self.b.gep(base, [offset], source_etype=I8)
        # An opaque result pointer, whatever llvmlite believes the base points to.
        gep.type = ir.PointerType(addrspace=base.type.addrspace)
        return gep

    def _new_block(self, name: str) -> ir.Block:
        return self.fn.append_basic_block(name)

    def _terminated(self) -> bool:
        return self.b.block.is_terminated

    def finish(self, body: ast.Block) -> None:
        self.block(body)
        self.slots.branch(self.fn.blocks[1])
        if not self._terminated():
            self.b.branch(self.exit)
        self.b.position_at_end(self.exit)
        value = self._load(self.retval, self.ret) if self.retval is not None else None
        self.asm.pin_exit(self.b, self.pinned)
        if value is None:
            self.b.ret_void()
        else:
            self.b.ret(value)

    # ---- statements ----
    def block(self, block: ast.Block) -> None:
        for stmt in block.stmts:
            if self._terminated():
                # Code after return/break/continue: unreachable, give it a block.
                self.b.position_at_end(self._new_block("dead"))
            getattr(self, "_s_" + type(stmt).__name__)(stmt)

    def _s_Block(self, s):
        self.block(s)

    def _s_VarStmt(self, s: ast.VarStmt):
        local: Local = self.view.refs[id(s)]
        self.m.note_type(local.type)
        size = self.m.layouts.size(local.type)
        if T.is_scalar(local.type):
            slot = self._alloca(self.ty.memory(local.type), size, s.name)
            self.b.store(ir.Constant(self.ty.memory(local.type), None), slot)
        else:
            typ = ir.ArrayType(I8, size)
            slot = self._alloca(typ, size, s.name)
            self.b.store(ir.Constant(typ, None), slot)
        self.locals[id(local)] = slot
        if s.init is not None:
            self._store(self.rvalue(s.init, local.type), slot, local.type)

    def _s_AssignStmt(self, s: ast.AssignStmt):
        tt = self.view.type_of(s.target)
        addr = self.address(s.target)
        if s.op == "=":
            self._store(self.rvalue(s.value, tt), addr, tt)
            return
        op = s.op[:-1]
        cur = self._load(addr, tt)
        if op in ("<<", ">>"):
            rhs = self.value(s.value)
            result = self._shift(op, cur, rhs, tt)
        else:
            rhs = self.rvalue(s.value, T.integer_base(tt) if not (isinstance(tt, T.EnumType) and tt.is_flags) else tt)
            result = self._arith(op, cur, rhs, tt)
        self._store(result, addr, tt)

    def _s_IfStmt(self, s: ast.IfStmt):
        cond = self.value(s.cond)
        then_bb, after = self._new_block("if.then"), self._new_block("if.end")
        else_bb = self._new_block("if.else") if s.otherwise is not None else after
        self.b.cbranch(cond, then_bb, else_bb)
        self.b.position_at_end(then_bb)
        self.block(s.then)
        if not self._terminated():
            self.b.branch(after)
        if s.otherwise is not None:
            self.b.position_at_end(else_bb)
            if isinstance(s.otherwise, ast.IfStmt):
                self._s_IfStmt(s.otherwise)
            else:
                self.block(s.otherwise)
            if not self._terminated():
                self.b.branch(after)
        self.b.position_at_end(after)

    def _s_WhenStmt(self, s: ast.WhenStmt):
        chosen = s.then if self.m.arch.name in s.arches else s.otherwise
        if chosen is not None:
            self.block(chosen)

    def _s_WhileStmt(self, s: ast.WhileStmt):
        head, body, after = self._new_block("while.cond"), self._new_block("while.body"), self._new_block("while.end")
        self.b.branch(head)
        self.b.position_at_end(head)
        self.b.cbranch(self.value(s.cond), body, after)
        self.b.position_at_end(body)
        self.loops.append((head, after))
        self.block(s.body)
        self.loops.pop()
        if not self._terminated():
            self.b.branch(head)
        self.b.position_at_end(after)

    def _s_BreakStmt(self, s):
        self.b.branch(self.loops[-1][1])

    def _s_ContinueStmt(self, s):
        self.b.branch(self.loops[-1][0])

    def _s_ReturnStmt(self, s: ast.ReturnStmt):
        if s.value is not None:
            self._store(self.rvalue(s.value, self.ret), self.retval, self.ret)
        self.b.branch(self.exit)

    def _s_AssertStmt(self, s):
        raise NotImplementedError("assert exists only in laws, which are not compiled")

    def _s_ExprStmt(self, s: ast.ExprStmt):
        self.value(s.expr, discard=True)

    # ---- expressions ----
    def rvalue(self, e: ast.Expr, want: T.Type) -> ir.Value:
        """`e` converted to `want`, as sema's implicit conversion allows."""
        return self.ty.convert(self.b, self.value(e), self.view.type_of(e) or want, want)

    def value(self, e: ast.Expr, discard: bool = False) -> ir.Value | None:
        t = self.view.type_of(e)
        const = self.view.expr_values.get(id(e))
        if const is not None and t is not None and not isinstance(e, ast.Call):
            if isinstance(t, T.UntypedInt):
                t = T.LONG
            if isinstance(t, (T.PtrType, T.HandleType, T.NullType)):
                return ir.Constant(PTR, None) if const == 0 else self.b.inttoptr(ir.Constant(self.ty.word, const), PTR)
            return ir.Constant(self.ty.value(t), const)
        return getattr(self, "_e_" + type(e).__name__)(e)

    def _e_NullLit(self, e):
        return ir.Constant(PTR, None)

    def _e_Name(self, e: ast.Name):
        return self._load(self.address(e), self.view.type_of(e))

    def _e_FieldAccess(self, e):
        return self._load(self.address(e), self.view.type_of(e))

    def _e_Index(self, e):
        return self._load(self.address(e), self.view.type_of(e))

    def _e_Unary(self, e: ast.Unary):
        t = self.view.type_of(e)
        if e.op == "&":
            return self.address(e.operand)
        if e.op == "*":
            return self._load(self.value(e.operand), t)
        v = self.rvalue(e.operand, t)
        if e.op == "-":
            return self.b.neg(v)
        if e.op == "~":
            return self.b.not_(v)
        return self.b.xor(v, ir.Constant(I1, 1))  # "!"

    def _e_Cast(self, e: ast.Cast):
        return self.ty.convert(self.b, self.value(e.expr), self.view.type_of(e.expr), self.view.type_of(e))

    def _e_Binary(self, e: ast.Binary):
        op, t = e.op, self.view.type_of(e)
        if op in ("&&", "||"):
            return self._logical(e)
        lt, rt = self.view.type_of(e.left), self.view.type_of(e.right)
        if op in ("<<", ">>"):
            return self._shift(op, self.rvalue(e.left, t), self.value(e.right), t, rt)
        if op in _CMP:
            common = T.comparison_type(lt, rt, self.ty.arch)
            left, right = self.rvalue(e.left, common), self.rvalue(e.right, common)
            if isinstance(left.type, ir.PointerType):
                return self.b.icmp_unsigned(op, left, right)
            if self.ty.signed(common):
                return self.b.icmp_signed(op, left, right)
            return self.b.icmp_unsigned(op, left, right)
        return self._arith(op, self.rvalue(e.left, t), self.rvalue(e.right, t), t)

    def _arith(self, op: str, a, b, t: T.Type):
        if op in _ARITH:
            return getattr(self.b, _ARITH[op])(a, b)
        signed = self.ty.signed(t)
        if op == "/":
            return self.b.sdiv(a, b) if signed else self.b.udiv(a, b)
        return self.b.srem(a, b) if signed else self.b.urem(a, b)  # "%"

    def _shift(self, op: str, a, count, t: T.Type, count_t: T.Type | None = None):
        width = a.type.width
        count = self.ty.convert(self.b, count, count_t or T.ULONG, T.IntType("", width, False)) \
            if count.type.width != width else count
        count = self.b.and_(count, ir.Constant(a.type, width - 1))
        if op == "<<":
            return self.b.shl(a, count)
        return self.b.ashr(a, count) if self.ty.signed(t) else self.b.lshr(a, count)

    def _logical(self, e: ast.Binary):
        left = self.value(e.left)
        start = self.b.block
        rhs_bb, done = self._new_block("logic.rhs"), self._new_block("logic.end")
        if e.op == "&&":
            self.b.cbranch(left, rhs_bb, done)
        else:
            self.b.cbranch(left, done, rhs_bb)
        self.b.position_at_end(rhs_bb)
        right = self.value(e.right)
        rhs_end = self.b.block
        self.b.branch(done)
        self.b.position_at_end(done)
        phi = self.b.phi(I1)
        phi.add_incoming(ir.Constant(I1, 1 if e.op == "||" else 0), start)
        phi.add_incoming(right, rhs_end)
        return phi

    def _e_Ternary(self, e: ast.Ternary):
        t = self.view.type_of(e)
        cond = self.value(e.cond)
        a_bb, b_bb, done = self._new_block("sel.then"), self._new_block("sel.else"), self._new_block("sel.end")
        self.b.cbranch(cond, a_bb, b_bb)
        self.b.position_at_end(a_bb)
        a = self.rvalue(e.then, t)
        a_end = self.b.block
        self.b.branch(done)
        self.b.position_at_end(b_bb)
        bv = self.rvalue(e.otherwise, t)
        b_end = self.b.block
        self.b.branch(done)
        self.b.position_at_end(done)
        phi = self.b.phi(self.ty.value(t))
        phi.add_incoming(a, a_end)
        phi.add_incoming(bv, b_end)
        return phi

    def _e_Call(self, e: ast.Call, discard: bool = False):
        target = self.view.refs[id(e)]
        params = self.view.call_params(e)  # a variadic hypercall's extra arguments too
        args = [self.rvalue(a, pt) for a, (_n, pt) in zip(e.args, params)]
        if isinstance(target, HypercallInfo):
            self.m.hypercalls_used[target.name] = target.number
            words = [self.ty.to_word(self.b, a, pt) for a, (_n, pt) in zip(args, params)]
            result = self.asm.hypercall(self.b, target.number, words)
            if target.ret == T.VOID:
                return None
            return self.ty.convert(self.b, result, T.LONG if self.ty.signed(target.ret) else T.ULONG, target.ret)
        if isinstance(target, Intrinsic):
            words = [self.ty.to_word(self.b, a, pt) if pt.__class__ is not T.IntType or pt.bits is None
                     else a for a, (_n, pt) in zip(args, target.params)]
            return self.asm.intrinsic(self.b, target.name, words)
        if isinstance(target, HookInfo):
            fn = self.m.hook_callee(target, self.b)
        else:
            fn = self.m.helper(target)
        inreg = {i: ("inreg",) for i in self.m.regparm_args(target.params)}
        call = self.b.call(fn, args, arg_attrs=inreg or None)
        return None if target.ret == T.VOID else call

    # ---- addresses ----
    def address(self, e: ast.Expr) -> ir.Value:
        if isinstance(e, ast.Name):
            ref = self.view.refs[id(e)]
            if isinstance(ref, PercpuInfo):
                return self._offset(self.m.percpu_global(ref), 0)
            if id(ref) in self.locals:
                return self.locals[id(ref)]
            return self.param_slots[e.name]
        if isinstance(e, ast.Unary) and e.op == "*":
            return self.value(e.operand)
        if isinstance(e, ast.FieldAccess):
            f: FieldLayout = self.view.refs[id(e)]
            base_t = self.view.type_of(e.base)
            self.m.note_type(base_t.target if e.arrow else base_t)
            base = self.value(e.base) if e.arrow else self.address(e.base)
            return self._offset(base, f.offset)
        if isinstance(e, ast.Index):
            bt = self.view.type_of(e.base)
            base = self.address(e.base) if isinstance(bt, T.ArrayType) else self.value(e.base)
            elem = bt.elem if isinstance(bt, T.ArrayType) else bt.target
            index = self.rvalue(e.index, T.LONG if self.ty.signed(self.view.type_of(e.index)) else T.ULONG)
            if T.is_scalar(elem):
                # A typed GEP lets LLVM use scaled addressing ((%base,%i,8)).
                gep = self.b.gep(base, [index], source_etype=self.ty.memory(elem))
                gep.type = ir.PointerType(addrspace=base.type.addrspace)
                return gep
            size = self.m.layouts.size(elem)
            return self._offset(base, self.b.mul(index, ir.Constant(self.ty.word, size)) if size != 1 else index)
        raise TypeError(f"not an lvalue: {type(e).__name__}")


__all__ = ["FunctionLowering", "FnInfo"]
