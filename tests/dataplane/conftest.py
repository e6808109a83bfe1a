"""Fixtures of the data-plane tests; the live gateway itself is in tests/support/live_gateway.py."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Every data-plane test starts and ends with an empty cache."""
