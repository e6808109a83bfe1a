"""Trace context (SEP-414) through a real gateway: from the client's `params._meta` into the
call's spans, and on to each upstream in its request's `params._meta`.

A gateway process (uvicorn, with its audit writer) serves `acme/metered`, with namespace `a` on
a 2026-07-28-only upstream and `h` on a handshake-era-only one; both answer `trace_meta` with
the `_meta` they received (tests/upstreams/trace_meta_server.py). Clients of both eras call
over raw HTTP. Spans go to a real OTLP/HTTP receiver, decoded as a collector would.
"""

import json
import os
import time

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from audit.models import LogEntry
from gateways import services as gateway_services
from gateways.models import Gateway
from servers import services as server_services
from tests.audit.load_run import META
from tests.audit.observed import ObservedGateway, request
from tests.audit.otlp_receiver import Receiver, attributes

pytestmark = pytest.mark.django_db(transaction=True)

TRACESTATE = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
BAGGAGE = "userId=alice,serverNode=DF%2028,isProduction=false"
HANDSHAKE = "2025-11-25"


@pytest.fixture
def collector():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def make_gateway(acme, alice, bob, upstream_servers, settings, tmp_path, env) -> ObservedGateway:
    observed = ObservedGateway(
        acme=acme,
        alice=alice,
        bob=bob,
        upstream_url=upstream_servers.trace_meta(era="modern"),
        settings=settings,
        var_dir=tmp_path,
        env=env,
    )
    older = server_services.create_server(
        workspace=acme, name="older", url=upstream_servers.trace_meta(era="handshake"), actor=alice
    )
    gateway = Gateway.objects.get(workspace=acme, slug="metered")
    gateway_services.assign_server(gateway=gateway, server=older, namespace="h", actor=alice)
    return observed


@pytest.fixture
def traced(acme, alice, bob, upstream_servers, settings, tmp_path, collector):
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    return make_gateway(acme, alice, bob, upstream_servers, settings, tmp_path, env)


@pytest.fixture
def untraced(acme, alice, bob, upstream_servers, settings, tmp_path):
    return make_gateway(acme, alice, bob, upstream_servers, settings, tmp_path, {})


def traceparent(trace_id: str, span_id: str, flags: str = "01") -> str:
    return f"00-{trace_id}-{span_id}-{flags}"


def new_ids() -> tuple[str, str]:
    return os.urandom(16).hex(), os.urandom(8).hex()


class ModernClient:
    """A 2026-07-28 client: every request carries its own `_meta` envelope."""

    era = "2026-07-28"

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def call(self, tool: str, meta: dict) -> tuple[dict, str]:
        params = {"name": tool, "arguments": {}, "_meta": {**META, **meta}}
        answer = request(self.url, self.token, "tools/call", params, {"Mcp-Name": tool})
        return answer["result"], str(answer["id"])


class HandshakeClient:
    """A handshake-era client: `initialize`, then requests in its `Mcp-Session-Id`."""

    era = HANDSHAKE

    def __init__(self, url: str, token: str):
        self.url, self.token, self.next_id = url, token, 1000
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        params = {
            "protocolVersion": HANDSHAKE,
            "capabilities": {},
            "clientInfo": {"name": "tracing-client", "version": "1"},
        }
        reply = self._post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
        self.headers["Mcp-Session-Id"] = reply.headers["mcp-session-id"]
        self.headers["MCP-Protocol-Version"] = HANDSHAKE
        self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _post(self, body: dict) -> httpx.Response:
        reply = httpx.post(self.url, json=body, headers=self.headers, timeout=30)
        assert reply.status_code in (200, 202), reply.text
        return reply

    def call(self, tool: str, meta: dict) -> tuple[dict, str]:
        self.next_id += 1
        params = {"name": tool, "arguments": {}, "_meta": meta}
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call", "params": params}
        reply = self._post(body)
        if reply.headers["content-type"].startswith("text/event-stream"):
            lines = [line for line in reply.text.splitlines() if line.startswith("data:")]
            message = json.loads(lines[-1].removeprefix("data:"))
        else:
            message = reply.json()
        assert message["id"] == self.next_id
        return message["result"], str(self.next_id)


def received_meta(result: dict) -> dict:
    """What the upstream's `trace_meta` saw in its request's `_meta`."""
    assert not result.get("isError"), result
    return json.loads(result["content"][0]["text"])


def logged(rpc_id: str, timeout: float = 10) -> LogEntry:
    """The call's client.request entry, once the writer has stored it."""
    deadline = time.monotonic() + timeout
    while True:
        entry = LogEntry.objects.filter(hop="client.request", rpc_id=rpc_id).first()
        if entry is not None:
            return entry
        assert time.monotonic() < deadline, f"call {rpc_id} was not logged"
        time.sleep(0.05)


