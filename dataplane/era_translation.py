"""Server-to-client requests between the eras, for 2026-07-28 clients.

A 2026-07-28 client answers no request in the middle of a call: a server that needs input
returns `resultType: "input_required"` with `inputRequests`, and the client calls again with
`inputResponses` and the `requestState` it was given. This module turns both kinds of upstream
into that shape:

* A handshake-era upstream asks mid-call (sampling/createMessage, elicitation/create, roots/list).
  Its call is kept running on this worker (a pending call) and the client is answered
  `input_required` at once. The client's retry may reach any worker: the answer goes over the
  channel layer to the pending call's channel, whose worker hands it to the upstream and sends
  back what came next (the result, an error, or the next request).
* A 2026-07-28 upstream returns `input_required` itself: its requests go to the client as they
  are, its `requestState` wrapped in the gateway's, and the retry goes upstream unwrapped.

Every `requestState` the client sees is the gateway's (`dataplane/request_state.py`). A pending
call whose client does not come back within MCP_UPSTREAM_TIMEOUT_SECONDS is cancelled, which
tells the upstream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable

from channels.layers import get_channel_layer
from django.conf import settings

from dataplane import protocol, request_state
from dataplane.context import CallContext
from dataplane.protocol import RpcError
from servers.upstream import CallHooks

logger = logging.getLogger(__name__)

# The methods whose results may be `input_required` (2026-07-28); any other call of a
# 2026-07-28 client still cannot be asked anything.
INPUT_METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})
RESUME = "era.resume"
# How long a retry waits for the pending call's worker to take its answers before calling the
# pending call gone (the worker stopped, or the call timed out and was cleaned up).
TAKE_SECONDS = 5.0
_rounds = itertools.count(1)
# Pending calls held until done: the loop keeps only weak references to tasks.
_pending: set[asyncio.Task] = set()


class InputRequired(Exception):
    """The call is answered `input_required` now; the result goes to the client as it is."""

    def __init__(self, result: dict):
        super().__init__("input required")
        self.result = result


# -- what a client may be asked ----------------------------------------------------------------


def missing_capability(capabilities: dict | None, request: dict) -> str | None:
    """The capability the client did not declare and `request` needs, or None.

    A bare `elicitation: {}` means form mode only (2025-11-25); URL mode must be declared."""
    capabilities = capabilities or {}
    method = request.get("method")
    if method == "sampling/createMessage":
        return None if isinstance(capabilities.get("sampling"), dict) else "sampling"
    if method == "roots/list":
        return None if isinstance(capabilities.get("roots"), dict) else "roots"
    if method == "elicitation/create":
        elicitation = capabilities.get("elicitation")
        if not isinstance(elicitation, dict):
            return "elicitation"
        if (request.get("params") or {}).get("mode") == "url":
            return None if isinstance(elicitation.get("url"), dict) else "elicitation.url"
        if "form" in elicitation or "url" not in elicitation:
            return None
        return "elicitation.form"
    return None


# The level a 2026-07-28 upstream is asked to log at for a handshake-era client: its sessions
# are sealed, not stored, so a level it set with logging/setLevel is not known per call.
HANDSHAKE_LOG_LEVEL = "info"
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def log_level(ctx: CallContext, meta: dict) -> str | None:
    """The log level a 2026-07-28 upstream is told: the client's own, when it is one."""
    if not ctx.modern:
        return HANDSHAKE_LOG_LEVEL
    level = meta.get(protocol.META_LOG_LEVEL)
    return level if level in LOG_LEVELS else None


def for_handshake_client(request: dict) -> dict:
    """A 2026-07-28 input request as a handshake-era client takes it: URL mode there needs the
    `elicitationId` that 2026-07-28 dropped, so the gateway makes one up."""
    params = dict(request.get("params") or {})
    if request.get("method") == "elicitation/create" and params.get("mode") == "url":
        params.setdefault("elicitationId", uuid.uuid4().hex)
    return {"method": request.get("method"), "params": params}


def for_modern_client(request: dict) -> dict:
    """A handshake-era request as an input request of 2026-07-28, which has no `elicitationId`."""
    params = dict(request.get("params") or {})
    if request.get("method") == "elicitation/create" and params.get("mode") == "url":
        params.pop("elicitationId", None)
    return {"method": request.get("method"), "params": params}


