"""The acceptance run: every hook of the shipped backends, the drivers and
the examples passes every oracle on every target (with fewer examples per hook
than the CLI's default, to keep the suite short)."""

from pathlib import Path

from pvdsl.arch import TARGETS
from pvdsl.fuzz.campaign import Options
from pvdsl.fuzz.driver import collect, merge

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(str(p) for p in (ROOT / "pvdsl/specs/backends").glob("*.pv")) + \
    sorted(str(p) for p in (ROOT / "pvdsl/specs/drivers").glob("*.pv")) + \
    sorted(str(p) for p in (ROOT / "examples").glob("*.pv"))


def test_shipped_backends_and_examples_pass_on_every_target():
    opts = Options(targets=list(TARGETS), examples=40, seed=0)
    results, reports, errors = merge(collect(SPECS, opts, jobs=2), opts)
    assert not errors, errors
    failed = [reports.get(r.key, r.reason) for r in results if r.status == "fail"]
    assert not failed, "\n\n".join(failed)
    skipped = [r for r in results if r.status == "skipped"]
    assert all(r.reason for r in skipped)
    by_target = {t: {r.hook for r in results if r.target == t and not r.hook.startswith("law ")} for t in TARGETS}
    # Every table slot of the shipped backends is exercised: the six pv_ops
    # tables (and xen_dom0_ops on dom0) hold about a hundred hooks per target.
    for t, hooks in by_target.items():
        assert len(hooks) >= 90, (t, len(hooks))
    assert any(r.hook.startswith("law ") and r.status == "pass" for r in results)
    assert any(r.target.startswith("cross-arch") and r.status == "pass" for r in results)
    assert sum(r.executions for r in results) > 25_000


def test_the_suspend_driver_passes_at_the_clis_default_on_both_domu_targets():
    """With the CLI's 300 examples a start_info naming a store frame outside
    the guest and a console frame beyond the M2P's mapped part came up: the
    compiler had sunk the console's M2P read past the store's check, so the
    compiled hook refused where the source (and the reference interpreter)
    read first and faulted. The driver now checks one frame before reading
    the next."""
    spec = str(ROOT / "pvdsl/specs/drivers/suspend.pv")
    opts = Options(targets=["i386-domu", "x86_64-domu"], examples=300, seed=0)
    results, reports, errors = merge(collect([spec], opts, jobs=1), opts)
    assert not errors, errors
    assert [r.status for r in results] == ["pass", "pass"], [reports.get(r.key, r.reason) for r in results]
