"""The reference interpreter: a backend's hooks, helpers and laws, run in
Python with the language's semantics for one arch.

Every body the backend can reach is compiled once, when the Interpreter is
made, into one Python module (`source` shows it); a call then costs one
Python function call per pvdsl call. The interpreter knows nothing about
Xen or the emulator: memory, CPU state, variable addresses and hypercall
answers come with each call in a `State`.
"""

from __future__ import annotations

import itertools
import linecache

from ..sema import types as T
from ..sema.model import ArchView, BackendInfo, FnInfo, HookInfo, ImplInfo
from .body import BodyCompiler, Compiled
from .exprs import DivideOverflow, sdiv, srem, tdiv, trem
from .memory import PRIVATE_STACK_BYTES, StackedMemory, private_stack_top
from .run import Run
from .state import InterpFault, InterpResult, MemoryFault, State
from .values import Types

DEFAULT_BUDGET = 1_000_000  # statements per call
_PER_CALL = ("_R", "_rd", "_wr", "_S", "_C", "_B")
_serial = itertools.count(1)


class InterpError(Exception):
    """The interpreter cannot be built for this backend (never a fault of a
    hook: those are InterpFaults in results)."""


class _Symbols(dict):
    """Addresses of backend variables, asked of the state once per call
    (`lookup` is set after creation: no __init__ to run on every call)."""

    __slots__ = ("lookup",)

    def __missing__(self, name: str) -> int:
        if self.lookup is None:
            raise InterpFault("unsupported", f"'{name}' has no address: the state gives no symbol_address")
        va = self[name] = self.lookup(name)
        return va


class _Entry:
    """A callable body: its function, how arguments arrive, how the result leaves."""

    __slots__ = ("fn", "name", "params", "ret", "arg_wrap", "ret_mask", "needs_stack", "callee_save")

    def __init__(self, name, params, ret, callee_save=False):
        self.name, self.params, self.ret, self.callee_save = name, tuple(params), ret, callee_save
        self.fn = None
        self.arg_wrap: tuple = ()
        self.ret_mask = 0
        self.needs_stack = False


