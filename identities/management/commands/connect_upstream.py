"""`manage.py connect_upstream URL`: run the platform's upstream OAuth client against one MCP
server with no browser, as a person connecting to a `user_oauth` assignment would, then list the
server's tools and call the first one with the token it got.

It is what the conformance suite's client auth scenarios drive
(`conformance client --suite auth --command "python manage.py connect_upstream"`): the
authorization endpoint's redirect is read rather than followed, a pre-registered client comes
from --client-id/--client-secret or the suite's MCP_CONFORMANCE_CONTEXT, an authorization server
that takes client ID metadata documents gets the URL of --client-metadata-url (by default the
platform's own document, identities/upstream/client_document.py) as client_id, else the
platform registers, and a 403 asking for
more scope (step-up) authorizes again with the wider scope, a bounded number of times. Discovery,
registration, PKCE and the token requests are those of identities/upstream/oauth.py.
"""

import json
import os
import secrets
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from identities.upstream import client_document, oauth
from servers import oauth_discovery, platform_addresses

REDIRECT_URI = "http://127.0.0.1:8976/callback"
_ATTEMPTS = 3


class _Challenged(Exception):
    def __init__(self, status: int, params: dict):
        super().__init__(f"HTTP {status}")
        self.status, self.params = status, params


class _McpClient:
    """Just enough Streamable HTTP for the check: JSON or SSE answers, a session id."""

    def __init__(self, url: str, token: str):
        self.url, self.token, self.session_id = url, token, None
        self.http = requests.Session()
        self.http.trust_env = False
        self._ids = iter(range(1, 1000))

    def _post(self, message: dict) -> dict | None:
        headers = {"Accept": "application/json, text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
            headers["MCP-Protocol-Version"] = "2025-11-25"
        response = self.http.post(self.url, json=message, headers=headers, timeout=30)
        if response.status_code in (401, 403):
            header = response.headers.get("WWW-Authenticate", "")
            challenge = oauth_discovery.parse_challenge(header)
            raise _Challenged(response.status_code, challenge)
        if response.status_code >= 400:
            raise CommandError(f"{message.get('method')}: HTTP {response.status_code}")
        self.session_id = response.headers.get("Mcp-Session-Id", self.session_id)
        if "id" not in message:
            return None
        if response.headers.get("Content-Type", "").startswith("text/event-stream"):
            for line in response.text.splitlines():
                if line.startswith("data:"):
                    answer = json.loads(line[5:])
                    if answer.get("id") == message["id"]:
                        return answer
            raise CommandError(f"{message.get('method')}: no answer on the stream")
        return response.json()

    def request(self, method: str, params: dict) -> dict:
        answer = self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        )
        if "error" in answer:
            raise CommandError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result") or {}

    def run(self) -> str:
        self.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "gatehouse", "version": "1"},
            },
        )
        self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = self.request("tools/list", {}).get("tools") or []
        if not tools:
            return "no tools"
        self.request("tools/call", {"name": tools[0]["name"], "arguments": {}})
        return f"called {tools[0]['name']}"


class Command(BaseCommand):
    help = "Connect to an OAuth-protected MCP server with the platform's upstream OAuth client."

    def add_arguments(self, parser):
        parser.add_argument("url", help="the MCP server's URL")
        parser.add_argument("--client-id", help="a pre-registered client (else registration)")
        parser.add_argument("--client-secret", default="")
        parser.add_argument(
            "--client-metadata-url",
            help="the client ID metadata document to present where the authorization server "
            "takes one (default: the platform's own, under OAUTH_ISSUER)",
        )
        parser.add_argument(
            "--allow-private",
            action="store_true",
            help="allow loopback and private addresses and plain http (local test servers)",
        )

    def handle(
        self, *args, url, client_id, client_secret, client_metadata_url, allow_private, **options
    ):
        if allow_private:
            settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = True
        context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
        client_id = client_id or context.get("client_id")
        client_secret = client_secret or context.get("client_secret") or ""
        document_url = client_metadata_url or platform_addresses.document_url()
        client, token, scopes = None, "", []
        for _attempt in range(_ATTEMPTS + 1):
            try:
                outcome = _McpClient(url, token).run()
            except _Challenged as challenged:
                if _attempt == _ATTEMPTS:
                    raise CommandError(f"still refused after {_ATTEMPTS} authorizations") from None
                try:
                    metadata = oauth_discovery.discover(url, challenge=challenged.params)
                    # Step-up: the scope asked for now is added to what was granted before.
                    for scope in metadata.scope.split():
                        if scope not in scopes:
                            scopes.append(scope)
                    if client is None:
                        client = _client(metadata, client_id, client_secret, document_url)
                    token = _authorize(metadata, client, " ".join(scopes))
                except oauth_discovery.OAuthFailed as exc:
                    raise CommandError(exc.message) from exc
                continue
            self.stdout.write(f"connected: {outcome}")
            return


def _client(metadata, client_id, client_secret, document_url) -> oauth.Client:
    # The order of the connections in the console: pre-registered, metadata document, registered.
    if not client_id:
        document_client = client_document.client_at(metadata, document_url)
        return document_client or oauth.register(metadata, REDIRECT_URI)
    methods = metadata.auth_methods
    method = "none"
    if client_secret:
        method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return oauth.Client(client_id, client_secret, method)


def _authorize(metadata, client, scope: str) -> str:
    state = secrets.token_urlsafe(16)
    verifier, challenge = oauth.pkce_pair()
    url = oauth.authorization_url(
        endpoint=metadata.authorization_endpoint,
        client_id=client.client_id,
        redirect_uri=REDIRECT_URI,
        state=state,
        challenge=challenge,
        resource=metadata.resource,
        scope=scope,
    )
    # The person's visit to the authorization server: its answer is a redirect back to us.
    answer = requests.get(url, allow_redirects=False, timeout=30)
    location = answer.headers.get("Location", "")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if answer.status_code not in (302, 303) or query.get("state") != state or "code" not in query:
        raise oauth_discovery.OAuthFailed(f"the authorization was not granted: {location[:200]}")
    if query.get("iss") and query["iss"].rstrip("/") != metadata.issuer.rstrip("/"):
        raise oauth_discovery.OAuthFailed("the answer came from another authorization server")
    tokens = oauth.request_tokens(
        token_endpoint=metadata.token_endpoint,
        client=client,
        resource=metadata.resource,
        form={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    return tokens.access_token
