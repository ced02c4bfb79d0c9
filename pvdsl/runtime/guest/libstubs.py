"""The kernel library routines a backend object may call: memset, memcpy,
memmove (pvdsl.target.objects.KERNEL_LIBRARY; LLVM emits calls to them for
struct zeroing and copies, and the manifest lists them).

A real kernel links its own; the guest kernel here is Python, so the loader
places these small routines in the kernel region and resolves the symbols
to them. They are hand-assembled, one instruction per line with its Intel
syntax (tests/runtime/test_libstubs.py disassembles every routine and checks
the text), and follow the kernel's calling convention:

- x86_64 (SysV): dest in rdi, src / fill byte in rsi, count in rdx; dest
  comes back in rax. Only caller-saved registers change (rax, rcx, rdx,
  rsi, rdi, r8).
- i386 (regparm(3), as the kernel is built and as pvdsl's i386 objects call
  them): dest in eax, src / fill byte in edx, count in ecx; dest comes back
  in eax. esi and edi, which the string instructions need, are
  callee-saved there, so they are pushed and popped.

Byte-wise `rep` string instructions keep them short and obviously right;
speed is not the point. The ABI promises DF clear on entry and wants it
clear on return: every routine clears it before a forward copy, and
memmove's backward copy (for a destination inside the source) sets it only
for that copy.
"""

from __future__ import annotations

from ...target.objects import KERNEL_LIBRARY

# A routine: (bytes, Intel syntax) per instruction, "label:" strings, and
# short conditional jumps as (mnemonic, label).
_SHORT_JCC = {"jbe": 0x76, "jae": 0x73}

ROUTINES: dict[str, dict[str, list]] = {
    "x86_64": {
        "memset": [
            (b"\x49\x89\xf8", "mov r8, rdi"),        # the result is dest: keep it
            (b"\x89\xf0", "mov eax, esi"),           # al = the fill byte
            (b"\x48\x89\xd1", "mov rcx, rdx"),
            (b"\xfc", "cld"),
            (b"\xf3\xaa", "rep stosb byte ptr [rdi], al"),
            (b"\x4c\x89\xc0", "mov rax, r8"),
            (b"\xc3", "ret"),
        ],
        "memcpy": [
            (b"\x48\x89\xf8", "mov rax, rdi"),
            (b"\x48\x89\xd1", "mov rcx, rdx"),
            (b"\xfc", "cld"),
            (b"\xf3\xa4", "rep movsb byte ptr [rdi], byte ptr [rsi]"),
            (b"\xc3", "ret"),
        ],
        "memmove": [
            (b"\x48\x89\xf8", "mov rax, rdi"),
            (b"\x48\x89\xd1", "mov rcx, rdx"),
            (b"\x48\x39\xf7", "cmp rdi, rsi"),
            ("jbe", "forward"),                      # dest at or below src: a forward copy reads before it writes
            (b"\x4c\x8d\x04\x16", "lea r8, [rsi + rdx]"),
            (b"\x4c\x39\xc7", "cmp rdi, r8"),
            ("jae", "forward"),                      # dest past the end of src: no overlap
            (b"\x48\x8d\x74\x16\xff", "lea rsi, [rsi + rdx - 1]"),
            (b"\x48\x8d\x7c\x17\xff", "lea rdi, [rdi + rdx - 1]"),
            (b"\xfd", "std"),                        # dest inside src: copy from the last byte down
            (b"\xf3\xa4", "rep movsb byte ptr [rdi], byte ptr [rsi]"),
            (b"\xfc", "cld"),
            (b"\xc3", "ret"),
            "forward:",
            (b"\xfc", "cld"),
            (b"\xf3\xa4", "rep movsb byte ptr [rdi], byte ptr [rsi]"),
            (b"\xc3", "ret"),
        ],
    },
    "i386": {
        "memset": [
            (b"\x57", "push edi"),
            (b"\x89\xc7", "mov edi, eax"),
            (b"\x92", "xchg edx, eax"),              # al = the fill byte, edx = dest for the result
            (b"\xfc", "cld"),
            (b"\xf3\xaa", "rep stosb byte ptr es:[edi], al"),
            (b"\x89\xd0", "mov eax, edx"),
            (b"\x5f", "pop edi"),
            (b"\xc3", "ret"),
        ],
        "memcpy": [
            (b"\x57", "push edi"),
            (b"\x56", "push esi"),
            (b"\x89\xc7", "mov edi, eax"),
            (b"\x89\xd6", "mov esi, edx"),
            (b"\xfc", "cld"),
            (b"\xf3\xa4", "rep movsb byte ptr es:[edi], byte ptr [esi]"),
            (b"\x5e", "pop esi"),
            (b"\x5f", "pop edi"),
            (b"\xc3", "ret"),
        ],
        "memmove": [
            (b"\x57", "push edi"),
            (b"\x56", "push esi"),
            (b"\x89\xc7", "mov edi, eax"),
            (b"\x89\xd6", "mov esi, edx"),
            (b"\x39\xd0", "cmp eax, edx"),
            ("jbe", "forward"),                      # dest at or below src: a forward copy reads before it writes
            (b"\x8d\x14\x0a", "lea edx, [edx + ecx]"),
            (b"\x39\xd0", "cmp eax, edx"),
            ("jae", "forward"),                      # dest past the end of src: no overlap
            (b"\x8d\x74\x0e\xff", "lea esi, [esi + ecx - 1]"),
            (b"\x8d\x7c\x0f\xff", "lea edi, [edi + ecx - 1]"),
            (b"\xfd", "std"),                        # dest inside src: copy from the last byte down
            (b"\xf3\xa4", "rep movsb byte ptr es:[edi], byte ptr [esi]"),
            (b"\xfc", "cld"),
            (b"\x5e", "pop esi"),
            (b"\x5f", "pop edi"),
            (b"\xc3", "ret"),
            "forward:",
            (b"\xfc", "cld"),
            (b"\xf3\xa4", "rep movsb byte ptr es:[edi], byte ptr [esi]"),
            (b"\x5e", "pop esi"),
            (b"\x5f", "pop edi"),
            (b"\xc3", "ret"),
        ],
    },
}

