"""Which identity a remote server asks for, found by asking it: the probe behind the identity
scheme proposed when an admin adds a server.

An unauthenticated MCP request (a 2026-07-28 `server/discover`, then a handshake-era
`initialize`) that succeeds means the server needs no identity. A refusal (401 or 403) is
followed with identities/upstream/oauth.py's discovery: the challenge's `resource_metadata` or
the well-known paths lead to the protected resource metadata (RFC 9728), which names the
authorization server, whose metadata (RFC 8414 / OpenID) says whether clients register
dynamically. No OAuth metadata at all means a token or headers.

The MCP request goes to the URL the admin entered, which discovery and the data plane connect
to anyway, so it may be a private address as any server URL may; it still goes through the
guarded session (no redirects, no proxy, bounded answer, short timeout). What the server names
in turn is fetched under upstream_oauth's rules: public https addresses only, unless
UPSTREAM_OAUTH_ALLOW_PRIVATE.
"""

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import requests
from django.conf import settings
from urllib3.exceptions import NameResolutionError

from core import outbound_http
from servers import oauth_discovery, platform_addresses
from servers.legacy_upstream import LegacySseSession
from servers.upstream import (
    CLIENT_INFO,
    HANDSHAKE_VERSION,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
    MODERN_VERSION,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    close_http_session,
)

NONE = "none"
OAUTH_DYNAMIC = "oauth_dynamic"
OAUTH_PREREGISTERED = "oauth_preregistered"
HEADER_TOKEN = "header_token"
UNREACHABLE = "unreachable"
ERROR = "error"
OUTCOMES = (NONE, OAUTH_DYNAMIC, OAUTH_PREREGISTERED, HEADER_TOKEN, UNREACHABLE, ERROR)

LABELS = {
    NONE: "No identity needed",
    OAUTH_DYNAMIC: "OAuth, the platform registers itself",
    OAUTH_PREREGISTERED: "OAuth, a client must be registered by hand",
    HEADER_TOKEN: "A token or headers",
    UNREACHABLE: "Unreachable",
    ERROR: "Not understood",
}
# outcome -> (proposed identity scheme, other schemes that fit)
_PROPOSALS = {
    NONE: ("none", ()),
    OAUTH_DYNAMIC: ("user_oauth", ()),
    OAUTH_PREREGISTERED: ("user_oauth", ()),
    HEADER_TOKEN: ("service_account", ("manual",)),
}
_REFUSED = (401, 403)
_DISCOVER = {
    "method": "server/discover",
    "params": {
        "_meta": {
            META_PROTOCOL_VERSION: MODERN_VERSION,
            META_CLIENT_CAPABILITIES: {},
            META_CLIENT_INFO: CLIENT_INFO,
        }
    },
}
_INITIALIZE = {
    "method": "initialize",
    "params": {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO},
}
_PRIVATE_HINT = (
    " Authorization servers on private addresses or plain http need UPSTREAM_OAUTH_ALLOW_PRIVATE."
)


