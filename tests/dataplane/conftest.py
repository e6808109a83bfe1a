"""Fixtures of the data-plane tests; the live gateway itself is in tests/support/live_gateway.py."""

import pytest

from tests.dataplane.bounded_upstream import BoundedUpstream
from tests.support.live import ThreadedServer


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Every data-plane test starts and ends with an empty cache."""


@pytest.fixture(scope="module")
def bounded_upstream():
    """A raw upstream that pushes a call's bounds (tests/dataplane/bounded_upstream.py), served
    on a real socket for the module."""
    upstream = BoundedUpstream()
    server = ThreadedServer(upstream.app).start()
    upstream.url = server.url
    yield upstream
    server.stop()
