"""A small upstream with a realistic catalog, restrictable to one protocol era.

Run it with ``python tests/upstreams/catalog_server.py --port N [--era handshake|modern|both]
[--json]``; it serves Streamable HTTP at ``http://127.0.0.1:N/mcp``.

* tools: read-only ones (``search_docs``, ``get_weather``, ``echo``, ``whoami``), an additive one
  (``create_ticket``), a destructive one (``delete_ticket``), and two that announce
  ``notifications/tools/list_changed`` (``notify_tools_changed``; ``enable_beta_tool``, which also
  adds ``beta_report`` to the catalog);
* a prompt (``summarize_ticket``), two resources (``docs://readme``, ``docs://changelog``) and a
  resource template (``tickets://{ticket_id}``).

``whoami`` answers with the Authorization header the server received, so a test can prove a
client's token never reaches an upstream.

The SDK serves both eras from one endpoint and has no setting to refuse one, so ``--era`` wraps
the app in :class:`EraGate`, which answers requests of the refused era before the SDK sees them.
"""

from __future__ import annotations

import argparse
import functools
import json
from typing import Literal

import uvicorn
from mcp.server.lowlevel import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import (
    INVALID_REQUEST,
    UNSUPPORTED_PROTOCOL_VERSION,
    ToolAnnotations,
    ToolListChangedNotification,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Receive, Scope, Send

Era = Literal["handshake", "modern", "both"]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
ADDITIVE = ToolAnnotations(read_only_hint=False, destructive_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True)

DOCS = {
    "install": "Install Gatehouse with make install.",
    "gateways": "A gateway is one governed URL in front of many MCP servers.",
    "rules": "Rules inspect every request and response that crosses a gateway.",
}

server = MCPServer(
    "gatehouse-catalog-upstream",
    version="1.0.0",
    instructions="A small catalog of tools, prompts and resources for gateway tests.",
)
# The Streamable HTTP manager builds the handshake-era capabilities with default notification
# options (no listChanged); this server does announce tool list changes, so it says so.
server._lowlevel_server.create_initialization_options = functools.partial(
    server._lowlevel_server.create_initialization_options, NotificationOptions(tools_changed=True)
)


@server.tool(annotations=READ_ONLY)
def search_docs(query: str) -> str:
    """Search the documentation and return the matching topics."""
    hits = [topic for topic, text in DOCS.items() if query.lower() in text.lower()]
    return json.dumps({"query": query, "topics": hits})


@server.tool(annotations=READ_ONLY)
def get_weather(city: str) -> str:
    """Return a fixed weather report for a city."""
    return f"Weather in {city}: 21C, clear skies"


@server.tool(annotations=READ_ONLY)
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool(annotations=READ_ONLY)
def whoami(ctx: Context) -> str:
    """Report the Authorization header this server received (null when there was none)."""
    headers = ctx.headers or {}
    return json.dumps({"authorization": headers.get("authorization")})


@server.tool(annotations=ADDITIVE)
def create_ticket(title: str, body: str = "") -> str:
    """Create a ticket and return its id."""
    return json.dumps({"id": 42, "title": title, "body": body})


@server.tool(annotations=DESTRUCTIVE)
def delete_ticket(ticket_id: int) -> str:
    """Delete a ticket permanently."""
    return json.dumps({"deleted": ticket_id})


async def _announce_tools_changed(ctx: Context) -> None:
    # The handshake era carries list changes on the session's standalone stream; 2026-07-28
    # carries them to clients listening on subscriptions/listen.
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        await ctx.notify_tools_changed()
    else:
        await ctx.session.send_notification(ToolListChangedNotification())


@server.tool(annotations=READ_ONLY)
async def notify_tools_changed(ctx: Context) -> str:
    """Announce notifications/tools/list_changed without changing the catalog."""
    await _announce_tools_changed(ctx)
    return "tools/list_changed sent"


def beta_report() -> str:
    """Return the beta report (present only after enable_beta_tool)."""
    return "beta report: all systems nominal"


@server.tool(annotations=ADDITIVE)
async def enable_beta_tool(ctx: Context) -> str:
    """Add the beta_report tool to the catalog and announce the change."""
    if server._tool_manager.get_tool("beta_report") is None:
        server.add_tool(beta_report, annotations=READ_ONLY)
    await _announce_tools_changed(ctx)
    return "beta_report enabled"


@server.prompt()
def summarize_ticket(ticket_id: str, tone: str = "neutral") -> str:
    """Ask for a summary of one ticket."""
    return f"Summarize ticket {ticket_id} in a {tone} tone."


@server.resource("docs://readme", name="readme", mime_type="text/markdown")
def readme() -> str:
    """The project readme."""
    return "# Catalog\n\nA small upstream for gateway tests."


@server.resource("docs://changelog", name="changelog", mime_type="text/plain")
def changelog() -> str:
    """The changelog."""
    return "1.0.0: first release"


@server.resource("tickets://{ticket_id}", name="ticket", mime_type="application/json")
def ticket(ticket_id: str) -> str:
    """One ticket, by id."""
    return json.dumps({"id": ticket_id, "title": f"Ticket {ticket_id}", "status": "open"})


class EraGate:
    """ASGI wrapper that makes the server refuse one protocol era the way a real server does.

    The SDK routes on the ``MCP-Protocol-Version`` header: a handshake-era value (or none) goes
    to the session transport, anything else to the 2026-07-28 entry. The gate applies the same
    split and answers the refused side itself:

    * ``handshake``: a 2026-07-28 request gets what a 2025-era server answers for a version it
      does not know: HTTP 400 with a JSON-RPC error that is *not* UnsupportedProtocolVersion
      (-32022). A dual-era client reads that as "legacy server" and falls back to
      ``initialize``; -32022 would instead tell it the server is modern.
    * ``modern``: a handshake-era request (``initialize`` and everything in its session) gets
      HTTP 400 with -32022 naming the versions the server does serve, as the spec's
      UnsupportedProtocolVersionError requires; GET and DELETE (session streams) get 405.
    """

    def __init__(self, app: ASGIApp, era: Era) -> None:
        self.app = app
        self.era = era

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.era == "both":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        version = headers.get(b"mcp-protocol-version", b"").decode("latin-1") or None
        modern_request = version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS
        if self.era == "handshake" and modern_request:
            supported = ", ".join(HANDSHAKE_PROTOCOL_VERSIONS)
            message = (
                f"Bad Request: Unsupported protocol version: {version} (supported: {supported})"
            )
            await _json_error(send, 400, INVALID_REQUEST, message, None)
        elif self.era == "modern" and not modern_request:
            if scope["method"] != "POST":
                await _respond(send, 405, b"", [(b"allow", b"POST")])
                return
            body = await _read_body(receive)
            requested = _requested_version(body) or version or "none"
            data = {"supported": list(MODERN_PROTOCOL_VERSIONS), "requested": requested}
            message = "Unsupported protocol version"
            await _json_error(send, 400, UNSUPPORTED_PROTOCOL_VERSION, message, data, _id(body))
        else:
            await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _decoded(body: bytes) -> dict:
    try:
        decoded = json.loads(body)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _requested_version(body: bytes) -> str | None:
    params = _decoded(body).get("params")
    version = params.get("protocolVersion") if isinstance(params, dict) else None
    return version if isinstance(version, str) else None


def _id(body: bytes) -> str | int | None:
    request_id = _decoded(body).get("id")
    return request_id if isinstance(request_id, str | int) else None


async def _json_error(
    send: Send,
    status: int,
    code: int,
    message: str,
    data: dict | None,
    request_id: str | int | None = None,
) -> None:
    error: dict = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()
    await _respond(send, status, body, [(b"content-type", b"application/json")])


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(*, era: Era, json_response: bool, host: str) -> ASGIApp:
    """The catalog server's ASGI app for one era mode and response style."""
    app = server.streamable_http_app(json_response=json_response, host=host)
    return EraGate(app, era)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--era", choices=["handshake", "modern", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="answer with JSON instead of SSE")
    args = parser.parse_args()
    app = build_app(era=args.era, json_response=args.json, host=args.host)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
