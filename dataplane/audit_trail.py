"""The audit step of the lifecycle: one log entry per hop, queued without waiting for the disk.

Every entry of one client call shares the call's correlation id. Payloads are recorded as they
leave the rules step, so a redacted secret is never stored; a payload over the storage cap is
kept as its digest and edges, and `client.response` refers to the result `upstream.response`
recorded instead of holding a copy (`audit/log/payloads.py`).
"""

import contextlib
import time

from django.conf import settings
from django.core.cache import cache

from audit.log import payloads
from audit.log.writer import record_async


def _base(ctx) -> dict:
    """The fields every entry of one call shares, built once per call (entries copy them)."""
    base = ctx.audit_base
    if base is not None:
        return base
    snapshot, principal = ctx.snapshot, ctx.principal
    ctx.audit_base = base = {
        "workspace_id": snapshot.workspace_id,
        "gateway_id": snapshot.id,
        "gateway_slug": snapshot.slug,
        "user_id": principal.user_id,
        "user_email": principal.email,
        "token_id": principal.token_id,
        "correlation_id": ctx.correlation_id,
        "session_id": ctx.session_id or "",
        "client_name": ctx.client_name,
        "client_version": ctx.client_version,
        "method": ctx.method,
        "rpc_id": ctx.rpc_id,
        "protocol_version": ctx.protocol_version,
    }
    if ctx.trace is not None:
        # The client's trace context: kept in each entry's detail, so the writer can join the
        # call's spans to the client's trace.
        base["trace"] = ctx.trace.record()
    return base


async def client_request(ctx, params) -> None:
    entry = {**_base(ctx), "hop": "client.request", "tool": ctx.tool, "payload": params}
    ruled = ctx.method == "tools/call" and ctx.snapshot.rules.has("request")
    if ruled and isinstance(params, dict):
        # Request rules may rewrite the arguments: the entry waits for them (`request_checked`)
        # so a secret they redact is never stored. It keeps the time it arrived.
        entry["at"] = time.time()
        ctx.pending_request = entry
        return
    payloads.cap(entry, "request_bytes")
    await record_async(entry)


async def request_checked(ctx, arguments: dict | None) -> None:
    """Write the waiting client.request entry with the arguments as the rules left them;
    None withholds them (a rule blocked on what they say)."""
    entry, ctx.pending_request = ctx.pending_request, None
    if entry is None:
        return
    params = {k: v for k, v in entry["payload"].items() if k != "arguments"}
    if arguments is not None:
        params["arguments"] = arguments
    entry["payload"] = params
    payloads.cap(entry, "request_bytes")
    await record_async(entry)


async def client_response(ctx, message: dict, started: float) -> None:
    if ctx.pending_request is not None:
        # Refused before the rules ran (unknown tool, bad params): the arguments went nowhere
        # and were never checked, so they are not kept.
        await request_checked(ctx, None)
    error = message.get("error")
    entry = {
        **_base(ctx),
        "hop": "client.response",
        "tool": ctx.tool,
        "latency_ms": (time.perf_counter() - started) * 1000,
        "outcome": ctx.outcome or ("error" if error else "ok"),
        "payload": error if error else message.get("result"),
    }
    if error:
        entry["error_code"] = error.get("code")
        entry["error_message"] = str(error.get("message", ""))[:500]
    else:
        upstream, ctx.audit_upstream_result = ctx.audit_upstream_result, None
        if upstream is not None:
            payloads.share(entry, *upstream)
        if "payload_form" not in entry:
            payloads.cap(entry, "response_bytes")
    await record_async(entry)


def _upstream(ctx, spec, upstream_name) -> dict:
    # Which credential was presented (shared, personal, none); never the secret.
    detail = {"credential": getattr(ctx, "upstream_identity", "") or "none"}
    connector = getattr(ctx, "upstream_connector", None)
    if connector is not None:
        detail["connector"] = connector  # a workstation call: which connector carried it
    entry = {
        **_base(ctx),
        "assignment_id": spec.id,
        "server_id": spec.upstream.server_id,
        "server_name": spec.upstream.server_name,
        "identity_scheme": spec.identity_scheme,
        "detail": detail,
        "tool": ctx.tool,
        "upstream_tool": upstream_name,
    }
    if spec.upstream.kind == "remote":
        entry["server_url"] = spec.upstream.url  # its host and port name the server in traces
    return entry


async def upstream_request(ctx, spec, upstream_name, params) -> None:
    entry = {**_upstream(ctx, spec, upstream_name), "hop": "upstream.request", "payload": params}
    payloads.cap(entry, "request_bytes")
    await record_async(entry)


async def upstream_response(
    ctx, spec, upstream_name, started, *, result=None, error=None, ended=None, blocked=False
):
    """`result` is the response as the rules left it; `ended` when it arrived (rules took the
    time since); `blocked` when a rule refused it."""
    ended = ended if ended is not None else time.perf_counter()
    entry = {
        **_upstream(ctx, spec, upstream_name),
        "hop": "upstream.response",
        "latency_ms": (ended - started) * 1000,
        "outcome": "error" if error else ("blocked" if blocked else "ok"),
        "payload": error if error else result,
    }
    if error:
        entry["error_code"] = error.get("code")
        entry["error_message"] = str(error.get("message", ""))[:500]
    else:
        ctx.audit_upstream_result = (result, payloads.cap(entry, "response_bytes"))
    await record_async(entry)


