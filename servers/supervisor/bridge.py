"""The HTTP side: each managed server as a Streamable HTTP MCP endpoint on loopback.

`POST /managed/<server_id>/mcp` carries the caller's JSON-RPC messages, `GET` opens the
server-to-client stream, `DELETE` ends the session. A session's `initialize` is answered from
the child's cached initialize result; every other request is forwarded under a rewritten id and
answered as JSON, or as an SSE stream carrying what the child says about it before its answer.
"""

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from django.conf import settings
from django.db import DatabaseError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from servers.supervisor.errors import RequestCancelled, SupervisorError
from servers.supervisor.process import ManagedProcess
from servers.supervisor.registry import Registry, UnknownServer
from servers.supervisor.sessions import BridgeSession, SessionStore

logger = logging.getLogger(__name__)

HEADER_SESSION = "Mcp-Session-Id"
HEADER_PROTOCOL = "MCP-Protocol-Version"
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache, no-transform"}
# The capability a caller must have declared before the child may send it this request.
_REQUEST_CAPABILITY = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


def rpc_error(request_id: Any, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def json_error(status: int, message: str, *, code: int = INVALID_REQUEST, request_id=None):
    return web.json_response(rpc_error(request_id, code, message), status=status)


def negotiate_version(requested: Any, child_version: str) -> str:
    """The caller's revision if the child speaks it too (children speak every older one)."""
    known = isinstance(requested, str) and requested in HANDSHAKE_PROTOCOL_VERSIONS
    return requested if known and requested <= child_version else child_version


def _sse_event(message: dict) -> bytes:
    return f"event: message\ndata: {json.dumps(message, separators=(',', ':'))}\n\n".encode()


class Bridge:
    def __init__(self):
        self.registry = Registry()
        self.sessions = SessionStore()
        self._heartbeat = settings.MCP_SSE_HEARTBEAT_SECONDS

    async def shutdown(self, app: web.Application | None = None) -> None:
        await self.sessions.remove_all()
        await self.registry.shutdown()

    async def _pool(self, request: web.Request):
        server_id = request.match_info["server_id"]
        try:
            server_id = int(server_id)
            return server_id, await self.registry.pool_for(server_id)
        except (ValueError, UnknownServer):
            raise web.HTTPNotFound(reason="No managed server has this id.") from None
        except DatabaseError:
            logger.exception("could not read the definition of server %s", server_id)
            raise web.HTTPServiceUnavailable(reason="Server definitions cannot be read.") from None

    def _session(self, request: web.Request, server_id: int) -> BridgeSession:
        session_id = request.headers.get(HEADER_SESSION)
        if not session_id:
            raise web.HTTPBadRequest(reason="Mcp-Session-Id header is required; initialize first.")
        session = self.sessions.get(session_id, server_id=server_id)
        if session is None:
            raise web.HTTPNotFound(reason="Session not found; initialize a new one.")
        version = request.headers.get(HEADER_PROTOCOL)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            raise web.HTTPBadRequest(reason=f"Unsupported MCP-Protocol-Version '{version}'.")
        return session

    # POST

    async def post(self, request: web.Request) -> web.StreamResponse:
        server_id, pool = await self._pool(request)
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(reason="Send application/json.")
        accept = request.headers.get("Accept", "")
        wants_sse = "text/event-stream" in accept
        if not (wants_sse or "application/json" in accept or "*/*" in accept or not accept):
            raise web.HTTPNotAcceptable(reason="Accept application/json or text/event-stream.")
        try:
            message = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return json_error(400, "The body is not valid JSON.", code=PARSE_ERROR)
        if isinstance(message, list):
            return json_error(400, "JSON-RPC batches are not supported.")
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return json_error(400, "The body is not a JSON-RPC 2.0 message.")
        method = message.get("method")
        if method is not None and not isinstance(method, str):
            return json_error(400, "The method must be a string.", request_id=message.get("id"))

        if method == "initialize" and "id" in message:
            return await self._initialize(server_id, pool, message)
        session = self._session(request, server_id)
        if method is None:
            return await self._caller_reply(session, message)
        if "id" not in message:
            return await self._caller_notification(session, message)
        if method == "ping":
            return web.json_response({"jsonrpc": "2.0", "id": message["id"], "result": {}})
        return await self._forward(request, session, message, wants_sse=wants_sse)

    async def _initialize(self, server_id: int, pool, message: dict) -> web.Response:
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        process = pool.bind()
        session = BridgeSession(
            server_id=server_id,
            process=process,
            protocol_version="",
            caps=params.get("capabilities"),
        )
        try:
            await process.ensure_running()
        except SupervisorError as exc:
            await session.close()
            return web.json_response(rpc_error(message["id"], exc.code, exc.message))
        result = dict(process.initialize_result or {})
        child_version = str(result.get("protocolVersion", ""))
        session.protocol_version = negotiate_version(params.get("protocolVersion"), child_version)
        result["protocolVersion"] = session.protocol_version
        self.sessions.add(session)
        return web.json_response(
            {"jsonrpc": "2.0", "id": message["id"], "result": result},
            headers={HEADER_SESSION: session.id},
        )

    async def _caller_reply(self, session: BridgeSession, message: dict) -> web.Response:
        route = session.take_reply_route(message.get("id"))
        if route is None:
            logger.info("dropped a reply to unknown request %r", message.get("id"))
            return web.Response(status=202)
        process, generation, child_request_id = route
        if "error" in message:
            payload = {"error": message["error"]}
        else:
            payload = {"result": message.get("result", {})}
        await process.reply(
            generation=generation, child_request_id=child_request_id, payload=payload
        )
        return web.Response(status=202)

    async def _caller_notification(self, session: BridgeSession, message: dict) -> web.Response:
        method = message["method"]
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "notifications/cancelled":
            exchange = session.in_flight(params.get("requestId"))
            if exchange is not None:
                reason = params.get("reason") or "cancelled by the client"
                await session.process.cancel(exchange, str(reason))
        elif method != "notifications/initialized":
            # The child was initialised once by the supervisor; everything else passes through.
            await session.process.notify(message)
        return web.Response(status=202)

    async def _forward(
        self, request: web.Request, session: BridgeSession, message: dict, *, wants_sse: bool
    ) -> web.StreamResponse:
        request_id = message["id"]
        if session.in_flight(request_id) is not None:
            return web.json_response(
                rpc_error(request_id, INVALID_REQUEST, "A request with this id is in flight.")
            )
        process = session.process
        try:
            exchange = await process.request(message, owner=session)
        except SupervisorError as exc:
            return web.json_response(rpc_error(request_id, exc.code, exc.message))
        session.track(request_id, exchange)
        try:
            if wants_sse:
                return await self._reply_as_stream(request, session, exchange)
            return await self._reply_as_json(session, exchange)
        finally:
            session.untrack(request_id, exchange)
            if not exchange.done:
                await process.cancel(exchange, "the caller stopped waiting")

    async def _reply_as_json(self, session: BridgeSession, exchange) -> web.Response:
        while True:
            try:
                final, message = await exchange.next()
            except SupervisorError as exc:
                return web.json_response(rpc_error(exchange.original_id, exc.code, exc.message))
            if final:
                return web.json_response(message)
            if "id" not in message or "method" not in message:
                continue  # Notifications have no place in a JSON reply.
            # No stream to ask on: the session's GET stream, if open, takes the request.
            if not self._may_ask(session, message) or not session.offer_request(
                session.process, message
            ):
                await self._refuse(session.process, exchange.generation, message)

    async def _reply_as_stream(
        self, request: web.Request, session: BridgeSession, exchange
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={**SSE_HEADERS, HEADER_SESSION: session.id})
        await response.prepare(request)
        process = session.process
        try:
            while True:
                try:
                    final, message = await exchange.next()
                except RequestCancelled:
                    break
                except SupervisorError as exc:
                    final = True
                    message = rpc_error(exchange.original_id, exc.code, exc.message)
                if not final and "id" in message and "method" in message:
                    if not self._may_ask(session, message):
                        await self._refuse(process, exchange.generation, message)
                        continue
                    message = session.outbound(process, exchange.generation, message)
                await response.write(_sse_event(message))
                if final:
                    break
            await response.write_eof()
        except ConnectionError:
            logger.info("the caller closed the stream of %s", exchange.method)
        return response

    @staticmethod
    def _may_ask(session: BridgeSession, message: dict) -> bool:
        capability = _REQUEST_CAPABILITY.get(message["method"])
        return capability is None or capability in session.capabilities

    @staticmethod
    async def _refuse(process: ManagedProcess, generation: int, message: dict) -> None:
        error = {
            "code": -32601,
            "message": f"The client cannot answer {message['method']} on this request.",
        }
        await process.reply(
            generation=generation, child_request_id=message["id"], payload={"error": error}
        )

    # GET and DELETE

    async def get(self, request: web.Request) -> web.StreamResponse:
        server_id, _ = await self._pool(request)
        if "text/event-stream" not in request.headers.get("Accept", ""):
            raise web.HTTPNotAcceptable(reason="Accept text/event-stream.")
        session = self._session(request, server_id)
        queue = session.open_stream()
        response = web.StreamResponse(headers={**SSE_HEADERS, HEADER_SESSION: session.id})
        try:
            await response.prepare(request)
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), self._heartbeat)
                except TimeoutError:
                    # A comment line: keeps proxies from idling the stream out, finds dead peers.
                    await response.write(b": keep-alive\n\n")
                    continue
                if message is None:
                    break
                await response.write(_sse_event(message))
            await response.write_eof()
        except ConnectionError:
            pass
        finally:
            session.close_stream(queue)
        return response

    async def delete(self, request: web.Request) -> web.Response:
        server_id, _ = await self._pool(request)
        session = self._session(request, server_id)
        await self.sessions.remove(session)
        return web.Response(status=204)
