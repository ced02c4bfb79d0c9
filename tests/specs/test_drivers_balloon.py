"""The shipped balloon driver, pvdsl/specs/drivers/balloon.pv, as the
compiler sees it (its behaviour on the emulated vCPU is
tests/runtime/guest/test_balloon_driver.py; the fuzzer's acceptance run,
tests/fuzz/test_shipped.py, takes every file of pvdsl/specs/drivers/):

- `pvdsl check` reports nothing; `pvdsl build --target all` makes exactly
  the four Xen targets, each object with one table whose slots point at the
  backend's hooks in the table's order;
- the objects call memory_op and nothing else, no privileged hypercall, and
  need only the hypercall page from the kernel;
- every variable the module's header tells the kernel to read is in the
  object, one word wide;
- the batch is one page of xen_pfn_t per arch, and the states are Linux's.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from pvdsl.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SPEC = "pvdsl/specs/drivers/balloon.pv"
XEN_TARGETS = {"i386-domu", "i386-dom0", "x86_64-domu", "x86_64-dom0"}
WORD = {"i386": 4, "x86_64": 8}
HOOKS = ["init", "set_target", "process", "increase_reservation", "decrease_reservation", "set_limits",
         "current_pages", "target_pages", "ballooned_pages", "floor_pages", "initialised", "current_reservation"]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.chdir(REPO), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main(list(argv))
    return status, out.getvalue()


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("balloon-build")
    status, text = run("build", SPEC, "--target", "all", "-o", str(out))
    assert status == 0, text
    return {json.loads(p.read_text())["target"]: json.loads(p.read_text()) for p in out.glob("*.manifest.json")}


def abi(arch: str) -> dict:
    status, out = run("abi", SPEC, "--arch", arch, "--json")
    assert status == 0, out
    return json.loads(out)


def test_checks_clean():
    assert run("check", SPEC) == (0, "")


def test_built_for_every_xen_target_and_no_other(manifests):
    assert set(manifests) == XEN_TARGETS
    for target, m in manifests.items():
        assert m["backend"] == "xen_balloon" and set(m["tables"]) == {"xen_balloon_ops"}, target
        slots = [(s["slot"], s["hook"], s["symbol"], s["source"]) for s in m["tables"]["xen_balloon_ops"]]
        assert slots == [(i, h, f"xen_balloon_{h}", "impl") for i, h in enumerate(HOOKS)], target


def test_table_slots_follow_the_declaration():
    for arch in WORD:
        table = abi(arch)["tables"]["xen_balloon_ops"]
        assert [(h["slot"], h["hook"]) for h in table] == list(enumerate(HOOKS)), arch


def test_only_memory_op_and_the_hypercall_page(manifests):
    for target, m in manifests.items():
        assert [(u["name"], u["number"]) for u in m["hypercalls_used"]] == [("memory_op", 12)], target
        assert sorted(m["undefined"]) == ["hypercall_page"] + sorted(m["runtime_library_calls"]), target


def test_header_names_every_variable_the_kernel_reads(manifests):
    text = (REPO / SPEC).read_text()
    listing = text[text.index("What the kernel reads back"):text.index("The getter hooks")]
    documented = set(re.findall(r"\bballoon_\w+\b(?!\.)", listing))  # not Linux's balloon_stats.
    assert {"balloon_current_pages", "balloon_target_pages", "balloon_low", "balloon_high",
            "balloon_schedule_delay", "balloon_retry_count", "balloon_pool_len",
            "balloon_nr_ballooned"} <= documented
    for target, m in manifests.items():
        variables = m["variables"]
        missing = documented - set(variables)
        assert not missing, (target, missing)
        word = WORD[m["arch"]]
        for name in documented - {"balloon_ready"}:
            assert variables[name]["size"] == word, (target, name)


@pytest.mark.parametrize("arch", sorted(WORD))
def test_batch_is_one_page_of_frames_and_states_are_linux(arch):
    c = abi(arch)["consts"]
    assert c["FRAME_LIST_LEN"] * WORD[arch] == c["PAGE_SIZE"] == 4096
    assert [c[f"BP_{s}"] for s in ("DONE", "WAIT", "EAGAIN", "ECANCELED")] == [0, 1, 2, 3]
    assert c["INVALID_P2M_ENTRY"] == (1 << 8 * WORD[arch]) - 1
    assert c["MIB_PAGES"] << c["PAGE_SHIFT"] == 1 << 20
