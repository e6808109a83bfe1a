"""An upstream MCP server protected by its own OAuth authorization server, both written with the
`mcp` SDK: the authorization server (dynamic registration, authorization code with PKCE, refresh,
resource indicators, revocation) and the resource server (401 with `WWW-Authenticate`, protected
resource metadata, tokens checked for their resource) share one origin.

The person signs in at the consent page by typing a name, which becomes the token's subject;
the `whoami` tool answers that subject, so a test sees whose token reached the upstream. Access
tokens live `access_seconds`; `revoke_refresh_tokens()` and `revoke_access_tokens()` play an
authorization server that ended the grants. Every form posted to /token and /revoke is recorded.
`registration=False` plays a provider where clients are registered by hand: its metadata has no
registration endpoint.

`audit_log` needs the `mcp:admin` scope beyond `mcp`: a token without it gets the 403
`insufficient_scope` challenge of a step-up. With `metadata_documents=True` the authorization
server also takes a client ID metadata document's URL as `client_id` (the SDK has no such
support: its metadata gains the flag, and the document is fetched when the client is looked up).
"""

import html
import itertools
import json
import secrets
import time
from urllib.parse import parse_qs

import httpx
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

SCOPES = ["mcp", "mcp:admin"]


class Provider:
    """The authorization server's state, in memory."""

    def __init__(self, issuer: str, access_seconds: int, metadata_documents: bool = False):
        self.issuer = issuer
        self.access_seconds = access_seconds
        self.metadata_documents = metadata_documents
        self.documents: list[dict] = []  # client ID metadata documents fetched
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.pending: dict[str, tuple[str, AuthorizationParams]] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self._numbers = itertools.count(1)

    async def get_client(self, client_id):
        if self.metadata_documents and client_id.startswith(("https://", "http://")):
            return await self._client_of_document(client_id)
        return self.clients.get(client_id)

    async def _client_of_document(self, url: str):
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            return None
        document = response.json()
        self.documents.append(document)
        if document.get("client_id") != url or document.get("token_endpoint_auth_method") != (
            "none"
        ):
            return None
        return OAuthClientInformationFull(
            client_id=url,
            redirect_uris=document["redirect_uris"],
            grant_types=document.get("grant_types") or ["authorization_code"],
            token_endpoint_auth_method="none",
            scope=" ".join(SCOPES),
        )

    async def register_client(self, client_info):
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client, params):
        request = secrets.token_urlsafe(12)
        self.pending[request] = (client.client_id, params)
        return f"{self.issuer}/consent?request={request}"

    def approve(self, request: str, subject: str) -> str:
        client_id, params = self.pending.pop(request)
        code = AuthorizationCode(
            code=secrets.token_urlsafe(16),
            scopes=params.scopes or ["mcp"],
            expires_at=time.time() + 300,
            client_id=client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject=subject,
        )
        self.codes[code.code] = code
        return construct_redirect_uri(
            str(params.redirect_uri), code=code.code, state=params.state, iss=self.issuer
        )

    async def load_authorization_code(self, client, authorization_code):
        return self.codes.get(authorization_code)

    def _issue(self, client_id, scopes, resource, subject) -> OAuthToken:
        number = next(self._numbers)
        access = f"at-{number}-{secrets.token_urlsafe(12)}"
        refresh = f"rt-{number}-{secrets.token_urlsafe(12)}"
        expires_at = int(time.time()) + self.access_seconds
        self.access[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=expires_at,
            resource=resource,
            subject=subject,
        )
        self.refresh[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource, subject=subject
        )
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=self.access_seconds,
            refresh_token=refresh,
            scope=" ".join(scopes),
        )

    async def exchange_authorization_code(self, client, authorization_code):
        self.codes.pop(authorization_code.code, None)
        return self._issue(
            client.client_id,
            authorization_code.scopes,
            authorization_code.resource,
            authorization_code.subject,
        )

    async def load_refresh_token(self, client, refresh_token):
        return self.refresh.get(refresh_token)

    async def exchange_refresh_token(self, client, refresh_token, scopes):
        if self.refresh.pop(refresh_token.token, None) is None:
            raise TokenError("invalid_grant", "refresh token already used")
        # The grant's earlier access tokens end with it: only the new one works from now on.
        for token, access in list(self.access.items()):
            if access.subject == refresh_token.subject and access.client_id == client.client_id:
                del self.access[token]
        return self._issue(client.client_id, scopes, refresh_token.resource, refresh_token.subject)

    async def load_access_token(self, token):
        access = self.access.get(token)
        if access is None or (access.expires_at and access.expires_at < time.time()):
            return None
        return access

    async def revoke_token(self, token):
        self.access.pop(token.token, None)
        self.refresh.pop(token.token, None)


