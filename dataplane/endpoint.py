"""Step 1 of the lifecycle: the MCP endpoint, `/mcp/<workspace>/<gateway>`, as a plain ASGI app.

The workspace URL, `/mcp/<workspace>`, serves the one gateway its caller's token names
(dataplane/workspace_url.py) exactly as that gateway's own URL does.

It speaks Streamable HTTP to clients of both eras: the handshake era (2025-03-26 .. 2025-11-25:
`initialize`, sealed `Mcp-Session-Id`, GET stream, DELETE) and the stateless 2026-07-28 revision
(per-request `_meta` envelope, `Mcp-Method`/`Mcp-Name` headers, `server/discover`), and the
legacy HTTP+SSE transport (2024-11-05) under `/sse`. The gateway's Server Card is beside it at
`/server-card` (dataplane/server_card.py).
"""

import asyncio
import json
import logging
import uuid

from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS, classify_inbound_request

from audit import metrics
from core import rate_limiting
from dataplane import (
    audit_trail,
    cancellation,
    jsonrpc,
    legacy_sse,
    near_cache,
    param_headers,
    protocol,
    reply,
    routing,
    server_card,
    session,
    subscriptions,
    tasks,
    workspace_url,
)
from dataplane.authentication import bearer, cache_key, opens_gateway, principal_for
from dataplane.context import CallContext
from dataplane.http import (
    ClientGone,
    HttpError,
    host_allowed,
    origin_allowed,
    read_body,
    request_origin,
    send_empty,
    send_json,
    unauthenticated,
)
from dataplane.protocol import RpcError
from dataplane.snapshot import registry
from gateways.server_cards import CARD_SUFFIX, TASKS_EXTENSION

logger = logging.getLogger(__name__)


