"""`/healthz`, `/readyz` and the answer gate of a real server process whose audit writer is not
ready, falls behind because the log table is locked, or is killed and replaced."""

import json
import os
import signal
import time

import httpx
import pytest
from django.db import connection, transaction

from audit.models import LogEntry
from tests.audit.load_run import META, Worker
from tests.audit.test_load_export import TOOL, LoadGateway
from tests.support.processes import children_of, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gateway(acme, alice, bob, echo_upstream, settings, tmp_path):
    gateway = LoadGateway(acme, alice, bob, echo_upstream, settings, tmp_path)
    gateway.env.update(
        AUDIT_FLUSH_MS="50", AUDIT_DURABILITY_WINDOW_MS="200", AUDIT_ANSWER_WAIT_MS="300"
    )
    return gateway


def _call(worker: Worker, token: str, rpc_id: int) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": TOOL,
    }
    body = {
        "jsonrpc": "2.0",
        "id": rpc_id,
        "method": "tools/call",
        "params": {"name": TOOL, "arguments": {"text": f"call {rpc_id}"}, "_meta": META},
    }
    return httpx.post(worker.url, content=json.dumps(body), headers=headers, timeout=30)


def _base(worker: Worker) -> str:
    return worker.url.split("/mcp/")[0]


def _first_line(response: httpx.Response) -> str:
    return response.text.splitlines()[0]


def _wait_for(worker: Worker, status: int) -> httpx.Response:
    # Another process's state: polled, with a deadline.
    deadline = time.monotonic() + 30
    while (response := httpx.get(f"{_base(worker)}/readyz")).status_code != status:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.02)
    return response


def test_readyz_is_503_until_the_audit_writer_is_ready(gateway, tmp_path):
    # The writer process cannot open this database, so it never says it is ready; start-up
    # waits for it only so long.
    missing = tmp_path / "no-such-directory" / "log.sqlite3"
    gateway.env.update(
        DATABASE_URL=f"sqlite:///{missing}", AUDIT_WRITER_START_TIMEOUT_SECONDS="0.5"
    )
    (worker,) = gateway.workers(1)
    worker.start()
    try:
        base = _base(worker)
        # A probe names the server by its own address, which ALLOWED_HOSTS does not list.
        alive = httpx.get(f"{base}/healthz", headers={"Host": "10.1.2.3:8000"})
        assert (alive.status_code, alive.text) == (200, "ok\n")
        assert httpx.post(f"{base}/healthz").status_code == 405
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        assert _first_line(ready) == "starting: the audit writer is not ready"
        assert ready.headers["retry-after"] == "1"
    finally:
        worker.process.stop()


def test_readyz_names_every_dependency_it_checked(gateway):
    (worker,) = gateway.workers(1)
    worker.start()
    try:
        ready = httpx.get(f"{_base(worker)}/readyz")
    finally:
        worker.stop()
    assert ready.status_code == 200
    assert ready.text.splitlines() == [
        "ready",
        "audit writer: ok",
        "database: ok",
        "cache: ok",
        "channel layer: ok",
    ]


def test_readyz_is_503_while_redis_does_not_answer(gateway):
    # Nothing listens on this port: the cache and the channel layer cannot be reached.
    port = free_port()
    gateway.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    gateway.env["CELERY_TASK_ALWAYS_EAGER"] = "1"
    (worker,) = gateway.workers(1)
    worker.start()
    try:
        alive = httpx.get(f"{_base(worker)}/healthz")
        not_ready = httpx.get(f"{_base(worker)}/readyz")
    finally:
        worker.stop()
    assert (alive.status_code, alive.text) == (200, "ok\n")
    assert not_ready.status_code == 503
    assert not_ready.headers["retry-after"] == "1"
    # The probe is public: it says which service, never where it is or what it said.
    assert not_ready.text.splitlines() == [
        "unavailable: cache: does not answer",
        "audit writer: ok",
        "database: ok",
        "cache: does not answer",
        "channel layer: does not answer",
    ]
    assert str(port) not in not_ready.text


def test_calls_wait_for_a_writer_that_fell_behind_then_are_refused(gateway, acme):
    gateway.env["METRICS_TOKEN"] = "metrics-token"
    (worker,) = gateway.workers(1)
    worker.start()
    try:
        assert _first_line(httpx.get(f"{_base(worker)}/readyz")) == "ready"
        assert _call(worker, gateway.token, 1).status_code == 200
        with transaction.atomic():
            # The writer cannot commit while the log table is locked; readers go on.
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {LogEntry._meta.db_table} IN EXCLUSIVE MODE")
            else:
                LogEntry.objects.filter(pk=0).update(hop="")  # takes SQLite's write lock
            first = _call(worker, gateway.token, 2)
            assert first.status_code == 200, first.text
            behind = _wait_for(worker, 503)
            assert behind.text.startswith("behind: the audit writer is ")
            refused = _call(worker, gateway.token, 3)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["code"] == -32030
            assert refused.json()["id"] == 3
        _wait_for(worker, 200)
        assert _call(worker, gateway.token, 4).status_code == 200
        # Operators see it: the answer held back and refused is counted.
        scraped = httpx.get(
            f"{_base(worker)}/metrics", headers={"Authorization": "Bearer metrics-token"}
        ).text
        assert "gatehouse_audit_answers_refused_total 1.0" in scraped
        assert "gatehouse_audit_answers_held_total" in scraped
    finally:
        worker.stop()
    # The refused call never reached the upstream; the others are whole in the log.
    logged = LogEntry.objects.for_workspace(acme).filter(hop="client.response")
    assert sorted(logged.values_list("rpc_id", flat=True)) == ["1", "2", "4"]


def test_calls_wait_while_a_crashed_writer_process_is_replaced(gateway, acme):
    gateway.env["AUDIT_ANSWER_WAIT_MS"] = "10000"
    (worker,) = gateway.workers(1)
    worker.start()
    try:
        assert _call(worker, gateway.token, 1).status_code == 200
        (writer,) = children_of(worker.process.pid)
        os.kill(writer, signal.SIGKILL)
        started = _wait_for(worker, 503)
        assert _first_line(started) == "starting: the audit writer is not ready"
        answered = [_call(worker, gateway.token, rpc_id) for rpc_id in range(2, 12)]
        assert all(reply.status_code == 200 for reply in answered)
        assert _first_line(httpx.get(f"{_base(worker)}/readyz")) == "ready"
        assert children_of(worker.process.pid) != [writer]
    finally:
        worker.stop()
    logged = LogEntry.objects.for_workspace(acme).filter(hop="client.response")
    assert sorted(logged.values_list("rpc_id", flat=True), key=int) == [
        str(n) for n in range(1, 12)
    ]
