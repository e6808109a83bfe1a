"""Step 7 of the lifecycle: one call to one assignment's upstream.

Over the session step 6 gives it (`dataplane/upstreams.py`): the call itself (with progress,
logging and server-to-client requests relayed to the client, and 2026-07-28 input-required
rounds answered through it), the response rules, and the two upstream hops of the audit trail.
A 2026-07-28 client's side of a call that needs input is `dataplane/era_translation.py`.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid

from audit import trace_context
from dataplane import (
    audit_trail,
    bulkhead,
    catalog,
    circuit_breaker,
    era_translation,
    policy,
    protocol,
    request_state,
    upstreams,
)
from dataplane.context import CallContext
from dataplane.protocol import RpcError
from dataplane.snapshot import AssignmentSpec
from identities.upstream import step_up
from identities.upstream.brokering import IdentityError
from servers.upstream import (
    CallHooks,
    UpstreamError,
    UpstreamInsufficientScope,
    UpstreamRejected,
    UpstreamReplyTooLarge,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from servers.workstation.session import ConnectorMissing, WorkstationSession

logger = logging.getLogger(__name__)


async def call_upstream(
    ctx: CallContext,
    spec: AssignmentSpec,
    method: str,
    params: dict,
    *,
    timeout=None,
    param_headers: dict | None = None,
) -> dict:
    responses = params.get("inputResponses")
    if isinstance(responses, dict) and responses:
        params = dict(params, inputResponses=await policy.check_answers(ctx, spec, responses))
    # Only these carry a call's own input rounds; `tasks/update` sends its answers as they are.
    if ctx.modern and method in era_translation.INPUT_METHODS:
        claims = request_state.unseal(ctx, method, params)
        if claims is not None and claims.get("kind") == "pending":
            return await _resume(ctx, spec, method, params, claims)
        # Answers without a state go on as they are: a 2026-07-28 upstream need not keep any
        # (SEP-2322), and judges them itself; a handshake-era one ignores the unknown key.
        if claims is not None:
            params = era_translation.upstream_retry(params, claims)
    asked_params = params
    try:
        identity = await upstreams.identity_for(spec, ctx.principal, ctx.snapshot)
    except IdentityError as exc:
        return identity_required(
            ctx,
            method,
            exc.message,
            getattr(exc, "connect_url", ""),
            url_mode=getattr(exc, "url_mode", False),
        )
    ctx.upstream_identity = identity.source
    session = upstreams.upstream_session(spec, identity, ctx.snapshot, catalog.on_upstream_event)
    params = dict(params)
    meta = dict(params.get("_meta") or {})
    log_level = era_translation.log_level(ctx, meta)
    for key in list(meta):
        if key.startswith("io.modelcontextprotocol/"):
            meta.pop(key)  # the upstream client writes its own envelope
    # The client's trace keys go on only as checked, naming the gateway's span (SEP-414).
    for key in trace_context.KEYS:
        meta.pop(key, None)
    meta.update(trace_context.outgoing(ctx.correlation_id, spec.id, ctx.trace, ctx.baggage))
    client_token = meta.pop("progressToken", None)
    if client_token is not None:
        meta["progressToken"] = f"gh-{uuid.uuid4().hex}"
    if meta:
        params["_meta"] = meta
    else:
        params.pop("_meta", None)

    async def on_notification(message: dict) -> None:
        if ctx.notify is None or not _wanted(ctx, message):
            return
        if message.get("method") == "notifications/progress":
            if client_token is None:
                return
            message = dict(
                message, params=dict(message.get("params") or {}, progressToken=client_token)
            )
        await ctx.notify(message)

    async def on_request(message: dict) -> dict:
        missing = era_translation.missing_capability(ctx.client_capabilities, message)
        if missing is not None:
            return era_translation.refusal(missing, str(message.get("method")), modern=ctx.modern)
        if ctx.ask is None:
            return {
                "error": {
                    "code": protocol.METHOD_NOT_FOUND,
                    "message": "The calling client cannot answer requests.",
                }
            }
        reply = await ctx.ask(message)
        answer = reply.get("result") if isinstance(reply, dict) else None
        if not isinstance(answer, dict):
            return reply
        key = str(message.get("method"))
        try:
            checked = await policy.check_answers(ctx, spec, {key: answer})
        except RpcError as blocked:
            return {"error": blocked.to_error()}
        return dict(reply, result=checked.get(key))

    hooks = CallHooks(
        on_notification=on_notification,
        on_request=on_request,
        client_capabilities=ctx.client_capabilities,
        log_level=log_level,
        param_headers=param_headers,
        stateless=ctx.modern,
    )
    server = spec.upstream.server_name
    timeout = timeout or spec.timeout
    upstream_name = params.get("name") or params.get("uri") or ""
    breaker = circuit_breaker.breaker_for(spec, identity)
    try:
        breaker.admit()
    except circuit_breaker.CircuitOpen as exc:
        raise RpcError(
            protocol.UPSTREAM_UNAVAILABLE,
            exc.describe(server),
            {"server": server, "retryAfterSeconds": round(exc.retry_in, 1)},
        ) from exc
    if isinstance(session, WorkstationSession):
        found = await session.locate()
        ctx.upstream_connector = (
            {"id": found.get("connector"), "host": found.get("host", "")} if found else None
        )
    await audit_trail.upstream_request(ctx, spec, upstream_name, params)
    started = time.perf_counter()
    retried = False
    try:
        for _round in range(8):
            try:
                async with bulkhead.slot(spec.upstream.server_id, server):
                    result = await era_translation.request(
                        ctx,
                        method,
                        asked_params,
                        hooks,
                        functools.partial(
                            session.request,
                            method,
                            params,
                            timeout=timeout,
                            max_duration=spec.max_call_seconds,
                        ),
                        functools.partial(_described, spec),
                    )
            except UpstreamUnauthorized:
                # A person's OAuth token the upstream refused is refreshed, and the call
                # retried once with the new one.
                if retried:
                    raise
                catalog.forget(spec, identity)  # the refused identity's lists go with it
                fresh = await upstreams.identity_after_refusal(
                    spec, ctx.principal, ctx.snapshot, identity
                )
                if fresh is None:
                    raise
                retried, identity = True, fresh
                session = upstreams.upstream_session(
                    spec, identity, ctx.snapshot, catalog.on_upstream_event
                )
                continue
            except UpstreamInsufficientScope as exc:
                # Never retried: more scope needs the person's consent
                # (identities/upstream/step_up.py).
                raise await step_up.refused_for_scope(
                    spec, ctx.principal, ctx.snapshot, identity, exc.challenge
                ) from exc
            if result.get("resultType") != "input_required":
                break
            if ctx.modern:
                raise era_translation.InputRequired(
                    era_translation.pass_through(ctx, method, asked_params, result)
                )
            params = await _answer_input_required(ctx, params, result)
        else:
            raise RpcError(protocol.INTERNAL_ERROR, f"The server '{server}' kept asking for input.")
    except era_translation.InputRequired as asked:
        breaker.succeeded()
        await audit_trail.upstream_response(ctx, spec, upstream_name, started, result=asked.result)
        return asked.result
    except IdentityError as exc:
        await audit_trail.upstream_response(
            ctx, spec, upstream_name, started, error={"code": -32001, "message": exc.message}
        )
        return identity_required(
            ctx,
            method,
            exc.message,
            getattr(exc, "connect_url", ""),
            url_mode=getattr(exc, "url_mode", False),
        )
    except RpcError as exc:
        await audit_trail.upstream_response(ctx, spec, upstream_name, started, error=exc.to_error())
        raise
    except UpstreamError as exc:
        breaker.succeeded()  # it answered: it is there
        error = RpcError(exc.code, exc.message, exc.data)
        await audit_trail.upstream_response(
            ctx, spec, upstream_name, started, error=error.to_error()
        )
        raise error from exc
    except UpstreamTimeout as exc:
        breaker.failed()
        error = _timed_out(server, exc)
        await audit_trail.upstream_response(
            ctx, spec, upstream_name, started, error=error.to_error()
        )
        raise error from exc
    except UpstreamReplyTooLarge as exc:
        # The session is sound (only the one connection was closed): no reconnecting.
        error = _too_large(spec, exc)
        await audit_trail.upstream_response(
            ctx, spec, upstream_name, started, error=error.to_error()
        )
        raise error from exc
    except ConnectorMissing as exc:
        # Nothing is down: the person has not started their connector. Said as a tool error,
        # with the command that would serve it.
        error = RpcError(protocol.UPSTREAM_UNAVAILABLE, str(exc))
        await audit_trail.upstream_response(
            ctx, spec, upstream_name, started, error=error.to_error()
        )
        if method == "tools/call":
            ctx.outcome = "error"
            return connector_missing(str(exc))
        raise error from exc
    except UpstreamUnavailable as exc:
        if not isinstance(exc, UpstreamRejected):  # a refusal comes from an upstream that is up
            breaker.failed()
        catalog.forget(spec, identity)
        upstreams.upstream_failed(spec, identity, session)
        error = RpcError(
            protocol.UPSTREAM_UNAVAILABLE, f"The server '{server}' is unavailable: {exc}"
        )
        await audit_trail.upstream_response(
            ctx, spec, upstream_name, started, error=error.to_error()
        )
        raise error from exc
    breaker.succeeded()
    return await _finish(ctx, spec, method, upstream_name, started, result)


async def _finish(ctx, spec, method, upstream_name, started, result) -> dict:
    """The response rules on an upstream's result, and its hop in the audit trail."""
    ended = time.perf_counter()
    if result.get("resultType") == "task":
        # A task handle, not a result: the rules see its result once it completed
        # (dataplane/tasks.py). Only a tool call may be answered with one.
        if method != "tools/call":
            server = spec.upstream.server_name
            error = RpcError(
                protocol.UPSTREAM_BAD_REPLY, f"The server '{server}' answered {method} with a task."
            )
            await audit_trail.upstream_response(
                ctx, spec, upstream_name, started, error=error.to_error()
            )
            raise error
        await audit_trail.upstream_response(
            ctx, spec, upstream_name, started, result=result, ended=ended
        )
        return result
    # Response rules run before the hop is logged, so the log holds what they left.
    result, logged, blocked, events = await policy.check_response(ctx, spec, method, result)
    await audit_trail.upstream_response(
        ctx, spec, upstream_name, started, result=logged, ended=ended, blocked=blocked is not None
    )
    await policy.log_events(ctx, spec, events)
    if blocked is not None:
        raise blocked
    return result