_EVENT_DETAIL = ("rule_id", "rule", "scope", "detector", "action", "mode", "direction")


async def task_status(ctx, spec, upstream_task_id: str, status: str, message: str) -> None:
    """A task (dataplane/tasks.py) reached a status: once per state, whichever worker saw it."""
    detail = {"task": upstream_task_id, "status": status}
    if message:
        detail["status_message"] = message[:500]
    await record_async(
        {
            **_upstream(ctx, spec, ""),
            "hop": "task.status",
            "outcome": "error" if status == "failed" else "ok",
            "detail": detail,
        }
    )


async def policy_action(ctx, spec, event: dict) -> None:
    """One rule that matched: which rule, what it found (kinds and counts, never the text)."""
    detail = {key: event[key] for key in _EVENT_DETAIL}
    detail.update(
        applied=event["applied"],
        kinds=event["kinds"],
        count=event["count"],
        paths=event["paths"],
        alert=event["alert"],
    )
    if event.get("error"):
        detail["error"] = event["error"]
    if event.get("removed"):
        # Fields of a structured result removed to keep its declared types (output_schema).
        detail["removed"] = event["removed"]
    blocked = event["applied"] and event["action"] == "block"
    await record_async(
        {
            **_upstream(ctx, spec, ""),
            "hop": "policy.action",
            "outcome": "blocked" if blocked else "ok",
            "detail": detail,
        }
    )


async def approval(ctx, spec, decision: str, detail: dict) -> None:
    """One step of a call's approval: asked, approved (by whom), refused, timed out, or
    unanswerable (dataplane/approval.py)."""
    await record_async(
        {
            **_upstream(ctx, spec, ""),
            "hop": "policy.approval",
            "outcome": "ok" if decision in ("asked", "approved") else "blocked",
            "detail": {"decision": decision, **detail},
        }
    )


async def tool_filtered(ctx, name: str, reason: str) -> None:
    await record_async(
        {
            **_base(ctx),
            "hop": "policy.tool_filtered",
            "tool": name,
            "outcome": "blocked",
            "detail": {"reason": reason},
        }
    )


async def tool_withheld(
    snapshot, spec, principal, name: str, upstream_name: str, reason: str, flags=()
):
    """A catalog fetch withheld a tool; written once per fetch, not per list or call. `flags`:
    what the admission checks found in its definition."""
    detail = {"reason": reason}
    if flags:
        detail["admission"] = list(flags)
    await record_async(
        {
            "hop": "policy.tool_filtered",
            "workspace_id": snapshot.workspace_id,
            "gateway_id": snapshot.id,
            "gateway_slug": snapshot.slug,
            "assignment_id": spec.id,
            "server_id": spec.upstream.server_id,
            "server_name": spec.upstream.server_name,
            "user_id": principal.user_id,
            "user_email": principal.email,
            "token_id": principal.token_id,
            "tool": name,
            "upstream_tool": upstream_name,
            "outcome": "blocked",
            "detail": detail,
        }
    )


async def session_event(ctx, hop: str) -> None:
    await record_async({**_base(ctx), "hop": hop})


async def limit_exceeded(ctx, exceeded) -> None:
    """A rate limit refused the request; written once per refusal, like any other refusal."""
    limit = exceeded.limit
    detail = {"limit": limit.name, "scope": limit.scope, "rate": limit.rate}
    detail["retry_after"] = exceeded.retry_after
    await record_async(
        {
            **_base(ctx),
            "hop": "policy.limit_exceeded",
            "tool": ctx.tool,
            "outcome": "blocked",
            "detail": detail,
        }
    )


# How long a source's refusal count is kept for the next row to report it.
_FOLD_KEEP_SECONDS = 86400


async def auth_denied(
    *, snapshot, reason: str, source: str = "", user_id=None, email="", token_id=None
) -> None:
    """One row per source, gateway and reason in each AUTH_DENIED_WINDOW_SECONDS window.

    The first refusal of a window writes the row; later ones only count in the cache, so a
    flood of bad tokens cannot grow the chain or the alert stream. The source's next row, in a
    later window, carries the count of the last window that had one (`previous_window_count`):
    the chain stays append-only and every refusal is accounted for in the log and its export.
    """
    window = settings.AUTH_DENIED_WINDOW_SECONDS
    started = int(time.time() // window) * window
    current = f"{window}@{started}"
    folds = f"auth-denied:{snapshot.id}:{reason.replace(' ', '-')}:{source}"
    if not await cache.aadd(f"{folds}:{current}", 1, _FOLD_KEEP_SECONDS):
        # ValueError: the count expired in between; this one refusal is not worth a row.
        with contextlib.suppress(ValueError):
            await cache.aincr(f"{folds}:{current}")
        return
    detail = {"reason": reason, "source": source, "window_seconds": window}
    last = await cache.aget(f"{folds}:last")
    if last is not None and last != current:
        count = await cache.aget(f"{folds}:{last}")
        if count:
            detail["previous_window_count"] = count
            detail["previous_window_start"] = int(last.partition("@")[2])
    await cache.aset(f"{folds}:last", current, _FOLD_KEEP_SECONDS)
    await record_async(
        {
            "hop": "auth.denied",
            "workspace_id": snapshot.workspace_id,
            "gateway_id": snapshot.id,
            "gateway_slug": snapshot.slug,
            "user_id": user_id,
            "user_email": email,
            "token_id": token_id,
            "outcome": "blocked",
            "detail": detail,
        }
    )
