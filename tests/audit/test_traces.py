"""OpenTelemetry traces of client calls, received by a real OTLP/HTTP endpoint.

A gateway process (uvicorn, with its audit writer process) exports to a small OTLP/HTTP
receiver in the test, which decodes each `ExportTraceServiceRequest` with opentelemetry-proto
as a collector would. Each call must arrive as one trace under its correlation id, its hops as
spans with the times the log recorded and the right parent, and nothing it carried.
"""

import time
from collections import defaultdict
from urllib.parse import urlsplit

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from audit.models import LogEntry
from tests.audit.observed import ObservedGateway, make_calls
from tests.audit.otlp_receiver import Receiver, attributes

pytestmark = pytest.mark.django_db(transaction=True)

ATTRIBUTES = (
    {
        "gatehouse.workspace_id",
        "gatehouse.gateway",
        "gatehouse.hop",
        "gatehouse.outcome",
        "gatehouse.correlation_id",
        "gatehouse.client.name",
        "gatehouse.client.version",
        "gatehouse.server",
        "gatehouse.assignment_id",
        "gatehouse.identity_scheme",
        "gatehouse.reason",
        "mcp.method.name",
        "mcp.protocol.version",
        "gen_ai.tool.name",
        "gen_ai.operation.name",
        "jsonrpc.request.id",
        "rpc.response.status_code",
        "error.type",
        "network.transport",
        "network.protocol.name",
        "server.address",
        "server.port",
    }
    | {f"gatehouse.rule.{key}" for key in ("rule", "detector", "action", "direction", "mode")}
    | {"gatehouse.rule.applied"}
)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def observed(acme, alice, bob, echo_upstream, settings, tmp_path, receiver):
    return ObservedGateway(
        acme=acme,
        alice=alice,
        bob=bob,
        upstream_url=echo_upstream,
        settings=settings,
        var_dir=tmp_path,
        env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "50"},
    )


