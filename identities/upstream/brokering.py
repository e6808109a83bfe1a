"""Step 6 of the lifecycle: the identity the gateway presents to an upstream.

The assignment's scheme decides. `none` sends nothing; `service_account` sends the shared
credential, decrypted once when the gateway snapshot is compiled; `manual` sends the caller's own
credential, else the shared one; `user_oauth` sends the access token of the caller's own OAuth
connection (identities/upstream/connections.py), refreshed first when it is about to expire,
and again
when the upstream refuses it. The client's own token is never among the headers sent: only what
is built here is.

A person's credential is read through the shared cache (still encrypted there), dropped from it
whenever it changes, and decrypted once per process per version. OAuth client-credentials tokens
are fetched from the token endpoint and kept in this process until shortly before they expire.
"""

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from core import crypto, outbound_http
from identities import selectors
from identities.models import UpstreamConnection, UpstreamCredential
from identities.upstream import connections, credential_shapes
from servers import oauth_discovery
from servers.upstream import GuardedConnector, UpstreamUnavailable, proxy_of

logger = logging.getLogger(__name__)

_TOKEN_MARGIN_SECONDS = 30
_TOUCH_EVERY_SECONDS = 60
_MAX_TOKEN_BYTES = 64 * 1024


class IdentityError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class IdentityMissing(IdentityError):
    """The caller has no identity for this upstream yet; `connect_url` says where to set one,
    `url_mode` whether that is a page for the person to open (so a URL-mode elicitation)."""

    def __init__(self, message: str, connect_url: str, *, url_mode: bool = False):
        super().__init__(message)
        self.connect_url = connect_url
        self.url_mode = url_mode


class IdentityUnavailable(IdentityError):
    """The identity exists but cannot be used now (undecryptable, token endpoint refused)."""


@dataclass(frozen=True)
class SharedCredential:
    """An assignment's shared credential as a gateway snapshot carries it (secrets not in repr)."""

    id: int
    version: str
    kind: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    token_url: str = ""
    client_id: str = ""
    scope: str = ""
    client_secret: str = field(default="", repr=False)
    error: str = ""


@dataclass(frozen=True)
class UpstreamIdentity:
    slot: str  # whose: "none", "shared" or "user:<id>"; keys the pooled upstream session
    version: str  # which credential, as of its last change
    source: str  # "none", "shared" or "personal": what the audit trail records
    credential_id: int | None = None
    headers: dict = field(default_factory=dict, repr=False)
    user_id: int | None = None  # whose workstation serves a personal workstation server

    @property
    def key(self) -> str:
        """Keys the catalog: a changed credential may see other tools, so it fetches afresh."""
        return f"{self.slot}:{self.version}"


NO_IDENTITY = UpstreamIdentity(slot="none", version="", source="none")


def person_slot(user_id: int) -> str:
    """The slot of a person's own credential: their pooled upstream sessions are keyed by it."""
    return f"user:{user_id}"


def _version(credential: UpstreamCredential) -> str:
    return f"{credential.pk}.{credential.updated_at.timestamp():.6f}"


def compile_shared(credential: UpstreamCredential) -> SharedCredential:
    """Decrypt a shared credential for a snapshot (sync: runs where the snapshot is built)."""
    version = _version(credential)
    try:
        payload = crypto.decrypt(credential.secret)
    except crypto.UndecryptableSecret:
        logger.error("shared credential %s cannot be decrypted with the configured keys", version)
        return SharedCredential(
            credential.pk, version, credential.kind, error="it cannot be decrypted"
        )
    details = credential.details or {}
    return SharedCredential(
        id=credential.pk,
        version=version,
        kind=credential.kind,
        headers=tuple(credential_shapes.static_headers(credential.kind, payload).items()),
        token_url=details.get("token_url", ""),
        client_id=details.get("client_id", ""),
        scope=details.get("scope", ""),
        client_secret=payload.get("client_secret", ""),
    )


def connect_url(snapshot, spec) -> str:
    base = (settings.OAUTH_ISSUER or "").rstrip("/")
    return (
        f"{base}/api/v1/workspaces/{snapshot.workspace_slug}/gateways/{snapshot.slug}"
        f"/assignments/{spec.id}/credentials/"
    )


