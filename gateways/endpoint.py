"""Step 1 of the lifecycle: the MCP endpoint, `/mcp/<workspace>/<gateway>`, as a plain ASGI app.

It speaks Streamable HTTP to clients of both eras: the handshake era (2025-03-26 .. 2025-11-25:
`initialize`, sealed `Mcp-Session-Id`, GET stream, DELETE) and the stateless 2026-07-28 revision
(per-request `_meta` envelope, `Mcp-Method`/`Mcp-Name` headers, `server/discover`). A reply is
plain JSON unless the call produces side traffic (progress, logging, requests to the client),
in which case it becomes an SSE stream with heartbeats.
"""

import asyncio
import json
import logging
from urllib.parse import urlsplit

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.http.request import validate_host
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS, classify_inbound_request

from gateways import config_events, dispatch, protocol, session
from gateways.authentication import bearer, cache_key, principal_for
from gateways.dispatch import CallContext
from gateways.protocol import RpcError
from gateways.snapshot import registry
from servers.sse import PING, frame

logger = logging.getLogger(__name__)

_JSON = [(b"content-type", b"application/json")]
_SSE = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
_ASK_PREFIX = "gh-ask:"


class HttpError(Exception):
    def __init__(self, status: int, message: str, *, headers=(), code=protocol.INVALID_REQUEST):
        super().__init__(message)
        self.status, self.message, self.headers, self.code = status, message, list(headers), code


async def _send(send, status: int, body: bytes = b"", headers=()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send, status: int, message: dict, headers=()) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    await _send(send, status, body, [*_JSON, *headers])


async def _read_body(receive, headers: dict) -> bytes:
    limit = settings.MCP_MAX_BODY_BYTES
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"The request body is larger than the {limit} byte limit.")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"The request body is larger than the {limit} byte limit.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _origin_allowed(origin: str | None) -> bool:
    # DNS-rebinding protection: a browser page may only reach us from a host we serve.
    if not origin:
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = urlsplit(origin).netloc
    return bool(host) and validate_host(
        host.rsplit(":", 1)[0] if "]" not in host else host, settings.ALLOWED_HOSTS
    )


def _resource_metadata_url(scope, headers, workspace: str, gateway: str) -> str:
    host = headers.get("host", "localhost")
    scheme = "https" if scope.get("scheme") == "https" else "http"
    return f"{scheme}://{host}/.well-known/oauth-protected-resource/mcp/{workspace}/{gateway}"