def nanos(entry: LogEntry) -> int:
    return int(entry.at.timestamp() * 1e9)


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_each_call_is_a_trace_of_its_hops_with_real_times_and_no_payloads(
    observed, receiver, writer, echo_upstream
):
    observed.env["AUDIT_WRITER"] = writer
    worker = observed.worker().start()
    try:
        # One call answered, one JSON-RPC error (an unknown tool), one a request rule blocked.
        make_calls(worker.url, observed.token, ok=1)
        received = receiver.wait_for(5)
    finally:
        worker.stop()
    time.sleep(0.2)
    assert len(receiver.spans()) == 5, "a span was exported twice"
    assert {resource["service.name"] for resource, _ in received} == {"gatehouse"}
    spans = [span for _, span in received]

    log = defaultdict(dict)
    for entry in LogEntry.objects.order_by("seq"):
        log[entry.correlation_id.hex][entry.hop] = entry
    traces = defaultdict(list)
    for span in spans:
        traces[span.trace_id.hex()].append(span)
    # One trace per call, named by the call's correlation id.
    assert traces.keys() == log.keys() and len(traces) == 3
    outcomes = {}
    for trace_id, members in traces.items():
        hops = log[trace_id]
        (root,) = [span for span in members if not span.parent_span_id]
        assert root.kind == Span.SPAN_KIND_SERVER
        # The client hop runs from the request's arrival to the answer, as the log has them.
        assert root.start_time_unix_nano == pytest.approx(nanos(hops["client.request"]), abs=2000)
        assert root.end_time_unix_nano == pytest.approx(nanos(hops["client.response"]), abs=2000)
        assert root.end_time_unix_nano > root.start_time_unix_nano
        root_attributes = attributes(root.attributes)
        outcomes[root_attributes["gatehouse.outcome"]] = (root, root_attributes, members, hops)
        for span in members:
            assert span.trace_id == root.trace_id
            if span is not root:
                assert span.parent_span_id == root.span_id
                assert root.start_time_unix_nano <= span.start_time_unix_nano
                assert span.end_time_unix_nano <= root.end_time_unix_nano
        assert len({span.span_id for span in members}) == len(members)

    root, root_attributes, members, hops = outcomes["ok"]
    assert root.name == "tools/call a__echo"
    assert root_attributes["gen_ai.tool.name"] == "a__echo"
    assert root_attributes["gatehouse.gateway"] == "metered"
    # The OpenTelemetry MCP semantic conventions.
    assert root_attributes["gen_ai.operation.name"] == "execute_tool"
    assert root_attributes["mcp.protocol.version"] == "2026-07-28"
    assert root_attributes["network.transport"] == "tcp"
    assert root_attributes["jsonrpc.request.id"] == hops["client.response"].rpc_id
    assert root_attributes["gatehouse.correlation_id"] == root.trace_id.hex()
    assert "error.type" not in root_attributes
    (upstream,) = [span for span in members if span is not root]
    assert upstream.kind == Span.SPAN_KIND_CLIENT
    assert upstream.name == "tools/call echo"
    upstream_attributes = attributes(upstream.attributes)
    assert upstream_attributes["gatehouse.server"] == "echo"
    assert upstream_attributes["gen_ai.tool.name"] == "echo"
    upstream_url = urlsplit(echo_upstream)
    assert upstream_attributes["server.address"] == upstream_url.hostname
    assert upstream_attributes["server.port"] == upstream_url.port
    # The upstream hop starts when the request went out and lasts the latency it measured.
    assert upstream.start_time_unix_nano == pytest.approx(nanos(hops["upstream.request"]), abs=2000)
    measured = hops["upstream.response"].latency_ms * 1e6
    duration = upstream.end_time_unix_nano - upstream.start_time_unix_nano
    assert duration == pytest.approx(measured, abs=2000)

    root, root_attributes, members, hops = outcomes["error"]
    assert root_attributes["rpc.response.status_code"] == "-32602"
    assert root_attributes["error.type"] == "-32602"
    assert root.status.code == Status.STATUS_CODE_ERROR
    assert members == [root]

    root, root_attributes, members, hops = outcomes["blocked"]
    (rule,) = [span for span in members if span is not root]
    rule_attributes = attributes(rule.attributes)
    assert rule.name == "rule no-etc"
    assert rule_attributes["gatehouse.rule.action"] == "block"
    assert rule_attributes["gatehouse.rule.applied"] is True
    assert rule.start_time_unix_nano == pytest.approx(nanos(hops["policy.action"]), abs=2000)

    # Names, ids and codes only: no argument, result, person or token anywhere in what was sent.
    for span in spans:
        assert set(attributes(span.attributes)) <= ATTRIBUTES
    sent = b"".join(receiver.bodies)
    for secret in (b"hello 0", b"/etc/passwd", b"bob@acme.test", observed.token.encode()):
        assert secret not in sent


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_a_graceful_stop_exports_the_spans_still_batched(observed, receiver, writer):
    # Spans wait for a minute in the exporter's batch; stopping the server must send them.
    observed.env.update(AUDIT_WRITER=writer, OTEL_BSP_SCHEDULE_DELAY="60000")
    worker = observed.worker().start()
    try:
        make_calls(worker.url, observed.token, ok=2)
        time.sleep(0.5)
        assert receiver.spans() == []
    finally:
        worker.stop()
    # Two answered calls (two spans each), an error (one) and a blocked call (two).
    spans = receiver.wait_for(7, timeout=5)
    assert len(spans) == 7
    assert len({span.trace_id for _, span in spans}) == 4


def test_a_ratio_sampler_keeps_whole_calls(observed, receiver):
    observed.env.update(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.5")
    worker = observed.worker().start()
    try:
        make_calls(worker.url, observed.token, ok=10)
    finally:
        worker.stop()
    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    correlations = set(LogEntry.objects.values_list("correlation_id", flat=True))
    sampled = {c.hex for c in correlations if c.int & TraceIdRatioBased.TRACE_ID_LIMIT < bound}
    traces = defaultdict(list)
    for _, span in receiver.spans():
        traces[span.trace_id.hex()].append(span)
    # The calls the ratio picks by their trace id, each with every span; none of the others.
    assert traces.keys() == sampled
    for trace_id, members in traces.items():
        hops = set(LogEntry.objects.filter(correlation_id=trace_id).values_list("hop", flat=True))
        expected = len(hops & {"client.response", "upstream.response", "policy.action"})
        assert len(members) == expected