@dataclass(frozen=True)
class Probe:
    """What the probe found: an outcome, the scheme it proposes, and the evidence for it."""

    outcome: str
    message: str
    evidence: dict = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """The probe learnt nothing about the identity the server needs."""
        return self.outcome in (UNREACHABLE, ERROR)

    @property
    def proposed_scheme(self) -> str:
        return _PROPOSALS.get(self.outcome, ("", ()))[0]

    @property
    def alternatives(self) -> list[str]:
        return list(_PROPOSALS.get(self.outcome, ("", ()))[1])

    @property
    def needs_client(self) -> bool:
        """A client must be registered at the provider and entered before people connect."""
        return self.outcome == OAUTH_PREREGISTERED

    @property
    def label(self) -> str:
        return LABELS[self.outcome]

    @classmethod
    def from_dict(cls, data) -> "Probe | None":
        """The probe kept on a server row, or None when it was never probed."""
        if not isinstance(data, dict) or data.get("outcome") not in OUTCOMES:
            return None
        evidence = data.get("evidence") if isinstance(data.get("evidence"), dict) else {}
        return cls(data["outcome"], str(data.get("message") or ""), evidence)

    def evidence_rows(self) -> list[tuple[str, str]]:
        """The evidence as (label, value) rows, in the order an admin reads it."""
        e = self.evidence
        rows = [
            ("HTTP status", e.get("status")),
            ("Protocol", " ".join(str(e[k]) for k in ("era", "protocol_version") if e.get(k))),
            ("Server", e.get("server_name")),
            ("WWW-Authenticate", e.get("www_authenticate")),
            ("Protected resource metadata", e.get("resource_metadata_url")),
            ("Authorization server", e.get("authorization_server")),
            ("Scopes supported", " ".join(e.get("scopes_supported") or [])),
        ]
        if "registration_endpoint" in e:
            rows += [
                ("Dynamic registration", e["registration_endpoint"] or "not offered"),
                (
                    "Client ID metadata documents",
                    _yes(e.get("client_id_metadata_document_supported")),
                ),
                ("PKCE with S256", _yes(e.get("pkce_s256"))),
            ]
        rows.append(("Not checked", e.get("metadata_not_checked")))
        return [(label, str(value)) for label, value in rows if value not in (None, "")]

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "proposed_scheme": self.proposed_scheme,
            "alternatives": self.alternatives,
            "needs_client": self.needs_client,
        }


def _yes(value) -> str:
    return "supported" if value else "not supported"


@dataclass(frozen=True)
class _Spoken:
    era: str
    protocol_version: str
    server_info: dict


def probe(url: str, *, transport: str = "streamable_http", timeout: float | None = None) -> Probe:
    """Probe the remote server at `url`; never raises for anything the server does."""
    timeout = timeout or settings.SERVER_PROBE_TIMEOUT_SECONDS
    evidence = {"url": url, "transport": transport}
    try:
        with outbound_http.guarded_session(
            timeout=timeout,
            max_bytes=settings.UPSTREAM_OAUTH_MAX_DOCUMENT_BYTES,
            allow_private=True,
            who="the server",
        ) as http:
            if transport == "sse":
                response, spoken = _ask_legacy(http, url, timeout)
            else:
                response, spoken = _ask_streamable(http, url)
    except requests.RequestException as exc:
        return _failed(exc, url, timeout, evidence)
    except (UpstreamUnavailable, UpstreamTimeout, UpstreamError, TimeoutError, OSError) as exc:
        detail = str(exc) or f"no answer within {timeout:g} s"
        return Probe(UNREACHABLE, f"Could not speak MCP with the server: {detail}.", evidence)
    if response is not None:
        evidence["status"] = response.status_code
    if spoken is not None:
        evidence.update(
            era=spoken.era,
            protocol_version=spoken.protocol_version,
            server_name=str(spoken.server_info.get("name") or "")[:200],
        )
        return Probe(NONE, "The server answered an unauthenticated MCP request.", evidence)
    if response.status_code in _REFUSED:
        return _refused(url, response, timeout, evidence)
    return Probe(ERROR, _not_mcp(response), evidence)


# -- the MCP request ----------------------------------------------------------------------------


def _post(http, url: str, request: dict, *, modern: bool) -> requests.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if modern:
        headers.update({"MCP-Protocol-Version": MODERN_VERSION, "Mcp-Method": request["method"]})
    body = {"jsonrpc": "2.0", "id": 1, **request}
    return http.post(url, json=body, headers=headers)


def _message(response: requests.Response) -> dict | None:
    """The JSON-RPC answer in a JSON body, or in an event stream: the first event holding a
    response (a stream may open with a priming event of empty data, or a notification)."""
    if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
        return _json_object(response.text)
    data: list[str] = []
    for line in [*response.text.splitlines(), ""]:
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            message = _json_object("\n".join(data))
            if message is not None and ("result" in message or "error" in message):
                return message
            data = []
    return None