class McpEndpoint:
    async def __call__(self, scope, receive, send):
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            await self._serve(scope, receive, send, headers)
        except HttpError as exc:
            error = protocol.error_response(None, RpcError(exc.code, exc.message))
            await _send_json(send, exc.status, error, exc.headers)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("MCP endpoint failed")
            error = protocol.error_response(
                None, RpcError(protocol.INTERNAL_ERROR, "The gateway failed to handle this.")
            )
            await _send_json(send, 500, error)

    async def _serve(self, scope, receive, send, headers):
        parts = scope["path"].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "mcp":
            raise HttpError(404, "Not found. Gateway URLs look like /mcp/<workspace>/<gateway>.")
        _, workspace_slug, gateway_slug = parts
        if not _origin_allowed(headers.get("origin")):
            raise HttpError(403, "This Origin is not allowed to reach the gateway.")
        method = scope["method"]
        if method not in ("POST", "GET", "DELETE"):
            raise HttpError(
                405, "Use POST, GET or DELETE.", headers=[(b"allow", b"GET, POST, DELETE")]
            )

        workspace_id = await registry.workspace_id(workspace_slug)
        secret = bearer(headers)
        session_id = headers.get(protocol.HEADER_SESSION)
        keys = []
        if workspace_id is not None:
            keys += registry.version_keys(workspace_id, gateway_slug)
        if secret:
            keys.append(cache_key(secret))
        if session_id:
            keys.append(session.ended_key(session_id))
        # One cache round trip for the token, the snapshot versions and the session.
        found = await cache.aget_many(keys) if keys else {}
        snapshot = None
        if workspace_id is not None:
            snapshot = await registry.get(workspace_slug, gateway_slug, found)
        if snapshot is None:
            raise HttpError(404, f"No gateway '{workspace_slug}/{gateway_slug}'.")

        principal = await principal_for(secret, found.get(cache_key(secret)) if secret else None)
        challenge = (
            f'Bearer resource_metadata="'
            f'{_resource_metadata_url(scope, headers, workspace_slug, gateway_slug)}"'
        )
        if (
            principal is None
            or principal.workspace_id != snapshot.workspace_id
            or (principal.gateway_id not in (None, snapshot.id))
        ):
            if secret:
                challenge += ', error="invalid_token"'
            raise HttpError(
                401,
                "Authentication required: send a gateway token or sign in with OAuth.",
                headers=[(b"www-authenticate", challenge.encode())],
            )
        if principal.user_id not in snapshot.allowed_user_ids:
            raise HttpError(403, "This gateway is not provisioned to any of your teams.")

        if session_id and session.ended_key(session_id) in found:
            raise HttpError(404, "This session has ended; initialize a new one.")
        if method == "GET":
            await self._stream(scope, receive, send, headers, snapshot, principal, session_id)
        elif method == "DELETE":
            await self._end(send, snapshot, principal, session_id)
        else:
            body = await _read_body(receive, headers)
            await self._post(scope, receive, send, headers, body, snapshot, principal, session_id)

    # -- POST ----------------------------------------------------------------------------------

    async def _post(self, scope, receive, send, headers, body, snapshot, principal, session_id):
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            await _send_json(
                send,
                400,
                protocol.error_response(
                    None, RpcError(protocol.PARSE_ERROR, "Parse error: the body is not JSON.")
                ),
            )
            return
        if isinstance(message, list):
            raise HttpError(400, "JSON-RPC batches are not supported; send one message per POST.")
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise HttpError(400, "The body must be one JSON-RPC 2.0 message.")
        version_header = headers.get(protocol.HEADER_PROTOCOL)
        if protocol.is_modern(version_header):
            await self._modern(scope, receive, send, headers, message, snapshot, principal)
            return
        if version_header and version_header not in protocol.HANDSHAKE_VERSIONS:
            raise HttpError(
                400,
                f"Unsupported MCP-Protocol-Version '{version_header}'.",
                code=protocol.UNSUPPORTED_PROTOCOL_VERSION,
            )
        await self._handshake(
            scope, receive, send, headers, message, snapshot, principal, session_id
        )

    async def _handshake(
        self, scope, receive, send, headers, message, snapshot, principal, session_id
    ):
        method = message.get("method")
        if method is None:
            if "id" in message and ("result" in message or "error" in message):
                await _deliver_answer(message)
                await _send(send, 202)
                return
            raise HttpError(400, "The body must be one JSON-RPC 2.0 message.")
        if not isinstance(method, str):
            raise HttpError(400, "The method must be a string.")
        if "id" not in message:
            await _send(send, 202)
            return
        request_id = message["id"]
        params = message.get("params") or {}
        if method == "initialize":
            await self._initialize(send, request_id, params, snapshot, principal)
            return
        if not session_id:
            raise HttpError(
                400, "Missing Mcp-Session-Id: call initialize first.", code=protocol.INVALID_REQUEST
            )
        state = session.unseal(session_id)
        if state is None or state.gateway_id != snapshot.id or state.principal != principal.key:
            raise HttpError(404, "Unknown session; initialize a new one.")
        ctx = CallContext(
            snapshot=snapshot,
            principal=principal,
            protocol_version=state.protocol_version,
            client_capabilities=state.capabilities,
        )
        accepts_sse = "text/event-stream" in headers.get("accept", "")
        await _run(ctx, send, receive, request_id, method, params, accepts_sse, allow_ask=True)

    async def _initialize(self, send, request_id, params, snapshot, principal):
        if not isinstance(params, dict):
            raise HttpError(
                400, "initialize params must be an object.", code=protocol.INVALID_PARAMS
            )
        version = protocol.negotiate_handshake_version(params.get("protocolVersion"))
        client = params.get("clientInfo") or {}
        caps = params.get("capabilities") or {}
        state = session.SessionState(
            gateway_id=snapshot.id,
            principal=principal.key,
            protocol_version=version,
            client_name=str(client.get("name", ""))[:100],
            client_version=str(client.get("version", ""))[:50],
            capabilities={
                k: v for k, v in caps.items() if k in ("sampling", "elicitation", "roots")
            }
            if isinstance(caps, dict)
            else {},
        )
        sealed = session.seal(state)
        result = {
            "protocolVersion": version,
            "capabilities": dispatch.capabilities(),
            "serverInfo": dispatch.server_info(snapshot),
            "instructions": dispatch.instructions(snapshot),
        }
        await _send_json(
            send,
            200,
            protocol.result_response(request_id, result),
            [(b"mcp-session-id", sealed.encode())],
        )

    async def _modern(self, scope, receive, send, headers, message, snapshot, principal):
        if "method" not in message:
            raise HttpError(400, "A 2026-07-28 client sends requests and notifications only.")
        if "id" not in message:
            await _send(send, 202)
            return
        verdict = classify_inbound_request(message, headers=headers)
        if not hasattr(verdict, "protocol_version"):
            status = ERROR_CODE_HTTP_STATUS.get(verdict.code, 400)
            error = RpcError(verdict.code, verdict.message, getattr(verdict, "data", None))
            await _send_json(send, status, protocol.error_response(message.get("id"), error))
            return
        caps = verdict.client_capabilities if isinstance(verdict.client_capabilities, dict) else {}
        ctx = CallContext(
            snapshot=snapshot,
            principal=principal,
            protocol_version=verdict.protocol_version,
            client_capabilities=caps,
        )
        accepts_sse = "text/event-stream" in headers.get("accept", "")
        method = message["method"]
        if method == "subscriptions/listen":
            await _listen(scope, receive, send, snapshot, message["id"])
            return
        await _run(
            ctx,
            send,
            receive,
            message["id"],
            method,
            message.get("params") or {},
            accepts_sse,
            allow_ask=False,
        )

    # -- GET and DELETE ------------------------------------------------------------------------

    async def _stream(self, scope, receive, send, headers, snapshot, principal, session_id):
        if protocol.is_modern(headers.get(protocol.HEADER_PROTOCOL)):
            raise HttpError(
                405, "2026-07-28 clients use subscriptions/listen.", headers=[(b"allow", b"POST")]
            )
        if "text/event-stream" not in headers.get("accept", ""):
            raise HttpError(406, "The GET stream needs Accept: text/event-stream.")
        state = session.unseal(session_id) if session_id else None
        if state is None or state.gateway_id != snapshot.id or state.principal != principal.key:
            raise HttpError(404 if session_id else 400, "Unknown or missing session.")
        await _notification_stream(receive, send, snapshot.id, first=None)

    async def _end(self, send, snapshot, principal, session_id):
        state = session.unseal(session_id) if session_id else None
        if state is None or state.gateway_id != snapshot.id or state.principal != principal.key:
            raise HttpError(404 if session_id else 400, "Unknown or missing session.")
        await session.end(session_id)
        await _send(send, 204)


