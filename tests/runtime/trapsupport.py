"""Guest code for the trap tests (test_traps.py): x86_64 and i386
encodings of the few instructions the handlers use, written out by hand
with what they encode, and a PV domain with its emulated vCPU to put them in."""

from __future__ import annotations

import struct

from pvdsl.runtime.host.builder import MIB, build_pv_domain
from pvdsl.runtime.xen.hypervisor import Hypervisor
from pvdsl.runtime.cpu.vcpu import EmulatedCpu

ARCHES = ["x86_64", "i386"]
IF = 0x200
UD, GP, PF, BP = 6, 13, 14, 3
NR = {"set_trap_table": 0, "set_callbacks": 4, "update_va_mapping": 14, "xen_version": 17, "iret": 23,
      "vcpu_op": 24, "callback_op": 30}


class Enc64:
    """x86_64 encodings. Kernel addresses are in the top 2 GiB: an absolute
    operand is a sign-extended disp32 (ModRM r/m=100, SIB base=101)."""

    word, regs = 8, ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
                     "r14", "r15")

    @staticmethod
    def a(va):
        return struct.pack("<i", va - (1 << 64) if va >> 63 else va)

    def inc(self, va): return b"\x48\xff\x04\x25" + self.a(va)            # incq va
    def pop_to(self, va): return b"\x8f\x04\x25" + self.a(va)             # popq va
    def push_from(self, va): return b"\xff\x34\x25" + self.a(va)          # pushq va
    def push_sp(self, off): return b"\xff\x74\x24" + bytes([off])         # pushq off(%rsp)
    def save_sp(self, va): return b"\x48\x89\x24\x25" + self.a(va)        # mov %rsp,va
    def store_byte(self, va, b): return b"\xc6\x04\x25" + self.a(va) + bytes([b])  # movb $b,va
    def skip(self, n): return b"\x48\x83\x04\x24" + bytes([n])            # addq $n,(%rsp)
    def drop(self): return b"\x48\x83\xc4\x08"                            # add $8,%rsp
    def entry(self): return b"\x59\x41\x5b"                               # pop %rcx; pop %r11 (Linux's xen entry)
    def load(self, va): return b"\x48\x8b\x04\x25" + self.a(va)           # mov va,%rax
    def store(self, va): return b"\x48\x89\x1c\x25" + self.a(va)          # mov %rbx,va
    def first_arg_zero(self): return b"\x31\xff\x31\xf6"                  # xor %edi,%edi; xor %esi,%esi
    def set_sp(self, va): return b"\x48\xbc" + struct.pack("<Q", va)      # movabs $va,%rsp

    def iret(self, hp):
        return [b"\x6a\x00", jmp(hp + 32 * NR["iret"])]                   # push $0 (flags); jmp hypercall_iret

    def fix_mapping(self, hp, cr2, cr2_slot, pte_slot, rc_slot, flags):
        """update_va_mapping(cr2 & ~0xfff, *pte_slot, flags), every register kept."""
        return [b"\x50\x57\x56\x52",                                      # push %rax,%rdi,%rsi,%rdx
                b"\x48\x8b\x3c\x25" + self.a(cr2),                         # mov cr2,%rdi
                b"\x48\x89\x3c\x25" + self.a(cr2_slot),                    # mov %rdi,cr2_slot
                b"\x48\x81\xe7\x00\xf0\xff\xff",                           # and $~0xfff,%rdi
                b"\x48\x8b\x34\x25" + self.a(pte_slot),                    # mov pte_slot,%rsi
                b"\xba" + struct.pack("<I", flags),                        # mov $flags,%edx
                call(hp + 32 * NR["update_va_mapping"]),
                b"\x48\x89\x04\x25" + self.a(rc_slot),                     # mov %rax,rc_slot
                b"\x5a\x5e\x5f\x58"]                                       # pop %rdx,%rsi,%rdi,%rax


class Enc32:
    """i386 encodings: absolute operands are ModRM r/m=101 with a disp32."""

    word, regs = 4, ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp")

    @staticmethod
    def a(va):
        return struct.pack("<I", va)

    def inc(self, va): return b"\xff\x05" + self.a(va)                    # incl va
    def pop_to(self, va): return b"\x8f\x05" + self.a(va)                 # popl va
    def push_from(self, va): return b"\xff\x35" + self.a(va)              # pushl va
    def push_sp(self, off): return b"\xff\x74\x24" + bytes([off])         # pushl off(%esp)
    def save_sp(self, va): return b"\x89\x25" + self.a(va)                # mov %esp,va
    def store_byte(self, va, b): return b"\xc6\x05" + self.a(va) + bytes([b])  # movb $b,va
    def skip(self, n): return b"\x83\x04\x24" + bytes([n])                # addl $n,(%esp)
    def drop(self): return b"\x83\xc4\x04"                                # add $4,%esp
    def entry(self): return b""
    def load(self, va): return b"\xa1" + self.a(va)                       # mov va,%eax
    def store(self, va): return b"\x89\x1d" + self.a(va)                  # mov %ebx,va
    def first_arg_zero(self): return b"\x31\xdb\x31\xc9"                  # xor %ebx,%ebx; xor %ecx,%ecx
    def set_sp(self, va): return b"\xbc" + struct.pack("<I", va)          # mov $va,%esp

    def iret(self, hp):
        return [jmp(hp + 32 * NR["iret"])]                                # jmp hypercall_iret (it pushes %eax)

    def fix_mapping(self, hp, cr2, cr2_slot, pte_slot, rc_slot, flags):
        """update_va_mapping(cr2 & ~0xfff, pte lo, pte hi, flags), every register kept."""
        return [b"\x50\x53\x51\x52\x56",                                  # push %eax,%ebx,%ecx,%edx,%esi
                b"\x8b\x1d" + self.a(cr2),                                 # mov cr2,%ebx
                b"\x89\x1d" + self.a(cr2_slot),                            # mov %ebx,cr2_slot
                b"\x81\xe3\x00\xf0\xff\xff",                               # and $~0xfff,%ebx
                b"\x8b\x0d" + self.a(pte_slot),                            # mov pte_slot,%ecx
                b"\x8b\x15" + self.a(pte_slot + 4),                        # mov pte_slot+4,%edx
                b"\xbe" + struct.pack("<I", flags),                        # mov $flags,%esi
                call(hp + 32 * NR["update_va_mapping"]),
                b"\xa3" + self.a(rc_slot),                                 # mov %eax,rc_slot
                b"\x5e\x5a\x59\x5b\x58"]                                   # pop %esi,%edx,%ecx,%ebx,%eax


