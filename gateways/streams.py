"""How one call is answered: plain JSON when quiet, an SSE stream as soon as it is not.

Also the two ways traffic reaches a client that is not the reply itself: requests relayed to
the client (answered by a later POST that any worker may receive, hence the channel layer), and
the long-lived notification stream of a gateway (list_changed).
"""

import asyncio

from channels.layers import get_channel_layer
from django.conf import settings

from gateways import cancellation, config_events, dispatch, protocol
from gateways.dispatch import CallContext
from gateways.http import SSE, send_json
from gateways.protocol import RpcError
from servers.sse import PING, frame

ASK_PREFIX = "gh-ask:"


def adapt(ctx: CallContext, result: dict) -> dict:
    """Give the result the shape of the client's era."""
    if ctx.modern:
        result = dict(result)
        result.setdefault("resultType", "complete")
        meta = dict(result.get("_meta") or {})
        meta[protocol.META_SERVER_INFO] = dispatch.server_info(ctx.snapshot)
        result["_meta"] = meta
        return result
    if any(k in result for k in ("resultType", "ttlMs", "cacheScope")):
        result = {k: v for k, v in result.items() if k not in ("resultType", "ttlMs", "cacheScope")}
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
    """Answer one request: JSON when it is quiet, an SSE stream as soon as it is not."""
    queue: asyncio.Queue = asyncio.Queue()
    if accepts_sse:

        async def notify(message: dict) -> None:
            await queue.put(message)

        ctx.notify = notify
        if allow_ask:
            ctx.ask = lambda message: ask(queue.put, message)

    async def call() -> dict:
        try:
            result = await dispatch.handle(ctx, method, params)
            return protocol.result_response(request_id, adapt(ctx, result))
        except RpcError as exc:
            return protocol.error_response(request_id, exc)
        except asyncio.CancelledError:
            # The client cancelled: it ignores the answer, but the HTTP exchange needs one.
            error = RpcError(protocol.REQUEST_CANCELLED, "The request was cancelled.")
            return protocol.error_response(request_id, error)

    task = asyncio.ensure_future(call())
    if call_key is not None:
        cancellation.register(call_key, task)
    try:
        await _reply(task, queue, send, receive, accepts_sse)
    finally:
        if call_key is not None:
            cancellation.unregister(call_key)


async def _reply(task, queue, send, receive, accepts_sse) -> None:
    if not accepts_sse:
        await send_json(send, 200, await task)
        return
    disconnect = asyncio.ensure_future(wait_disconnect(receive))
    getter = asyncio.ensure_future(queue.get())
    try:
        done, _ = await asyncio.wait(
            {task, getter, disconnect}, return_when=asyncio.FIRST_COMPLETED
        )
        if disconnect in done:
            task.cancel()
            return
        if task in done and getter not in done:
            await send_json(send, 200, task.result())
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE})
        heartbeat = settings.MCP_SSE_HEARTBEAT_SECONDS
        while True:
            if getter.done():
                await send(
                    {
                        "type": "http.response.body",
                        "body": frame(getter.result()),
                        "more_body": True,
                    }
                )
                getter = asyncio.ensure_future(queue.get())
            if task.done() and queue.empty():
                break
            done, _ = await asyncio.wait(
                {task, getter, disconnect}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
            )
            if disconnect in done:
                task.cancel()
                return
            if not done:
                await send({"type": "http.response.body", "body": PING, "more_body": True})
        await send({"type": "http.response.body", "body": frame(task.result()), "more_body": False})
    finally:
        getter.cancel()
        disconnect.cancel()


async def wait_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def ask(put, message: dict) -> dict:
    """Relay a request to the client on this call's stream; its answer may reach any worker."""
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
        async with asyncio.timeout(settings.MCP_UPSTREAM_TIMEOUT_SECONDS):
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
        await layer.send(answer_id[len(ASK_PREFIX) :], {"type": "mcp.answer", "message": message})


async def notification_stream(receive, send, gateway_id: int, first, channel=None) -> None:
    """An SSE stream of the gateway's notifications (list_changed), with heartbeats.

    Messages sent straight to `channel` (the legacy transport's replies) go out on it too.
    """
    layer = get_channel_layer()
    channel = channel or await layer.new_channel()
    group = config_events.group_name(gateway_id)
    await layer.group_add(group, channel)
    disconnect = asyncio.ensure_future(wait_disconnect(receive))
    getter = asyncio.ensure_future(layer.receive(channel))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": SSE})
        if first is not None:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        else:
            await send({"type": "http.response.body", "body": PING, "more_body": True})
        while True:
            done, _ = await asyncio.wait(
                {getter, disconnect},
                timeout=settings.MCP_SSE_HEARTBEAT_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if disconnect in done:
                return
            if getter in done:
                event = getter.result()
                getter = asyncio.ensure_future(layer.receive(channel))
                if event.get("type") in ("mcp.notify", "mcp.deliver"):
                    await send(
                        {
                            "type": "http.response.body",
                            "body": frame(event["message"]),
                            "more_body": True,
                        }
                    )
            else:
                await send({"type": "http.response.body", "body": PING, "more_body": True})
    finally:
        getter.cancel()
        disconnect.cancel()
        await layer.group_discard(group, channel)


async def listen(scope, receive, send, snapshot, request_id) -> None:
    """2026-07-28 `subscriptions/listen`: the stream of list_changed notifications."""
    await notification_stream(receive, send, snapshot.id, first=None)