async def _resume(ctx, spec, method, params, claims) -> dict:
    """A 2026-07-28 client's answers to a pending call, wherever that call runs."""
    upstream_name = params.get("name") or params.get("uri") or ""
    await audit_trail.upstream_request(ctx, spec, upstream_name, params)
    started = time.perf_counter()
    try:
        result = await era_translation.resume(ctx, method, params, claims)
    except era_translation.InputRequired as asked:
        await audit_trail.upstream_response(ctx, spec, upstream_name, started, result=asked.result)
        return asked.result
    except RpcError as exc:
        await audit_trail.upstream_response(ctx, spec, upstream_name, started, error=exc.to_error())
        raise
    return await _finish(ctx, spec, method, upstream_name, started, result)


def _described(spec: AssignmentSpec, exc: BaseException) -> RpcError:
    """What a pending call's failure says to a client resuming it (the calls' own mapping)."""
    server = spec.upstream.server_name
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, UpstreamError):
        return RpcError(exc.code, exc.message, exc.data)
    if isinstance(exc, UpstreamTimeout):
        return _timed_out(server, exc)
    if isinstance(exc, UpstreamReplyTooLarge):
        return _too_large(spec, exc)
    if isinstance(exc, UpstreamUnavailable | ConnectorMissing):
        return RpcError(
            protocol.UPSTREAM_UNAVAILABLE, f"The server '{server}' is unavailable: {exc}"
        )
    logger.error("a pending upstream call failed", exc_info=exc)
    return RpcError(protocol.INTERNAL_ERROR, f"The call to '{server}' failed.")


