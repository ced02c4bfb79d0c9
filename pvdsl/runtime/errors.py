"""What can go wrong in the runtime, as values a caller can report.

Nothing here prints or raises past the runtime's public entry points: a
guest that faults is a `RuntimeFault` (data), a bad object is a `LoadError`
(an exception with a one-line message), a bad guest pointer inside the
hypervisor model is a `GuestFault` that the hypercall layer turns into
-EFAULT, as Xen's copy_from_guest does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Xen's errno values (xen/include/public/errno.h). They are the Linux/x86
# numbers; the guest sees them negated in rax/eax.
EPERM = 1
ENOENT = 2
ESRCH = 3
ENXIO = 6
E2BIG = 7
EAGAIN = 11
ENOMEM = 12
EACCES = 13
EFAULT = 14
EBUSY = 16
EEXIST = 17
ENODEV = 19
EINVAL = 22
ENOSPC = 28
EDOM = 33
ENOSYS = 38
ENODATA = 61
ETIME = 62
EOPNOTSUPP = 95

ERRNO_NAMES = {v: k for k, v in dict(globals()).items() if k.isupper() and isinstance(v, int) and k.startswith("E")}


def errno_name(rc: int) -> str:
    """'0', '-EINVAL', or the number for a non-error positive result."""
    if rc < 0 and -rc in ERRNO_NAMES:
        return f"-{ERRNO_NAMES[-rc]}"
    return str(rc)


class GuestFault(Exception):
    """A guest virtual address the hypervisor could not access."""

    def __init__(self, va: int, reason: str):
        super().__init__(f"guest address {va:#x}: {reason}")
        self.va = va
        self.reason = reason


class LoadError(Exception):
    """An object the loader cannot place into a domain (bad relocation,
    undefined symbol, wrong ELF class...). The message names what and where."""


class RuntimeSetupError(Exception):
    """A domain or machine that cannot be built as asked (too little memory...)."""


@dataclass
class RuntimeFault:
    """A hook run that did not return normally.

    kind: "exception" (a CPU exception: #GP, #PF, #UD ...), "invalid-instruction",
    "budget" (instruction budget exhausted), "timeout" (wall-clock limit),
    "halt" (hlt with interrupts disabled: the CPU would never wake), "unmapped"
    (an access outside machine memory), "internal" (a bug in the model).
    """

    kind: str
    hook: str
    address: int  # guest rip/eip where it happened
    message: str
    vector: int | None = None
    fault_address: int | None = None  # cr2 for #PF
    code: bytes = b""
    disassembly: str = ""
    registers: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        head = f"{self.hook}: {self.message} at {self.address:#x}"
        if self.disassembly:
            head += f": {self.disassembly}"
        elif self.code:
            head += f": bytes {self.code.hex(' ')}"
        return head

    def to_json(self) -> dict:
        return {"kind": self.kind, "hook": self.hook, "address": self.address, "message": self.message,
                "vector": self.vector, "fault_address": self.fault_address, "bytes": self.code.hex(" "),
                "disassembly": self.disassembly, "registers": dict(self.registers)}