def _relayable(caps) -> dict:
    if not isinstance(caps, dict):
        return {}
    return {k: v for k, v in caps.items() if k in ("sampling", "elicitation", "roots")}


# -- running one call ----------------------------------------------------------------------------


def _adapt(ctx: CallContext, result: dict) -> dict:
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


async def _run(ctx, send, receive, request_id, method, params, accepts_sse, *, allow_ask):
    """Answer one request: JSON when it is quiet, an SSE stream as soon as it is not."""
    queue: asyncio.Queue = asyncio.Queue()
    if accepts_sse:

        async def notify(message: dict) -> None:
            await queue.put(message)

        ctx.notify = notify
        if allow_ask:
            ctx.ask = lambda message: _ask(queue, message)

    async def call() -> dict:
        try:
            result = await dispatch.handle(ctx, method, params)
            return protocol.result_response(request_id, _adapt(ctx, result))
        except RpcError as exc:
            return protocol.error_response(request_id, exc)

    if not accepts_sse:
        await _send_json(send, 200, await call())
        return

    task = asyncio.ensure_future(call())
    disconnect = asyncio.ensure_future(_wait_disconnect(receive))
    getter = asyncio.ensure_future(queue.get())
    try:
        done, _ = await asyncio.wait(
            {task, getter, disconnect}, return_when=asyncio.FIRST_COMPLETED
        )
        if disconnect in done:
            task.cancel()
            return
        if task in done and getter not in done:
            await _send_json(send, 200, task.result())
            return
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
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


async def _wait_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _ask(queue: asyncio.Queue, message: dict) -> dict:
    """Relay a request to the client on this call's stream; its answer may reach any worker."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    request = {
        "jsonrpc": "2.0",
        "id": f"{_ASK_PREFIX}{channel}",
        "method": message["method"],
        "params": message.get("params") or {},
    }
    await queue.put(request)
    try:
        async with asyncio.timeout(settings.MCP_UPSTREAM_TIMEOUT_SECONDS):
            event = await layer.receive(channel)
    except TimeoutError:
        return {
            "error": {"code": protocol.UPSTREAM_TIMEOUT, "message": "The client did not answer."}
        }
    answer = event.get("message") or {}
    return {k: v for k, v in answer.items() if k in ("result", "error")}


async def _deliver_answer(message: dict) -> None:
    answer_id = message.get("id")
    if isinstance(answer_id, str) and answer_id.startswith(_ASK_PREFIX):
        layer = get_channel_layer()
        await layer.send(answer_id[len(_ASK_PREFIX) :], {"type": "mcp.answer", "message": message})


async def _notification_stream(receive, send, gateway_id: int, first) -> None:
    """An SSE stream of the gateway's notifications (list_changed), with heartbeats."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = config_events.group_name(gateway_id)
    await layer.group_add(group, channel)
    disconnect = asyncio.ensure_future(_wait_disconnect(receive))
    getter = asyncio.ensure_future(layer.receive(channel))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
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
                if event.get("type") == "mcp.notify":
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


async def _listen(scope, receive, send, snapshot, request_id) -> None:
    """2026-07-28 `subscriptions/listen`: the stream of list_changed notifications."""
    await _notification_stream(receive, send, snapshot.id, first=None)


endpoint = McpEndpoint()