def _wanted(ctx: CallContext, message: dict) -> bool:
    """A 2026-07-28 client gets log messages only at or above the level its request named."""
    if not ctx.modern or message.get("method") != "notifications/message":
        return True
    if ctx.log_level not in protocol.LOG_LEVELS:
        return False
    level = (message.get("params") or {}).get("level")
    if level not in protocol.LOG_LEVELS:
        return True
    return protocol.LOG_LEVELS.index(level) >= protocol.LOG_LEVELS.index(ctx.log_level)


def connector_missing(message: str) -> dict:
    """A tool call's answer when no connector serves its workstation server."""
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _too_large(spec: AssignmentSpec, exc: UpstreamReplyTooLarge) -> RpcError:
    """The error naming the cap the reply crossed."""
    server = spec.upstream.server_name
    if not exc.of_size:
        message = f"The server '{server}' is unavailable: {exc}"
        return RpcError(protocol.UPSTREAM_UNAVAILABLE, message)
    limit, cap = upstreams.result_cap(spec)
    return RpcError(
        protocol.UPSTREAM_UNAVAILABLE,
        f"The reply of the server '{server}' exceeds {limit} bytes ({cap}) "
        "and was not read further.",
        {"maxBytes": limit},
    )


def _timed_out(server: str, exc: UpstreamTimeout) -> RpcError:
    """The error naming the bound that fired: the idle timeout or the call's maximum."""
    if exc.bound == "maximum":
        message = f"The call to '{server}' ran for its maximum of {exc.seconds:g} seconds."
        bound = "max_call_seconds"
    else:
        message = f"The server '{server}' did not answer within {exc.seconds:g} seconds."
        bound = "timeout_seconds"
    return RpcError(protocol.UPSTREAM_TIMEOUT, message, {"bound": bound, "seconds": exc.seconds})


