"""Workloads: what `pvdsl run` does with a loaded backend.

A workload is a small text file, one statement per line, `#` starts a
comment:

    call TABLE.HOOK [ARG ...]        call a hook with the kernel's convention
    call patched TABLE.HOOK [ARG...] the same through its patched call site
                                     (falls back to the call when the hook has no template)
    law NAME                         check a law of the spec for every value of
                                     its parameters' domains (see laws.py)
    expect WHAT OP VALUE             check a value; OP is == or !=; WHAT is
                                     result (of the last call), mask, pending
                                     (the vCPU's vcpu_info), if (EFLAGS.IF after
                                     the last call), hypercalls (how many the
                                     last call made), or hypercall NAME (how
                                     many times the last call made NAME)
    set mask|pending VALUE           write the vCPU's vcpu_info field (as Xen would)
    send PORT                        raise event channel PORT of the domain (as its peer would)
    deliver                          run the kernel's event upcall handler now
    upcalls on|off                   run it automatically after each call that
                                     leaves events pending and unmasked (default on)
    vcpu N                           later calls run on vCPU N
    repeat N ... end                 a loop (nested loops are fine)

An ARG or VALUE is an integer (42, 0x200, 0b101, -1), a constant of the spec
(X86_EFLAGS_IF), or one of the machine's `$` symbols (see
Machine.symbol: $cr3 $scratch $va $ptep $pte $mfn $pt ...).

The default workload also checks every law of the spec about a table the
backend fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..archinfo import X86_EFLAGS_IF
from ..errors import RuntimeFault


class WorkloadError(Exception):
    """A workload that does not parse; the message has the line number."""


@dataclass
class Stmt:
    line: int
    op: str
    args: list = field(default_factory=list)
    body: list = field(default_factory=list)


_WHAT = ("result", "mask", "pending", "if", "hypercalls", "hypercall")


def parse(text: str, name: str = "<workload>") -> list[Stmt]:
    stack: list[Stmt] = [Stmt(0, "root")]
    for n, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        op, rest = words[0], words[1:]
        where = f"{name}:{n}"
        if op == "call":
            patched = bool(rest) and rest[0] == "patched"
            rest = rest[1:] if patched else rest
            if not rest or "." not in rest[0]:
                raise WorkloadError(f"{where}: expected 'call [patched] TABLE.HOOK [ARG ...]'")
            stack[-1].body.append(Stmt(n, "call", [patched, rest[0], rest[1:]]))
        elif op == "expect":
            if len(rest) < 3 or rest[0] not in _WHAT or (rest[0] == "hypercall" and len(rest) != 4):
                raise WorkloadError(f"{where}: expected 'expect {'|'.join(_WHAT)} [NAME] ==|!= VALUE'")
            what, tail = (rest[0], rest[1:]) if rest[0] != "hypercall" else (f"hypercall {rest[1]}", rest[2:])
            if len(tail) != 2 or tail[0] not in ("==", "!="):
                raise WorkloadError(f"{where}: expected '== VALUE' or '!= VALUE'")
            stack[-1].body.append(Stmt(n, "expect", [what, tail[0], tail[1]]))
        elif op == "set":
            if len(rest) != 2 or rest[0] not in ("mask", "pending"):
                raise WorkloadError(f"{where}: expected 'set mask|pending VALUE'")
            stack[-1].body.append(Stmt(n, "set", rest))
        elif op in ("send", "vcpu"):
            if len(rest) != 1:
                raise WorkloadError(f"{where}: expected '{op} N'")
            stack[-1].body.append(Stmt(n, op, rest))
        elif op == "deliver" and not rest:
            stack[-1].body.append(Stmt(n, "deliver"))
        elif op == "upcalls" and rest in (["on"], ["off"]):
            stack[-1].body.append(Stmt(n, "upcalls", rest))
        elif op == "repeat":
            if len(rest) != 1 or not rest[0].isdigit():
                raise WorkloadError(f"{where}: expected 'repeat N'")
            loop = Stmt(n, "repeat", [int(rest[0])])
            stack[-1].body.append(loop)
            stack.append(loop)
        elif op == "end" and not rest:
            if len(stack) == 1:
                raise WorkloadError(f"{where}: 'end' without 'repeat'")
            stack.pop()
        elif op == "law":
            if len(rest) != 1:
                raise WorkloadError(f"{where}: expected 'law NAME'")
            stack[-1].body.append(Stmt(n, "law", rest))
        else:
            raise WorkloadError(f"{where}: unknown statement '{raw.strip()}'")
    if len(stack) > 1:
        raise WorkloadError(f"{name}:{stack[-1].line}: 'repeat' without 'end'")
    return stack[0].body


# Hooks Linux jumps to with a return frame on the stack (INTERRUPT_RETURN,
# ENABLE_INTERRUPTS_SYSEXIT, USERGS_SYSRET) and that never return: the kernel
# never calls them, so the default workload does not either.
JUMPED_TO = frozenset({"pv_cpu_ops.iret", "pv_cpu_ops.irq_enable_sysexit", "pv_cpu_ops.irq_enable_syscall_ret"})


def default_workload(machine) -> str:
    """Every hook of every table the backend fills, once, in slot order, with
    arguments chosen from their names and types (not the hooks the kernel
    only jumps to)."""
    lines = ["# default workload: every hook once, in slot order"]
    params = machine.built.params
    for table, entries in machine.built.manifest["tables"].items():
        for e in sorted(entries, key=lambda e: e["slot"]):
            name = f"{table}.{e['hook']}"
            if name in JUMPED_TO:
                lines.append(f"# {name}: jumped to with a return frame, never called by the kernel")
                continue
            args = [_default_arg(machine, n, t, e["hook"]) for n, t in params.get(name, [])]
            lines.append(" ".join(["call", name, *args]))
    from .laws import laws_for

    lines += [f"law {name}" for name in laws_for(machine)]
    return "\n".join(lines) + "\n"


def _default_arg(machine, name: str, type_: str, hook: str = "") -> str:
    n = name.lower()
    if hook in ("write_cr0", "write_cr4"):
        return f"${hook[-3:]}"  # what the register holds: a kernel writes back what it read
    if hook == "write_cr3" and machine.guest.native:
        # The root's physical address. (Under Xen, Linux's cr3 is
        # pseudo-physical, which $cr3, a machine address, is not: a `value`
        # gets 0 below, what read_cr3 gives before the kernel loads a table.)
        return "$cr3"
    if "flag" in n:
        return "X86_EFLAGS_IF" if "X86_EFLAGS_IF" in machine.built.consts else hex(X86_EFLAGS_IF)
    if "cr3" in n or n in ("pgd", "root"):
        return "$cr3"
    if n in ("ptep", "pte_ptr", "pteptr"):
        return "$ptep"
    if type_.startswith("ptr<"):
        return "$scratch"
    if "pte" in n or n in ("val", "entry"):
        return "$pte"
    if "addr" in n or n in ("va", "address"):
        return "$va"
    if n in ("n", "count", "len", "nr", "size"):
        return "4"
    return "0"


@dataclass
class HookStats:
    calls: int = 0
    faults: int = 0
    instructions: int = 0
    patched: int = 0


@dataclass
class Outcome:
    hooks: dict[str, HookStats] = field(default_factory=dict)
    faults: list[RuntimeFault] = field(default_factory=list)
    abi_violations: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    passed: int = 0
    instructions: int = 0
    upcalls: int = 0
    elapsed: float = 0.0
    laws: dict[str, dict] = field(default_factory=dict)


class Runner:
    def __init__(self, machine, name: str = "<workload>", max_faults: int = 100):
        self.m, self.name = machine, name
        self.out = Outcome()
        self.vcpu = 0
        self.upcalls = True
        self.last = None
        self.max_faults = max_faults

    def value(self, word: str, line: int) -> int:
        try:
            if word.startswith("$"):
                return self.m.symbol(word[1:], self.vcpu)
            if word.lstrip("-").replace("_", "").isalnum() and word.lstrip("-")[:1].isdigit():
                return int(word.replace("_", ""), 0)
            if word in self.m.built.consts:
                return self.m.built.consts[word]
        except (KeyError, ValueError) as err:
            raise WorkloadError(f"{self.name}:{line}: {err}") from None
        raise WorkloadError(f"{self.name}:{line}: '{word}' is not a number, a constant of the spec or a $ symbol")

    def run(self, stmts: list[Stmt]) -> Outcome:
        import time

        t0 = time.perf_counter()
        self._block(stmts)
        self.out.elapsed = time.perf_counter() - t0
        return self.out

    def _block(self, stmts: list[Stmt]) -> None:
        for s in stmts:
            if len(self.out.faults) >= self.max_faults:
                return
            getattr(self, f"_{s.op}")(s)

    def _call(self, s: Stmt) -> None:
        patched, hook, words = s.args
        if hook not in self.m.loaded.hooks:
            raise WorkloadError(f"{self.name}:{s.line}: this backend has no hook '{hook}' "
                                f"(it fills: {', '.join(sorted(self.m.loaded.hooks))})")
        args = [self.value(w, s.line) for w in words]
        try:
            r = self.m.call(hook, *args, vcpu=self.vcpu, patched=patched)
        except TypeError as err:
            raise WorkloadError(f"{self.name}:{s.line}: {hook}: {err}") from None
        self._account(r)
        self.last = r
        if self.upcalls and not self.m.guest.native and r.fault is None:
            if self.m.vcpu_info("evtchn_upcall_pending", self.vcpu) and not self.m.vcpu_info(
                    "evtchn_upcall_mask", self.vcpu):
                self.m.deliver_events(self.vcpu)
                self.out.upcalls += 1

    def _account(self, r) -> None:
        st = self.out.hooks.setdefault(r.hook, HookStats())
        st.calls += 1
        st.instructions += r.instructions
        st.patched += r.patched
        self.out.instructions += r.instructions
        if r.fault is not None:
            st.faults += 1
            self.out.faults.append(r.fault)
        self.out.abi_violations += [f"{r.hook}: {v}" for v in r.abi_violations]

    def _expect(self, s: Stmt) -> None:
        what, op, word = s.args
        want = self.value(word, s.line)
        got = self._measure(what, s.line)
        ok = (got == want) if op == "==" else (got != want)
        if ok:
            self.out.passed += 1
        else:
            self.out.failed.append(f"{self.name}:{s.line}: expect {what} {op} {word}: got {got:#x}")

    def _measure(self, what: str, line: int) -> int:
        m, r = self.m, self.last
        if what in ("mask", "pending"):
            if m.guest.native:
                raise WorkloadError(f"{self.name}:{line}: a native machine has no vcpu_info")
            return m.vcpu_info(f"evtchn_upcall_{what}", self.vcpu)
        if r is None:
            raise WorkloadError(f"{self.name}:{line}: 'expect {what}' before any call")
        if what == "result":
            return r.value
        if what == "if":
            return int(bool(r.registers.get(m.guest.rt.flags, 0) & 0x200))
        if what == "hypercalls":
            return len(r.hypercalls)
        name = what.split()[1]
        return sum(1 for n, _rc in r.hypercalls if n == name)

    def _set(self, s: Stmt) -> None:
        if self.m.guest.native:
            raise WorkloadError(f"{self.name}:{s.line}: a native machine has no vcpu_info")
        self.m.set_vcpu_info(f"evtchn_upcall_{s.args[0]}", self.value(s.args[1], s.line), self.vcpu)

    def _send(self, s: Stmt) -> None:
        port = self.value(s.args[0], s.line)
        if self.m.guest.native:
            raise WorkloadError(f"{self.name}:{s.line}: a native machine has no event channels")
        self.m.hv.evtchn_set_pending(self.m.guest, port)

    def _deliver(self, s: Stmt) -> None:
        if not self.m.guest.native:
            self.m.deliver_events(self.vcpu)

    def _upcalls(self, s: Stmt) -> None:
        self.upcalls = s.args[0] == "on"

    def _vcpu(self, s: Stmt) -> None:
        n = self.value(s.args[0], s.line)
        if not 0 <= n < len(self.m.cpus):
            raise WorkloadError(f"{self.name}:{s.line}: no vCPU {n} (the domain has {len(self.m.cpus)})")
        self.vcpu = n

    def _law(self, s: Stmt) -> None:
        from .laws import LawError, run_law

        try:
            r = run_law(self.m, s.args[0], self.vcpu)
        except LawError as err:
            raise WorkloadError(f"{self.name}:{s.line}: {err}") from None
        self.out.laws[r.law] = {"cases": r.cases, "failures": len(r.failures), "faults": len(r.faults)}
        for c in r.calls:
            self._account(c)
        if r.ok:
            self.out.passed += 1
        else:
            self.out.failed += [f"{self.name}:{s.line}: {f}" for f in r.failures]

    def _repeat(self, s: Stmt) -> None:
        for _ in range(s.args[0]):
            self._block(s.body)
