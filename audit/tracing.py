"""OpenTelemetry traces of client calls, built by the audit writer from the hops it committed.

Off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set. Like the metrics (`audit.metrics`),
spans cost the request path nothing: the writer turns each committed batch of log entries into
finished spans and hands them to the SDK's batching processor, whose thread exports them with
the OTLP/HTTP (protobuf) exporter. Every standard `OTEL_BSP_*` and `OTEL_EXPORTER_OTLP_TRACES_*`
variable (headers, timeout, compression) and `OTEL_RESOURCE_ATTRIBUTES` apply.

One trace per client call. A client that sent a valid W3C `traceparent` in `params._meta`
(SEP-414; checked by `audit.trace_context`, kept in each entry's `detail.trace`) has the call
join its trace: the trace id is the client's, the root's parent the client's span, its
`tracestate` kept. Otherwise the trace id is the call's correlation id (as in the OTLP log
sink, so a backend links a call's log records to its trace). The spans are

* the client hop (`client.request` to `client.response`), the root, kind SERVER;
* the upstream hop (`upstream.request` to `upstream.response`), kind CLIENT, its child: the
  span the upstream request named as its parent in the `traceparent` it carried;
* each rule that acted (`policy.action`) and each curation refusal (`policy.tool_filtered`),
  an instant child of the root.

Names and attributes follow the OpenTelemetry semantic conventions for MCP (span name
`{mcp.method.name} {target}`; `mcp.*`, `gen_ai.*`, `jsonrpc.request.id`,
`rpc.response.status_code`, `error.type`, `network.*`, `server.*`), with `gatehouse.*` for
what the gateway adds (workspace, gateway, correlation id, server, rule).

Spans carry real times: a response entry's `latency_ms` is measured where the hop happened and
the matching request entry gives the start (the two are paired here, off the request path; an
unpaired response starts `latency_ms` before it was recorded). The root's and the upstream
hop's span ids are derived from the correlation id (`audit.trace_context`), so children name
their parent before it has ended and the request path names the upstream span before it is
made. Attributes are names, ids and codes: never a payload, an argument, an error message, a
person or a credential. Sessions and refused authentications belong to no call and make no span.

`OTEL_TRACES_SAMPLER` chooses the calls traced, by trace id so that a call is traced whole or
not at all (`audit.trace_context.sampled`): making and encoding spans costs the writer process
more CPU than the metrics do. Traces are best effort: a span the exporter cannot keep up with
is dropped by the SDK (`OTEL_BSP_MAX_QUEUE_SIZE`); the log remains the record.
"""

import logging
import random
import threading
from collections import OrderedDict
from urllib.parse import urlsplit

from django.conf import settings
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from audit import trace_context
from audit.log.entries import session_hash

logger = logging.getLogger(__name__)

ENABLED = trace_context.ENABLED

_SCOPE = InstrumentationScope("gatehouse.audit")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
# Requests waiting for their response, to give its span a start; a call whose response never
# comes (its stream was cut) is forgotten once this many newer ones wait.
_MAX_WAITING = 50_000
# The methods whose name parameter is a resource URI (`mcp.resource.uri`, never a span name).
_RESOURCE_METHODS = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})