def manual_credential_url(snapshot, spec) -> str:
    """The console form where a person sets their own credential for a `manual` assignment (the
    connections page, showing only that assignment; identities/upstream/connection_console.py)."""
    base = (settings.OAUTH_ISSUER or "").rstrip("/")
    return f"{base}/w/{snapshot.workspace_slug}/connections/?assignment={spec.id}#manual-{spec.id}"


GetMany = Callable[[list[str]], Awaitable[dict]]


def needs_no_identity(spec) -> bool:
    """True when the upstream is presented no identity at all, whoever calls."""
    if spec.upstream.kind == "workstation":
        # The caller is its identity, shared or personal: each person's calls run in a session
        # of their own, so what the server asks back (sampling, elicitation) reaches only them.
        return False
    # A managed server is a local process that reads secrets from its env.
    return spec.identity_scheme == "none" or spec.upstream.kind != "remote"


def workstation_identity(user_id: int) -> UpstreamIdentity:
    """A workstation server's identity: the person. Their own connector serves a personal
    server; a shared one is served by one connector for all, in a session per person. No header
    and no credential: the workstation holds its own secrets."""
    return UpstreamIdentity(
        slot=person_slot(user_id), version="", source="workstation", user_id=user_id
    )


async def resolve(spec, principal, snapshot, get_many: GetMany) -> UpstreamIdentity:
    """The identity to present to `spec`'s upstream for `principal`; raises IdentityError.

    `get_many` reads the shared cache (the data plane's reader, which avoids a thread hop).
    """
    if needs_no_identity(spec):
        return NO_IDENTITY
    if spec.upstream.kind == "workstation":
        return workstation_identity(principal.user_id)
    scheme = spec.identity_scheme
    server = spec.upstream.server_name
    if scheme == "manual":
        personal = await _personal(snapshot.workspace_id, spec.id, principal.user_id, get_many)
        if personal is not None:
            return personal
        if spec.credential is not None:
            return await _shared(spec.credential, server, snapshot.workspace_id)
        page = manual_credential_url(snapshot, spec)
        raise IdentityMissing(
            f"The server '{server}' needs your own credential, which you have not set yet. "
            f"Set it at {page} (or with POST {connect_url(snapshot, spec)} "
            '{"kind": "bearer", "token": "..."} or {"kind": "headers", "headers": {...}}), '
            "then call again.",
            page,
            url_mode=True,
        )
    if scheme == "service_account":
        if spec.credential is None:
            raise IdentityMissing(
                f"The server '{server}' needs a service account, which an administrator of "
                f"this gateway has not set yet ({connect_url(snapshot, spec)}).",
                connect_url(snapshot, spec),
            )
        return await _shared(spec.credential, server, snapshot.workspace_id)
    if scheme == "user_oauth":
        return await _connection(spec, principal.user_id, snapshot, get_many)
    raise IdentityUnavailable(f"The server '{server}' has an unknown identity scheme '{scheme}'.")


async def _shared(credential: SharedCredential, server: str, workspace_id: int) -> UpstreamIdentity:
    if credential.error:
        raise IdentityUnavailable(
            f"The service account of the server '{server}' is unusable: {credential.error}."
        )
    headers = dict(credential.headers)
    if credential.kind == credential_shapes.CLIENT_CREDENTIALS:
        token = await _client_credentials_token(credential, server)
        headers = {"Authorization": f"Bearer {token}"}
    await _touch(workspace_id, credential.id)
    return UpstreamIdentity(
        slot="shared",
        version=credential.version,
        source="shared",
        credential_id=credential.id,
        headers=headers,
    )


# -- personal credentials ----------------------------------------------------------------------

_decrypted: dict[str, dict] = {}


def _load_personal(workspace_id: int, assignment_id: int, user_id: int) -> dict:
    row = selectors.personal_credential(workspace_id, assignment_id, user_id)
    # The cache holds the encrypted text only; an empty entry remembers "none".
    entry = {} if row is None else {"id": row.pk, "v": _version(row), "secret": row.secret}
    if row is not None:
        entry["kind"] = row.kind
    key = selectors.personal_cache_key(assignment_id, user_id)
    cache.set(key, entry, settings.MCP_TOKEN_CACHE_SECONDS)
    return entry