def refusal(capability: str, method: str, *, modern: bool = False) -> dict:
    """The answer an upstream gets for a request its caller cannot take: for a 2026-07-28
    caller, MissingRequiredClientCapability naming the capability (the upstream passes it back,
    and the client gets it with HTTP 400); for a handshake-era one, -32601."""
    message = f"The calling client did not declare the {capability} capability that {method} needs."
    if modern:
        required: dict = {}
        for part in reversed(capability.split(".")):
            required = {part: required}
        return {
            "error": {
                "code": protocol.MISSING_REQUIRED_CLIENT_CAPABILITY,
                "message": message,
                "data": {"requiredCapabilities": required},
            }
        }
    return {"error": {"code": protocol.METHOD_NOT_FOUND, "message": message}}


# -- a 2026-07-28 upstream's input_required, passed through -------------------------------------


def pass_through(ctx: CallContext, method: str, params: dict, result: dict) -> dict:
    """The upstream's `input_required` for the client, its state wrapped in the gateway's."""
    claims = {"kind": "upstream", "state": result.get("requestState")}
    return dict(result, requestState=request_state.seal(ctx, method, params, claims))


def upstream_retry(params: dict, claims: dict) -> dict:
    """The retry as the upstream expects it: its own state back, the gateway's gone."""
    retry = {k: v for k, v in params.items() if k != "requestState"}
    if claims.get("state") is not None:
        retry["requestState"] = claims["state"]
    return retry


# -- a handshake upstream's mid-call requests, turned into input_required ------------------------


@dataclasses.dataclass
class _Asked:
    key: str
    request: dict
    answer: asyncio.Future


class _PendingCall:
    """One upstream call kept running while its 2026-07-28 client answers what it asked."""

    def __init__(self, hooks: CallHooks, capabilities: dict):
        self.outer = hooks.on_notification
        self.capabilities = capabilities
        self.asked: _Asked | None = None
        self.task: asyncio.Task | None = None
        # What the call did that nobody has taken yet, and who waits for it: one future per
        # wait, not a queue getter and asyncio.wait on every call (most calls never ask).
        self._events: collections.deque = collections.deque()
        self._waiter: asyncio.Future | None = None

    def start(self, call: Awaitable[dict]) -> None:
        self.task = asyncio.ensure_future(call)
        self.task.add_done_callback(lambda task: self._happened(("done", task)))

    def _happened(self, event: tuple) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(event)
        else:
            self._events.append(event)

    async def on_request(self, message: dict) -> dict:
        request = for_modern_client(message)
        missing = missing_capability(self.capabilities, request)
        if missing is not None:
            return refusal(missing, str(request["method"]), modern=True)
        asked = _Asked(f"gh-{next(_rounds)}", request, asyncio.get_running_loop().create_future())
        self.asked = asked
        self._happened(("ask", asked))
        return await asked.answer

    async def on_notification(self, message: dict) -> None:
        if self.outer is not None:
            await self.outer(message)

    async def next_event(self) -> tuple:
        """The upstream's next request, or its end ("done", task)."""
        if self._events:
            return self._events.popleft()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            return await self._waiter
        finally:
            self._waiter = None


async def request(
    ctx: CallContext,
    method: str,
    params: dict,
    hooks: CallHooks,
    run: Callable[[CallHooks], Awaitable[dict]],
    describe_error: Callable[[BaseException], RpcError],
) -> dict:
    """Run one upstream call; a 2026-07-28 client's call is answered `input_required` when the
    upstream asks for something mid-call (raising InputRequired), and the call kept pending."""
    if not ctx.modern or method not in INPUT_METHODS:
        return await run(hooks=hooks)
    pending = _PendingCall(hooks, ctx.client_capabilities)
    pending.start(
        run(
            hooks=dataclasses.replace(
                hooks, on_request=pending.on_request, on_notification=pending.on_notification
            )
        )
    )
    try:
        kind, event = await pending.next_event()
    except BaseException:
        pending.task.cancel()
        raise
    if kind == "done":
        return event.result()
    # From here on the first request is answered: side traffic goes to whoever resumes.
    pending.outer = None
    layer = get_channel_layer()
    channel = await layer.new_channel()
    server = asyncio.ensure_future(_serve(pending, channel, describe_error))
    _pending.add(server)
    server.add_done_callback(_pending.discard)
    raise InputRequired(_input_required(ctx, method, params, channel, event))


