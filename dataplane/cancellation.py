"""`notifications/cancelled` from a client stops its request, on whichever worker runs it.

Each worker keeps its in-flight calls by (session, request id). A cancellation that arrives at
another worker is broadcast on the channel layer; every worker listens and cancels its own.
Cancelling the call's task makes the upstream client tell the upstream in turn.

The listener outlives any failure of the channel layer: a read that times out or loses its
Redis connection is counted (`gatehouse_cancellation_listener_failures`), logged as one warning
line, and followed by a pause that doubles up to `RETRY_MAX_SECONDS` before it listens again on
the same channel (messages sent meanwhile wait there).
"""

import asyncio
import contextlib
import contextvars
import json
import logging

from channels.layers import get_channel_layer

from audit import metrics

logger = logging.getLogger(__name__)

GROUP = "mcp.cancellations"
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
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
        # Its own context: it outlives the call that started it, whose correlation id must not
        # name its log lines.
        _listeners[loop] = loop.create_task(_listen(), context=contextvars.Context())


async def _listen() -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    channel, pause = None, RETRY_FIRST_SECONDS
    try:
        while True:
            try:
                channel = channel or await layer.new_channel()
                await layer.group_add(GROUP, channel)
                pause = RETRY_FIRST_SECONDS
                while True:
                    event = await layer.receive(channel)
                    key = event.get("key") if event.get("type") == "mcp.cancel" else None
                    if isinstance(key, list):
                        _cancel_local(tuple(key))
            except Exception as failure:
                # A Redis timeout or lost connection: expected now and then, and survived.
                metrics.cancellation_listener_failed(failure)
                logger.warning(
                    "cancellation listener: the channel layer failed (%s: %s); listening again"
                    " in %.1f s",
                    type(failure).__name__,
                    failure,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_SECONDS)
    finally:
        if channel is not None:
            # Best effort on the way out: the group forgets members that stopped reading.
            with contextlib.suppress(Exception):
                await layer.group_discard(GROUP, channel)