assert all(set(r) == KERNEL_LIBRARY for r in ROUTINES.values()), "a kernel library routine is missing"


def listing(arch: str, name: str) -> list[tuple[int, bytes, str]]:
    """(offset, bytes, Intel syntax) of each instruction; a jump's text names
    its target's offset (`jbe 0x1c`), as a disassembler at address 0 shows it."""
    items = ROUTINES[arch][name]
    labels, at = {}, 0
    for it in items:
        if isinstance(it, str):
            labels[it.rstrip(":")] = at
        else:
            at += 2 if isinstance(it[0], str) else len(it[0])
    out, at = [], 0
    for it in items:
        if isinstance(it, str):
            continue
        code, text = it
        if isinstance(code, str):
            target = labels[text]
            rel = target - (at + 2)
            if not -128 <= rel < 128:
                raise ValueError(f"{arch} {name}: jump to {text} out of short range")
            code, text = bytes([_SHORT_JCC[it[0]], rel & 0xFF]), f"{it[0]} {target:#x}"
        out.append((at, code, text))
        at += len(code)
    return out


def routine(arch: str, name: str) -> bytes:
    return b"".join(code for _at, code, _text in listing(arch, name))


def provides(name: str) -> bool:
    return name in KERNEL_LIBRARY


def install(d, name: str) -> int:
    """Place routine `name` in domain `d`'s kernel region; its address."""
    from ..xen.paging import GuestMemory

    code = routine(d.rt.name, name)
    va = d.kernel.alloc(len(code) + 1, 16, f"kernel library {name}")
    # An int3 after the ret: running off the end is a breakpoint fault, not whatever follows.
    GuestMemory(d.mem, d.rt, d.kernel.root_mfn).write(va, code + b"\xcc")
    return va


__all__ = ["KERNEL_LIBRARY", "ROUTINES", "listing", "routine", "provides", "install"]
