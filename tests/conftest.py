"""Shared pytest configuration for the pvdsl test suite."""

from __future__ import annotations

import pytest


def pytest_configure(config):
    # The parse cache of this run lives in its own directory: no test depends
    # on what an earlier run (or the user) left in ~/.cache.
    import os
    import tempfile

    os.environ["PVDSL_CACHE_DIR"] = tempfile.mkdtemp(prefix="pvdsl-parse-cache-")


def pytest_addoption(parser):
    # Golden-file tests compare output with files under tests/golden/; after an
    # intended change, rerun with this flag to rewrite them, then review the diff.
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite golden files instead of comparing against them")


@pytest.fixture
def update_goldens(request) -> bool:
    return request.config.getoption("--update-goldens")


# ---- code generation (tests/codegen, tests/target) ----

import contextlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def examples_build(tmp_path_factory) -> Path:
    """Every backend of examples/*.pv for every target, built once per session
    with `pvdsl build` from the repository root (relative source paths, so
    nothing machine-specific ends up in the outputs). Returns the output dir."""
    from pvdsl.cli.main import main

    out = tmp_path_factory.mktemp("examples-build")
    files = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "examples").glob("*.pv"))
    with contextlib.chdir(REPO_ROOT):
        status = main(["build", *files, "--target", "all", "-o", str(out), "-q"])
    assert status == 0, f"pvdsl build {' '.join(files)} --target all failed with status {status}"
    return out