def _json_object(text: str) -> dict | None:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _ask_streamable(http, url: str) -> tuple[requests.Response, _Spoken | None]:
    response = _post(http, url, _DISCOVER, modern=True)
    if response.status_code in _REFUSED:
        return response, None
    result = (_message(response) or {}).get("result")
    modern = isinstance(result, dict) and MODERN_VERSION in (result.get("supportedVersions") or [])
    if response.ok and modern:
        info = (result.get("_meta") or {}).get("io.modelcontextprotocol/serverInfo") or {}
        return response, _Spoken("modern", MODERN_VERSION, info)
    response = _post(http, url, _INITIALIZE, modern=False)
    if response.status_code in _REFUSED:
        return response, None
    result = (_message(response) or {}).get("result")
    if response.ok and isinstance(result, dict) and result.get("protocolVersion"):
        _end_session(http, url, response.headers.get("Mcp-Session-Id"))
        info = result.get("serverInfo") if isinstance(result.get("serverInfo"), dict) else {}
        return response, _Spoken("handshake", str(result["protocolVersion"]), info)
    return response, None


def _end_session(http, url: str, session_id: str | None) -> None:
    # The probe is over: the server need not keep the session it opened for it.
    if session_id:
        with contextlib.suppress(requests.RequestException):
            http.delete(url, headers={"Mcp-Session-Id": session_id})


def _ask_legacy(http, url: str, timeout: float) -> tuple[requests.Response | None, _Spoken | None]:
    """The HTTP+SSE transport: its event stream never ends, so a refusal is first looked for on
    a POST (auth middleware answers before routing), then the project's SSE client connects."""
    response = _post(http, url, _INITIALIZE, modern=False)
    if response.status_code in _REFUSED:
        return response, None
    info = asyncio.run(_legacy_handshake(url, timeout))
    return None, _Spoken(info.era, info.protocol_version, info.server_info)


async def _legacy_handshake(url: str, timeout: float):
    session = LegacySseSession(url, {})
    try:
        return await session.ensure_ready(timeout=timeout)
    finally:
        await session.close()
        await close_http_session()


def _not_mcp(response: requests.Response) -> str:
    error = (_message(response) or {}).get("error")
    if isinstance(error, dict) and error.get("message"):
        return (
            f"The server refused MCP requests: HTTP {response.status_code}, "
            f"{str(error['message'])[:200]}."
        )
    kind = response.headers.get("Content-Type", "").split(";")[0] or "no content type"
    return (
        f"The server answered HTTP {response.status_code} ({kind}), which is not an MCP answer; "
        "check that the URL is the server's MCP endpoint."
    )


def _failed(exc: requests.RequestException, url: str, timeout: float, evidence) -> Probe:
    parts = urlsplit(url)
    host = parts.hostname or url
    if isinstance(exc, requests.exceptions.SSLError):
        return Probe(UNREACHABLE, f"The TLS connection to {host} failed: {_reason(exc)}", evidence)
    if isinstance(exc, requests.exceptions.Timeout):
        return Probe(UNREACHABLE, f"{host} did not answer within {timeout:g} s.", evidence)
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return Probe(
            ERROR, "The server answered with a redirect; enter the URL it redirects to.", evidence
        )
    if isinstance(exc, outbound_http.DocumentTooLarge):
        return Probe(ERROR, f"The server's answer is too large to be MCP: {exc}.", evidence)
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, NameResolutionError):
            return Probe(UNREACHABLE, f"The host name {host} does not resolve (DNS).", evidence)
        if isinstance(getattr(reason, "__cause__", None), ConnectionRefusedError):
            port = parts.port or (443 if parts.scheme == "https" else 80)
            message = f"{host}:{port} refused the connection: nothing listens there."
            return Probe(UNREACHABLE, message, evidence)
    return Probe(UNREACHABLE, f"Could not reach {host}: {_reason(exc)}", evidence)


def _reason(exc: Exception) -> str:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return str(reason or exc)[:300]


# -- a refusal: OAuth or a token ----------------------------------------------------------------


