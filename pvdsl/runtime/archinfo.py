"""Arch facts the runtime needs and the compiler does not: paging format,
where Xen lives in a PV guest's address space, the ring a PV kernel runs in,
Xen's GDT, the hypercall page bytes, unicorn register ids.

These belong with `pvdsl.arch` in spirit (one table per arch, no `if arch ==`
in the code that uses them); they are kept here because only the runtime may
import unicorn. Sources: Intel SDM vol. 3 ch. 4 (PAE and 4-level paging);
Xen 4.17 xen/arch/x86/include/asm/config.h (XEN_VIRT_START, PERDOMAIN),
xen/arch/x86/boot/x86_64.S / cpu/common.c (boot_gdt, boot_compat_gdt),
xen/arch/x86/hypercall.c and pv/hypercall.c (hypercall page stubs),
public/arch-x86/xen-x86_32.h and xen-x86_64.h (rings, hypervisor hole).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from unicorn import UC_MODE_32, UC_MODE_64
from unicorn import x86_const as X

from ..arch import ARCHES, Arch

_REG64 = {"rax": X.UC_X86_REG_RAX, "rbx": X.UC_X86_REG_RBX, "rcx": X.UC_X86_REG_RCX, "rdx": X.UC_X86_REG_RDX,
          "rsi": X.UC_X86_REG_RSI, "rdi": X.UC_X86_REG_RDI, "rbp": X.UC_X86_REG_RBP, "rsp": X.UC_X86_REG_RSP,
          "r8": X.UC_X86_REG_R8, "r9": X.UC_X86_REG_R9, "r10": X.UC_X86_REG_R10, "r11": X.UC_X86_REG_R11,
          "r12": X.UC_X86_REG_R12, "r13": X.UC_X86_REG_R13, "r14": X.UC_X86_REG_R14, "r15": X.UC_X86_REG_R15,
          "rip": X.UC_X86_REG_RIP, "rflags": X.UC_X86_REG_EFLAGS}
_REG32 = {"eax": X.UC_X86_REG_EAX, "ebx": X.UC_X86_REG_EBX, "ecx": X.UC_X86_REG_ECX, "edx": X.UC_X86_REG_EDX,
          "esi": X.UC_X86_REG_ESI, "edi": X.UC_X86_REG_EDI, "ebp": X.UC_X86_REG_EBP, "esp": X.UC_X86_REG_ESP,
          "eip": X.UC_X86_REG_EIP, "eflags": X.UC_X86_REG_EFLAGS}

# Control-register bits (Intel SDM vol. 3, 2.5).
CR0_PE, CR0_WP, CR0_PG = 1 << 0, 1 << 16, 1 << 31
CR4_PAE = 1 << 5
EFER_MSR, EFER_SCE, EFER_LME, EFER_LMA = 0xC0000080, 1 << 0, 1 << 8, 1 << 10
X86_EFLAGS_IF = 1 << 9
EFLAGS_RESERVED1 = 1 << 1


def _hypercall_stub_64(n: int) -> bytes:
    # push %rcx; push %r11; mov $n,%eax; syscall; pop %r11; pop %rcx; ret
    return b"\x51\x41\x53\xb8" + struct.pack("<I", n) + b"\x0f\x05\x41\x5b\x59\xc3"


def _iret_stub_64(n: int) -> bytes:
    # Xen's entry for __HYPERVISOR_iret: the frame is already on the stack,
    # the call never returns here (pv/hypercall.c hypercall_page_initialise_ring3_kernel).
    return b"\x51\x41\x53\x50\xb8" + struct.pack("<I", n) + b"\x0f\x05\x0f\x0b"


def _hypercall_stub_32(n: int) -> bytes:
    # mov $n,%eax; int $0x82; ret
    return b"\xb8" + struct.pack("<I", n) + b"\xcd\x82\xc3"


def _iret_stub_32(n: int) -> bytes:
    # push %eax; mov $n,%eax; int $0x82 (compat hypercall_page_initialise_ring1_kernel)
    return b"\x50\xb8" + struct.pack("<I", n) + b"\xcd\x82"


@dataclass(frozen=True)
class RtArch:
    arch: Arch
    uc_mode: int
    levels: int  # paging levels: 4 (x86_64), 3 (i386 PAE)
    top_entries: int  # entries used in the root table: 512, or 4 in a PAE PDPT
    kernel_virt_base: int  # where the builder maps the kernel (Linux's __START_KERNEL_map / PAGE_OFFSET)
    # Xen's part of every guest address space.
    xen_hole: tuple[int, int]  # [start, end): the guest may neither map nor pass pointers here
    xen_global_va: int  # Xen text (entry stub) and the reserved GDT page: shared by all domains
    xen_perdomain_va: int  # per vCPU: a 16-page GDT window and a Xen stack page
    xen_slot_level: int  # the level of the table whose slots Xen owns (4: L4; 2: the L2 under L3[3])
    xen_slots: range  # indices Xen owns in that table
    guest_ring: int  # the ring a PV kernel runs in: 3 (x86_64), 1 (i386 on Xen)
    ring0_cs: int  # Xen's own code selector for its entry stub
    ring0_ds: int
    gdt_reserved: dict[int, int]  # index in the reserved GDT page -> descriptor (accessed bits set)
    regs: dict[str, int]  # unicorn register ids of the general registers, pc and flags
    pc: str
    flags: str
    iret: bytes  # CPL0 -> guest ring
    hypercall_stub: object  # n -> 32-byte-or-less entry
    iret_stub: object
    magic: str  # start_info.magic
    capabilities: str  # XENVER_capabilities
    call_site: object  # slot address -> Linux's indirect paravirt call `call *addr`
    io_protocol: str  # a split driver's `protocol` node (io/protocols.h XEN_IO_PROTO_ABI_*)
    nop: bytes = b"\x90"

    @property
    def name(self) -> str:
        return self.arch.name

    @property
    def word(self) -> int:
        return self.arch.word_bytes

    @property
    def sp(self) -> str:
        return self.arch.stack_pointer

    def pack_word(self, v: int) -> bytes:
        return (v & ((1 << (8 * self.word)) - 1)).to_bytes(self.word, "little")

    def shifts(self) -> list[int]:
        """Bit position of each level's index, top level first."""
        return [12 + 9 * i for i in range(self.levels - 1, -1, -1)]

    def indices(self, va: int) -> list[int]:
        out = [(va >> s) & 511 for s in self.shifts()]
        if self.levels == 3:
            out[0] &= 3
        return out

    def canonical(self, va: int) -> bool:
        if self.word == 4:
            return 0 <= va < (1 << 32)
        return va < (1 << 47) or (1 << 64) - (1 << 47) <= va < (1 << 64)


