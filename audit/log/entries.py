"""The entry the data plane hands the recorder, and how it becomes a log row.

An entry is a plain dict. Only `hop` and `workspace_id` are required; every other key may be
left out (it is stored empty). The keys, and what the data plane passes in them:

| key | type | meaning |
|---|---|---|
| `hop` | str | one of `HOPS` (`client.request`, `upstream.request`, ...) |
| `workspace_id` | int | the snapshot's workspace |
| `correlation_id` | str / UUID | shared by every entry of one client call (one is made if absent) |
| `at` | float / datetime | when the hop happened (`time.time()`); stamped by `record()` if absent |
| `gateway_id`, `gateway_slug` | int, str | the gateway |
| `assignment_id` | int | the assignment the call was routed to |
| `server_id`, `server_name` | int, str | the upstream server |
| `user_id`, `user_email` | int, str | the person (from the principal) |
| `token_id` | int | the gateway API token or OAuth grant used |
| `session_id` | str | the raw `Mcp-Session-Id`; only a hash of it is stored |
| `client_name`, `client_version` | str | from `initialize` (`SessionState.client_*`) |
| `method` | str | the JSON-RPC method (`tools/call`) |
| `rpc_id` | int / str | the JSON-RPC id |
| `tool`, `upstream_tool` | str | the namespaced name and the upstream's own name |
| `outcome` | str | `ok` (default), `error` or `blocked` |
| `error_code`, `error_message` | int, str | the JSON-RPC error, if any |
| `latency_ms` | float | the hop's latency (responses: since the matching request) |
| `request_bytes`, `response_bytes` | int | sizes on the wire; computed from the payload if absent |
| `tokens_estimate` | int | leave out: estimated from the payload (`audit.log.token_cost`) |
| `identity_scheme` | str | the assignment's scheme (`service_account`...), never the secret |
| `payload` | JSON value | the message as it is after redaction rules ran |
| `payload_form` | str | `shared` or `capped` when the payload is stored so (`audit.log.payloads`) |
| `detail` | dict | `policy.*`, `auth.denied`: `rule`, `detector`, `kind`, `count`, `reason` |
| `trace` | dict | the client's W3C `traceparent` (and `tracestate`), stored as `detail["trace"]` |
| `protocol_version` | str | the client's MCP revision; for traces only, not stored |
| `server_url` | str | a remote upstream's URL; for traces only (`server.address`), not stored |

Unknown keys are ignored (and logged once per key name per process), so the data plane can pass
more than this version stores. Everything here runs on the writer thread, off the request path.
"""

import hashlib
import json
import logging
import math
import uuid
from datetime import UTC, datetime

from audit.log.chain import canonical_json
from audit.log.payload_texts import PAYLOAD_JSON, PayloadJson
from audit.log.token_cost import estimate_text, measured_text
from audit.models import Hop, LogEntry, Outcome
from core import json_text

logger = logging.getLogger(__name__)

HOPS = frozenset(Hop.values)
OUTCOMES = frozenset(Outcome.values)
_REQUEST_HOPS = frozenset({Hop.CLIENT_REQUEST, Hop.UPSTREAM_REQUEST})
_RESPONSE_HOPS = frozenset({Hop.CLIENT_RESPONSE, Hop.UPSTREAM_RESPONSE})

_STRINGS = {
    "gateway_slug": "gateway_slug",
    "server_name": "server_name",
    "client_name": "client_name",
    "client_version": "client_version",
    "method": "rpc_method",
    "tool": "tool",
    "upstream_tool": "upstream_tool",
    "error_message": "error_message",
    "identity_scheme": "identity_scheme",
}
_INTEGERS = (
    "gateway_id",
    "assignment_id",
    "server_id",
    "user_id",
    "token_id",
    "error_code",
    "request_bytes",
    "response_bytes",
    "tokens_estimate",
)
KEYS = frozenset(
    {
        "hop",
        "workspace_id",
        "correlation_id",
        "at",
        "user_email",
        "session_id",
        "rpc_id",
        "outcome",
        "latency_ms",
        "payload",
        "payload_form",
        "detail",
        "trace",
        "protocol_version",
        "server_url",
        *_STRINGS,
        *_INTEGERS,
    }
)
_warned: set[str] = set()
# json.dumps(value, separators=(",", ":"), ensure_ascii=False).
_COMPACT = json_text.encoder(separators=json_text.COMPACT, ensure_ascii=False)