def spans_of(collector: Receiver, trace_id: str) -> list[Span]:
    return [span for _, span in collector.spans() if span.trace_id.hex() == trace_id]


def test_a_clients_trace_continues_through_the_gateway_to_each_upstream(traced, collector):
    worker = traced.worker().start()
    try:
        clients = [ModernClient(worker.url, traced.token)]
        clients.append(HandshakeClient(worker.url, traced.token))
        # A client that chose not to sample: the gateway records nothing of its trace, and says
        # so to the upstream.
        quiet_trace, quiet_span = new_ids()
        quiet = traceparent(quiet_trace, quiet_span, "00")
        result, _ = clients[0].call("a__trace_meta", {"traceparent": quiet})
        unsampled = received_meta(result)["traceparent"]
        assert unsampled.startswith(f"00-{quiet_trace}-") and unsampled.endswith("-00")

        calls = []
        for client in clients:
            for namespace in ("a", "h"):
                trace_id, span_id = new_ids()
                meta = {
                    "traceparent": traceparent(trace_id, span_id),
                    "tracestate": TRACESTATE,
                    "baggage": BAGGAGE,
                }
                result, rpc_id = client.call(f"{namespace}__trace_meta", meta)
                calls.append((client.era, trace_id, span_id, received_meta(result), rpc_id))
        # Four calls of two spans each; the unsampled call, made first, would be in by now.
        collector.wait_for(8)
    finally:
        worker.stop()

    assert spans_of(collector, quiet_trace) == []
    for era, trace_id, span_id, upstream_meta, rpc_id in calls:
        # The upstream's request continues the client's trace, as a child of the gateway's
        # upstream span, with the client's tracestate and baggage as they were.
        version, upstream_trace, upstream_span, flags = upstream_meta["traceparent"].split("-")
        assert (version, upstream_trace, flags) == ("00", trace_id, "01")
        assert upstream_span not in (span_id, "0" * 16)
        assert upstream_meta["tracestate"] == TRACESTATE
        assert upstream_meta["baggage"] == BAGGAGE

        spans = spans_of(collector, trace_id)
        assert len(spans) == 2, era
        (root,) = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
        (upstream,) = [span for span in spans if span.kind == Span.SPAN_KIND_CLIENT]
        # The client hop's parent is the client's span; the upstream hop is the span the
        # upstream was told about.
        assert root.parent_span_id.hex() == span_id
        assert upstream.span_id.hex() == upstream_span
        assert upstream.parent_span_id == root.span_id
        assert root.trace_state == upstream.trace_state == TRACESTATE

        # The log keeps its own key, named on the spans, and the client's trace context.
        entry = logged(rpc_id)
        root_attributes = attributes(root.attributes)
        assert root_attributes["gatehouse.correlation_id"] == entry.correlation_id.hex
        assert entry.correlation_id.hex != trace_id
        assert entry.detail["trace"] == {
            "traceparent": traceparent(trace_id, span_id),
            "tracestate": TRACESTATE,
        }
        assert root_attributes["mcp.protocol.version"] == era
        assert ("mcp.session.id" in root_attributes) is (era == HANDSHAKE)
        assert root.name == f"tools/call {root_attributes['gen_ai.tool.name']}"
        assert upstream.name == "tools/call trace_meta"


BAD_TRACEPARENTS = [
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a version not known
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # no trace
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # no parent
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + "x" * 10_000,
    " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    {"trace": "4bf92f3577b34da6a3ce929d0e0e4736"},
]


def test_a_malformed_trace_context_is_dropped_and_the_gateways_own_goes_upstream(traced, collector):
    worker = traced.worker().start()
    calls = []
    try:
        client = ModernClient(worker.url, traced.token)
        for bad in BAD_TRACEPARENTS:
            meta = {"traceparent": bad, "tracestate": TRACESTATE, "baggage": BAGGAGE}
            result, rpc_id = client.call("a__trace_meta", meta)
            calls.append((received_meta(result), rpc_id, BAGGAGE))
        # No trace context at all; a baggage too large, then one malformed.
        for baggage in (None, "k=" + "v" * 8200, "no value here"):
            meta = {"baggage": baggage} if baggage else {}
            result, rpc_id = client.call("a__trace_meta", meta)
            calls.append((received_meta(result), rpc_id, None))
        collector.wait_for(2 * len(calls))
    finally:
        worker.stop()

    for upstream_meta, rpc_id, baggage in calls:
        # The call is a trace of its own, under its correlation id, which the upstream joins.
        correlation = logged(rpc_id).correlation_id.hex
        _, upstream_trace, upstream_span, flags = upstream_meta["traceparent"].split("-")
        assert (upstream_trace, flags) == (correlation, "01")
        assert "tracestate" not in upstream_meta
        assert upstream_meta.get("baggage") == baggage
        spans = spans_of(collector, correlation)
        (root,) = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
        (upstream,) = [span for span in spans if span.kind == Span.SPAN_KIND_CLIENT]
        assert root.parent_span_id == b""
        assert root.trace_state == ""
        assert upstream.span_id.hex() == upstream_span
        assert "trace" not in logged(rpc_id).detail