class Interpreter:
    def __init__(self, view: ArchView, backend: str, budget: int = DEFAULT_BUDGET):
        info = view.backends.get(backend)
        if info is None:
            raise InterpError(f"no backend '{backend}' built for {view.arch.name} (there are: "
                              f"{', '.join(sorted(view.backends)) or 'none'})")
        self.view, self.backend, self.budget = view, info, budget
        self.arch = view.arch
        self.types = Types(view.arch, view.layouts)
        self.memory = None  # the memory the call in progress uses (with the private stack, if any)
        self._active = 0
        self._stacked = StackedMemory(private_stack_top(self.arch.word_bits) - PRIVATE_STACK_BYTES,
                                      PRIVATE_STACK_BYTES)
        gen = _Generator(view, info, self.types)
        self._hooks: dict[str, _Entry] = {}
        for table, slots in info.tables.items():
            for hook, source in slots:
                if source is None:
                    continue
                entry = _Entry(gen.hook_function(hook), hook.params, hook.ret, hook.callee_save)
                self._hooks[f"{table}.{hook.name}"] = entry
        self._laws: dict[str, _Entry] = {}
        for name, law in view.laws.items():
            if law.table in info.tables:
                params = [(p.name, p.type) for p in law.params]
                self._laws[name] = _Entry(gen.add(("law", name), f"law_{name}", params, T.VOID, law.decl.body),
                                          params, T.VOID)
        self._filename = f"<pvdsl.interp {backend}-{self.arch.name} #{next(_serial)}>"
        self.source, self._spans = gen.finish()
        self._asserts = gen.asserts
        self._globals = self._load(gen)
        for entry in itertools.chain(self._hooks.values(), self._laws.values()):
            entry.fn = self._globals[entry.name]
            entry.arg_wrap = tuple(self._arg_wrap(t) for _n, t in entry.params)
            entry.ret_mask = self._result_mask(entry.ret)
            entry.needs_stack = gen.needs_stack(entry.name)

    def _load(self, gen) -> dict:
        text = self.source
        try:
            code = compile(text, self._filename, "exec")
        except (SyntaxError, RecursionError, MemoryError) as err:
            raise InterpError(f"backend '{self.backend.name}' on {self.arch.name}: a body is nested too deeply "
                              f"for the interpreter ({type(err).__name__}: {err})") from None
        # Tracebacks through generated code quote its lines.
        linecache.cache[self._filename] = (len(text), None, text.splitlines(True), self._filename)
        g = {"__name__": "pvdsl.interp.generated", "__builtins__": __builtins__, "_fb": int.from_bytes,
             "_sdiv": sdiv, "_srem": srem, "_tdiv": tdiv, "_trem": trem}
        g.update({k: None for k in _PER_CALL})
        exec(code, g)
        return g

    def _arg_wrap(self, t: T.Type) -> tuple[int, int]:
        """(mask, half): an argument register's value v becomes
        ((v + half) & mask) - half, the parameter as the callee reads it."""
        info = self.types.int_of(t)
        if info is not None:
            width, signed = info
            return (1 << width) - 1, (1 << (width - 1)) if signed else 0
        if isinstance(t, T.BoolType):
            return 1, 0  # 0 or 1 by the C ABI; of anything else, the lowest bit
        return self.types.word_mask, 0

    def _result_mask(self, t: T.Type) -> int:
        if t == T.VOID:
            return 0
        if isinstance(t, T.BoolType):
            return 1
        return (1 << (8 * self.types.size(t))) - 1

    # ---- what the backend offers ----
    def hooks(self) -> list[str]:
        """"table.hook" for every hook the backend fills, in table and slot order."""
        return list(self._hooks)

    def hook_signature(self, hook: str) -> tuple[list[tuple[str, T.Type]], T.Type, bool]:
        entry = self._entry(hook)
        return list(entry.params), entry.ret, entry.callee_save

    def laws(self) -> list[str]:
        """The spec's laws about tables this backend fills."""
        return list(self._laws)

    def _entry(self, hook: str) -> _Entry:
        entry = self._hooks.get(hook)
        if entry is None:
            raise KeyError(f"backend '{self.backend.name}' does not fill '{hook}' on {self.arch.name} "
                           f"(it fills: {', '.join(self._hooks)})")
        return entry

    # ---- running ----
    def call_hook(self, hook: str, args, state: State, budget: int | None = None) -> InterpResult:
        entry = self._hooks.get(hook) or self._entry(hook)
        if len(args) != len(entry.arg_wrap):
            raise TypeError(f"'{hook}' takes {len(entry.arg_wrap)} arguments, {len(args)} given")
        values = [((a + h) & m) - h for a, (m, h) in zip(args, entry.arg_wrap)]
        value, run, fault, steps = self._invoke(entry, values, state, budget)
        result = InterpResult(0 if value is None else value & entry.ret_mask, run.hypercalls, fault, steps)
        return result

    def run_law(self, name: str, values: dict[str, int], state: State,
                budget: int | None = None) -> tuple[bool, str]:
        """Run law `name` once, with its parameters set from `values`; the
        hooks it calls are this backend's, interpreted. (held, detail)."""
        entry = self._laws.get(name)
        if entry is None:
            raise KeyError(f"no law '{name}' about a table backend '{self.backend.name}' fills "
                           f"(laws here: {', '.join(self._laws) or 'none'})")
        missing = [p for p, _t in entry.params if p not in values]
        if missing:
            raise KeyError(f"law '{name}' needs a value for {', '.join(missing)}")
        args = [((values[p] + h) & m) - h for (p, _t), (m, h) in zip(entry.params, entry.arg_wrap)]
        _value, run, fault, _steps = self._invoke(entry, args, state, budget)
        shown = ", ".join(f"{p} = {a:#x}" for (p, _t), a in zip(entry.params, args))
        if fault is not None:
            return False, f"law {name} ({shown}): {fault.kind}: {fault.where()}"
        if run.law_failures:
            where = "; ".join(f"{self._asserts[i]}: assertion failed" for i in run.law_failures)
            return False, f"law {name} ({shown}): {where}"
        return True, f"law {name} ({shown}) held"

    def _invoke(self, entry: _Entry, args, state: State, budget: int | None):
        g = self._globals
        outer = self._active
        saved = {k: g[k] for k in _PER_CALL} if outer else None
        memory = state.memory
        sp = lo = 0
        if entry.needs_stack:
            if state.stack_top is not None:
                sp = state.stack_top
                lo = sp - PRIVATE_STACK_BYTES
            else:
                stacked = self._stacked
                sp = saved["_R"].sp if outer and saved["_R"].rd == stacked.read else stacked.hi
                if not outer:
                    stacked.base = memory
                memory, lo = stacked, stacked.lo
        read, write = memory.read, memory.write
        run = Run(state.cpu, state.hypercall, self.types.word_mask, read, write, sp, lo)
        counter = [0]
        symbols = _Symbols()
        symbols.lookup = state.symbol_address
        g["_R"], g["_rd"], g["_wr"], g["_C"], g["_S"] = run, read, write, counter, symbols
        g["_B"] = self.budget if budget is None else budget
        previous_memory, self.memory = self.memory, memory
        self._active += 1
        value = fault = None
        try:
            value = entry.fn(*args)
        except InterpFault as err:
            fault = self._placed(err, err)
        except MemoryFault as err:
            fault = self._placed(InterpFault("memory", str(err)), err)
        except ZeroDivisionError as err:
            fault = self._placed(InterpFault("#DE", "division by zero"), err)
        except DivideOverflow as err:
            fault = self._placed(InterpFault("#DE", "signed division overflows (the most negative value by -1)"), err)
        except RecursionError as err:
            fault = self._placed(InterpFault("stack", "calls nest too deeply"), err)
        finally:
            self._active -= 1
            self.memory = previous_memory
            if saved is not None:
                g.update(saved)
        return value, run, fault, counter[0]

    def _placed(self, fault: InterpFault, cause: BaseException) -> InterpFault:
        """Attach the statement that faulted: the innermost generated line
        on the traceback."""
        if cause is not fault:
            fault.cause = cause
        if fault.span is None:
            tb = cause.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == self._filename:
                    fault.span = self._spans[tb.tb_lineno - 1]
                tb = tb.tb_next
        return fault


