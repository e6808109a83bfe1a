"""The reply channel of this process and event loop: where connectors' consumers send what
belongs to the workstation sessions opened here.

One channel per loop (`channel_layer.new_channel()`), read by one task that hands each message
to the session it names (`session` key). A message for a session no longer here is dropped.
The channel keeps the layer's default prefix: the Redis layer reads every process-local channel
of one prefix from one list, and a channel of its own prefix would wait behind the others.
"""

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Callable

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

Handler = Callable[[dict], None]


class ReplyChannel:
    def __init__(self, layer, name: str):
        self.layer = layer
        self.name = name
        self._handlers: dict[str, Handler] = {}
        self._reader: asyncio.Task | None = None

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()

    def start(self) -> None:
        # Its own context: it outlives the call that happened to start it.
        self._reader = asyncio.get_running_loop().create_task(
            self._read(), context=contextvars.Context()
        )

    def subscribe(self, session: str, handler: Handler) -> None:
        self._handlers[session] = handler

    def unsubscribe(self, session: str) -> None:
        self._handlers.pop(session, None)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.name)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a layer hiccup must not end the reader
                logger.exception("the workstation reply channel could not be read")
                await asyncio.sleep(1)
                continue
            handler = self._handlers.get(message.get("session", ""))
            if handler is None:
                continue
            try:
                handler(message)
            except Exception:  # noqa: BLE001 - one session's fault must not stop the others
                logger.exception("a workstation reply could not be handled")


_channels: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReplyChannel]" = (
    weakref.WeakKeyDictionary()
)
_creating: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)


async def reply_channel() -> ReplyChannel:
    """This loop's reply channel, created and its reader started on first use, and made anew
    when the channel layer was replaced (CHANNEL_LAYERS changed): consumers send on the layer
    of the day, and a reader of the old one would never hear them."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    channel = _channels.get(loop)
    if channel is not None and channel.layer is layer:
        return channel
    lock = _creating.setdefault(loop, asyncio.Lock())
    async with lock:
        channel = _channels.get(loop)
        if channel is None or channel.layer is not layer:
            if channel is not None:
                channel.stop()
            channel = ReplyChannel(layer, await layer.new_channel())
            channel.start()
            _channels[loop] = channel
    return channel


def current() -> ReplyChannel | None:
    """This loop's reply channel if it has one (sync, from inside the loop)."""
    try:
        return _channels.get(asyncio.get_running_loop())
    except RuntimeError:
        return None