class McpEndpoint:
    async def __call__(self, scope, receive, send):
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            await self._serve(scope, receive, send, headers)
        except HttpError as exc:
            error = protocol.error_response(None, RpcError(exc.code, exc.message, exc.data))
            await send_json(send, exc.status, error, exc.headers)
        except ClientGone:
            # Nobody to answer and no call started: counted, not logged.
            metrics.client_disconnected(stage="request")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("MCP endpoint failed")
            error = protocol.error_response(
                None, RpcError(protocol.INTERNAL_ERROR, "The gateway failed to handle this.")
            )
            await send_json(send, 500, error)

    async def _serve(self, scope, receive, send, headers):
        parts = scope["path"].strip("/").split("/")
        if len(parts) == 4 and parts[0] == "mcp" and parts[3] == CARD_SUFFIX and all(parts):
            # A document any page may read, so the Origin check of MCP requests does not apply.
            if not host_allowed(headers.get("host")):
                raise HttpError(421, "This Host is not served here (see ALLOWED_HOSTS).")
            await server_card.serve(scope, send, headers, parts[1], parts[2])
            return
        legacy = len(parts) == 4 and parts[3] in ("sse", "messages")
        if parts[0] != "mcp" or not (len(parts) in (2, 3) or legacy) or not all(parts):
            raise HttpError(404, "Not found. Gateway URLs look like /mcp/<workspace>/<gateway>.")
        if legacy:
            session_id = legacy_sse.session_from_query(scope)
            headers = {**headers, protocol.HEADER_SESSION: session_id} if session_id else headers
        if not host_allowed(headers.get("host")):
            raise HttpError(421, "This Host is not served here (see ALLOWED_HOSTS).")
        if not origin_allowed(headers.get("origin")):
            raise HttpError(403, "This Origin is not allowed to reach the gateway.")
        method = scope["method"]
        if method not in ("POST", "GET", "DELETE"):
            raise HttpError(
                405, "Use POST, GET or DELETE.", headers=[(b"allow", b"GET, POST, DELETE")]
            )

        secret = bearer(headers)
        session_id = headers.get(protocol.HEADER_SESSION)
        if len(parts) == 2:
            snapshot, principal, found = await workspace_url.resolve(
                scope, headers, parts[1], secret, session_id
            )
        else:
            snapshot, principal, found = await self._gateway_target(
                scope, headers, parts[1], parts[2], secret, session_id
            )
        if principal.user_id not in snapshot.allowed_user_ids:
            await audit_trail.auth_denied(
                snapshot=snapshot,
                reason="not provisioned",
                source=rate_limiting.scope_ip(scope, headers),
                user_id=principal.user_id,
                email=principal.email,
                token_id=principal.token_id,
            )
            raise HttpError(403, "This gateway is not provisioned to any of your teams.")

        if session_id and session.ended_key(session_id) in found:
            raise HttpError(404, "This session has ended; initialize a new one.")
        if legacy:
            await legacy_sse.serve(
                scope, receive, send, parts[3], headers, snapshot, principal, session_id
            )
        elif method == "GET":
            await self._stream(scope, receive, send, headers, snapshot, principal, session_id)
        elif method == "DELETE":
            await self._end(send, snapshot, principal, session_id)
        else:
            body = await read_body(receive, headers)
            await self._post(scope, receive, send, headers, body, snapshot, principal, session_id)

    async def _gateway_target(
        self, scope, headers, workspace_slug, gateway_slug, secret, session_id
    ):
        """`/mcp/<workspace>/<gateway>`: the snapshot, the authenticated caller, and the cache
        entries read on the way."""
        workspace_id = await registry.workspace_id(workspace_slug)
        keys = []
        if workspace_id is not None:
            keys += registry.version_keys(workspace_id, gateway_slug)
        if secret:
            keys.append(cache_key(secret))
        if session_id:
            keys.append(session.ended_key(session_id))
        # One cache round trip for the token, the snapshot versions and the session.
        found = await near_cache.get_many(keys)
        snapshot = None
        if workspace_id is not None:
            snapshot = await registry.get(workspace_slug, gateway_slug, found)
        if snapshot is None:
            raise HttpError(404, f"No gateway '{workspace_slug}/{gateway_slug}'.")

        principal = await principal_for(secret, found.get(cache_key(secret)) if secret else None)
        if not opens_gateway(principal, workspace_id=snapshot.workspace_id, gateway_id=snapshot.id):
            if secret:
                await audit_trail.auth_denied(
                    snapshot=snapshot,
                    reason="invalid token",
                    source=rate_limiting.scope_ip(scope, headers),
                )
            raise unauthenticated(scope, headers, workspace_slug, gateway_slug, secret)
        return snapshot, principal, found

    # -- POST ----------------------------------------------------------------------------------

    async def _post(self, scope, receive, send, headers, body, snapshot, principal, session_id):
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            await send_json(
                send,
                400,
                protocol.error_response(
                    None, RpcError(protocol.PARSE_ERROR, "Parse error: the body is not JSON.")
                ),
            )
            return
        if isinstance(message, list):
            raise HttpError(400, "JSON-RPC batches are not supported; send one message per POST.")
        try:
            inbound = jsonrpc.parse(message, body)
        except jsonrpc.InvalidMessage as exc:
            await send_json(send, 400, protocol.error_response(exc.id, exc))
            return
        version_header = headers.get(protocol.HEADER_PROTOCOL)
        if protocol.is_modern(version_header):
            await self._modern(scope, receive, send, headers, message, inbound, snapshot, principal)
            return
        if version_header and version_header not in protocol.HANDSHAKE_VERSIONS:
            error = RpcError(
                protocol.UNSUPPORTED_PROTOCOL_VERSION,
                f"Unsupported MCP-Protocol-Version '{version_header}'.",
                {"supported": list(protocol.SUPPORTED_VERSIONS), "requested": version_header},
            )
            request_id = inbound.id if inbound.kind == jsonrpc.REQUEST else None
            await send_json(send, 400, protocol.error_response(request_id, error))
            return
        await self._handshake(
            scope, receive, send, headers, message, inbound, snapshot, principal, session_id
        )

    async def _handshake(
        self, scope, receive, send, headers, message, inbound, snapshot, principal, session_id
    ):
        if inbound.kind == jsonrpc.RESPONSE:
            await reply.deliver_answer(message)
            await send_empty(send, 202)
            return
        method, params = inbound.method, inbound.params
        if inbound.kind == jsonrpc.NOTIFICATION:
            if method == "notifications/cancelled" and session_id and params is not None:
                cancelled = params.get("requestId")
                if jsonrpc.valid_id(cancelled):
                    await cancellation.cancel(session_id, cancelled)
            await send_empty(send, 202)
            return
        request_id = inbound.id
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
            session_id=session_id,
            client_name=state.client_name,
            client_version=state.client_version,
            origin=request_origin(scope, headers),
        )
        accepts_sse = "text/event-stream" in headers.get("accept", "")
        await reply.run(
            ctx,
            send,
            receive,
            request_id,
            method,
            params,
            accepts_sse,
            allow_ask=True,
            call_key=cancellation.key(session_id, request_id),
        )

    async def _initialize(self, send, request_id, params, snapshot, principal):
        version = protocol.negotiate_handshake_version(params.get("protocolVersion"))
        client = params.get("clientInfo")
        client = client if isinstance(client, dict) else {}
        caps = params.get("capabilities") or {}
        state = session.SessionState(
            gateway_id=snapshot.id,
            principal=principal.key,
            protocol_version=version,
            client_name=str(client.get("name", ""))[:100],
            client_version=str(client.get("version", ""))[:50],
            capabilities=_session_capabilities(caps),
        )
        sealed = session.seal(state)
        await audit_trail.session_event(
            CallContext(
                snapshot=snapshot,
                principal=principal,
                protocol_version=version,
                client_capabilities={},
                session_id=sealed,
                client_name=state.client_name,
                client_version=state.client_version,
                method="initialize",
                rpc_id=request_id,
                correlation_id=uuid.uuid4().hex,
            ),
            "session.start",
        )
        result = {
            "protocolVersion": version,
            "capabilities": routing.capabilities(),
            "serverInfo": routing.server_info(snapshot),
            "instructions": routing.instructions(snapshot),
        }
        await send_json(
            send,
            200,
            protocol.result_response(request_id, result),
            [(b"mcp-session-id", sealed.encode())],
        )

    async def _modern(self, scope, receive, send, headers, message, inbound, snapshot, principal):
        if inbound.kind == jsonrpc.RESPONSE:
            raise HttpError(400, "A 2026-07-28 client sends requests and notifications only.")
        if inbound.kind == jsonrpc.NOTIFICATION:
            await send_empty(send, 202)
            return
        verdict = classify_inbound_request(message, headers=headers)
        if not hasattr(verdict, "protocol_version"):
            status = ERROR_CODE_HTTP_STATUS.get(verdict.code, 400)
            error = RpcError(verdict.code, verdict.message, getattr(verdict, "data", None))
            await send_json(send, status, protocol.error_response(inbound.id, error))
            return
        mismatch = tasks.name_header_mismatch(inbound.method, inbound.params, headers)
        if mismatch is not None:
            await send_json(send, 400, protocol.error_response(inbound.id, mismatch))
            return
        caps = verdict.client_capabilities if isinstance(verdict.client_capabilities, dict) else {}
        client = verdict.client_info if isinstance(verdict.client_info, dict) else {}
        meta = inbound.params.get("_meta") if isinstance(inbound.params, dict) else None
        log_level = meta.get(protocol.META_LOG_LEVEL) if isinstance(meta, dict) else None
        ctx = CallContext(
            snapshot=snapshot,
            principal=principal,
            protocol_version=verdict.protocol_version,
            client_capabilities=caps,
            client_name=str(client.get("name", ""))[:100],
            client_version=str(client.get("version", ""))[:50],
            origin=request_origin(scope, headers),
            param_headers=param_headers.from_request(headers),
            log_level=log_level if isinstance(log_level, str) else None,
        )
        accepts_sse = "text/event-stream" in headers.get("accept", "")
        if inbound.method == "subscriptions/listen":
            if not accepts_sse:
                raise HttpError(406, "subscriptions/listen answers with a stream: accept SSE.")
            await subscriptions.listen(receive, send, snapshot, inbound.id, inbound.params)
            return
        await reply.run(
            ctx,
            send,
            receive,
            inbound.id,
            inbound.method,
            inbound.params,
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
        await reply.notification_stream(receive, send, snapshot.id, first=None)

    async def _end(self, send, snapshot, principal, session_id):
        state = session.unseal(session_id) if session_id else None
        if state is None or state.gateway_id != snapshot.id or state.principal != principal.key:
            raise HttpError(404 if session_id else 400, "Unknown or missing session.")
        await session.end(session_id)
        await audit_trail.session_event(
            CallContext(
                snapshot=snapshot,
                principal=principal,
                protocol_version=state.protocol_version,
                client_capabilities={},
                session_id=session_id,
                client_name=state.client_name,
                client_version=state.client_version,
                correlation_id=uuid.uuid4().hex,
            ),
            "session.end",
        )
        await send_empty(send, 204)


def _relayable(caps) -> dict:
    if not isinstance(caps, dict):
        return {}
    return {k: v for k, v in caps.items() if k in ("sampling", "elicitation", "roots")}


endpoint = McpEndpoint()


def _session_capabilities(caps) -> dict:
    """What the session keeps of a client's capabilities: what the gateway relays upstream,
    and the tasks extension (dataplane/tasks.py), which it answers itself."""
    if not isinstance(caps, dict):
        return {}
    kept = {k: v for k, v in caps.items() if k in ("sampling", "elicitation", "roots")}
    if tasks.declared(caps):
        kept["extensions"] = {TASKS_EXTENSION: {}}
    return kept
