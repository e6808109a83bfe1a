"""Fixtures of the audit tests: a way to write calls to the log, a webhook receiver for sinks and
alerts, and a live echo upstream."""

import pytest

from audit.log.recorder import write_entries
from tests.audit.load_run import start_upstream
from tests.audit.webhook_receiver import Receiver
from tests.support.audit_entries import call_hops


@pytest.fixture
def write_calls():
    """`write_calls(workspace, n, **kw)`: write n calls (4 hops each) synchronously."""

    def write(workspace, n=1, **kwargs):
        hops = [h for _ in range(n) for h in call_hops(workspace, **kwargs)]
        write_entries(hops)
        return hops

    return write


@pytest.fixture
def receiver():
    """A webhook receiver on loopback (tests/audit/webhook_receiver.py)."""
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def echo_upstream():
    """A stateless echo MCP server over Streamable HTTP, shared by the live-gateway tests."""
    process, url = start_upstream()
    yield url
    process.stop()