RT = {
    "x86_64": RtArch(
        arch=ARCHES["x86_64"], uc_mode=UC_MODE_64, levels=4, top_entries=512,
        kernel_virt_base=0xffffffff80000000,
        xen_hole=(0xffff800000000000, 0xffff880000000000),  # L4 slots 256..271 (config.h)
        xen_global_va=0xffff82d080000000,  # XEN_VIRT_START
        xen_perdomain_va=0xffff820000000000,  # PERDOMAIN_VIRT_START (slot 260)
        xen_slot_level=4, xen_slots=range(256, 272),
        guest_ring=3, ring0_cs=0xe008, ring0_ds=0xe010,
        gdt_reserved={1: 0x00af9b000000ffff, 2: 0x00cf93000000ffff, 4: 0x00cffb000000ffff,
                      5: 0x00cff3000000ffff, 6: 0x00affb000000ffff},
        regs=_REG64, pc="rip", flags="rflags", iret=b"\x48\xcf",
        hypercall_stub=_hypercall_stub_64, iret_stub=_iret_stub_64,
        magic="xen-3.0-x86_64", capabilities="xen-3.0-x86_64 xen-3.0-x86_32p ", io_protocol="x86_64-abi",
        # ff 14 25 disp32: call *disp32 (sign-extended: the kernel lives in the top 2 GiB)
        call_site=lambda a: b"\xff\x14\x25" + struct.pack("<i", a - (1 << 64) if a >= 1 << 63 else a),
    ),
    "i386": RtArch(
        arch=ARCHES["i386"], uc_mode=UC_MODE_32, levels=3, top_entries=4,
        kernel_virt_base=0xc0000000,
        # A 32-bit PV guest may use everything below HYPERVISOR_VIRT_START
        # (0xF5800000, xen-x86_32.h PAE). This emulation runs the guest in
        # plain 32-bit PAE mode, so Xen's mappings live in that hole, in the
        # L2 that L3 slot 3 points to (Xen's "pae_xen_l2" page).
        xen_hole=(0xF5800000, 1 << 32),
        xen_global_va=0xFF800000, xen_perdomain_va=0xFF000000,
        xen_slot_level=2, xen_slots=range(0xF5800000 >> 21 & 511, 512),
        guest_ring=1, ring0_cs=0xe038, ring0_ds=0xe010,
        # boot_compat_gdt, plus the 32-bit ring-0 code segment at 0xe038 that
        # Xen's entry stub needs here (real Xen enters in 64-bit mode).
        gdt_reserved={2: 0x00cf93000000ffff, 3: 0x00cfbb000000ffff, 4: 0x00cfb3000000ffff,
                      5: 0x00cffb000000ffff, 6: 0x00cff3000000ffff, 7: 0x00cf9b000000ffff},
        regs=_REG32, pc="eip", flags="eflags", iret=b"\xcf",
        hypercall_stub=_hypercall_stub_32, iret_stub=_iret_stub_32,
        magic="xen-3.0-x86_32p", capabilities="xen-3.0-x86_64 xen-3.0-x86_32p ", io_protocol="x86_32-abi",
        call_site=lambda a: b"\xff\x15" + struct.pack("<I", a),  # call *abs32
    ),
}

# The GDT window of a vCPU: 16 pages; page FIRST_RESERVED_GDT_PAGE (14) is Xen's.
GDT_WINDOW_PAGES = 16
