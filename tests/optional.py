"""Resources some tests need from outside the repository, and what happens without them.

A test that needs a third-party file (``../shared`` beside the clone), a
headless browser or the public readers' environment calls :func:`need` or
:func:`shared_path`. Without the resource the test is skipped with the reason;
with ``LICELPUSH_STRICT=1`` in the environment (``.ci/run`` sets it) the
missing resource is a failure, so CI always runs these tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY.parent / "shared"
"""Third-party test files kept outside the repository (not redistributable)."""


def strict() -> bool:
    """True when missing optional resources must fail the run (CI)."""
    return os.environ.get("LICELPUSH_STRICT", "") == "1"


def need(available: bool, reason: str) -> None:
    """Skip the calling test with ``reason`` unless ``available`` (fail in strict mode)."""
    if available:
        return
    if strict():
        pytest.fail(f"required when LICELPUSH_STRICT=1: {reason}")
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A file under ``../shared``, or skip (fail in strict mode) when it is absent."""
    path = SHARED.joinpath(*parts)
    need(path.exists(), f"{path} is not present (third-party test data kept outside the "
                        "repository)")
    return path


def licel_real(name: str) -> Path:
    """A real instrument file from ``../shared/testdata/licel-real``; see :func:`shared_path`."""
    return shared_path("testdata", "licel-real", name)