def _refused(url: str, response: requests.Response, timeout: float, evidence: dict) -> Probe:
    header = response.headers.get("WWW-Authenticate", "")
    evidence["www_authenticate"] = header[:300]
    challenge = oauth_discovery.parse_challenge(header)
    try:
        with oauth_discovery.session(timeout=timeout) as http:
            document = _oauth_metadata(http, url, challenge, evidence)
    except oauth_discovery.OAuthFailed as exc:
        message = f"The server asks for OAuth, but its metadata could not be used: {exc.message}"
        if not settings.UPSTREAM_OAUTH_ALLOW_PRIVATE and (
            "not an https URL" in exc.message or "not a public address" in exc.message
        ):
            message += _PRIVATE_HINT
        return Probe(ERROR, message, evidence)
    if document is None:
        return Probe(
            HEADER_TOKEN,
            f"The server refuses unauthenticated requests (HTTP {response.status_code}) and "
            "publishes no OAuth metadata: give it a token or headers, shared (service account) "
            "or each person's own (manual).",
            evidence,
        )
    issuer = evidence["authorization_server"]
    if not evidence["pkce_s256"]:
        return Probe(
            ERROR,
            f"The authorization server {issuer} does not support PKCE with S256, which "
            "connecting people's accounts requires.",
            evidence,
        )
    if evidence["registration_endpoint"]:
        return Probe(
            OAUTH_DYNAMIC,
            f"Each person connects their own account at {issuer}; the platform registers "
            "itself there (dynamic client registration), so nothing more needs setting up.",
            evidence,
        )
    if evidence["client_id_metadata_document_supported"] and platform_addresses.document_url():
        return Probe(
            OAUTH_DYNAMIC,
            f"Each person connects their own account at {issuer}; the platform presents its "
            f"client ID metadata document ({platform_addresses.document_url()}), so nothing more "
            "needs setting up.",
            evidence,
        )
    message = (
        f"Each person connects their own account at {issuer}, which does not register clients "
        "dynamically: register a client there with the platform's redirect URI, then enter its "
        "client ID and secret when assigning the server to a gateway."
    )
    if evidence["client_id_metadata_document_supported"]:
        message += (
            " (It accepts client ID metadata documents too: set OAUTH_ISSUER to the platform's "
            "public URL and the platform presents one instead.)"
        )
    return Probe(OAUTH_PREREGISTERED, message, evidence)


def _oauth_metadata(http, url: str, challenge: dict, evidence: dict) -> dict | None:
    """The authorization server's metadata, recording what led to it in `evidence`; None when
    the server publishes no OAuth metadata at all."""
    named = challenge.get("resource_metadata", "")
    try:
        found = oauth_discovery.resource_metadata(http, url, named)
    except oauth_discovery.OAuthFailed as exc:
        if named:
            raise
        # The well-known paths are a guess; one that cannot be fetched proves nothing.
        evidence["metadata_not_checked"] = exc.message[:300]
        found = None
    if found is not None:
        evidence["resource_metadata_url"], resource_document = found
        resource, issuer = oauth_discovery.issuer_of(resource_document, url)
        evidence["resource"] = resource
        document = oauth_discovery.authorization_server_metadata(http, issuer)
        if document is None:
            raise oauth_discovery.OAuthFailed(
                f"The authorization server {issuer} publishes no metadata (RFC 8414)."
            )
        scopes = resource_document.get("scopes_supported")
    else:
        # A 2025-03-26 server: no resource metadata, its origin is the authorization server.
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        try:
            document = oauth_discovery.authorization_server_metadata(http, origin, named=False)
        except oauth_discovery.OAuthFailed:
            document = None
        if document is None:
            return None
        issuer = str(document.get("issuer") or origin)
        scopes = None
    if not isinstance(scopes, list):
        scopes = document.get("scopes_supported")
    evidence.update(
        authorization_server=issuer,
        scopes_supported=[str(s) for s in scopes] if isinstance(scopes, list) else [],
        challenge_scope=challenge.get("scope", ""),
        registration_endpoint=str(document.get("registration_endpoint") or ""),
        client_id_metadata_document_supported=bool(
            document.get("client_id_metadata_document_supported")
        ),
        pkce_s256="S256" in (document.get("code_challenge_methods_supported") or []),
    )
    return document