async def _personal(workspace_id, assignment_id, user_id, get_many) -> UpstreamIdentity | None:
    key = selectors.personal_cache_key(assignment_id, user_id)
    entry = (await get_many([key])).get(key)
    if entry is None:
        entry = await sync_to_async(_load_personal)(workspace_id, assignment_id, user_id)
    if not entry:
        return None
    headers = _decrypted.get(entry["v"])
    if headers is None:
        try:
            payload = crypto.decrypt(entry["secret"])
        except crypto.UndecryptableSecret as exc:
            raise IdentityUnavailable(
                "Your credential for this server cannot be decrypted; set it again."
            ) from exc
        headers = credential_shapes.static_headers(entry["kind"], payload)
        if len(_decrypted) > 10000:
            _decrypted.clear()
        _decrypted[entry["v"]] = headers
    await _touch(workspace_id, entry["id"])
    return UpstreamIdentity(
        slot=person_slot(user_id),
        version=entry["v"],
        source="personal",
        credential_id=entry["id"],
        headers=dict(headers),
    )


# -- people's own OAuth connections (user_oauth) -------------------------------------------------


def connections_url(snapshot) -> str:
    """The console page where a person connects their upstream accounts."""
    base = (settings.OAUTH_ISSUER or "").rstrip("/")
    return f"{base}/w/{snapshot.workspace_slug}/connections/"


def _connection_entry(row: UpstreamConnection | None) -> dict:
    # The cache holds the encrypted text only; an empty entry remembers "none".
    if row is None:
        return {}
    return {
        "id": row.pk,
        "v": connections.version_of(row),
        "status": row.status,
        "secret": row.secret,
        "exp": row.expires_at.timestamp() if row.expires_at else None,
    }


def _load_connection(workspace_id: int, assignment_id: int, user_id: int) -> dict:
    entry = _connection_entry(selectors.connection_of(workspace_id, assignment_id, user_id))
    key = selectors.connection_cache_key(assignment_id, user_id)
    cache.set(key, entry, settings.MCP_TOKEN_CACHE_SECONDS)
    return entry


def _refresh(workspace_id: int, assignment_id: int, user_id: int, entry: dict) -> dict:
    try:
        connections.refresh_connection(connection_id=entry["id"], seen_version=entry["v"])
    except oauth_discovery.OAuthFailed as exc:
        raise IdentityUnavailable(f"Your connection could not be refreshed: {exc.message}") from exc
    return _load_connection(workspace_id, assignment_id, user_id)


def _not_connected(spec, snapshot, entry: dict) -> IdentityMissing:
    server = spec.upstream.server_name
    url = connections_url(snapshot)
    if entry:
        return IdentityMissing(
            f"Your connection to the server '{server}' has expired and needs reconnecting. "
            f"Reconnect your account at {url}, then call again.",
            url,
            url_mode=True,
        )
    return IdentityMissing(
        f"The server '{server}' acts as you, with your own account, which you have not "
        f"connected yet. Connect it at {url}, then call again.",
        url,
        url_mode=True,
    )


async def _connection(spec, user_id, snapshot, get_many, *, refused_version: str = ""):
    workspace_id = snapshot.workspace_id
    key = selectors.connection_cache_key(spec.id, user_id)
    entry = None if refused_version else (await get_many([key])).get(key)
    if entry is None:
        entry = await sync_to_async(_load_connection)(workspace_id, spec.id, user_id)
    if entry and entry["status"] == UpstreamConnection.Status.CONNECTED:
        expiring = entry["exp"] is not None and entry["exp"] - _TOKEN_MARGIN_SECONDS < time.time()
        if expiring or (refused_version and entry["v"] == refused_version):
            entry = await sync_to_async(_refresh)(workspace_id, spec.id, user_id, entry)
    if not entry or entry["status"] != UpstreamConnection.Status.CONNECTED:
        raise _not_connected(spec, snapshot, entry)
    token = _decrypted.get(entry["v"])
    if token is None:
        try:
            token = {"Authorization": f"Bearer {crypto.decrypt(entry['secret'])['access_token']}"}
        except crypto.UndecryptableSecret as exc:
            raise IdentityUnavailable(
                "Your connection to this server cannot be decrypted; reconnect it."
            ) from exc
        if len(_decrypted) > 10000:
            _decrypted.clear()
        _decrypted[entry["v"]] = token
    return UpstreamIdentity(
        slot=person_slot(user_id), version=entry["v"], source="personal", headers=dict(token)
    )


