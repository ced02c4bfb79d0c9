"""memset/memcpy calls LLVM makes itself follow the kernel's convention: on
i386 the kernel's memset takes its arguments in registers (regparm(3))."""

import re
from pathlib import Path

from pvdsl.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_i386_library_calls_use_regparm(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["build", "pvdsl/specs/backends/xen.pv", "-t", "i386-domu", "-q", "-o", str(tmp_path)]) == 0
    ll = (tmp_path / "xen-i386-domu.ll").read_text()
    assert '!"NumRegisterParameters", i32 3' in ll
    asm = (tmp_path / "xen-i386-domu.s").read_text()
    calls = [m.start() for m in re.finditer(r"calll\s+memset", asm)]
    assert calls, "the shipped xen backend zeroes a large local: LLVM calls memset"
    for at in calls:
        before = asm[max(0, at - 200):at]
        # Arguments in eax, edx, ecx, not pushed on the stack.
        assert "pushl" not in before.splitlines()[-1] and "%ecx" in before, before
