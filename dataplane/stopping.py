"""The server process is stopping: open event streams end rather than hold the worker up.

An MCP client's GET stream never ends by itself, and the ASGI server waits for open responses
before it runs the lifespan shutdown (which flushes the audit log). At start-up the lifespan
chains a handler onto the ASGI server's own SIGTERM and SIGINT handlers; when one fires,
`stopping()` completes, every notification stream ends its response, and the server's
graceful shutdown proceeds with only the calls still running (`SHUTDOWN_GRACE_SECONDS` bounds
those). Clients reconnect their streams to another worker.
"""

import asyncio
import signal
import threading

_event: asyncio.Event | None = None
_loop: asyncio.AbstractEventLoop | None = None


def _stopping_event() -> asyncio.Event:
    global _event, _loop
    loop = asyncio.get_running_loop()
    if _event is None or _loop is not loop:
        _event, _loop = asyncio.Event(), loop
    return _event


async def stopping() -> None:
    """Completes once the process was asked to stop."""
    await _stopping_event().wait()


def watch_signals() -> bool:
    """Chain onto the current SIGTERM and SIGINT handlers (call it on the serving loop, in the
    main thread); False where there is nothing to chain onto."""
    if threading.current_thread() is not threading.main_thread():
        return False
    event = _stopping_event()
    loop = asyncio.get_running_loop()
    chained = False
    for number in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(number)
        if not callable(previous):
            continue

        def handler(signum, frame, previous=previous):
            loop.call_soon_threadsafe(event.set)
            previous(signum, frame)

        signal.signal(number, handler)
        chained = True
    return chained
