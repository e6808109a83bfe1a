"""What an MCP server says about its authorization: OAuth discovery from its URL.

An unauthenticated request's 401 names the protected resource metadata in `WWW-Authenticate`
(RFC 9728), else the well-known paths are tried; that document names the authorization server,
whose metadata is read from the RFC 8414 and OpenID discovery paths. The identity probe reads it
to propose an identity scheme, and the platform's OAuth client (identities/upstream/oauth.py) to
sign people in.

Every URL here is named by someone else (the upstream, its metadata), so each request goes
through the SSRF-guarded session of core/outbound_http.py: public addresses only (unless
UPSTREAM_OAUTH_ALLOW_PRIVATE), https only on public hosts, no redirects, bounded size and time.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

from core import outbound_http
from core.errors import GatehouseError

_PROBE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "gatehouse", "version": "1"},
    },
}
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


class OAuthFailed(GatehouseError):
    """The upstream's authorization server could not be found, reached or understood."""

    status = 502


@dataclass(frozen=True)
class ServerMetadata:
    resource: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    registration_endpoint: str
    scope: str
    auth_methods: tuple[str, ...]
    revocation_endpoint: str = ""
    metadata_documents: bool = False  # accepts a client ID metadata document URL as client_id
    scopes_supported: tuple[str, ...] = ()


def session(*, timeout: float | None = None) -> requests.Session:
    """The SSRF-guarded session every request here goes through."""
    return outbound_http.guarded_session(
        timeout=timeout or settings.UPSTREAM_OAUTH_TIMEOUT_SECONDS,
        max_bytes=settings.UPSTREAM_OAUTH_MAX_DOCUMENT_BYTES,
        allow_private=settings.UPSTREAM_OAUTH_ALLOW_PRIVATE,
        who="the upstream's authorization server",
    )


def checked_url(url, what: str) -> str:
    """`url` if it may be fetched: https (http too where private addresses are allowed)."""
    schemes = {"https", "http"} if settings.UPSTREAM_OAUTH_ALLOW_PRIVATE else {"https"}
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in schemes or not parts.hostname:
        raise OAuthFailed(f"The {what} is not an https URL: {str(url)[:200]!r}.")
    if parts.username or parts.password or parts.fragment:
        raise OAuthFailed(f"The {what} must not carry credentials or a fragment.")
    return url


def send(http, method: str, url: str, what: str, **kwargs) -> requests.Response:
    try:
        return http.request(method, checked_url(url, what), **kwargs)
    except requests.RequestException as exc:
        raise OAuthFailed(f"Could not fetch the {what} ({url[:200]}): {exc}") from exc


