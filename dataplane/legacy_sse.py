"""The legacy HTTP+SSE transport (protocol 2024-11-05) for clients that still use it.

`GET /mcp/<ws>/<gw>/sse` opens the stream; its first event names the URL to POST messages to,
with the sealed session in the query. Every POST is acknowledged with 202 and its answer goes
out on the stream. The stream's channel is sealed into the session, so the POST may reach any
worker: answers travel to the stream's worker through the channel layer.
"""

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from channels.layers import get_channel_layer

from dataplane import audit_trail, jsonrpc, protocol, reply, routing, session
from dataplane.context import CallContext
from dataplane.http import HttpError, read_body, send_empty, send_json
from dataplane.protocol import RpcError

logger = logging.getLogger(__name__)

LEGACY_VERSION = "2024-11-05"
_background: set[asyncio.Task] = set()


def session_from_query(scope) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("session_id") or query.get("sessionId")
    return values[0] if values else None


async def serve(scope, receive, send, kind, headers, snapshot, principal, session_id):
    if kind == "sse":
        if scope["method"] != "GET":
            raise HttpError(405, "Open the stream with GET.", headers=[(b"allow", b"GET")])
        await _open_stream(receive, send, snapshot, principal)
        return
    if scope["method"] != "POST":
        raise HttpError(405, "POST messages here.", headers=[(b"allow", b"POST")])
    state = session.unseal(session_id) if session_id else None
    if state is None or not state.stream:
        raise HttpError(404 if session_id else 400, "Unknown or missing session_id.")
    if state.gateway_id != snapshot.id or state.principal != principal.key:
        raise HttpError(404, "Unknown or missing session_id.")
    body = await read_body(receive, headers)
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise HttpError(
            400, "Parse error: the body is not JSON.", code=protocol.PARSE_ERROR
        ) from exc
    if isinstance(message, list):
        raise HttpError(400, "JSON-RPC batches are not supported; send one message per POST.")
    try:
        inbound = jsonrpc.parse(message, body)
    except jsonrpc.InvalidMessage as exc:
        await send_json(send, 400, protocol.error_response(exc.id, exc))
        return
    if inbound.kind == jsonrpc.RESPONSE:
        await reply.deliver_answer(message)
    elif inbound.kind == jsonrpc.REQUEST:
        task = asyncio.get_running_loop().create_task(
            _answer(state, snapshot, principal, inbound, session_id)
        )
        _background.add(task)
        task.add_done_callback(_background.discard)
    await send_empty(send, 202)


async def _open_stream(receive, send, snapshot, principal) -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    state = session.SessionState(
        gateway_id=snapshot.id,
        principal=principal.key,
        protocol_version=LEGACY_VERSION,
        stream=channel,
    )
    sealed = session.seal(state)
    url = f"/mcp/{snapshot.workspace_slug}/{snapshot.slug}/messages?session_id={sealed}"
    first = f"event: endpoint\ndata: {url}\n\n".encode()
    await reply.notification_stream(receive, send, snapshot.id, first=first, channel=channel)


async def _answer(state, snapshot, principal, inbound: jsonrpc.Inbound, session_id: str):
    layer = get_channel_layer()

    async def deliver(reply: dict) -> None:
        await layer.send(state.stream, {"type": "mcp.deliver", "message": reply})

    started = time.perf_counter()
    request_id, method, params = inbound.id, inbound.method, inbound.params
    ctx = CallContext(
        snapshot=snapshot,
        principal=principal,
        protocol_version=state.protocol_version,
        client_capabilities={},
        notify=deliver,
        session_id=session_id,
    )
    ctx.ask = lambda request, timeout=None: reply.ask(deliver, request, timeout)
    try:
        if method == "initialize":
            version = params.get("protocolVersion")
            result = {
                "protocolVersion": version
                if version in protocol.HANDSHAKE_VERSIONS
                else LEGACY_VERSION,
                "capabilities": routing.capabilities(),
                "serverInfo": routing.server_info(snapshot),
                "instructions": routing.instructions(snapshot),
            }
        else:
            reply.describe(ctx, request_id, method, params)
            refusal = await reply.audit_behind(request_id, ran=False)
            if refusal is not None:
                await deliver(refusal)
                return
            routed, exceeded = await reply.admitted(ctx, method, params)
            if exceeded is not None:
                # The answer goes out on the open stream: a JSON-RPC error naming the limit.
                await audit_trail.limit_exceeded(ctx, exceeded)
                await deliver(protocol.error_response(request_id, exceeded.error()))
                return
            await audit_trail.client_request(ctx, params)
            result = reply.adapt(ctx, await routing.handle(ctx, method, routed))
        response = protocol.result_response(request_id, result)
    except RpcError as exc:
        response = protocol.error_response(request_id, exc)
    except Exception:
        logger.exception("legacy SSE request failed")
        response = protocol.error_response(
            request_id, RpcError(protocol.INTERNAL_ERROR, "The gateway failed to handle this.")
        )
    if method != "initialize":
        response = await reply.audit_behind(request_id, ran=True) or response
        await audit_trail.client_response(ctx, response, started)
    await deliver(response)
