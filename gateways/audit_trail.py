"""The audit step of the lifecycle: one log entry per hop, queued without waiting for the disk.

Every entry of one client call shares the call's correlation id. Payloads are recorded as they
leave the rules step, so a redacted secret is never stored.
"""

import time

from audit.recorder import record_async


def _base(ctx) -> dict:
    snapshot, principal = ctx.snapshot, ctx.principal
    return {
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
    }


async def client_request(ctx, params) -> None:
    await record_async({**_base(ctx), "hop": "client.request", "tool": ctx.tool, "payload": params})


async def client_response(ctx, message: dict, started: float) -> None:
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
    await record_async(entry)


def _upstream(ctx, spec, upstream_name) -> dict:
    return {
        **_base(ctx),
        "assignment_id": spec.id,
        "server_id": spec.upstream.server_id,
        "server_name": spec.upstream.server_name,
        "identity_scheme": spec.identity_scheme,
        "tool": ctx.tool,
        "upstream_tool": upstream_name,
    }


async def upstream_request(ctx, spec, upstream_name, params) -> None:
    await record_async(
        {**_upstream(ctx, spec, upstream_name), "hop": "upstream.request", "payload": params}
    )


async def upstream_response(ctx, spec, upstream_name, started, *, result=None, error=None):
    entry = {
        **_upstream(ctx, spec, upstream_name),
        "hop": "upstream.response",
        "latency_ms": (time.perf_counter() - started) * 1000,
        "outcome": "error" if error else "ok",
        "payload": error if error else result,
    }
    if error:
        entry["error_code"] = error.get("code")
        entry["error_message"] = str(error.get("message", ""))[:500]
    await record_async(entry)


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


async def session_event(ctx, hop: str) -> None:
    await record_async({**_base(ctx), "hop": hop})


async def auth_denied(*, snapshot, reason: str, user_id=None, email="", token_id=None) -> None:
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
            "detail": {"reason": reason},
        }
    )
