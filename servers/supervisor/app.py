"""The supervisor's aiohttp application: routes, the guard (a unix socket or a loopback peer, and
a request proven with the key: `servers.supervisor.auth`), the proof on answers, lifecycle."""

import asyncio
import contextlib
import logging
import socket

from aiohttp import web
from django.conf import settings

from servers.supervisor.auth import (
    PROOF_HEADER,
    REQUEST_HEADER,
    ReplayGuard,
    RequestRefused,
    is_loopback,
    proof_for,
)
from servers.supervisor.bridge import Bridge, json_error

logger = logging.getLogger(__name__)

ROUTE = "/managed/{server_id}/mcp"
BRIDGE = web.AppKey("bridge", Bridge)
REPLAYS = web.AppKey("replays", ReplayGuard)
# The proven request's nonce, answered with the proof when the response is prepared.
NONCE = "gatehouse_supervisor_nonce"
SWEEP_SECONDS = 60.0


@web.middleware
async def guard(request: web.Request, handler):
    """Callers on the socket or loopback that prove they hold the key, each request once; HTTP
    errors answered as JSON."""
    if not _local(request):
        return json_error(403, "The supervisor only accepts local connections.")
    try:
        # Read once here for the body digest; aiohttp keeps it for the handler.
        body = await request.read() if request.body_exists else b""
        request[NONCE] = request.app[REPLAYS].check(
            request.headers.get(REQUEST_HEADER),
            method=request.method,
            path=request.raw_path,
            body=body,
        )
    except RequestRefused as exc:
        return json_error(401, str(exc))
    except web.HTTPRequestEntityTooLarge as exc:
        return json_error(exc.status, exc.reason, code=-32600)
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


def _local(request: web.Request) -> bool:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None and sock.family == socket.AF_UNIX:
        return True
    return is_loopback(request.remote)


async def _prove(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to a proven request, streamed ones too, carries the proof in its head."""
    nonce = request.get(NONCE)
    if nonce is not None:
        response.headers[PROOF_HEADER] = proof_for(nonce)


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
    app[REPLAYS] = ReplayGuard()
    app.on_response_prepare.append(_prove)
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