class EntryInvalid(ValueError):
    """An entry the recorder cannot store (no workspace, an unknown hop)."""


def check(entry: dict) -> None:
    """The cheap checks made on the caller's thread, so a wrong call fails where it is made."""
    if entry.get("hop") not in HOPS:
        raise EntryInvalid(f"unknown audit hop {entry.get('hop')!r}")
    if not isinstance(entry.get("workspace_id"), int):
        raise EntryInvalid("an audit entry needs an integer workspace_id")


def _max_length(field: str) -> int:
    return LogEntry._meta.get_field(field).max_length


_LENGTHS = {
    field: _max_length(field) for field in (*_STRINGS.values(), "user_email", "rpc_id", "session")
}
_STRING_FIELDS = tuple((key, field, _LENGTHS[field]) for key, field in _STRINGS.items())
_RPC_ID_LENGTH, _EMAIL_LENGTH = _LENGTHS["rpc_id"], _LENGTHS["user_email"]


def _text(value, field: str) -> str:
    if value is None:
        return ""
    text = clean_string(value if isinstance(value, str) else str(value))
    return text[: _LENGTHS[field]]


def clean_string(text: str) -> str:
    # PostgreSQL refuses NUL characters and lone surrogates in text and jsonb.
    if text.isascii():
        # ASCII text holds no surrogate, so only a NUL can need replacing.
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_json(value):
    """`value` as JSON both databases store and return unchanged (see audit.log.chain)."""
    # The plain JSON types first, by exact type; each takes the branch it takes below.
    kind = type(value)
    if kind is str:
        return clean_string(value)
    if kind is dict:
        return {
            clean_string(k if type(k) is str else str(k)): clean_json(v) for k, v in value.items()
        }
    if kind is list:
        return [clean_json(v) for v in value]
    if kind is int or kind is bool or value is None:
        return value
    if isinstance(value, str):
        return clean_string(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean_string(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return clean_string(str(value))


def _integer(value) -> int | None:
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(value) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def _correlation(value) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return uuid.uuid4()


def session_hash(session_id: str) -> str:
    """A stable, one-way handle on a session: entries of one session share it."""
    return hashlib.sha256(b"gatehouse-audit-session:" + session_id.encode()).hexdigest()


def _rpc_json(rpc_id) -> str:
    # json.dumps writes an int as str() does.
    return str(rpc_id) if type(rpc_id) is int else json.dumps(rpc_id)


def _rpc_text(rpc_id) -> str:
    if type(rpc_id) is int:  # most ids: digits, nothing to clean
        return str(rpc_id)[:_RPC_ID_LENGTH]
    if rpc_id is None:
        return ""
    return _text(rpc_id if isinstance(rpc_id, str) else _rpc_json(rpc_id), "rpc_id")


def _email(value) -> str:
    if type(value) is str and value.isascii() and "\x00" not in value:
        return value[:_EMAIL_LENGTH].lower()
    return _text(value, "user_email").lower()


class _Measured:
    """What one payload value gives every row that carries it: its JSON texts, its token
    estimate, and the size of its compact JSON (made when a row first needs it)."""

    __slots__ = ("_tokens", "compact", "payload", "size", "text", "texts")

    def __init__(self, payload):
        self.payload = payload
        self.text = text = measured_text(payload)
        self._tokens = None
        self.size = None
        self.compact = None
        if text is payload or ".0" in text or "e+" in text:
            canonical = canonical_json(payload)
        else:
            # A float with an integral value is written "2.0" or "1e+20", so there is none here
            # and the canonical JSON is the compact JSON with keys sorted: same bytes, other
            # order.
            canonical = self.compact = canonical_json(payload, plain=True)
        stored = None
        if text is not payload and text.isascii() and "\x7f" not in text:
            # In ASCII text but DEL, ensure_ascii escapes nothing more: this is also json.dumps().
            stored = text
        self.texts = PayloadJson(
            payload,
            canonical,
            hashlib.sha256(canonical.encode()).hexdigest(),
            stored,
            None if text is payload else text,
        )

    def tokens(self) -> int:
        # Entries the serving process measured already (a capped payload) need no count.
        if self._tokens is None:
            self._tokens = estimate_text(self.text)
        return self._tokens

    def compact_size(self) -> int:
        if self.size is None:
            compact = self.compact or _COMPACT(self.payload)
            self.size = len(compact) if compact.isascii() else len(compact.encode())
        return self.size


def _measure_payload(row: dict, measured: _Measured) -> None:
    """Fill in the payload's size and token estimate, and leave its JSON texts for the chain."""
    if row["tokens_estimate"] is None:
        row["tokens_estimate"] = measured.tokens()
    row[PAYLOAD_JSON] = measured.texts
    hop = row["hop"]
    if (hop in _REQUEST_HOPS and row["request_bytes"] is None) or (
        hop in _RESPONSE_HOPS and row["response_bytes"] is None
    ):
        size = measured.compact_size()
        row["request_bytes" if hop in _REQUEST_HOPS else "response_bytes"] = size


class BatchMemo:
    """What the entries of one batch share, worked out once: the facts of each payload object,
    by `id()` of the payload as recorded (a call's request or response hops often carry the very
    same object; the batch keeps those objects alive), each call's correlation id, and each
    session's hash."""

    __slots__ = ("calls", "payloads", "sessions")

    def __init__(self):
        self.payloads: dict[int, _Measured] = {}
        self.calls: dict = {}
        self.sessions: dict = {}


def _call_id(value, memo: BatchMemo | None) -> uuid.UUID:
    if memo is None or type(value) is not str:
        return _correlation(value)
    found = memo.calls.get(value)
    if found is None:
        found = memo.calls[value] = _correlation(value)
    return found


def _session(session_id, memo: BatchMemo | None) -> str:
    if memo is None:
        return session_hash(str(session_id))
    found = memo.sessions.get(session_id)
    if found is None:
        found = memo.sessions[session_id] = session_hash(str(session_id))
    return found


def to_row(entry: dict, memo: BatchMemo | None = None) -> dict:
    """The model field values of one entry, before policy, seq and digests; entries written
    together pass one `memo`, so what they share is cleaned, serialised, sized and hashed once.
    """
    if not KEYS.issuperset(entry):
        for key in entry.keys() - KEYS - _warned:
            _warned.add(key)
            logger.warning("audit entries do not store the key %r; it is ignored", key)
    hop = entry["hop"]
    payload = entry.get("payload")
    facts = None
    if payload is not None:
        key = id(payload)
        facts = memo.payloads.get(key) if memo is not None else None
        if facts is None:
            facts = _Measured(clean_json(payload))
            if memo is not None:
                memo.payloads[key] = facts
        payload = facts.payload
    row = {}
    # The usual values (absent, plain ASCII text, int) are taken as they are, which is what
    # _text and _integer would make of them.
    for key, field, length in _STRING_FIELDS:
        value = entry.get(key)
        if value is None:
            row[field] = ""
        elif type(value) is str and value.isascii() and "\x00" not in value:
            row[field] = value[:length]
        else:
            row[field] = _text(value, field)
    for key in _INTEGERS:
        value = entry.get(key)
        row[key] = value if value is None or type(value) is int else _integer(value)
    latency = entry.get("latency_ms")
    outcome = entry.get("outcome") or Outcome.OK
    session_id = entry.get("session_id")
    detail = entry.get("detail")
    if "trace" in entry:
        detail = {**(detail if isinstance(detail, dict) else {}), "trace": entry["trace"]}
    rpc_id = entry.get("rpc_id")
    row.update(
        hop=hop,
        at=_time(entry.get("at") or datetime.now(UTC)),
        correlation_id=_call_id(entry.get("correlation_id"), memo),
        user_email=_email(entry.get("user_email")),
        session=_session(session_id, memo) if session_id else "",
        rpc_id=_rpc_text(rpc_id),
        outcome=outcome if outcome in OUTCOMES else Outcome.ERROR,
        latency_ms=float(latency) if isinstance(latency, int | float) else None,
        detail=clean_json(detail) if isinstance(detail, dict) else {},
        payload=payload,
        payload_form=entry.get("payload_form"),
    )
    if facts is not None:
        _measure_payload(row, facts)
    if row["latency_ms"] is not None and not math.isfinite(row["latency_ms"]):
        row["latency_ms"] = None
    return row