class _Generator:
    """Compiles the bodies a backend reaches, each once, into Python source."""

    def __init__(self, view: ArchView, backend: BackendInfo, types: Types):
        self.view, self.backend, self.types = view, backend, types
        self.names: dict[object, str] = {}
        self.pending: list = []
        self.done: list[Compiled] = []
        self.asserts: list = []
        self._by_name: dict[str, Compiled] = {}

    def add(self, key, name: str, params, ret: T.Type, body) -> str:
        if key not in self.names:
            base, n = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name), 1
            unique = base
            while unique in self._by_name or unique in self.names.values():
                n += 1
                unique = f"{base}_{n}"
            self.names[key] = unique
            self.pending.append((unique, list(params), ret, body))
        return self.names[key]

    def hook_function(self, hook: HookInfo) -> str | None:
        """This backend's function for `hook`, or None when the backend does
        not fill the hook's table (the call goes through the kernel's table)."""
        for h, source in self.backend.tables.get(hook.table, ()):
            if h is hook and source is not None:
                if isinstance(source, ImplInfo):
                    params = [(p.name, t) for (_n, t), p in zip(hook.params, source.decl.params)]
                    body = source.decl.body
                else:
                    params, body = list(hook.params), hook.default
                return self.add(("hook", hook.table, hook.name), f"h_{hook.table}_{hook.name}", params, hook.ret,
                                body)
        return None

    def helper_function(self, fn: FnInfo) -> str:
        return self.add(("fn", id(fn.decl)), f"fn_{fn.backend or 'top'}_{fn.name}", fn.params, fn.ret,
                        fn.decl.body)

    def add_compiled(self, compiled: Compiled) -> None:
        """A function split off a body being compiled (its callees count as
        that body's)."""
        self.done.append(compiled)
        self._by_name[compiled.name] = compiled

    def assert_site(self, span) -> int:
        self.asserts.append(span)
        return len(self.asserts) - 1

    def finish(self) -> tuple[str, list]:
        while self.pending:
            name, params, ret, body = self.pending.pop(0)
            compiled = BodyCompiler(self, self.view, self.types, self.view.arch.name).function(name, params, ret,
                                                                                             body)
            self.done.append(compiled)
            self._by_name[name] = compiled
        lines, spans = [], []
        for compiled in self.done:
            for text, span in compiled.lines:
                lines.append(text)
                spans.append(span)
            lines.append("")
            spans.append(None)
        return "\n".join(lines) + "\n", spans

    def needs_stack(self, name: str) -> bool:
        """Whether `name`, or anything it calls, opens a frame."""
        seen, todo = set(), [name]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            compiled = self._by_name[n]
            if compiled.has_frame:
                return True
            todo.extend(compiled.callees)
        return False
