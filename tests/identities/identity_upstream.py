"""An SDK upstream that insists on credentials, and an OAuth token endpoint beside it.

The MCP endpoints (Streamable HTTP at /mcp, HTTP+SSE at /sse) answer 401 unless the request
carries a bearer token they know or a known `X-Api-Key`; the `whoami` tool echoes the
credentials it received, so a test sees which identity the gateway presented. `/token` grants
client-credentials tokens to `svc`:`svc-secret` (each a new token, counted) that the MCP
endpoints then accept.
"""

import base64
import itertools
import json
from urllib.parse import parse_qs

from mcp.server.mcpserver import Context, MCPServer

PERSONAL_TOKENS = {
    "alice-token": "alice",
    "bob-token": "bob",
    # Long enough that its masked hint shows the last four characters.
    "bob-own-token-0123456789": "bob",
    "service-token": "service",
}
API_KEYS = {"key-123": "keyholder"}
CLIENT_ID, CLIENT_SECRET = "svc", "svc-secret"


class IdentityUpstream:
    def __init__(self):
        self.issued: list[str] = []
        self.token_requests: list[dict] = []
        self._numbers = itertools.count(1)
        server = MCPServer("ids")

        @server.tool()
        def whoami(ctx: Context) -> str:
            """Who the upstream thinks is calling, from the credentials it received."""
            request = getattr(ctx.request_context, "request", None)
            headers = request.headers if request is not None else {}
            return f"{headers.get('authorization', '-')}|{headers.get('x-api-key', '-')}"

        self.mcp_app = server.streamable_http_app()
        # The same server over the legacy HTTP+SSE transport, at /sse and /messages/.
        self.sse_app = server.sse_app()

    def _known(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        return (
            token in PERSONAL_TOKENS
            or token in self.issued
            or headers.get("x-api-key", "") in API_KEYS
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.mcp_app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["path"] == "/token":
            return await self._token(headers, receive, send)
        if not self._known(headers):
            # Not JSON-RPC: the refusal an HTTP-level authorization check gives.
            return await _answer(send, 401, {"error": "invalid_token"}, b"text/plain")
        if scope["path"].startswith(("/sse", "/messages")):
            return await self.sse_app(scope, receive, send)
        return await self.mcp_app(scope, receive, send)

    async def _token(self, headers, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        basic = headers.get("authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        self.token_requests.append(form)
        if basic != f"Basic {expected}" or form.get("grant_type") != "client_credentials":
            return await _answer(send, 401, {"error": "invalid_client"})
        token = f"cc-{next(self._numbers)}"
        self.issued.append(token)
        return await _answer(
            send, 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        )


async def _answer(send, status: int, body: dict, content_type=b"application/json") -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", content_type), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