class OAuthUpstream:
    def __init__(
        self,
        port: int,
        access_seconds: int = 3600,
        metadata_documents: bool = False,
        *,
        registration: bool = True,
    ):
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/mcp"
        self.provider = Provider(self.base, access_seconds, metadata_documents)
        self.token_requests: list[dict] = []
        self.revoke_requests: list[dict] = []
        self.scope_refusals = 0
        self.authorize_requests: list[dict] = []
        self.subjects: list[str] = []
        server = MCPServer(
            "accounts",
            auth_server_provider=self.provider,
            auth=AuthSettings(
                issuer_url=self.base,
                resource_server_url=self.url,
                client_registration_options=ClientRegistrationOptions(
                    enabled=registration, valid_scopes=SCOPES, default_scopes=["mcp"]
                ),
                revocation_options=RevocationOptions(enabled=True),
                required_scopes=["mcp"],
                validate_token_resource=True,
            ),
        )

        @server.tool()
        def whoami() -> str:
            """The subject of the token the upstream received."""
            access = get_access_token()
            self.subjects.append(access.subject)
            return f"{access.subject}|{access.token}"

        @server.tool()
        def audit_log() -> str:
            """Needs the mcp:admin scope (checked before the SDK sees the call)."""
            return f"audit log for {get_access_token().subject}"

        @server.custom_route("/consent", methods=["GET", "POST"])
        async def consent(request: Request) -> Response:
            if request.method == "GET":
                pending = html.escape(request.query_params.get("request", ""))
                return HTMLResponse(
                    '<form method="post" action="/consent">'
                    f'<input type="hidden" name="request" value="{pending}">'
                    '<label>Your name <input name="user"></label>'
                    "<button>Allow</button></form>"
                )
            form = await request.form()
            if form.get("request") not in self.provider.pending:
                return HTMLResponse("unknown request", status_code=400)
            location = self.provider.approve(form["request"], form["user"])
            return RedirectResponse(location, status_code=302)

        self.app = server.streamable_http_app()

    def revoke_refresh_tokens(self) -> None:
        self.provider.refresh.clear()

    def revoke_access_tokens(self) -> None:
        self.provider.access.clear()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/authorize":
            query = parse_qs(scope.get("query_string", b"").decode())
            self.authorize_requests.append({k: v[0] for k, v in query.items()})
            return await self.app(scope, receive, send)
        if path == "/.well-known/oauth-authorization-server" and self.provider.metadata_documents:
            return await self._metadata_with_documents(scope, receive, send)
        if path not in ("/token", "/revoke", "/mcp") or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        # Read the body (to record a form, or to see which tool is called), then hand it on.
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if path == "/mcp":
            if self._lacks_admin_scope(scope, body):
                return await self._insufficient_scope(send)
        else:
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            (self.token_requests if path == "/token" else self.revoke_requests).append(form)
            if path == "/revoke" and "client_secret" not in form:
                # The SDK's revocation form requires the field even when the client
                # authenticates with HTTP Basic (RFC 7009 allows that): hand it an empty one.
                body += b"&client_secret="
                messages = [{"type": "http.request", "body": body, "more_body": False}]
        replay = iter(messages)

        async def replayed():
            # Then the real channel: a streamed answer waits on it for the client to leave.
            return next(replay, None) or await receive()

        return await self.app(scope, replayed, send)

    def _lacks_admin_scope(self, scope, body: bytes) -> bool:
        try:
            message = json.loads(body)
        except ValueError:
            return False
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return False
        if (message.get("params") or {}).get("name") != "audit_log":
            return False
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        access = self.provider.access.get(token)
        return access is not None and "mcp:admin" not in access.scopes

    async def _insufficient_scope(self, send):
        self.scope_refusals += 1
        challenge = (
            'Bearer error="insufficient_scope", scope="mcp mcp:admin", '
            f'resource_metadata="{self.base}/.well-known/oauth-protected-resource/mcp"'
        )
        body = b'{"error": "insufficient_scope"}'
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", challenge.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _metadata_with_documents(self, scope, receive, send):
        start, body = {}, b""

        async def capture(message):
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
            else:
                body += message.get("body", b"")

        await self.app(scope, receive, capture)
        document = json.loads(body)
        document["client_id_metadata_document_supported"] = True
        body = json.dumps(document).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})
