"""Prometheus metrics for operators, scraped over HTTP from gateway processes.

Gateway processes (uvicorn, each with its audit writer process) serve real calls: successful
ones, a JSON-RPC error and one a rule blocks. `/metrics` is then scraped as Prometheus would and
parsed with prometheus_client's own parser; the counts must be exact, whichever process served
the calls and whichever writer counted them.
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from audit.models import LogEntry
from tests.audit.load_run import META
from tests.audit.observed import ObservedGateway, call_tool, make_calls, request

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-scrape-token"
PLACE = {"workspace": "acme", "gateway": "metered"}


@pytest.fixture
def observed(acme, alice, bob, echo_upstream, settings, tmp_path):
    return ObservedGateway(
        acme=acme,
        alice=alice,
        bob=bob,
        upstream_url=echo_upstream,
        settings=settings,
        var_dir=tmp_path,
        env={"METRICS_TOKEN": TOKEN, "METRICS_DIR": str(tmp_path / "metrics")},
    )


def scrape(port: int, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=10)


def samples(port: int) -> dict[tuple[str, frozenset], float]:
    reply = scrape(port)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def settled(port: int, *, answered: int, timeout: float = 20) -> dict:
    """The scrape once the writers counted the `answered` calls and every entry in the log
    (writers count a batch once it is committed, a moment after the call was answered) and the
    servers saw the commit acknowledged."""
    deadline = time.monotonic() + timeout
    while True:
        found = samples(port)
        counted = sum(v for (name, _), v in found.items() if name == "gatehouse_calls_total")
        written = value(found, "gatehouse_audit_entries_written_total")
        pending = value(found, "gatehouse_audit_pending_entries")
        if counted >= answered and written >= LogEntry.objects.count() and not pending:
            return found
        assert time.monotonic() < deadline, f"metrics never counted {answered} calls: {found}"
        time.sleep(0.05)


def calls(found: dict, outcome: str) -> float:
    return value(found, "gatehouse_calls_total", **PLACE, method="tools/call", outcome=outcome)


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_calls_errors_blocked_and_latency_are_counted_exactly(observed, writer):
    observed.env["AUDIT_WRITER"] = writer
    worker = observed.worker().start()
    try:
        # A caller the gateway refuses: no call, one refusal (logged, so counted, before the
        # calls that follow it).
        refused = httpx.post(worker.url, json={}, headers={"Authorization": "Bearer gth_wrong"})
        assert refused.status_code == 401
        make_calls(worker.url, observed.token, ok=3)
        # A method MCP does not have: a name a client makes up never becomes a label.
        unknown = request(worker.url, observed.token, "vendor/x-1234", {"_meta": META})
        assert unknown["error"]["code"] == -32601
        found = settled(worker.port, answered=6)
        logged = LogEntry.objects.count()
    finally:
        worker.stop()
    # One call per JSON-RPC answer the client got, by outcome.
    assert (calls(found, "ok"), calls(found, "error"), calls(found, "blocked")) == (3, 1, 1)
    assert (
        value(found, "gatehouse_call_errors_total", **PLACE, method="tools/call", code="-32602")
        == 1
    )
    assert value(found, "gatehouse_blocked_total", **PLACE, reason="request_rule") == 1
    assert value(found, "gatehouse_blocked_total", **PLACE, reason="auth") == 1
    # Every call has its latency in the histogram; all were quicker than a minute.
    latency = {**PLACE, "method": "tools/call"}
    assert value(found, "gatehouse_call_duration_seconds_count", **latency) == 5
    assert value(found, "gatehouse_call_duration_seconds_bucket", **latency, le="60.0") == 5
    assert value(found, "gatehouse_call_duration_seconds_bucket", **latency, le="+Inf") == 5
    assert 0 < value(found, "gatehouse_call_duration_seconds_sum", **latency) < 5 * 60
    # Only the successful calls reached the upstream, and the tool is a label there alone.
    upstream = {**PLACE, "server": "echo", "method": "tools/call", "tool": "a__echo"}
    assert value(found, "gatehouse_upstream_calls_total", **upstream, outcome="ok") == 3
    assert value(found, "gatehouse_upstream_duration_seconds_count", **PLACE, server="echo") == 3
    # The writer's own health: every stored entry counted once, nothing skipped, nothing waiting.
    assert value(found, "gatehouse_audit_entries_written_total") == logged
    assert value(found, "gatehouse_audit_entries_skipped_total") == 0
    assert value(found, "gatehouse_audit_pending_entries") == 0
    assert value(found, "gatehouse_audit_writer_restarts_total") == 0
    # Bounded labels: no person, token, session or argument anywhere in the exposition.
    labels = {label for (_, pairs) in found for label, _ in pairs}
    bounded = {"workspace", "gateway", "method", "outcome", "code", "reason", "server", "tool"}
    assert labels <= bounded | {"le"}
    other = {**PLACE, "method": "other", "outcome": "error"}
    assert value(found, "gatehouse_calls_total", **other) == 1
    assert "x-1234" not in str(found)
    assert "bob" not in str(found) and "hello" not in str(found) and "/etc" not in str(found)


def test_a_scrape_needs_the_metrics_token(observed):
    worker = observed.worker().start()
    try:
        refused = [scrape(worker.port, token=None), scrape(worker.port, token="wrong")]
        accepted = scrape(worker.port)
    finally:
        worker.stop()
    assert [reply.status_code for reply in refused] == [401, 401]
    assert refused[0].headers["www-authenticate"].startswith("Bearer")
    assert "gatehouse" not in refused[0].text + refused[1].text
    assert accepted.status_code == 200


def test_without_a_metrics_token_there_is_no_metrics_page(observed, tmp_path):
    observed.env.pop("METRICS_TOKEN")
    worker = observed.worker().start()
    try:
        make_calls(worker.url, observed.token, ok=1)
        status = scrape(worker.port).status_code
    finally:
        worker.stop()
    assert status == 404
    assert not (tmp_path / "metrics").exists()


def test_workers_and_their_writers_add_up_across_restarts_and_a_new_run_starts_afresh(
    observed, tmp_path
):
    # Two server processes (each with its writer process) share the metrics directory, as the
    # workers of `serve --workers N` do; a file left by an earlier run is cleared at start-up.
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_4242.db").write_bytes(b"left by an earlier run")
    first, second = observed.worker().start(), observed.worker().start()
    try:
        make_calls(first.url, observed.token, ok=2)
        make_calls(second.url, observed.token, ok=1)
        found = settled(second.port, answered=7)
        assert (calls(found, "ok"), calls(found, "error"), calls(found, "blocked")) == (3, 2, 2)
        assert not (directory / "counter_4242.db").exists()
        # A worker restarted while the other runs joins the run: nothing is cleared, and what
        # the stopped processes counted still counts.
        first.stop()
        first.start()
        make_calls(first.url, observed.token, ok=1)
        found = settled(first.port, answered=10)
        assert (calls(found, "ok"), calls(found, "error"), calls(found, "blocked")) == (4, 3, 3)
        assert value(found, "gatehouse_audit_entries_written_total") == LogEntry.objects.count()
        assert value(found, "gatehouse_audit_pending_entries") == 0
    finally:
        first.stop()
        second.stop()
    # Once every process of the run is gone, the next start begins a new run from zero.
    fresh = observed.worker().start()
    try:
        found = samples(fresh.port)
    finally:
        fresh.stop()
    assert (calls(found, "ok"), calls(found, "error"), calls(found, "blocked")) == (0, 0, 0)


def test_the_workers_of_serve_add_up(observed, tmp_path):
    # `manage.py serve --workers 2`: two uvicorn workers on one socket, started together, each
    # with its writer process; the kernel spreads the connections between them.
    server = observed.worker()
    server.argv = [sys.executable, "manage.py", "serve", "--port", str(server.port)]
    server.argv += ["--workers", "2"]
    server.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(
                    lambda n: call_tool(server.url, observed.token, "a__echo", {"text": str(n)}),
                    range(24),
                )
            )
        assert all("result" in answer for answer in answers)
        make_calls(server.url, observed.token, ok=0)
        # Whichever worker answers the scrape, it reports both.
        scrapes = [settled(server.port, answered=26) for _ in range(4)]
    finally:
        server.stop()
    for found in scrapes:
        assert (calls(found, "ok"), calls(found, "error"), calls(found, "blocked")) == (24, 1, 1)
        assert value(found, "gatehouse_audit_entries_written_total") == LogEntry.objects.count()
    writers = {path.name for path in (tmp_path / "metrics").glob("counter_*.db")}
    print(f"\nprocesses that counted: {sorted(writers)}")