def _input_required(ctx, method, params, channel: str, asked: _Asked) -> dict:
    claims = {"kind": "pending", "channel": channel, "key": asked.key}
    return {
        "resultType": "input_required",
        "inputRequests": {asked.key: asked.request},
        "requestState": request_state.seal(ctx, method, params, claims),
    }


async def _serve(pending: _PendingCall, channel: str, describe_error) -> None:
    """Take the client's answers for `pending`, from whichever worker they reached."""
    layer = get_channel_layer()
    try:
        while True:
            try:
                async with asyncio.timeout(settings.MCP_UPSTREAM_TIMEOUT_SECONDS):
                    message = await layer.receive(channel)
            except TimeoutError:
                logger.info("a pending upstream call was not resumed in time; cancelled")
                return
            if message.get("type") != RESUME:
                continue
            reply = message["reply"]
            asked = pending.asked
            if asked is None or asked.key != message.get("key") or asked.answer.done():
                error = request_state.invalid("The requestState was already used.").to_error()
                await layer.send(reply, {"type": "era.taken", "kind": "error", "error": error})
                continue
            await layer.send(reply, {"type": "era.taken", "kind": "taken"})

            async def relay(note: dict, reply=reply) -> None:
                await layer.send(reply, {"type": "era.event", "kind": "notify", "message": note})

            pending.outer = relay
            answer = message.get("answer")
            asked.answer.set_result(answer)
            kind, event = await pending.next_event()
            pending.outer = None
            if kind == "ask":
                outcome = {"kind": "ask", "key": event.key, "request": event.request}
                await layer.send(reply, {"type": "era.event", **outcome})
                continue
            try:
                outcome = {"kind": "result", "result": event.result()}
            except Exception as exc:
                outcome = {"kind": "error", "error": describe_error(exc).to_error()}
            await layer.send(reply, {"type": "era.event", **outcome})
            return
    finally:
        # Cancelling tells the upstream; awaiting retrieves an error nobody else will read.
        if pending.task is not None:
            pending.task.cancel()
            with contextlib.suppress(BaseException):
                await pending.task


async def resume(ctx: CallContext, method: str, params: dict, claims: dict) -> dict:
    """The retry of a pending call: its answer to the pending call's worker, then what the
    upstream did next. Raises InputRequired for the upstream's next request."""
    key = claims.get("key")
    responses = params.get("inputResponses")
    answer = responses.get(key) if isinstance(responses, dict) else None
    if not isinstance(answer, dict):
        raise RpcError(
            protocol.INVALID_PARAMS,
            f"inputResponses has no answer to the input request '{key}'.",
            {"reason": "missing_input_response"},
        )
    upstream_answer = {"result": answer}
    layer = get_channel_layer()
    reply = await layer.new_channel()
    await layer.send(
        claims["channel"],
        {"type": RESUME, "reply": reply, "key": key, "answer": upstream_answer},
    )
    try:
        async with asyncio.timeout(TAKE_SECONDS):
            taken = await layer.receive(reply)
    except TimeoutError:
        raise request_state.invalid(
            "The call this requestState continues has ended; call the tool again."
        ) from None
    if taken.get("kind") == "error":
        error = taken["error"]
        raise RpcError(error["code"], error["message"], error.get("data"))
    while True:
        try:
            async with asyncio.timeout(settings.MCP_UPSTREAM_TIMEOUT_SECONDS):
                event = await layer.receive(reply)
        except TimeoutError:
            raise RpcError(
                protocol.UPSTREAM_TIMEOUT, "The upstream did not go on after the answers."
            ) from None
        kind = event.get("kind")
        if kind == "notify":
            if ctx.notify is not None:
                await ctx.notify(event["message"])
            continue
        if kind == "ask":
            asked = _Asked(
                event["key"], event["request"], asyncio.get_running_loop().create_future()
            )
            raise InputRequired(_input_required(ctx, method, params, claims["channel"], asked))
        if kind == "error":
            error = event["error"]
            raise RpcError(error["code"], error["message"], error.get("data"))
        return event["result"]
