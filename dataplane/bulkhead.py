"""A bulkhead per upstream server, per worker: at most UPSTREAM_MAX_CONCURRENT_CALLS calls to one
server in flight, so a slow server cannot take every socket and task of a worker.

A call waits at most UPSTREAM_CALL_SLOT_WAIT_SECONDS for a slot, then is refused with a JSON-RPC
error that names the server. The limit is read when a server's first call arrives; a changed
setting applies to servers from the next restart.
"""

import asyncio
import contextlib
import weakref

from django.conf import settings

from dataplane import protocol
from dataplane.protocol import RpcError

# Per event loop: a semaphore belongs to the loop it first waited in.
_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]]" = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def slot(server_id: int, server_name: str):
    """Hold one of the server's call slots for the body of the `async with`."""
    slots = _slots.setdefault(asyncio.get_running_loop(), {})
    semaphore = slots.get(server_id)
    if semaphore is None:
        semaphore = slots[server_id] = asyncio.Semaphore(settings.UPSTREAM_MAX_CONCURRENT_CALLS)
    try:
        if semaphore.locked():
            await asyncio.wait_for(semaphore.acquire(), settings.UPSTREAM_CALL_SLOT_WAIT_SECONDS)
        else:
            # A free slot is taken at once: no timeout, so no task for wait_for to run.
            await semaphore.acquire()
    except TimeoutError:
        wait = settings.UPSTREAM_CALL_SLOT_WAIT_SECONDS
        raise RpcError(
            protocol.UPSTREAM_UNAVAILABLE,
            f"The server '{server_name}' is busy: no call slot came free within {wait:g} seconds "
            f"(UPSTREAM_MAX_CONCURRENT_CALLS is {settings.UPSTREAM_MAX_CONCURRENT_CALLS}).",
        ) from None
    try:
        yield
    finally:
        semaphore.release()
