"""W3C trace context in MCP `params._meta` (SEP-414): what a client sent, checked, and what the
gateway sends on to an upstream.

SEP-414 reserves the unprefixed `_meta` keys `traceparent`, `tracestate` (W3C Trace Context)
and `baggage` (W3C Baggage). A client's values are checked here before anything uses them: a
`traceparent` must be version `00` with a lowercase, non-zero trace id and parent id, or it is
ignored (and its `tracestate` with it); `tracestate` and `baggage` must follow their grammars
and stay within the W3C limits, or they are dropped. A bad value never fails the call.

The gateway's own span ids are derived from the call's correlation id, so the request path
can name the upstream span in the `traceparent` it sends before the audit writer, which builds
the spans from the log (`audit.tracing`), has made it. Light on purpose: the data plane
imports it, and it imports no OpenTelemetry code.
"""

import hashlib
import re
from dataclasses import dataclass

from django.conf import settings

ENABLED = bool(settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)

TRACEPARENT, TRACESTATE, BAGGAGE = "traceparent", "tracestate", "baggage"
KEYS = (TRACEPARENT, TRACESTATE, BAGGAGE)

# Version 00 only: a later version may carry more fields this gateway cannot vouch for.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16

# W3C Trace Context: at most 32 members; 512 characters is what every vendor must propagate,
# and members over 128 characters are the first to go when that is too little.
_TRACESTATE_MEMBERS, _TRACESTATE_CHARS, _TRACESTATE_LONG = 32, 512, 128
_TRACESTATE_MEMBER = re.compile(
    r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
# W3C Baggage: at most 180 members and 8192 bytes.
_BAGGAGE_MEMBERS, _BAGGAGE_BYTES = 180, 8192
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_OCTETS = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
_BAGGAGE_MEMBER = re.compile(
    rf"{_TOKEN}[ \t]*=[ \t]*{_OCTETS}(?:[ \t]*;[ \t]*{_TOKEN}(?:[ \t]*=[ \t]*{_OCTETS})?)*"
)


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A client's valid trace context: its trace, its span (our parent), its flags."""

    trace_id: str
    parent_id: str
    flags: int
    tracestate: str = ""

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 1)

    def record(self) -> dict:
        """What the log keeps of it (`detail.trace`), for the writer to build spans from."""
        kept = {TRACEPARENT: f"00-{self.trace_id}-{self.parent_id}-{self.flags:02x}"}
        if self.tracestate:
            kept[TRACESTATE] = self.tracestate
        return kept


def parse_traceparent(value) -> TraceContext | None:
    if type(value) is not str or len(value) != 55:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    trace_id, parent_id, flags = match.groups()
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return TraceContext(trace_id, parent_id, int(flags, 16))


def clean_tracestate(value) -> str:
    """The tracestate as W3C allows it on: "" when it is malformed, else its members, cut to
    512 characters the way the specification says (long members first, then from the end)."""
    if type(value) is not str or not value or len(value) > 8192:
        return ""
    members = [member.strip(" \t") for member in value.split(",")]
    members = [member for member in members if member]
    if len(members) > _TRACESTATE_MEMBERS:
        return ""
    keys = set()
    for member in members:
        if _TRACESTATE_MEMBER.fullmatch(member) is None:
            return ""
        key = member.partition("=")[0]
        if key in keys:
            return ""
        keys.add(key)
    if len(",".join(members)) > _TRACESTATE_CHARS:
        members = [member for member in members if len(member) <= _TRACESTATE_LONG]
        while len(",".join(members)) > _TRACESTATE_CHARS:
            members.pop()
    return ",".join(members)


def clean_baggage(value) -> str:
    """The baggage unchanged when it is well formed and within the W3C limits, else ""."""
    if type(value) is not str or not value or len(value.encode()) > _BAGGAGE_BYTES:
        return ""
    members = value.split(",")
    if len(members) > _BAGGAGE_MEMBERS:
        return ""
    for member in members:
        if _BAGGAGE_MEMBER.fullmatch(member.strip(" \t")) is None:
            return ""
    return value


