"""Step 8 of the lifecycle: how one call is answered, plain JSON when quiet, an SSE stream as
soon as it is not.

`run` also opens the call: it names it for the audit trail (`client.request`), hands it to
routing (step 3) and, once answered, writes `client.response`.

Also the two ways traffic reaches a client that is not the reply itself: requests relayed to
the client (answered by a later POST that any worker may receive, hence the channel layer), and
the long-lived notification stream of a gateway (list_changed).
"""

import asyncio
import logging
import os
import time

from channels.layers import get_channel_layer
from django.conf import settings
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS

from audit import metrics, trace_context
from audit.log import durability
from core import config_events, log_records
from dataplane import audit_trail, cancellation, protocol, rate_limits, routing, stopping
from dataplane.context import CallContext
from dataplane.http import SSE, send_json
from dataplane.protocol import RpcError
from servers.sse import PING, frame

logger = logging.getLogger(__name__)

ASK_PREFIX = "gh-ask:"
# Result fields a handshake-era client does not know.
_MODERN_ONLY = ("resultType", "ttlMs", "cacheScope")
# After a failed read of the channel layer, the pause before a notification stream reads again.
LAYER_RETRY_SECONDS = 1.0


def adapt(ctx: CallContext, result: dict) -> dict:
    """Give the result the shape of the client's era."""
    if ctx.modern:
        result = dict(result)
        result.setdefault("resultType", "complete")
        meta = dict(result.get("_meta") or {})
        meta[protocol.META_SERVER_INFO] = routing.server_info(ctx.snapshot)
        result["_meta"] = meta
        return result
    # A task keeps its shape in either era: its client declared the tasks extension.
    is_task = result.get("resultType") == "task" or ctx.method.startswith("tasks/")
    dropped = ("cacheScope",) if is_task else _MODERN_ONLY
    if any(k in result for k in dropped):
        result = {k: v for k, v in result.items() if k not in dropped}
    meta = result.get("_meta")
    if isinstance(meta, dict) and protocol.META_SERVER_INFO in meta:
        meta = {k: v for k, v in meta.items() if k != protocol.META_SERVER_INFO}
        result = (
            dict(result, _meta=meta) if meta else {k: v for k, v in result.items() if k != "_meta"}
        )
    return result


async def run(
    ctx, send, receive, request_id, method, params, accepts_sse, *, allow_ask, call_key=None
):
    """Answer one request: JSON when it is quiet, an SSE stream as soon as it is not.

    The call runs inline in the request's own task, with no helper task on the quiet path;
    the stream is opened by the first side message, or by the keep-alive timer on a long call.
    A request over one of the gateway's rate limits is answered 429 with Retry-After instead.
    No call is answered while the audit writer is behind its durability window
    (`audit/log/durability.py`): 503 with Retry-After before the call, a JSON-RPC error after.
    """
    describe(ctx, request_id, method, params)
    refusal = await audit_behind(request_id, ran=False)
    if refusal is not None:
        retry = str(durability.retry_after_seconds()).encode()
        await send_json(send, 503, refusal, [(b"retry-after", retry)])
        return
    routed, exceeded = await admitted(ctx, method, params)
    if exceeded is not None:
        await audit_trail.limit_exceeded(ctx, exceeded)
        error = protocol.error_response(request_id, exceeded.error())
        await send_json(send, 429, error, exceeded.headers)
        return
    current = asyncio.current_task()
    reply = _Reply(send, receive, current)
    if accepts_sse:
        ctx.notify = reply.event
        if allow_ask:
            ctx.ask = lambda message, timeout=None: ask(reply.event, message, timeout)
    if call_key is not None:
        cancellation.register(call_key, current)
    timer = None
    if accepts_sse:
        heartbeat = settings.MCP_SSE_HEARTBEAT_SECONDS
        timer = asyncio.get_running_loop().call_later(heartbeat, reply.keep_alive)
    started = time.perf_counter()
    try:
        # Logged as the client sent it; the entries name the tool as routing resolved it.
        await audit_trail.client_request(ctx, params)
        result = await routing.handle(ctx, method, routed)
        message = protocol.result_response(request_id, adapt(ctx, result))
    except RpcError as exc:
        message = protocol.error_response(request_id, exc)
    except asyncio.CancelledError:
        if current.cancelling() == 0:
            raise
        current.uncancel()
        if reply.disconnected:
            # The client left: nobody to answer, but the call is closed in the log.
            metrics.client_disconnected(stage="call")
            error = RpcError(protocol.REQUEST_CANCELLED, "The client went away.")
            await audit_trail.client_response(
                ctx, protocol.error_response(request_id, error), started
            )
            return
        # The client cancelled the request: it ignores the answer, but HTTP needs one.
        error = RpcError(protocol.REQUEST_CANCELLED, "The request was cancelled.")
        message = protocol.error_response(request_id, error)
    finally:
        if timer is not None:
            timer.cancel()
        if call_key is not None:
            cancellation.unregister(call_key)
        reply.stop_keeping_alive()
    message = await audit_behind(request_id, ran=True) or message
    await audit_trail.client_response(ctx, message, started)
    await reply.finish(message, http_status(ctx, message))


