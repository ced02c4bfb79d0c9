"""Architecture facts, stated once.

Every stage that needs a size, a register or a convention looks it up here
instead of branching on the arch name. Sources: the i386 SysV psABI and
Linux's regparm(3) kernel convention; the x86_64 psABI; Xen's public headers
(arch-x86/xen-x86_32.h, xen-x86_64.h) for guest handles and hypercall
registers; Linux arch/x86/include/asm/paravirt_types.h for the callee-save
clobber sets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    name: str
    word_bytes: int  # ulong/long, pointers
    handle_bytes: int  # XEN_GUEST_HANDLE(T) as seen by a guest of this arch
    int64_align: int  # alignment of u64/s64 inside structs
    max_align: int  # the largest natural alignment of any scalar
    llvm_triple: str
    kernel_arg_regs: tuple[str, ...]  # ordinary kernel calls
    kernel_ret_regs: tuple[str, ...]
    callee_saved: tuple[str, ...]  # preserved across any kernel call
    caller_saved: tuple[str, ...]  # an ordinary hook may clobber these
    callee_save_clobbers: tuple[str, ...]  # all a callee_save hook may clobber
    hypercall_arg_regs: tuple[str, ...]
    hypercall_ret_reg: str
    hypercall_max_arg_bytes: int  # widest hypercall argument
    percpu_segment: str
    stack_pointer: str
    # Code generation (LLVM): the kernel's compilation model on this arch.
    percpu_addrspace: int  # x86 LLVM: 256 = %gs, 257 = %fs
    llvm_code_model: str
    llvm_features: str  # no SSE/MMX/x87 in kernel code
    asm_suffix: str  # AT&T operand-size suffix of a word: pushfl / pushfq
    regparm: int  # integer arguments passed in registers (marked inreg on i386)
    elf_class: int
    elf_machine: str
    ld_emulation: str
    gcc_flags: tuple[str, ...]
    hypercall_stub: str  # what Xen writes into each 32-byte hypercall page entry

    @property
    def callee_save_preserve(self) -> tuple[str, ...]:
        """Registers a callee_save hook keeps although the C ABI lets a
        function clobber them."""
        return tuple(r for r in self.caller_saved if r not in self.callee_save_clobbers)

    @property
    def word_bits(self) -> int:
        return self.word_bytes * 8


I386 = Arch(
    name="i386",
    word_bytes=4,
    handle_bytes=4,
    int64_align=4,
    max_align=4,
    llvm_triple="i686-pc-linux-gnu",
    kernel_arg_regs=("eax", "edx", "ecx"),
    kernel_ret_regs=("eax", "edx"),
    callee_saved=("ebx", "esi", "edi", "ebp"),
    caller_saved=("eax", "ecx", "edx"),
    callee_save_clobbers=("eax", "edx"),
    hypercall_arg_regs=("ebx", "ecx", "edx", "esi", "edi"),
    hypercall_ret_reg="eax",
    hypercall_max_arg_bytes=4,
    percpu_segment="fs",
    stack_pointer="esp",
    percpu_addrspace=257,
    llvm_code_model="default",
    llvm_features="-sse,-sse2,-mmx,-x87,-avx",
    asm_suffix="l",
    regparm=3,
    elf_class=32,
    elf_machine="EM_386",
    ld_emulation="elf_i386",
    gcc_flags=("-m32", "-mregparm=3", "-ffreestanding", "-fno-pic", "-mno-sse", "-mno-mmx"),
    hypercall_stub="mov $N,%eax; int $0x82; ret",
)

X86_64 = Arch(
    name="x86_64",
    word_bytes=8,
    handle_bytes=8,
    int64_align=8,
    max_align=8,
    llvm_triple="x86_64-pc-linux-gnu",
    kernel_arg_regs=("rdi", "rsi", "rdx", "rcx", "r8", "r9"),
    kernel_ret_regs=("rax", "rdx"),
    callee_saved=("rbx", "rbp", "r12", "r13", "r14", "r15"),
    caller_saved=("rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"),
    callee_save_clobbers=("rax",),
    hypercall_arg_regs=("rdi", "rsi", "rdx", "r10", "r8"),
    hypercall_ret_reg="rax",
    hypercall_max_arg_bytes=8,
    percpu_segment="gs",
    stack_pointer="rsp",
    percpu_addrspace=256,
    llvm_code_model="kernel",
    llvm_features="-sse,-sse2,-mmx,-x87,-avx",
    asm_suffix="q",
    regparm=0,
    elf_class=64,
    elf_machine="EM_X86_64",
    ld_emulation="elf_x86_64",
    gcc_flags=("-m64", "-mcmodel=kernel", "-mno-red-zone", "-ffreestanding", "-fno-pic", "-mno-sse",
               "-mno-mmx"),
    hypercall_stub="push %rcx; push %r11; mov $N,%eax; syscall; pop %r11; pop %rcx; ret",
)

ARCHES: dict[str, Arch] = {a.name: a for a in (I386, X86_64)}
ROLES: tuple[str, ...] = ("native", "domu", "dom0")
XEN_ROLES: frozenset[str] = frozenset({"domu", "dom0"})
# Roles that run without Xen's privilege (may not issue privileged hypercalls).
UNPRIVILEGED_ROLES: frozenset[str] = frozenset({"domu"})
HYPERCALL_MAX_ARGS = 5


@dataclass(frozen=True)
class Target:
    """What one object file is built for: an arch and a role."""

    arch: Arch
    role: str

    @property
    def name(self) -> str:
        return f"{self.arch.name}-{self.role}"

    @property
    def under_xen(self) -> bool:
        return self.role in XEN_ROLES


TARGETS: dict[str, Target] = {t.name: t for t in (Target(a, r) for a in ARCHES.values() for r in ROLES)}
HYPERCALL_ENTRY_BYTES = 32  # hypercall N is at hypercall_page + 32 * N
