"""build_backends_cached: the same build again while nothing it read has
changed; a new build when the spec, a file it imports, or the .pv files
beside it change."""

from __future__ import annotations

import shutil
from pathlib import Path

from pvdsl.arch import TARGETS
from pvdsl.runtime.session.machine import build_backends_cached

ROOT = Path(__file__).resolve().parents[3]


def test_a_build_is_reused_until_a_file_it_read_changes(tmp_path):
    spec = tmp_path / "irq.pv"
    shutil.copy(ROOT / "examples" / "irq.pv", spec)
    target = TARGETS["x86_64-domu"]
    first = build_backends_cached(spec, target)
    assert first and build_backends_cached(str(spec), target) is first
    assert build_backends_cached(spec, TARGETS["i386-domu"]) is not first  # per target
    spec.write_text(spec.read_text() + "\n// edited\n")
    second = build_backends_cached(spec, target)
    assert second is not first and build_backends_cached(spec, target) is second
    (tmp_path / "other.pv").write_text("// a new file an import could find\n")
    assert build_backends_cached(spec, target) is not second
