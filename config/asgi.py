"""ASGI entry point: the MCP data plane under /mcp/, the health probes (/healthz, /readyz),
Django (through Channels) for the rest; over WebSocket, the connector socket /connect/ws."""

import asyncio
import gc
import logging
import os

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: these modules use models and settings.
from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

from audit import health_view, tracing  # noqa: E402
from audit.log import durability  # noqa: E402
from audit.log.writer import aflush  # noqa: E402
from core import cache_reads  # noqa: E402
from dataplane import near_cache, stopping  # noqa: E402
from dataplane.endpoint import endpoint  # noqa: E402
from dataplane.workstation_tunnel import WorkstationTunnel  # noqa: E402
from servers.upstream import close_http_session  # noqa: E402
from servers.upstream_pool import pool  # noqa: E402

logger = logging.getLogger(__name__)


async def django_request(scope, receive, send):
    """Django's answer to one request, its database connections closed when it is done.

    Django runs each request's synchronous code on a thread of the request's own, which ends
    with it: a persistent connection (CONN_MAX_AGE) opened there is never used again, yet stays
    open until garbage collection reaches it, so a burst of requests held hundreds open. The
    same context is Django's (the outermost one is kept), so the close runs on that thread.
    """
    async with ThreadSensitiveContext():
        try:
            await django_asgi_app(scope, receive, send)
        finally:
            await sync_to_async(connections.close_all)()


async def http_router(scope, receive, send):
    if scope["path"].startswith("/mcp/"):
        await endpoint(scope, receive, send)
    elif scope["path"] in health_view.PATHS:
        await health_view.serve(scope, receive, send)
    else:
        await django_request(scope, receive, send)


CONNECTOR_PATH = "/connect/ws"
connector_socket = WorkstationTunnel.as_asgi()


async def websocket_router(scope, receive, send):
    if scope["path"] == CONNECTOR_PATH:
        await connector_socket(scope, receive, send)
        return
    # No other socket: refused at the handshake (HTTP 403).
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # What is loaded by now lives as long as the worker: keep it out of every garbage
            # collection the request path triggers. A call frees nearly all it allocates by
            # reference counting, so the default thresholds collected every few calls for
            # little: a young collection per 100,000 allocations, as the audit writer does.
            gc.freeze()
            gc.set_threshold(100_000, 50, 50)
            # The audit writer is ready before the first call is answered: a writer started by
            # the first entry spends a second setting up while answers go out unrecorded.
            if not await durability.start_writer():
                logger.error("the audit writer is not ready; calls wait for it (see /readyz)")
            # Open event streams end when the server is told to stop, so they do not hold it.
            stopping.watch_signals()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            # Every queued audit entry is written before the worker exits, and the spans a
            # writer thread made of them are sent (uvicorn exits without running atexit hooks).
            # The children workstations run for this worker's sessions are stopped, not left.
            await pool.close_workstation_sessions()
            await aflush(timeout=settings.AUDIT_SHUTDOWN_TIMEOUT_SECONDS)
            await asyncio.to_thread(tracing.flush)
            await close_http_session()
            await near_cache.close()
            await cache_reads.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {"http": http_router, "websocket": websocket_router, "lifespan": lifespan}
)