def identity_required(
    ctx: CallContext, method: str, message: str, connect_url: str, *, url_mode: bool = False
) -> dict:
    """No usable identity for the upstream: a tool call answers a tool error the model can
    relay to the person; anything else a JSON-RPC error. Either carries where to connect.

    `url_mode`: the person connects in a browser, so a client that supports URL-mode
    elicitation is asked to open the page instead (URLElicitationRequiredError)."""
    ctx.outcome = "error"
    if url_mode and connect_url.startswith("/") and ctx.origin:
        # A page for the person to open: the link must work outside the client too.
        absolute = f"{ctx.origin}{connect_url}"
        message, connect_url = message.replace(connect_url, absolute), absolute
    elicitation = (ctx.client_capabilities or {}).get("elicitation")
    if url_mode and isinstance(elicitation, dict) and "url" in elicitation:
        request = {
            "mode": "url",
            "elicitationId": uuid.uuid4().hex,
            "url": connect_url,
            "message": message,
        }
        raise RpcError(protocol.URL_ELICITATION_REQUIRED, message, {"elicitations": [request]})
    if method == "tools/call":
        return {"content": [{"type": "text", "text": message}], "isError": True}
    raise RpcError(
        protocol.INVALID_REQUEST, message, {"connectUrl": connect_url} if connect_url else None
    )


async def _answer_input_required(ctx: CallContext, params: dict, result: dict) -> dict:
    """A 2026-07-28 upstream asked for input: ask a handshake client, then retry."""
    if ctx.ask is None:
        raise RpcError(
            protocol.INVALID_REQUEST,
            "The server needs input from the client, which this connection cannot relay.",
        )
    responses = {}
    for key, request in (result.get("inputRequests") or {}).items():
        missing = era_translation.missing_capability(ctx.client_capabilities, request)
        if missing is not None:
            refused = era_translation.refusal(missing, str(request.get("method")))["error"]
            raise RpcError(protocol.INVALID_REQUEST, refused["message"])
        answer = await ctx.ask({"jsonrpc": "2.0", **era_translation.for_handshake_client(request)})
        if "error" in answer:
            raise RpcError(
                protocol.INVALID_REQUEST,
                f"The client refused {request.get('method')}.",
                answer["error"],
            )
        responses[key] = answer.get("result") or {}
    retry = dict(params, inputResponses=responses)
    if result.get("requestState") is not None:
        retry["requestState"] = result["requestState"]
    return retry