def http_status(ctx: CallContext, message: dict) -> int:
    """A 2026-07-28 client learns some errors from the HTTP status too (404 for an unknown
    method, 400 for a bad request), by the SDK's table; a handshake-era client always gets 200."""
    error = message.get("error")
    if not ctx.modern or not isinstance(error, dict):
        return 200
    return ERROR_CODE_HTTP_STATUS.get(error.get("code"), 200)


async def admitted(ctx, method, params):
    """(the params as routing takes them, the rate limit they exceed or None). The caller's
    limits are counted before an app's tool name is resolved (which may fetch upstream lists),
    the tool's limits after, under the gateway's name of the tool."""
    exceeded = await rate_limits.check(ctx, method, params, tools=False)
    if exceeded is not None:
        return params, exceeded
    routed = await routing.resolve_app_call(ctx, method, params)
    return routed, await rate_limits.check(ctx, method, routed, tools=True)


async def audit_behind(request_id, *, ran: bool) -> dict | None:
    """None when the call may be answered; otherwise, once the audit writer did not catch up
    with its durability window in time, the JSON-RPC error to answer instead. `ran`: the
    call already ran, and its result is withheld (its entries may not outlive a crash)."""
    if await durability.wait_caught_up():
        return None
    if ran:
        error = RpcError(protocol.AUDIT_BEHIND, "The audit log is behind; the result is withheld.")
    else:
        error = RpcError(protocol.AUDIT_BEHIND, "The audit log is behind; try again shortly.")
    return protocol.error_response(request_id, error)


def describe(ctx: CallContext, request_id, method: str, params) -> None:
    """Name the call for the audit trail."""
    # 128 random bits, as a UUID holds; os.urandom skips building a UUID object per call.
    ctx.correlation_id = os.urandom(16).hex()
    log_records.correlation_id.set(ctx.correlation_id)
    ctx.method = method
    ctx.rpc_id = request_id
    ctx.audit_base = None
    ctx.trace, ctx.baggage = None, ""
    if isinstance(params, dict):
        meta = params.get("_meta")
        if meta:
            ctx.trace, ctx.baggage = trace_context.incoming(meta)
        key = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}.get(method)
        named = params.get(key) if key else None
        # Only a string names the call; routing refuses any other shape.
        ctx.tool = named if isinstance(named, str) else ""


