"""`notifications/cancelled` from a client stops its request, on whichever worker runs it.

Each worker keeps its in-flight calls by (session, request id). A cancellation that arrives at
another worker is broadcast on the channel layer; every worker listens and cancels its own.
Cancelling the call's task makes the upstream client tell the upstream in turn.
"""

import asyncio
import json

from channels.layers import get_channel_layer

GROUP = "mcp.cancellations"
_inflight: dict[tuple[str, str], asyncio.Task] = {}
_listeners: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def key(session_id: str, request_id) -> tuple[str, str]:
    return session_id, json.dumps(request_id)


def register(call_key: tuple[str, str], task: asyncio.Task) -> None:
    _inflight[call_key] = task
    _ensure_listener()


def unregister(call_key: tuple[str, str]) -> None:
    _inflight.pop(call_key, None)


def _cancel_local(call_key: tuple[str, str]) -> bool:
    task = _inflight.pop(call_key, None)
    if task is None or task.done():
        return False
    task.cancel()
    return True


async def cancel(session_id: str, request_id) -> None:
    call_key = key(session_id, request_id)
    if _cancel_local(call_key):
        return
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(GROUP, {"type": "mcp.cancel", "key": list(call_key)})


def _ensure_listener() -> None:
    loop = asyncio.get_running_loop()
    listener = _listeners.get(loop)
    if listener is None or listener.done():
        _listeners[loop] = loop.create_task(_listen())


async def _listen() -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    try:
        while True:
            event = await layer.receive(channel)
            if event.get("type") == "mcp.cancel":
                _cancel_local(tuple(event["key"]))
    finally:
        await layer.group_discard(GROUP, channel)