def test_a_long_tracestate_is_cut_to_what_w3c_asks_every_vendor_to_pass_on(traced, collector):
    long_member = "big=" + "x" * 200
    members = [f"v{n}=" + "y" * 61 for n in range(10)]  # 64 characters each
    worker = traced.worker().start()
    try:
        client = ModernClient(worker.url, traced.token)
        trace_id, span_id = new_ids()
        meta = {
            "traceparent": traceparent(trace_id, span_id),
            "tracestate": ",".join([members[0], long_member, *members[1:]]),
        }
        upstream_meta = received_meta(client.call("a__trace_meta", meta)[0])
        # 33 members is more than W3C allows: the tracestate goes, the traceparent stays.
        too_many = ",".join(f"k{n}=1" for n in range(33))
        meta = {"traceparent": traceparent(*new_ids()), "tracestate": too_many}
        dropped = received_meta(client.call("a__trace_meta", meta)[0])
        collector.wait_for(4)
    finally:
        worker.stop()
    # Over 512 characters: the member over 128 goes first, then members from the end.
    assert upstream_meta["tracestate"] == ",".join(members[:7])
    (root,) = [s for s in spans_of(collector, trace_id) if s.kind == Span.SPAN_KIND_SERVER]
    assert root.trace_state == ",".join(members[:7])
    assert "tracestate" not in dropped


def test_with_tracing_off_the_clients_trace_context_passes_through_as_it_came(untraced):
    worker = untraced.worker().start()
    try:
        client = ModernClient(worker.url, untraced.token)
        handshake = HandshakeClient(worker.url, untraced.token)
        valid = traceparent(*new_ids())
        meta = {"traceparent": valid, "tracestate": TRACESTATE, "baggage": BAGGAGE}
        passed = [
            received_meta(client.call("a__trace_meta", meta)[0]),
            received_meta(handshake.call("h__trace_meta", meta)[0]),
        ]
        bad = {"traceparent": BAD_TRACEPARENTS[0], "tracestate": TRACESTATE, "foo": "bar"}
        dropped = received_meta(client.call("a__trace_meta", bad)[0])
        nothing = received_meta(client.call("a__trace_meta", {})[0])
    finally:
        worker.stop()
    for upstream_meta in passed:
        assert upstream_meta == {"traceparent": valid, "tracestate": TRACESTATE, "baggage": BAGGAGE}
    # An invalid traceparent goes nowhere, nor the tracestate that came with it; other keys of
    # the client's `_meta` are its own business and pass as before.
    assert dropped == {"foo": "bar"}
    assert nothing == {}


def test_a_ratio_sampler_picks_calls_by_the_gateways_id_not_the_clients_trace(
    acme, alice, bob, upstream_servers, settings, tmp_path, collector
):
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
    }
    observed = make_gateway(acme, alice, bob, upstream_servers, settings, tmp_path, env)
    worker = observed.worker().start()
    calls = []
    try:
        client = ModernClient(worker.url, observed.token)
        for _ in range(12):
            # Low 64 bits of 0: a ratio of the client's trace id would keep every call.
            trace_id = os.urandom(8).hex() + "0" * 16
            meta = {"traceparent": traceparent(trace_id, new_ids()[1])}
            result, rpc_id = client.call("a__trace_meta", meta)
            calls.append((trace_id, received_meta(result)["traceparent"], rpc_id))
    finally:
        worker.stop()
    bound = TraceIdRatioBased.get_bound_for_rate(0.25)
    kept = {
        trace_id
        for trace_id, _, rpc_id in calls
        if logged(rpc_id).correlation_id.int & TraceIdRatioBased.TRACE_ID_LIMIT < bound
    }
    collector.wait_for(2 * len(kept))
    # The calls the ratio picks by the gateway's correlation id, still in the client's trace;
    # the upstream is told which.
    assert {span.trace_id.hex() for _, span in collector.spans()} == kept
    for trace_id, upstream_traceparent, _ in calls:
        flags = "01" if trace_id in kept else "00"
        assert upstream_traceparent.startswith(f"00-{trace_id}-")
        assert upstream_traceparent.endswith(f"-{flags}")