def incoming(meta) -> tuple[TraceContext | None, str]:
    """The trace context and baggage of a request's `params._meta`, each checked."""
    if not isinstance(meta, dict):
        return None, ""
    context = parse_traceparent(meta.get(TRACEPARENT))
    if context is not None and TRACESTATE in meta:
        tracestate = clean_tracestate(meta[TRACESTATE])
        if tracestate:
            context = TraceContext(context.trace_id, context.parent_id, context.flags, tracestate)
    return context, clean_baggage(meta.get(BAGGAGE))


def from_record(recorded) -> TraceContext | None:
    """The client's trace context the log kept (`TraceContext.record`), checked again."""
    if not isinstance(recorded, dict):
        return None
    context = parse_traceparent(recorded.get(TRACEPARENT))
    tracestate = clean_tracestate(recorded.get(TRACESTATE))
    if context is not None and tracestate:
        context = TraceContext(context.trace_id, context.parent_id, context.flags, tracestate)
    return context


def _span_id(label: bytes, correlation_id: str, extra: bytes = b"") -> int:
    digest = hashlib.sha256(label + bytes.fromhex(correlation_id) + extra).digest()
    return int.from_bytes(digest[:8], "big") or 1


def root_span_id(correlation_id: str) -> int:
    """The client hop's span, derived so that its children can name it before it ends."""
    return _span_id(b"gatehouse-client-span:", correlation_id)


def upstream_span_id(correlation_id: str, assignment_id: int) -> int:
    """The upstream hop's span, derived so the request path can send it as the parent."""
    return _span_id(b"gatehouse-upstream-span:", correlation_id, assignment_id.to_bytes(8, "big"))


def trace_id_of(correlation_id: str, client: TraceContext | None) -> int:
    """A call's trace: the client's when it sent one, else the correlation id."""
    return int(client.trace_id if client is not None else correlation_id, 16)


_RATIO_MASK = (1 << 64) - 1


def sampled(correlation_id: str, client: TraceContext | None) -> bool:
    """Whether the call is traced, by OTEL_TRACES_SAMPLER: a `parentbased_` sampler follows
    the client's sampled flag; otherwise (and for calls without a client parent) always on,
    always off, or a ratio of calls (as the SDK's TraceIdRatioBased decides it), taken on the
    gateway's correlation id: a client picks its trace ids, and must not pick which calls the
    ratio keeps."""
    name = settings.OTEL_TRACES_SAMPLER
    if name.startswith("parentbased_"):
        if client is not None:
            return client.sampled
        name = name.removeprefix("parentbased_")
    if name == "traceidratio":
        bound = round(settings.OTEL_TRACES_SAMPLER_ARG * (_RATIO_MASK + 1))
        return int(correlation_id, 16) & _RATIO_MASK < bound
    return name != "always_off"


def outgoing(
    correlation_id: str, assignment_id: int, client: TraceContext | None, baggage: str
) -> dict:
    """The `_meta` trace keys an upstream request carries.

    Tracing on: a `traceparent` naming the gateway's upstream span in the call's trace, with
    the client's `tracestate`. Tracing off: the client's own values, checked, so the client's
    trace and the upstream's still meet. `baggage` passes through either way."""
    meta = {}
    if ENABLED and len(correlation_id) == 32:
        trace_id = trace_id_of(correlation_id, client)
        span_id = upstream_span_id(correlation_id, assignment_id)
        flags = "01" if sampled(correlation_id, client) else "00"
        meta[TRACEPARENT] = f"00-{trace_id:032x}-{span_id:016x}-{flags}"
        if client is not None and client.tracestate:
            meta[TRACESTATE] = client.tracestate
    elif client is not None:
        meta.update(client.record())
    if baggage:
        meta[BAGGAGE] = baggage
    return meta
