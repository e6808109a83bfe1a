"""How payloads are stored: once per call, and capped.

Two rules keep the log from growing with the size of what upstreams answer:

* **Stored once.** A call's `client.response` usually carries the very result its
  `upstream.response` recorded, give or take the envelope the client's era needs (`resultType`,
  the server's `_meta`). It is stored as a reference instead (`payload_state` `shared`):
  `{"same_as": "upstream.response", "set": {...}, "unset": [...]}`, the top-level keys that
  differ. Every reader (exports and SIEM sinks through `audit.log.export.records`, the log API and
  pages through `resolve_entries`) puts the full payload back, so auditors see what the client
  got. The hash chain covers the reference as stored, and the referenced row covers the result.
* **Capped.** A payload whose JSON is larger than `AUDIT_MAX_PAYLOAD_BYTES` is kept as
  `{"payload_truncated": true, "sha256", "size_bytes", "cap_bytes", "head", "tail"}`
  (`payload_state` `capped`): the digest of the whole compact JSON text, its size, and its
  first and last `AUDIT_PAYLOAD_EDGE_BYTES` bytes. This runs in the serving process as the entry
  is made, so a large result is never copied to the writer.

Both are decided in the serving process (`dataplane/audit_trail.py`), which hands the form in
the entry's `payload_form`; the workspace's own payload policy (`audit.log.policy`) still
applies on top.
"""

import hashlib
from collections import OrderedDict
from collections.abc import Iterable

from django.conf import settings

from audit.log.token_cost import estimate, estimate_text
from audit.models import Hop, LogEntry, PayloadState
from core import json_text

SHARED_WITH = Hop.UPSTREAM_RESPONSE
_COMPACT = json_text.encoder(separators=json_text.COMPACT, ensure_ascii=False, default=str)


def cap(entry: dict, size_key: str) -> int | None:
    """Replace the entry's payload by its capped form when its JSON is over the cap; returns
    the size of its compact JSON in bytes (None without a payload, or one JSON cannot write).

    The payload is serialised once, here; a capped entry carries the full size in `size_key`
    and a token estimate scaled from its edges."""
    payload = entry.get("payload")
    if payload is None:
        return None
    try:
        text = _COMPACT(payload)
    except (ValueError, TypeError, RecursionError):
        return None  # the writer stores what it can of it, as it always did
    limit = settings.AUDIT_MAX_PAYLOAD_BYTES
    if text.isascii():
        if len(text) <= limit:
            return len(text)
        data = text.encode()
    else:
        data = text.encode("utf-8", "surrogatepass")
        if len(data) <= limit:
            return len(data)
    edge = settings.AUDIT_PAYLOAD_EDGE_BYTES
    entry["payload"] = {
        "payload_truncated": True,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "cap_bytes": limit,
        "head": data[:edge].decode("utf-8", "ignore"),
        "tail": data[-edge:].decode("utf-8", "ignore") if edge else "",
    }
    entry["payload_form"] = PayloadState.CAPPED
    entry[size_key] = len(data)
    # Counting tokens over the whole text would cost the event loop tens of milliseconds per
    # megabyte: the edges' count, scaled to the full size, is estimate enough.
    sample = entry["payload"]["head"] + entry["payload"]["tail"]
    sampled = len(sample.encode("utf-8", "surrogatepass"))
    if sampled:
        entry["tokens_estimate"] = round(estimate_text(sample) * len(data) / sampled)
    return len(data)


def share(entry: dict, upstream_result, upstream_size: int | None) -> None:
    """Store the entry's payload as a reference to the call's upstream.response payload when
    they share their content; `upstream_result` is the result that entry was made from, and
    `upstream_size` the size of its compact JSON.

    Values are compared by identity, so this costs a look at each top-level key: the client's
    result is the upstream's, shallow-copied when its era's envelope was added. The entry's
    `response_bytes` is the size the full payload has, from the upstream's and the members
    that differ."""
    payload = entry.get("payload")
    if type(payload) is not dict or type(upstream_result) is not dict or upstream_size is None:
        return
    kept = [k for k, value in upstream_result.items() if payload.get(k, _MISSING) is value]
    if not kept:
        return
    reference: dict = {"same_as": SHARED_WITH}
    changed = {key: value for key, value in payload.items() if key not in kept}
    gone = [key for key in upstream_result if key not in payload]
    replaced = [key for key in changed if key in upstream_result]
    try:
        # Each member of a compact JSON object is `"key":value` and one `,` or `}`.
        size = upstream_size
        size -= sum(_member_size(k, upstream_result[k]) for k in (*gone, *replaced))
        size += sum(_member_size(k, v) for k, v in changed.items())
    except (ValueError, TypeError, RecursionError):
        return
    if changed:
        reference["set"] = changed
    if gone:
        reference["unset"] = gone
    entry["payload"] = reference
    entry["payload_form"] = PayloadState.SHARED
    entry["response_bytes"] = size