def jmp(target):
    return lambda here: b"\xe9" + struct.pack("<i", target - (here + 5))  # jmp rel32


def call(target):
    return lambda here: b"\xe8" + struct.pack("<i", target - (here + 5))  # call rel32


UD2, CLI, INT3, NOP = b"\x0f\x0b", b"\xfa", b"\xcc", b"\x90"


class Guest:
    """A domU of one arch with its emulated vCPU; code goes in its kernel region."""

    def __init__(self, arch: str, count_instructions: bool = True):
        self.hv = Hypervisor(48 * MIB)
        self.d = build_pv_domain(self.hv, arch, 16 * MIB, 1, False)
        self.v = self.d.vcpus[0]
        self.cpu = EmulatedCpu(self.hv, self.v, count_instructions)
        self.rt, self.c, self.k, self.abi = self.d.rt, self.d.abi.c, self.d.kernel, self.d.abi
        self.e = Enc64() if arch == "x86_64" else Enc32()
        self.hp = self.k.hypercall_page_va
        self.sp = self.k.stack_tops[0] - 1024
        self.flat_cs = self.c("FLAT_KERNEL_CS")

    def data(self, size: int = 64, align: int = 16) -> int:
        va = self.k.alloc(size, align, "test data")
        self.put(va, bytes(size))
        return va

    def code(self, *parts) -> int:
        base = self.k.alloc(1024, 16, "test code")
        buf = bytearray()
        for p in parts:
            for q in (p if isinstance(p, list) else [p]):
                buf += q(base + len(buf)) if callable(q) else q
        self.hv.mem.write(self.cpu.maddr(base), bytes(buf))
        self.end = base + len(buf)
        return base

    def word(self, va: int, size: int | None = None) -> int:
        return int.from_bytes(self.cpu.read_virtual(va, size or self.e.word), "little")

    def put(self, va: int, data: bytes) -> None:
        while data:
            n = min(len(data), 4096 - (va & 4095))
            self.hv.mem.write(self.cpu.maddr(va), data[:n])
            va, data = va + n, data[n:]

    def hypercall(self, name: str, *args: int) -> int:
        return self.hv.hypercall(self.v, NR[name], list(args))

    def set_traps(self, entries: dict[int, tuple[int, int]]) -> None:
        """vector -> (handler, trap_info flags), through set_trap_table."""
        size = self.abi.size("trap_info")
        table = self.data(size * (len(entries) + 1))
        addr = self.abi.field("trap_info", "address").offset
        for i, (vector, (handler, flags)) in enumerate(entries.items()):
            self.put(table + i * size, struct.pack("<BBH", vector, flags, self.flat_cs))
            self.put(table + i * size + addr, self.rt.pack_word(handler))
        assert self.hypercall("set_trap_table", table) == 0

    def register_vcpu_info(self) -> int:
        """vcpu_info moved into a kernel page; events start masked, none pending."""
        page = self.data(4096, 4096)
        arg = self.data(16)
        self.put(arg, struct.pack("<QI", self.cpu.maddr(page) >> 12, 0))
        assert self.hypercall("vcpu_op", self.c("VCPUOP_register_vcpu_info"), 0, arg) == 0
        self.vcpu_info = page
        self.set_vi("evtchn_upcall_pending", 0)
        self.set_vi("evtchn_pending_sel", 0)
        self.set_vi("evtchn_upcall_mask", 1)
        return page

    def vi(self, name: str) -> int:
        return self.vcpu_info + self.abi.field("vcpu_info", name).offset

    def get_vi(self, name: str) -> int:
        at, size = self.hv.vcpu_info_field(self.v, name)
        return self.hv.mem.uint(at, size)

    def set_vi(self, name: str, value: int) -> None:
        at, size = self.hv.vcpu_info_field(self.v, name)
        self.hv.mem.set_uint(at, size, value)

    def sentinels(self) -> dict[str, int]:
        regs = {r: (0x5EED0000 + 0x1111 * i) * (0x100000001 if self.e.word == 8 else 1) for i, r in
                enumerate(self.e.regs)}
        regs[self.rt.sp] = self.sp
        return regs

    def run(self, entry: int, regs: dict[str, int] | None = None, **kw):
        return self.cpu.run(entry, self.end, regs or self.sentinels(), **kw)
