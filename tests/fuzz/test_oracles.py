"""Each oracle on its own, with hand-written hooks (--asm) that break one
rule and nothing else, on both arches."""

from pathlib import Path

import pytest

from pvdsl.fuzz.campaign import Options
from pvdsl.fuzz.driver import collect, merge

ROOT = Path(__file__).resolve().parents[2]

STRAY_STORE = """
        .text
        .globl xen_irq_disable
xen_irq_disable:
#ifdef __x86_64__
        movb    $1, %gs:xen_vcpu_info+1(%rip)
        movq    $0x1234, hypercall_page+8(%rip)   /* a store into the hypercall page */
#else
        movb    $1, %fs:xen_vcpu_info+1
        movl    $0x1234, hypercall_page+8
#endif
        ret
"""

DF_LEFT_SET = """
        .text
        .globl xen_save_fl
xen_save_fl:
#ifdef __x86_64__
        movzbl  %gs:xen_vcpu_info+1(%rip), %eax
        decq    %rax
#else
        movzbl  %fs:xen_vcpu_info+1, %eax
        decl    %eax
#endif
        andl    $0x200, %eax
        std                             /* the caller's string operations now run backwards */
        ret
"""

WRONG_RESULT = """
        .text
        .globl xen_save_fl
xen_save_fl:
        movl    $0x200, %eax            /* ignores the mask: "interrupts on" whatever vcpu_info says */
        ret
"""


def run(tmp_path, source: str, hook: str, target: str):
    path = tmp_path / "hook.S"
    path.write_text(source)
    opts = Options(targets=[target], hooks=[hook], examples=100, seed=0, asm=(str(path),), laws=False,
                   cross_arch=False)
    results, reports, errors = merge(collect([str(ROOT / "examples/irq.pv")], opts), opts)
    assert not errors, errors
    (r,) = [r for r in results if r.hook.endswith(hook)]
    return r, reports.get(r.key, "")


@pytest.mark.parametrize("target", ["x86_64-domu", "i386-domu"])
def test_a_store_outside_the_hooks_memory_is_caught(tmp_path, target):
    r, text = run(tmp_path, STRAY_STORE, "irq_disable", target)
    assert r.status == "fail"
    assert r.failure.violations[0].oracle == "memory"
    assert "outside the hook's stack, buffers and storage" in text
    assert "\n  >> " in text  # the store is marked in the listing


@pytest.mark.parametrize("target", ["x86_64-domu", "i386-domu"])
def test_df_left_set_is_caught(tmp_path, target):
    r, text = run(tmp_path, DF_LEFT_SET, "save_fl", target)
    assert r.status == "fail"
    assert [v.message for v in r.failure.violations] == ["DF set on return"]


@pytest.mark.parametrize("target", ["x86_64-domu", "i386-domu"])
def test_a_wrong_result_is_caught_by_the_differential_and_shrunk(tmp_path, target):
    r, text = run(tmp_path, WRONG_RESULT, "save_fl", target)
    assert r.status == "fail"
    (v,) = r.failure.violations
    assert (v.oracle, v.message, v.expected, v.actual) == ("differential", "result differs", "0x0", "0x200")
    assert r.shrunk
    # Hypothesis shrinks the junk registers to zero; the mask must stay non-zero to fail.
    assert all(j == 0 for j in r.failure.example.junk)
    assert r.failure.example.mask == 1 and r.failure.example.pending == 0
