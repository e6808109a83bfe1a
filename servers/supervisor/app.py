"""The supervisor's aiohttp application: routes, the loopback and shared-secret guard, lifecycle."""

import asyncio
import contextlib
import logging
import socket

from aiohttp import web
from django.conf import settings

from servers.supervisor.auth import SUPERVISOR_HEADER, is_loopback, token_is_valid
from servers.supervisor.bridge import Bridge, json_error

logger = logging.getLogger(__name__)

ROUTE = "/managed/{server_id}/mcp"
BRIDGE = web.AppKey("bridge", Bridge)
SWEEP_SECONDS = 60.0


@web.middleware
async def guard(request: web.Request, handler):
    """Loopback callers holding the shared secret only; HTTP errors answered as JSON."""
    if not is_loopback(request.remote):
        return json_error(403, "The supervisor only accepts loopback connections.")
    if not token_is_valid(request.headers.get(SUPERVISOR_HEADER)):
        return json_error(401, f"A valid {SUPERVISOR_HEADER} header is required.")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason, code=-32600 if exc.status != 404 else -32001)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        logger.exception("unexpected error on %s %s", request.method, request.path)
        return json_error(500, "The supervisor failed to handle this request.", code=-32603)


async def _sweep(app: web.Application):
    """Every minute: forget idle sessions, stop the children of servers no longer managed."""

    async def sweep():
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            await app[BRIDGE].sessions.remove_idle()
            await app[BRIDGE].registry.revalidate()

    task = asyncio.create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _stop_children(app: web.Application) -> None:
    # on_shutdown runs before open streams are torn down, so GET streams end cleanly.
    await app[BRIDGE].shutdown()


def build_app() -> web.Application:
    app = web.Application(client_max_size=settings.MCP_MAX_BODY_BYTES, middlewares=[guard])
    bridge = app[BRIDGE] = Bridge()
    app.router.add_post(ROUTE, bridge.post)
    app.router.add_get(ROUTE, bridge.get, allow_head=False)
    app.router.add_delete(ROUTE, bridge.delete)
    app.cleanup_ctx.append(_sweep)
    app.on_shutdown.append(_stop_children)
    return app


def serve(*, listener: socket.socket) -> None:
    """Serve on a bound socket until SIGINT/SIGTERM; every child is stopped on the way out."""
    web.run_app(
        build_app(),
        sock=listener,
        handler_cancellation=True,
        access_log=None,
        print=None,
        shutdown_timeout=5.0,
    )