def _json_document(http, url: str, what: str) -> dict | None:
    response = send(http, "GET", url, what, headers={"Accept": "application/json"})
    if response.status_code != 200:
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _origin_and_path(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")


def parse_challenge(header: str) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer ...` challenge."""
    return dict(_AUTH_PARAM.findall(header or ""))


def _challenge(http, server_url: str) -> dict[str, str] | None:
    """The parameters of the Bearer challenge an unauthenticated request gets; None when the
    server does not answer 401."""
    response = send(
        http,
        "POST",
        server_url,
        "server URL",
        json=_PROBE,
        headers={"Accept": "application/json, text/event-stream"},
    )
    if response.status_code != 401:
        return None
    return parse_challenge(response.headers.get("WWW-Authenticate", ""))


def resource_metadata(http, server_url: str, named: str) -> tuple[str, dict] | None:
    """(URL, document) of the protected resource metadata of `server_url` (RFC 9728): the one
    a challenge `named`, else the well-known paths; None when there is none."""
    origin, path = _origin_and_path(server_url)
    candidates = [named] if named else []
    if path:
        candidates.append(f"{origin}/.well-known/oauth-protected-resource{path}")
    candidates.append(f"{origin}/.well-known/oauth-protected-resource")
    for url in candidates:
        document = _json_document(http, url, "protected resource metadata")
        if document is not None:
            return url, document
    return None


def _covers(resource: str, server_url: str) -> bool:
    # RFC 8707 resources are hierarchical: a resource names its own URL and those below it.
    resource_origin, resource_path = _origin_and_path(resource)
    server_origin, server_path = _origin_and_path(server_url)
    if resource_origin.lower() != server_origin.lower():
        return False
    return server_path == resource_path or server_path.startswith(resource_path + "/")


def authorization_server_metadata(http, issuer: str, *, named: bool = True) -> dict | None:
    """The metadata of `issuer`; `named`: the issuer came from resource metadata, so the
    document must be about it (RFC 8414 3.3)."""
    origin, path = _origin_and_path(issuer)
    if path:
        candidates = [
            f"{origin}/.well-known/oauth-authorization-server{path}",
            f"{origin}/.well-known/openid-configuration{path}",
            f"{origin}{path}/.well-known/openid-configuration",
        ]
    else:
        candidates = [
            f"{origin}/.well-known/oauth-authorization-server",
            f"{origin}/.well-known/openid-configuration",
        ]
    for url in candidates:
        document = _json_document(http, url, "authorization server metadata")
        if document is None:
            continue
        if named and str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
            raise OAuthFailed(f"The authorization server metadata at {url} names another issuer.")
        return document
    return None


def _legacy_metadata(http, server_url: str) -> tuple[str, dict]:
    """A 2025-03-26 server, without protected resource metadata: its origin is the authorization
    server, whose endpoints default to /authorize, /token and /register there."""
    origin, _path = _origin_and_path(server_url)
    document = authorization_server_metadata(http, origin, named=False)
    if document is not None:
        return str(document.get("issuer") or origin), document
    return origin, {
        "issuer": origin,
        "authorization_endpoint": f"{origin}/authorize",
        "token_endpoint": f"{origin}/token",
        "registration_endpoint": f"{origin}/register",
        "code_challenge_methods_supported": ["S256"],
    }


def issuer_of(resource_document: dict, server_url: str) -> tuple[str, str]:
    """(resource, authorization server issuer) that protected resource metadata names for
    `server_url`; refuses a document about another resource or naming no server."""
    resource = resource_document.get("resource") or server_url
    if not isinstance(resource, str) or not _covers(resource, server_url):
        raise OAuthFailed(
            f"The protected resource metadata is about {str(resource)[:200]!r}, not {server_url}."
        )
    servers = resource_document.get("authorization_servers") or []
    if not servers or not isinstance(servers[0], str):
        raise OAuthFailed("The protected resource metadata names no authorization server.")
    return resource, checked_url(servers[0], "authorization server")


def discover(server_url: str, challenge: dict | None = None) -> ServerMetadata:
    """What the upstream at `server_url` needs: its resource, authorization server and scope.

    `challenge`: the parameters of a Bearer challenge already received (a 401, or a 403 asking
    for more scope); without it an unauthenticated request is made to get one."""
    http = session()
    with http:
        if challenge is None:
            challenge = _challenge(http, server_url)
        refused = challenge is not None
        challenge = challenge or {}
        found = resource_metadata(http, server_url, challenge.get("resource_metadata", ""))
        if found is None:
            if not refused:
                raise OAuthFailed(
                    f"The server at {server_url} asks for no OAuth and publishes no protected "
                    "resource metadata (RFC 9728); use a service account or a manual "
                    "credential for it instead."
                )
            issuer, document = _legacy_metadata(http, server_url)
            return _metadata(server_url, issuer, document, challenge.get("scope", ""))
        _url, resource_document = found
        resource, issuer = issuer_of(resource_document, server_url)
        document = authorization_server_metadata(http, issuer)
    if document is None:
        raise OAuthFailed(f"The authorization server {issuer} publishes no metadata (RFC 8414).")
    scope = challenge.get("scope") or " ".join(resource_document.get("scopes_supported") or [])
    return _metadata(resource, issuer, document, scope)


def _metadata(resource: str, issuer: str, document: dict, scope: str) -> ServerMetadata:
    if "S256" not in (document.get("code_challenge_methods_supported") or []):
        raise OAuthFailed(
            f"The authorization server {issuer} does not support PKCE with S256, "
            "which connecting requires."
        )
    return ServerMetadata(
        resource=resource,
        issuer=issuer,
        authorization_endpoint=checked_url(
            document.get("authorization_endpoint"), "authorization endpoint"
        ),
        token_endpoint=checked_url(document.get("token_endpoint"), "token endpoint"),
        registration_endpoint=document.get("registration_endpoint") or "",
        scope=scope,
        auth_methods=tuple(
            document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        ),
        revocation_endpoint=_optional_url(document.get("revocation_endpoint")),
        metadata_documents=document.get("client_id_metadata_document_supported") is True,
        scopes_supported=tuple(
            s for s in document.get("scopes_supported") or [] if isinstance(s, str)
        ),
    )


def _optional_url(url) -> str:
    # An endpoint only some operations use: one that cannot be fetched is as good as none.
    try:
        return checked_url(url, "endpoint") if url else ""
    except OAuthFailed:
        return ""