class _Exporter:
    def __init__(self):
        self.resource = Resource.create({"service.name": settings.OTEL_SERVICE_NAME})
        self.processor = BatchSpanProcessor(
            OTLPSpanExporter(endpoint=settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
        )
        _check_sampler()
        self.started: OrderedDict[tuple, float] = OrderedDict()
        self.lock = threading.Lock()


def _check_sampler() -> None:
    name = settings.OTEL_TRACES_SAMPLER.removeprefix("parentbased_")
    if name not in ("always_on", "always_off", "traceidratio"):
        logger.warning("traces: sampler %r is not supported; tracing every call", name)


_exporter: _Exporter | None = None
_lock = threading.Lock()


def _get() -> _Exporter:
    global _exporter
    if _exporter is None:
        with _lock:
            if _exporter is None:
                _exporter = _Exporter()
    return _exporter


def export_written(batch: list[dict]) -> None:
    """Turn a batch the writer committed into spans. Never raises: traces must not stop the log."""
    if not ENABLED:
        return
    try:
        exporter = _get()
        # One writer per process is the norm; the lock guards the waiting requests if not.
        with exporter.lock:
            spans = [_span(exporter, entry) for entry in batch]
        for span in spans:
            if span is not None:
                exporter.processor.on_end(span)
    except Exception:
        logger.exception("traces: could not export spans of %d log entries", len(batch))


def flush(timeout_millis: int = 10_000) -> None:
    """Export what is batched now; the writer thread's shutdown calls this."""
    if _exporter is not None:
        _exporter.processor.force_flush(timeout_millis)


def shutdown() -> None:
    """Export what is batched; the writer process calls this before it exits."""
    if _exporter is not None:
        # Shutting the processor down exports everything it still holds, then stops its thread.
        _exporter.processor.shutdown()


def _correlation(entry: dict) -> str | None:
    correlation = str(entry.get("correlation_id") or "").replace("-", "")
    if len(correlation) != 32:
        return None
    try:
        return correlation if int(correlation, 16) else None
    except ValueError:
        return None


def _leaf_span_id() -> int:
    return random.getrandbits(64) or 1  # noqa: S311 (an identifier, not a secret)


def _nanos(seconds: float) -> int:
    return int(seconds * 1e9)


def _at(entry: dict) -> float:
    at = entry.get("at")
    return at if isinstance(at, float | int) else at.timestamp()


def _latency(entry: dict) -> float:
    latency = entry.get("latency_ms")
    return latency / 1000 if isinstance(latency, int | float) and latency >= 0 else 0.0


def _error_type(entry: dict) -> str | None:
    """The conventions' `error.type`: the JSON-RPC error code, or `tool_error` for a tool's
    own error result (or a refusal the gateway answered as one)."""
    if isinstance(entry.get("error_code"), int):
        return str(entry["error_code"])
    if entry.get("outcome") == "error":
        return "tool_error" if entry.get("method") == "tools/call" else "_OTHER"
    return None


def _common(entry: dict, correlation: str, method: str, name: str) -> dict:
    """The MCP semantic-convention attributes of a call's hop; `name` the tool, prompt or
    resource it is about, as the side of the hop knows it."""
    attributes = {
        "mcp.method.name": method,
        "gatehouse.workspace_id": entry["workspace_id"],
        "gatehouse.gateway": entry.get("gateway_slug") or "",
        "gatehouse.hop": entry["hop"],
        "gatehouse.outcome": entry.get("outcome") or "ok",
        "gatehouse.correlation_id": correlation,
    }
    if name:
        if method == "tools/call":
            attributes["gen_ai.tool.name"] = name
            attributes["gen_ai.operation.name"] = "execute_tool"
        elif method == "prompts/get":
            attributes["gen_ai.prompt.name"] = name
        elif method in _RESOURCE_METHODS:
            attributes["mcp.resource.uri"] = name
    rpc_id = entry.get("rpc_id")
    if rpc_id is not None and entry["hop"] == "client.response":
        attributes["jsonrpc.request.id"] = str(rpc_id)
    if isinstance(entry.get("error_code"), int):
        attributes["rpc.response.status_code"] = str(entry["error_code"])
    error_type = _error_type(entry)
    if error_type is not None:
        attributes["error.type"] = error_type
    return attributes


def _name(method: str, attributes: dict) -> str:
    """`{mcp.method.name} {target}`: the tool or prompt; never a resource URI (unbounded)."""
    target = attributes.get("gen_ai.tool.name") or attributes.get("gen_ai.prompt.name")
    return f"{method} {target}" if target else method


def _status(attributes: dict) -> Status:
    # No description: an error message may quote what the call carried.
    if "error.type" in attributes:
        return Status(StatusCode.ERROR)
    return Status(StatusCode.UNSET)


def _server(attributes: dict, url) -> None:
    if not isinstance(url, str) or not url:
        return
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return
    if parts.hostname:
        attributes["server.address"] = parts.hostname
        attributes["server.port"] = port


def _span(exporter: _Exporter, entry: dict) -> ReadableSpan | None:
    hop = entry["hop"]
    correlation = _correlation(entry)
    if correlation is None:
        return None
    detail = entry.get("detail") or {}
    client = trace_context.from_record(entry.get("trace"))
    if not trace_context.sampled(correlation, client):
        return None
    started = exporter.started
    if hop in ("client.request", "upstream.request"):
        started[correlation, hop, entry.get("assignment_id")] = _at(entry)
        while len(started) > _MAX_WAITING:
            started.popitem(last=False)
        return None
    trace_id = trace_context.trace_id_of(correlation, client)
    root = trace_context.root_span_id(correlation)
    method = entry.get("method") or ""
    if hop == "client.response":
        end = _at(entry)
        start = started.pop((correlation, "client.request", None), end - _latency(entry))
        attributes = _common(entry, correlation, method, entry.get("tool") or "")
        if entry.get("protocol_version"):
            attributes["mcp.protocol.version"] = entry["protocol_version"]
        if entry.get("session_id"):
            # The log's one-way handle on the session, never the session id itself.
            attributes["mcp.session.id"] = session_hash(str(entry["session_id"]))
        attributes["network.transport"] = "tcp"
        attributes["network.protocol.name"] = "http"
        attributes["gatehouse.client.name"] = entry.get("client_name") or ""
        attributes["gatehouse.client.version"] = entry.get("client_version") or ""
        name = _name(method, attributes)
        span_id, kind = root, SpanKind.SERVER
        # The root's parent is the client's span, in the client's process.
        parent = (client.parent_id, True) if client is not None else None
    elif hop == "upstream.response":
        key = (correlation, "upstream.request", entry.get("assignment_id"))
        start = started.pop(key, None)
        if start is None:
            start = _at(entry) - _latency(entry)
        end = start + _latency(entry)
        upstream_name = entry.get("upstream_tool") or ""
        attributes = _common(entry, correlation, method, upstream_name)
        _server(attributes, entry.get("server_url"))
        attributes["network.transport"] = "tcp"
        attributes["gatehouse.server"] = entry.get("server_name") or ""
        attributes["gatehouse.assignment_id"] = entry.get("assignment_id") or 0
        attributes["gatehouse.identity_scheme"] = entry.get("identity_scheme") or ""
        name = _name(method, attributes)
        # The id the request path sent upstream as the parent of the upstream's own span.
        span_id = trace_context.upstream_span_id(correlation, entry.get("assignment_id") or 0)
        kind, parent = SpanKind.CLIENT, (root, False)
    elif hop in ("policy.action", "policy.tool_filtered"):
        start = end = _at(entry)
        attributes = {
            "gatehouse.workspace_id": entry["workspace_id"],
            "gatehouse.gateway": entry.get("gateway_slug") or "",
            "gatehouse.hop": hop,
            "gatehouse.outcome": entry.get("outcome") or "ok",
            "gatehouse.correlation_id": correlation,
            "mcp.method.name": method,
        }
        if hop == "policy.action":
            name = f"rule {detail.get('rule', '')}".strip()
            for key in ("rule", "detector", "action", "direction", "mode", "applied"):
                if detail.get(key) is not None:
                    attributes[f"gatehouse.rule.{key}"] = detail[key]
        else:
            name = "curation"
            attributes["gatehouse.reason"] = str(detail.get("reason") or "")
        span_id, kind, parent = _leaf_span_id(), SpanKind.INTERNAL, (root, False)
    else:
        return None
    state = TraceState.from_header([client.tracestate]) if client and client.tracestate else None
    flags = _SAMPLED
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags, trace_state=state)
    parent_context = None
    if parent is not None:
        parent_id, remote = parent
        parent_context = SpanContext(
            trace_id,
            int(parent_id, 16) if isinstance(parent_id, str) else parent_id,
            is_remote=remote,
            trace_flags=flags,
            trace_state=state,
        )
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent_context,
        resource=exporter.resource,
        attributes=attributes,
        kind=kind,
        status=_status(attributes),
        start_time=_nanos(start),
        end_time=_nanos(max(end, start)),
        instrumentation_scope=_SCOPE,
    )
