"""OpenTelemetry traces of client calls, built by the audit writer from the hops it committed.

Off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set. Like the metrics (`audit.metrics`),
spans cost the request path nothing: the writer turns each committed batch of log entries into
finished spans and hands them to the SDK's batching processor, whose thread exports them with
the OTLP/HTTP (protobuf) exporter. Every standard `OTEL_BSP_*` and `OTEL_EXPORTER_OTLP_TRACES_*`
variable (headers, timeout, compression) and `OTEL_RESOURCE_ATTRIBUTES` apply.

One trace per client call: the trace id is the call's correlation id (as in the OTLP log sink,
so a backend links a call's log records to its trace), and its spans are

* the client hop (`client.request` to `client.response`), the root, kind SERVER;
* the upstream hop (`upstream.request` to `upstream.response`), kind CLIENT, its child;
* each rule that acted (`policy.action`) and each curation refusal (`policy.tool_filtered`),
  an instant child of the root.

Spans carry real times: a response entry's `latency_ms` is measured where the hop happened and
the matching request entry gives the start (the two are paired here, off the request path; an
unpaired response starts `latency_ms` before it was recorded). The root's span id is derived
from the correlation id, so children name their parent before it has ended. Attributes are
names, ids and codes: never a payload, an argument, an error message, a person or a credential.
Sessions and refused authentications belong to no call and make no span.

`OTEL_TRACES_SAMPLER=traceidratio` (with `OTEL_TRACES_SAMPLER_ARG`) traces a share of the calls,
chosen by trace id so that a call is traced whole or not at all: making and encoding spans costs
the writer process more CPU than the metrics do. Traces are best effort: a span the exporter
cannot keep up with is dropped by the SDK (`OTEL_BSP_MAX_QUEUE_SIZE`); the log remains the
record.
"""

import hashlib
import logging
import random
import threading
from collections import OrderedDict

from django.conf import settings
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Decision, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

logger = logging.getLogger(__name__)

ENABLED = bool(settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)

_SCOPE = InstrumentationScope("gatehouse.audit")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
# Requests waiting for their response, to give its span a start; a call whose response never
# comes (its stream was cut) is forgotten once this many newer ones wait.
_MAX_WAITING = 50_000
# Named in the span of a call (`tools/call a__echo`); other methods' names may be resource URIs.
_NAMED_METHODS = frozenset({"tools/call", "prompts/get"})


class _Exporter:
    def __init__(self):
        self.resource = Resource.create({"service.name": settings.OTEL_SERVICE_NAME})
        self.processor = BatchSpanProcessor(
            OTLPSpanExporter(endpoint=settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
        )
        self.sampler = _sampler()
        self.started: OrderedDict[tuple, float] = OrderedDict()
        self.lock = threading.Lock()


def _sampler():
    """The standard OTEL_TRACES_SAMPLER choices that make sense for calls that arrive without a
    parent: always on, always off, or a ratio of trace ids."""
    name = settings.OTEL_TRACES_SAMPLER.removeprefix("parentbased_")
    if name == "traceidratio":
        return TraceIdRatioBased(settings.OTEL_TRACES_SAMPLER_ARG)
    if name == "always_off":
        return ALWAYS_OFF
    if name != "always_on":
        logger.warning("traces: sampler %r is not supported; tracing every call", name)
    return ALWAYS_ON


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


def _trace_id(entry: dict) -> int | None:
    correlation = str(entry.get("correlation_id") or "").replace("-", "")
    try:
        trace_id = int(correlation, 16)
    except ValueError:
        return None
    return trace_id if 0 < trace_id < 1 << 128 else None


def root_span_id(trace_id: int) -> int:
    """The client hop's span id, derived so that its children can name it first."""
    digest = hashlib.sha256(b"gatehouse-client-span:" + trace_id.to_bytes(16, "big")).digest()
    return int.from_bytes(digest[:8], "big") or 1


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


def _common(entry: dict) -> dict:
    attributes = {
        "gatehouse.workspace_id": entry["workspace_id"],
        "gatehouse.gateway": entry.get("gateway_slug") or "",
        "gatehouse.hop": entry["hop"],
        "gatehouse.outcome": entry.get("outcome") or "ok",
        "mcp.method.name": entry.get("method") or "",
    }
    if entry.get("tool") and entry.get("method") in _NAMED_METHODS:
        attributes["gen_ai.tool.name"] = entry["tool"]
    if isinstance(entry.get("error_code"), int):
        attributes["rpc.jsonrpc.error_code"] = entry["error_code"]
    return attributes


def _status(entry: dict) -> Status:
    if entry.get("outcome") == "error":
        return Status(StatusCode.ERROR)
    return Status(StatusCode.UNSET)


def _span(exporter: _Exporter, entry: dict) -> ReadableSpan | None:
    hop = entry["hop"]
    trace_id = _trace_id(entry)
    if trace_id is None:
        return None
    if exporter.sampler.should_sample(None, trace_id, hop).decision != Decision.RECORD_AND_SAMPLE:
        return None
    started = exporter.started
    if hop in ("client.request", "upstream.request"):
        started[trace_id, hop, entry.get("assignment_id")] = _at(entry)
        while len(started) > _MAX_WAITING:
            started.popitem(last=False)
        return None
    root = root_span_id(trace_id)
    attributes = _common(entry)
    method = entry.get("method") or ""
    if hop == "client.response":
        end = _at(entry)
        start = started.pop((trace_id, "client.request", None), end - _latency(entry))
        name = f"{method} {entry['tool']}" if "gen_ai.tool.name" in attributes else method
        attributes["gatehouse.client.name"] = entry.get("client_name") or ""
        attributes["gatehouse.client.version"] = entry.get("client_version") or ""
        span_id, parent, kind = root, None, SpanKind.SERVER
    elif hop == "upstream.response":
        key = (trace_id, "upstream.request", entry.get("assignment_id"))
        start = started.pop(key, None)
        if start is None:
            start = _at(entry) - _latency(entry)
        end = start + _latency(entry)
        server = entry.get("server_name") or ""
        name = f"{method} {server}".strip()
        attributes["gatehouse.server"] = server
        attributes["gatehouse.assignment_id"] = entry.get("assignment_id") or 0
        attributes["gatehouse.identity_scheme"] = entry.get("identity_scheme") or ""
        if entry.get("upstream_tool") and method in _NAMED_METHODS:
            attributes["gatehouse.upstream_tool"] = entry["upstream_tool"]
        span_id, parent, kind = _leaf_span_id(), root, SpanKind.CLIENT
    elif hop in ("policy.action", "policy.tool_filtered"):
        start = end = _at(entry)
        detail = entry.get("detail") or {}
        if hop == "policy.action":
            name = f"rule {detail.get('rule', '')}".strip()
            for key in ("rule", "detector", "action", "direction", "mode", "applied"):
                if detail.get(key) is not None:
                    attributes[f"gatehouse.rule.{key}"] = detail[key]
        else:
            name = "curation"
            attributes["gatehouse.reason"] = str(detail.get("reason") or "")
        span_id, parent, kind = _leaf_span_id(), root, SpanKind.INTERNAL
    else:
        return None
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)
    parent_context = (
        SpanContext(trace_id, parent, is_remote=False, trace_flags=_SAMPLED) if parent else None
    )
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent_context,
        resource=exporter.resource,
        attributes=attributes,
        kind=kind,
        status=_status(entry),
        start_time=_nanos(start),
        end_time=_nanos(max(end, start)),
        instrumentation_scope=_SCOPE,
    )
