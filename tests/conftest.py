"""Shared fixtures.  Tests that read ``../shared`` (real traces and listings made by others on
real GPUs) skip cleanly when it is absent, as it is in a user's clone."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_traces() -> Path:
    d = SHARED / "traces"
    if not d.is_dir():
        pytest.skip("../shared/traces is not present (only CI and developer machines have it)")
    return d


@pytest.fixture(scope="session")
def shared_research() -> Path:
    d = SHARED / "research"
    if not d.is_dir():
        pytest.skip("../shared/research is not present")
    return d
