"""Across workers: a connector on one worker serves calls that arrive at another (Redis)."""

import os
import time
import uuid

import pytest

from tests.support.database import database_url
from tests.support.parallel_workers import redis_url
from tests.support.processes import port_is_open, start_asgi_worker

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def two_workers(personal, settings, tmp_path):
    """Two uvicorn workers of the whole application sharing one Redis; each (process, base URL)."""
    if not port_is_open(6379):
        pytest.skip("the multi-worker set-up needs Redis on 127.0.0.1:6379")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url(14),
        "CACHE_KEY_PREFIX": f"workstations-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": settings.SECRET_KEY,
        "GATEHOUSE_VAR_DIR": str(tmp_path),
        "UPSTREAM_LIST_DEADLINE_SECONDS": "30",
        "UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS": "30",
        "UPSTREAM_DISCOVERY_TIMEOUT_SECONDS": "30",
    }
    workers = []
    try:
        for _ in range(2):
            workers.append(start_asgi_worker(env))
        yield workers
    finally:
        for connector in personal.connectors:
            connector.stop()
        for process, _ in workers:
            process.stop()


def test_a_connector_on_one_worker_serves_calls_on_another(personal, two_workers, bob):
    (_, worker_a), (_, worker_b) = two_workers
    connector = personal.connector(bob, mark="bob-laptop", base=worker_a)

    result = personal.call(bob, url=f"{worker_b}/mcp/acme/ws")

    assert result.content[0].text.startswith("bob-laptop ")
    assert len(connector.pids()) == 1
    # The other person, with no connector anywhere, is told how to start one.
    erin = personal.person("erin@acme.test")
    missing = personal.call(erin, url=f"{worker_a}/mcp/acme/ws")
    assert missing.is_error and "gatehouse-connect" in missing.content[0].text


def test_a_stopping_worker_stops_the_children_it_had_started(personal, two_workers, bob):
    (_, worker_a), (process_b, worker_b) = two_workers
    connector = personal.connector(bob, mark="bob-laptop", base=worker_a)
    assert personal.call(bob, url=f"{worker_b}/mcp/acme/ws").content[0].text.startswith("bob")
    (sid,) = connector.children

    process_b.stop()

    # Worker B closed its session on the way out; the connector, on worker A, heard it.
    deadline = time.monotonic() + 10
    while sid in connector.children and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {"type": "close", "session": sid} in connector.frames
    assert connector.children == {}
