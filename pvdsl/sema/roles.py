"""The role rules, checked over the call graph of each backend.

- A backend that may run as `domu` must not reach a `privileged` hypercall,
  directly or through helpers and other hooks: Xen answers -EPERM.
- A backend that runs under Xen (`domu`, `dom0`) must not execute a
  privileged instruction: a PV kernel is not in ring 0.
- A `native` backend has no hypercall page, so it cannot make hypercalls.
"""

from __future__ import annotations

from ..arch import UNPRIVILEGED_ROLES, XEN_ROLES
from ..diagnostics import Note
from .intrinsics import Intrinsic
from .model import BackendInfo, FnInfo, HookInfo, HypercallInfo, ImplInfo


def _name(target) -> str:
    if isinstance(target, HookInfo):
        return f"{target.table}.{target.name}"
    if isinstance(target, ImplInfo):
        return f"{target.hook.table}.{target.hook.name}"
    return target.name


class RoleChecks:
    def __init__(self, checker):
        self.c = checker

    def _body_of(self, backend: BackendInfo, target):
        """The callable a call of `target` runs inside `backend`."""
        if isinstance(target, HookInfo):
            for hook, source in backend.tables.get(target.table, ()):
                if hook is target:
                    return source
            return None
        return target

    def _reach(self, backend, start, want, seen=None):
        """Yield (terminal, path) for every call reachable from `start` that `want` accepts."""
        seen = seen if seen is not None else set()
        if id(start) in seen:
            return
        seen.add(id(start))
        for target, call in self.c.calls.get(start, ()):
            if want(target):
                yield target, [call]
                continue
            body = self._body_of(backend, target)
            if isinstance(body, (FnInfo, ImplInfo, HookInfo)):
                for terminal, path in self._reach(backend, body, want, seen):
                    yield terminal, [call] + path

    def check(self, backend: BackendInfo) -> None:
        roles = set(backend.roles)
        # The hooks are the entry points: a helper's violation is reported
        # once, where a hook's path into it starts.
        entries = [src for slots in backend.tables.values() for _h, src in slots if src is not None]
        rules = []
        if roles & UNPRIVILEGED_ROLES:
            rules.append(("E070", lambda t: isinstance(t, HypercallInfo) and t.privileged,
                          self._privileged_hypercall))
        if roles & XEN_ROLES:
            rules.append(("E071", lambda t: isinstance(t, Intrinsic) and t.privileged,
                          self._privileged_instruction))
        if "native" in roles:
            rules.append(("E072", lambda t: isinstance(t, HypercallInfo), self._hypercall_on_native))
        for code, want, report in rules:
            for entry in entries:
                reported = set()
                for terminal, path in self._reach(backend, entry, want):
                    site = path[0]
                    if id(site) in reported:
                        continue
                    reported.add(id(site))
                    report(backend, terminal, path)

    def _via(self, path) -> str:
        if len(path) == 1:
            return ""
        names = [self.c.callee_words(self.c.view.refs[id(call)]).split("'")[1] for call in path]
        return f" through {' -> '.join(names)}"

    def _roles_note(self, backend: BackendInfo) -> Note:
        return Note(backend.decl.name_span, f"backend '{backend.name}' runs as {', '.join(backend.roles)}")

    def _privileged_hypercall(self, backend, hc: HypercallInfo, path) -> None:
        self.c.err("E070", f"backend '{backend.name}' may run as domu, but reaches privileged hypercall "
                   f"'{hc.name}'{self._via(path)}; Xen refuses it with -EPERM", path[0].span,
                   Note(hc.decl.name_span, f"'{hc.name}' is declared privileged here"),
                   self._roles_note(backend))

    def _privileged_instruction(self, backend, intr: Intrinsic, path) -> None:
        self.c.err("E071", f"backend '{backend.name}' runs under Xen ({', '.join(r for r in backend.roles if r in XEN_ROLES)}), "
                   f"but reaches privileged instruction '{intr.name}'{self._via(path)}; a PV kernel is not in "
                   "ring 0, so ask the hypervisor instead", path[0].span, self._roles_note(backend))

    def _hypercall_on_native(self, backend, hc: HypercallInfo, path) -> None:
        self.c.err("E072", f"backend '{backend.name}' runs on bare metal (native), but reaches hypercall "
                   f"'{hc.name}'{self._via(path)}; there is no hypervisor to answer it", path[0].span,
                   self._roles_note(backend))