class _Reply:
    """The HTTP answer of one call: JSON, or SSE once there is something besides the result."""

    def __init__(self, send, receive, caller: asyncio.Task):
        self._send = send
        self._receive = receive
        self._caller = caller
        self._lock = asyncio.Lock()
        self._started = False
        self._keeper: asyncio.Task | None = None
        self.disconnected = False

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self._send({"type": "http.response.start", "status": 200, "headers": SSE})

    async def event(self, message: dict) -> None:
        async with self._lock:
            await self._start()
            await self._send(
                {"type": "http.response.body", "body": frame(message), "more_body": True}
            )

    def keep_alive(self) -> None:
        """A long call: commit to SSE, ping until the result, and notice a client that left."""
        self._keeper = asyncio.get_running_loop().create_task(self._keep_alive())

    async def _keep_alive(self) -> None:
        caller = None
        watcher = asyncio.ensure_future(wait_disconnect(self._receive))
        try:
            while True:
                async with self._lock:
                    await self._start()
                    await self._send(
                        {"type": "http.response.body", "body": PING, "more_body": True}
                    )
                done, _ = await asyncio.wait({watcher}, timeout=settings.MCP_SSE_HEARTBEAT_SECONDS)
                if watcher in done:
                    self.disconnected = True
                    caller = self._caller
                    break
        finally:
            watcher.cancel()
        if caller is not None:
            caller.cancel()

    def stop_keeping_alive(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()

    async def finish(self, message: dict, status: int = 200) -> None:
        if self.disconnected:
            return
        async with self._lock:
            if not self._started:
                await send_json(self._send, status, message)
                return
            await self._send(
                {"type": "http.response.body", "body": frame(message), "more_body": False}
            )


async def wait_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def ask(put, message: dict, timeout: float | None = None) -> dict:
    """Relay a request to the client on this call's stream; its answer may reach any worker.
    `timeout`: how long to wait for it (MCP_UPSTREAM_TIMEOUT_SECONDS unless given)."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    request = {
        "jsonrpc": "2.0",
        "id": f"{ASK_PREFIX}{channel}",
        "method": message["method"],
        "params": message.get("params") or {},
    }
    await put(request)
    try:
        async with asyncio.timeout(timeout or settings.MCP_UPSTREAM_TIMEOUT_SECONDS):
            event = await layer.receive(channel)
    except TimeoutError:
        return {
            "error": {"code": protocol.UPSTREAM_TIMEOUT, "message": "The client did not answer."}
        }
    answer = event.get("message") or {}
    return {k: v for k, v in answer.items() if k in ("result", "error")}


async def deliver_answer(message: dict) -> None:
    answer_id = message.get("id")
    if isinstance(answer_id, str) and answer_id.startswith(ASK_PREFIX):
        layer = get_channel_layer()
        channel = answer_id[len(ASK_PREFIX) :]
        try:
            layer.require_valid_channel_name(channel)
        except TypeError:
            return  # not an id the gateway gave out: nobody is waiting for it
        await layer.send(channel, {"type": "mcp.answer", "message": message})


async def notification_stream(
    receive, send, gateway_id: int, first, channel=None, shape=None
) -> None:
    """An SSE stream of the gateway's notifications (list_changed), with heartbeats.

    Messages sent straight to `channel` (the legacy transport's replies) go out on it too.
    `shape` turns each notification into what this stream sends, or None to skip it.
    """
    layer = get_channel_layer()
    channel = channel or await layer.new_channel()
    group = config_events.group_name(gateway_id)
    await layer.group_add(group, channel)
    disconnect = asyncio.ensure_future(wait_disconnect(receive))
    getter = asyncio.ensure_future(layer.receive(channel))
    ending = asyncio.ensure_future(stopping.stopping())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": SSE})
        if first is not None:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        else:
            await send({"type": "http.response.body", "body": PING, "more_body": True})
        while True:
            done, _ = await asyncio.wait(
                {getter, disconnect, ending},
                timeout=settings.MCP_SSE_HEARTBEAT_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if disconnect in done:
                return
            if ending in done:
                # The worker is stopping: end the response; the client reconnects elsewhere.
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if getter in done:
                try:
                    event = getter.result()
                except Exception:
                    # The channel layer failed to read (its store restarting, say): the stream
                    # stays open and reads again after a pause, rather than failing the client.
                    logger.warning("notification stream read failed", exc_info=True)
                    await asyncio.sleep(LAYER_RETRY_SECONDS)
                    event = {}
                getter = asyncio.ensure_future(layer.receive(channel))
                message = event.get("message")
                if event.get("type") == "mcp.notify" and shape is not None:
                    message = shape(message)
                if event.get("type") in ("mcp.notify", "mcp.deliver") and message is not None:
                    await send(
                        {"type": "http.response.body", "body": frame(message), "more_body": True}
                    )
            else:
                await send({"type": "http.response.body", "body": PING, "more_body": True})
    finally:
        getter.cancel()
        disconnect.cancel()
        ending.cancel()
        await layer.group_discard(group, channel)