async def after_refusal(spec, principal, snapshot, refused: UpstreamIdentity, get_many):
    """The identity to retry with after the upstream refused `refused` (HTTP 401), or None when
    there is nothing fresher to try. A `user_oauth` token is refreshed once (unless another
    request already did); raises IdentityError when the connection needs reconnecting."""
    if spec.identity_scheme != "user_oauth" or refused.source != "personal":
        return None
    fresh = await _connection(
        spec, principal.user_id, snapshot, get_many, refused_version=refused.version
    )
    return None if fresh.version == refused.version else fresh


# -- last use ------------------------------------------------------------------------------------

_touched: dict[int, float] = {}


def _record_use(workspace_id: int, credential_id: int) -> None:
    UpstreamCredential.objects.for_workspace(workspace_id).filter(pk=credential_id).update(
        last_used_at=timezone.now()
    )


async def _touch(workspace_id: int, credential_id: int) -> None:
    # At most one write a minute per credential and process keeps the hot path read-only.
    now = time.monotonic()
    if now - _touched.get(credential_id, -_TOUCH_EVERY_SECONDS) < _TOUCH_EVERY_SECONDS:
        return
    _touched[credential_id] = now
    await sync_to_async(_record_use)(workspace_id, credential_id)


# -- OAuth client credentials --------------------------------------------------------------------

_tokens: dict[str, tuple[str, float]] = {}
_token_locks: dict[str, asyncio.Lock] = {}


async def _client_credentials_token(credential: SharedCredential, server: str) -> str:
    cached = _tokens.get(credential.version)
    if cached is not None and cached[1] - _TOKEN_MARGIN_SECONDS > time.monotonic():
        return cached[0]
    lock = _token_locks.setdefault(credential.version, asyncio.Lock())
    async with lock:
        cached = _tokens.get(credential.version)
        if cached is not None and cached[1] - _TOKEN_MARGIN_SECONDS > time.monotonic():
            return cached[0]
        token, expires_in = await _fetch_token(credential, server)
        _tokens[credential.version] = (token, time.monotonic() + expires_in)
        return token


def forget_token(credential: SharedCredential) -> None:
    """Drop a cached client-credentials token (the upstream refused it)."""
    _tokens.pop(credential.version, None)


def _basic(credential: SharedCredential) -> str:
    # RFC 6749 2.3.1: both parts are form-encoded before they are joined.
    pair = f"{quote(credential.client_id, safe='')}:{quote(credential.client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


async def _fetch_token(credential: SharedCredential, server: str) -> tuple[str, float]:
    form = {"grant_type": "client_credentials"}
    if credential.scope:
        form["scope"] = credential.scope
    failure = f"The service account of the server '{server}' could not get a token"
    try:
        # As an upstream's own requests go: the address rule, the trust store, the proxy.
        async with (
            aiohttp.ClientSession(
                connector=GuardedConnector(ssl=outbound_http.tls_context()),
                timeout=aiohttp.ClientTimeout(total=10),
            ) as http,
            http.post(
                credential.token_url,
                data=form,
                headers={"Accept": "application/json", "Authorization": _basic(credential)},
                allow_redirects=False,
                **await proxy_of(credential.token_url),
            ) as response,
        ):
            raw = await response.content.read(_MAX_TOKEN_BYTES)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, UpstreamUnavailable) as exc:
        raise IdentityUnavailable(f"{failure}: {exc or type(exc).__name__}.") from exc
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        reason = body.get("error") if isinstance(body, dict) and body.get("error") else "no token"
        raise IdentityUnavailable(f"{failure}: HTTP {status}, {reason}.")
    expires_in = body.get("expires_in")
    if not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = 3600
    return body["access_token"], float(expires_in)
