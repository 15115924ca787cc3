"""Fixtures of the simulator tests."""

from __future__ import annotations

import pytest
from simtest_helpers import StubPolicy


@pytest.fixture
def stub_policy() -> StubPolicy:
    """A deterministic greedy policy (no solver needed)."""
    return StubPolicy()
