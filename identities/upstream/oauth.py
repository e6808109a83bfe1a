"""The platform as an OAuth client of an upstream's authorization server (`user_oauth`).

Discovery (servers/oauth_discovery.py) finds the upstream's authorization server. The client
the platform is there is, in this order: the pre-registered one an admin set; the platform's own
client ID metadata document, its URL as `client_id`, when the server says it accepts those
(`client_id_metadata_document_supported`); else one registered dynamically (RFC 7591). People
are sent through authorization code with PKCE (S256 only), and every authorization, token and
refresh request names the upstream as its `resource` (RFC 8707): an
authorization server that binds tokens to resources refuses a refresh without it.

Every URL here is named by someone else (the upstream, its metadata), so each request goes
through the SSRF-guarded session of core/outbound_http.py: public addresses only (unless
UPSTREAM_OAUTH_ALLOW_PRIVATE), https only on public hosts, no redirects, bounded size and time.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from servers.oauth_discovery import OAuthFailed, ServerMetadata, send, session

_TOKEN_REFUSALS = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"}


class GrantRefused(OAuthFailed):
    """The authorization server refused the grant (a refresh token it no longer honours)."""


@dataclass(frozen=True)
class Client:
    """The client the platform is at the authorization server."""

    client_id: str
    client_secret: str
    auth_method: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: float | None
    scope: str


def joined_scopes(*scopes: str) -> str:
    """The union of space-separated scope lists, in the order first seen."""
    return " ".join(dict.fromkeys(s for scope in scopes for s in (scope or "").split()))


def register(metadata: ServerMetadata, redirect_uri: str) -> Client:
    """Register the platform as a client of the authorization server (RFC 7591)."""
    if not metadata.registration_endpoint:
        raise OAuthFailed(
            f"The authorization server {metadata.issuer} does not register clients dynamically; "
            "an administrator must set a pre-registered client (client_id, client_secret)."
        )
    methods = metadata.auth_methods
    method = next(
        (m for m in ("client_secret_basic", "client_secret_post", "none") if m in methods), "none"
    )
    body = {
        "client_name": "Gatehouse",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    }
    # The client may later need more than the upstream asks now (step-up), so it registers
    # for every scope the authorization server lists too.
    scope = joined_scopes(metadata.scope, " ".join(metadata.scopes_supported))
    if scope:
        body["scope"] = scope
    with session() as http:
        response = send(
            http, "POST", metadata.registration_endpoint, "registration endpoint", json=body
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code not in (200, 201) or not isinstance(answer, dict):
        raise OAuthFailed(
            f"The authorization server refused to register the platform: "
            f"HTTP {response.status_code}, {_error_of(answer)}."
        )
    if not isinstance(answer.get("client_id"), str):
        raise OAuthFailed("The authorization server registered the platform without a client_id.")
    return Client(
        client_id=answer["client_id"],
        client_secret=answer.get("client_secret") or "",
        auth_method=answer.get("token_endpoint_auth_method") or method,
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorization_url(
    *, endpoint: str, client_id: str, redirect_uri: str, state: str, challenge: str, resource, scope
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
    }
    if scope:
        params["scope"] = scope
    separator = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


def _error_of(answer) -> str:
    if isinstance(answer, dict) and answer.get("error"):
        return str(answer["error"])[:100]
    return "no explanation"


def authenticated(form: dict, client: Client) -> tuple[dict, dict]:
    """The form and headers of a request to the token (or revocation) endpoint as `client`."""
    # client_id goes in the form whatever the method: some servers look the client up by it
    # before they read the Authorization header.
    form = {**form, "client_id": client.client_id}
    headers = {"Accept": "application/json"}
    if client.auth_method == "client_secret_basic" and client.client_secret:
        # RFC 6749 2.3.1: both parts are form-encoded before they are joined.
        pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif client.client_secret and client.auth_method != "none":
        form["client_secret"] = client.client_secret
    return form, headers


def request_tokens(*, token_endpoint: str, client: Client, resource: str, form: dict) -> Tokens:
    """One token request (authorization code or refresh), authenticated as `client`."""
    form, headers = authenticated({**form, "resource": resource}, client)
    with session() as http:
        response = send(http, "POST", token_endpoint, "token endpoint", data=form, headers=headers)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code == 200 and isinstance(answer, dict):
        access = answer.get("access_token")
        if isinstance(access, str) and access:
            expires_in = answer.get("expires_in")
            if not isinstance(expires_in, int | float) or expires_in <= 0:
                expires_in = None
            refresh = answer.get("refresh_token")
            return Tokens(
                access_token=access,
                refresh_token=refresh if isinstance(refresh, str) else "",
                expires_in=expires_in,
                scope=answer.get("scope") if isinstance(answer.get("scope"), str) else "",
            )
    error = _error_of(answer)
    message = f"The authorization server refused the token request: HTTP {response.status_code}"
    if response.status_code in (400, 401) and error in _TOKEN_REFUSALS:
        raise GrantRefused(f"{message}, {error}.")
    raise OAuthFailed(f"{message}, {error}.")
