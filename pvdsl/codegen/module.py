"""Lowering a checked backend for one target into an LLVM module.

What becomes global (the kernel and the loader look these up): one data
symbol per table, named as the kernel names it, holding function pointers in
slot order; one function per hook, `<backend>_<hook>`; the percpu variables,
in `.data..percpu`. Helpers are internal. Calls of hypercalls are inlined at
the call site as calls of `hypercall_page + 32*N`, so `hypercall_page` is the
one symbol the loader must provide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llvmlite import ir

from ..arch import Target
from ..sema import types as T
from ..sema.model import ArchView, BackendInfo, FnInfo, HookInfo, ImplInfo, PercpuInfo
from .asm import AsmEmitter
from .function import FunctionLowering
from .irtypes import PTR, IrTypes

PERCPU_SECTION = ".data..percpu"


@dataclass
class HookSymbol:
    table: str
    hook: str
    slot: int
    symbol: str
    callee_save: bool
    source: str  # "impl" | "inherited from <backend>" | "table default"
    params: tuple
    ret: T.Type


@dataclass
class Lowered:
    """An LLVM module plus what the later stages need to know about it."""

    target: Target
    backend: str
    module: ir.Module
    hooks: list[HookSymbol] = field(default_factory=list)
    tables: dict[str, list[HookSymbol]] = field(default_factory=dict)
    percpu: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (size, align)
    variables: dict[str, tuple[int, int]] = field(default_factory=dict)  # kernel-wide `var`s
    hypercalls_used: dict[str, int] = field(default_factory=dict)
    undefined: list[str] = field(default_factory=list)
    structs_used: list[str] = field(default_factory=list)  # whose layout the code relies on
    library_calls: list[str] = field(default_factory=list)  # memset/memcpy LLVM chose to call


def _function_type(types: IrTypes, params, ret: T.Type) -> ir.FunctionType:
    return ir.FunctionType(types.value(ret), [types.value(t) for _n, t in params])


class BackendLowering:
    def __init__(self, view: ArchView, backend: BackendInfo, target: Target):
        self.view = view
        self.backend = backend
        self.target = target
        self.arch = target.arch
        self.layouts = view.layouts
        self.types = IrTypes(self.arch)
        self.asm = AsmEmitter(self.arch, self.types.word)
        self.module = ir.Module(name=f"{backend.name}-{target.name}")
        self.module.triple = self.arch.llvm_triple
        if self.arch.regparm:
            # Calls LLVM makes on its own (memset, memcpy) must use the
            # kernel's regparm convention too, as clang's -mregparm=3 does.
            flag = self.module.add_metadata([ir.Constant(ir.IntType(32), 1), ir.MetaDataString(self.module, "NumRegisterParameters"),
                                             ir.Constant(ir.IntType(32), self.arch.regparm)])
            self.module.add_named_metadata("llvm.module.flags", flag)
        self.hypercalls_used: dict[str, int] = {}
        self._functions: dict[int, ir.Function] = {}
        self._percpu: dict[str, ir.GlobalVariable] = {}
        self._external_tables: dict[str, ir.GlobalVariable] = {}
        self.structs_used: set[str] = set()
        self._pending: list = []

    # ---- symbols ----
    def _set_attrs(self, fn: ir.Function) -> None:
        fn.attributes.add("nounwind")
        fn.attributes.add("noredzone")
        fn.attributes.add("noimplicitfloat")

    def regparm_args(self, params) -> list[int]:
        """Linux i386's regparm(3): the first integer words go in eax, edx,
        ecx; a 64-bit value takes two. The first argument that does not fit,
        and all after it, go on the stack (as gcc and clang do). Returns the
        indices of the register arguments (LLVM `inreg`)."""
        free, marked = self.arch.regparm, []
        for i, (_n, t) in enumerate(params):
            words = max(1, self.layouts.size(t) // self.arch.word_bytes)
            if words > free:
                break
            marked.append(i)
            free -= words
        return marked

    def _declare(self, name: str, params, ret: T.Type, internal: bool) -> ir.Function:
        fn = ir.Function(self.module, _function_type(self.types, params, ret), name)
        fn.storage_class = "dso_local"
        if internal:
            fn.linkage = "internal"
        self._set_attrs(fn)
        for i in self.regparm_args(params):
            fn.args[i].add_attribute("inreg")
        for arg, (pname, t) in zip(fn.args, params):
            arg.name = pname
            if isinstance(t, T.BoolType):
                arg.add_attribute("zeroext")
        # The C ABI passes and returns a bool as 0 or 1 in a whole byte (al):
        # without zeroext, LLVM leaves bits 1-7 of an i1 undefined.
        if isinstance(ret, T.BoolType):
            fn.return_value.add_attribute("zeroext")
        return fn

    def note_type(self, t: T.Type) -> None:
        """Record the structs a type involves: the manifest lists their layouts."""
        while isinstance(t, (T.ArrayType, T.PtrType, T.HandleType)):
            t = t.elem if isinstance(t, T.ArrayType) else t.target
        if isinstance(t, T.StructType) and t.name not in self.structs_used:
            self.structs_used.add(t.name)
            for f in self.layouts.struct(t).fields:
                self.note_type(f.type)

    def percpu_global(self, pc: PercpuInfo) -> ir.GlobalVariable:
        g = self._percpu.get(pc.name)
        if g is None:
            size, align = self.layouts.size_align(pc.type)
            typ = ir.ArrayType(ir.IntType(8), size)
            space = self.arch.percpu_addrspace if pc.per_cpu else 0
            g = ir.GlobalVariable(self.module, typ, pc.name, addrspace=space)
            g.initializer = ir.Constant(typ, None)
            g.section = PERCPU_SECTION if pc.per_cpu else ".bss"
            self.note_type(pc.type)
            g.align = align
            g.storage_class = "dso_local"
            self._percpu[pc.name] = g
        return g

    def helper(self, fn: FnInfo) -> ir.Function:
        """The internal function of helper `fn`, lowered on first use."""
        key = id(fn.decl)
        if key not in self._functions:
            prefix = fn.backend or "pvdsl"
            f = self._declare(f"{prefix}.{fn.name}", fn.params, fn.ret, internal=True)
            self._functions[key] = f
            self._pending.append((f, fn.params, fn.ret, False, fn.decl.body))
        return self._functions[key]

    def hook_callee(self, hook: HookInfo, b: ir.IRBuilder) -> ir.Value:
        """What a call of `table.hook` from inside the backend calls: this
        backend's own function when it fills that table, else the function
        pointer in the kernel's table."""
        for h, _source in self.backend.tables.get(hook.table, ()):
            if h is hook:
                return self._hook_fn(hook)
        table = self._external_tables.get(hook.table)
        if table is None:
            n = len(self.view.tables[hook.table].hooks)
            table = ir.GlobalVariable(self.module, ir.ArrayType(PTR, n), hook.table)
            table.storage_class = "dso_local"  # the kernel's table: a direct reference, no GOT
            self._external_tables[hook.table] = table
        slot = b.gep(table, [ir.Constant(self.types.word, hook.slot)], source_etype=PTR)
        # Loaded as a pointer to the hook's function type: llvmlite types a
        # call by its callee's pointer type (in LLVM's IR it is just `ptr`).
        return b.load(slot, typ=ir.PointerType(_function_type(self.types, hook.params, hook.ret)))

    def _hook_fn(self, hook: HookInfo) -> ir.Function:
        key = ("hook", hook.table, hook.name)
        if key not in self._functions:
            # `<backend>_<hook>`, as the kernel names them; a hook name that
            # two of the backend's tables share gets the table too.
            shared = sum(any(h.name == hook.name for h, _s in slots) for slots in self.backend.tables.values()) > 1
            name = f"{self.backend.name}_{hook.table}_{hook.name}" if shared else f"{self.backend.name}_{hook.name}"
            self._functions[key] = self._declare(name, hook.params, hook.ret, internal=False)
        return self._functions[key]

    # ---- the whole backend ----
    def lower(self) -> Lowered:
        out = Lowered(self.target, self.backend.name, self.module)
        names_seen: dict[str, HookSymbol] = {}
        for table_name, slots in self.backend.tables.items():
            entries = []
            for hook, source in slots:
                fn = self._hook_fn(hook)
                if isinstance(source, ImplInfo):
                    body = source.decl.body
                    how = "impl" if source.backend == self.backend.name else f"inherited from {source.backend}"
                else:
                    body, how = hook.default, "table default"
                sym = HookSymbol(table_name, hook.name, hook.slot, fn.name, hook.callee_save, how,
                                 hook.params, hook.ret)
                if fn.name in names_seen:
                    other = names_seen[fn.name]
                    raise CodegenError(f"hooks '{other.table}.{other.hook}' and '{table_name}.{hook.name}' "
                                       f"would both be named '{fn.name}'")
                names_seen[fn.name] = sym
                params = hook.params
                if isinstance(source, ImplInfo):  # an impl may name its parameters its own way
                    params = tuple((p.name, t) for p, (_n, t) in zip(source.decl.params, hook.params))
                self._pending.append((fn, params, hook.ret, hook.callee_save, body))
                entries.append(sym)
            out.tables[table_name] = entries
            out.hooks.extend(entries)
            self._table_global(table_name, entries)
        while self._pending:
            fn, params, ret, callee_save, body = self._pending.pop(0)
            FunctionLowering(self, fn, params, ret, callee_save).finish(body)
        out.percpu = {name: self.layouts.size_align(self._storage(name).type)
                      for name in self._percpu if self._storage(name).per_cpu}
        out.variables = {name: self.layouts.size_align(self._storage(name).type)
                         for name in self._percpu if not self._storage(name).per_cpu}
        out.hypercalls_used = dict(sorted(self.hypercalls_used.items(), key=lambda kv: kv[1]))
        for hook in out.hooks:
            for _n, t in list(hook.params) + [("", hook.ret)]:
                self.note_type(t)
        out.structs_used = sorted(self.structs_used)
        out.undefined = (["hypercall_page"] if self.hypercalls_used else []) + sorted(self._external_tables)
        return out

    def _storage(self, name: str) -> PercpuInfo:
        b = self.backend
        while b is not None:
            if name in b.percpu:
                return b.percpu[name]
            b = self.view.backends.get(b.base) if b.base else None
        raise KeyError(name)

    def _table_global(self, name: str, entries: list[HookSymbol]) -> None:
        typ = ir.ArrayType(PTR, len(entries))
        g = ir.GlobalVariable(self.module, typ, name)
        fns = {e.symbol: self.module.get_global(e.symbol) for e in entries}
        g.initializer = ir.Constant(typ, [fns[e.symbol] for e in entries])
        g.align = self.arch.word_bytes
        g.storage_class = "dso_local"


class CodegenError(Exception):
    """A backend that checks but cannot be built for this target."""


def lower_backend(view: ArchView, backend: BackendInfo, target: Target) -> Lowered:
    return BackendLowering(view, backend, target).lower()