def _member_size(key, value) -> int:
    return len(_COMPACT({key: value}).encode("utf-8", "surrogatepass")) - 1


_MISSING = object()


def resolved(reference, upstream_payload, upstream_state=PayloadState.FULL):
    """The payload a `shared` reference stands for, given the upstream.response payload (None
    when there is none) and its `payload_state`.

    An upstream payload not stored in full (capped, or truncated by the workspace's policy) is
    returned as it is: what it says is of the upstream's form."""
    if type(reference) is not dict or type(upstream_payload) is not dict:
        # The upstream row is gone (retention cut between the two hops) or held no payload:
        # the reference is shown as it is stored.
        return reference
    if upstream_state != PayloadState.FULL:
        return upstream_payload
    gone = set(reference.get("unset") or ())
    payload = {k: v for k, v in upstream_payload.items() if k not in gone}
    payload.update(reference.get("set") or {})
    return payload


# The writer's memory of recent upstream.response token estimates, by correlation id, so the
# call's shared client.response gets the estimate of the payload it stands for.
_RECENT_TOKENS: OrderedDict = OrderedDict()
_RECENT_LIMIT = 50_000


def count_shared_tokens(row_lists: Iterable[list[dict]]) -> None:
    """On the writer, as rows are built: a shared row's token estimate is its upstream's, plus
    what its reference sets."""
    for rows in row_lists:
        for row in rows:
            hop = row["hop"]
            if hop == SHARED_WITH and row["tokens_estimate"] is not None:
                _RECENT_TOKENS[row["correlation_id"]] = row["tokens_estimate"]
                if len(_RECENT_TOKENS) > _RECENT_LIMIT:
                    _RECENT_TOKENS.popitem(last=False)
            elif row["payload_state"] == PayloadState.SHARED:
                upstream = _RECENT_TOKENS.pop(row["correlation_id"], None)
                if upstream is not None:
                    changed = row["payload"].get("set")
                    row["tokens_estimate"] = upstream + (estimate(changed) or 0)


def _upstream_payloads(workspace_id: int, wanted: Iterable[tuple]) -> dict:
    """{(correlation_id, seq): (payload, payload_state) of the latest upstream.response of that
    call before that seq}, in one query."""
    wanted = list(wanted)
    if not wanted:
        return {}
    rows = (
        LogEntry.objects.for_workspace(workspace_id)
        .filter(hop=SHARED_WITH, correlation_id__in={c for c, _ in wanted})
        .order_by("seq")
        .values_list("correlation_id", "seq", "payload", "payload_state")
    )
    by_call: dict = {}
    for correlation_id, seq, payload, state in rows:
        by_call.setdefault(str(correlation_id), []).append((seq, (payload, state)))
    found = {}
    for correlation_id, seq in wanted:
        earlier = [p for s, p in by_call.get(str(correlation_id), ()) if s < seq]
        if earlier:
            found[(str(correlation_id), seq)] = earlier[-1]
    return found


def resolve_records(records: list[dict]) -> None:
    """Put full payloads back into shared rows (dicts with the model's field names), in place;
    the stored reference moves to `payload_stored`."""
    shared = [r for r in records if r.get("payload_state") == PayloadState.SHARED]
    by_workspace: dict[int, list[dict]] = {}
    for record in shared:
        by_workspace.setdefault(record["workspace_id"], []).append(record)
    for workspace_id, rows in by_workspace.items():
        found = _upstream_payloads(
            workspace_id, ((str(r["correlation_id"]), r["seq"]) for r in rows)
        )
        for record in rows:
            upstream = found.get((str(record["correlation_id"]), record["seq"]), (None,))
            record["payload_stored"] = record["payload"]
            record["payload"] = resolved(record["payload"], *upstream)


def resolve_entries(entries: Iterable[LogEntry]) -> None:
    """As `resolve_records`, for model instances (whose payload was loaded), in place."""
    shared = [
        e
        for e in entries
        if e.payload_state == PayloadState.SHARED and "payload" not in e.get_deferred_fields()
    ]
    by_workspace: dict[int, list[LogEntry]] = {}
    for entry in shared:
        by_workspace.setdefault(entry.workspace_id, []).append(entry)
    for workspace_id, rows in by_workspace.items():
        found = _upstream_payloads(workspace_id, ((str(e.correlation_id), e.seq) for e in rows))
        for entry in rows:
            upstream = found.get((str(entry.correlation_id), entry.seq), (None,))
            entry.payload_stored = entry.payload
            entry.payload = resolved(entry.payload, *upstream)
