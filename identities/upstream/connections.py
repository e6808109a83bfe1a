"""Writes of `user_oauth` connections: connecting a person's own upstream account, refreshing
its tokens, and disconnecting it.

Connecting is two steps around the person's visit to the upstream's authorization server:
`start_connection` finds that server (or reuses what an earlier connection found), registers
the platform there when it has no client yet, and returns the authorization URL and the pending
state the caller keeps in the person's session; `finish_connection` exchanges the code for
tokens. Tokens are stored encrypted (core/crypto.py) per (person, assignment); each change
drops the data plane's cached copy. A refresh the authorization server refuses marks the
connection as needing a reconnect.
"""

import logging
import secrets
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from core import crypto
from core.errors import ValidationFailed
from identities import selectors
from identities.models import UpstreamConnection, UpstreamCredential, UpstreamOAuthClient
from identities.upstream import client_document, credential_shapes, oauth, revocation
from servers import oauth_discovery, platform_addresses
from teams.changes import record_change

logger = logging.getLogger(__name__)

USER_OAUTH = "user_oauth"


def _pre_registered(assignment) -> UpstreamCredential | None:
    return (
        UpstreamCredential.objects.for_workspace(assignment.workspace_id)
        .filter(
            assignment=assignment,
            owner__isnull=True,
            kind=credential_shapes.OAUTH_CLIENT,
            disabled_at__isnull=True,
        )
        .first()
    )


def _reusable(current: UpstreamOAuthClient, server_url: str, redirect_uri: str) -> bool:
    if current.server_url != server_url:
        return False
    if current.registration == UpstreamOAuthClient.Registration.METADATA_DOCUMENT:
        # The document moves with OAUTH_ISSUER; a client at the old URL is another client.
        return current.client_id == platform_addresses.document_url() and (
            current.redirect_uri == platform_addresses.redirect_uri()
        )
    return current.redirect_uri == redirect_uri


def _client_for(assignment, redirect_uri: str) -> UpstreamOAuthClient:
    """The assignment's client at its authorization server, found and set up if need be: the
    pre-registered client, else the platform's metadata document where the server takes one,
    else a client registered dynamically."""
    current = (
        UpstreamOAuthClient.objects.for_workspace(assignment.workspace_id)
        .filter(assignment=assignment)
        .first()
    )
    server_url = assignment.server.url
    if current is not None and _reusable(current, server_url, redirect_uri):
        return current
    metadata = oauth_discovery.discover(server_url)
    pre_registered = _pre_registered(assignment)
    how = UpstreamOAuthClient.Registration
    document_client = client_document.client_at(metadata)
    if pre_registered is not None:
        details = pre_registered.details
        client = oauth.Client(
            details["client_id"],
            crypto.decrypt(pre_registered.secret).get("client_secret", ""),
            details.get("auth_method", "client_secret_basic"),
        )
        registration = how.PRE_REGISTERED
    elif document_client is not None:
        client, registration = document_client, how.METADATA_DOCUMENT
        redirect_uri = platform_addresses.redirect_uri()
    else:
        client = oauth.register(metadata, redirect_uri)
        registration = how.DYNAMIC
    fields = {
        "workspace_id": assignment.workspace_id,
        "server_url": server_url,
        "resource": metadata.resource,
        "issuer": metadata.issuer,
        "authorization_endpoint": metadata.authorization_endpoint,
        "token_endpoint": metadata.token_endpoint,
        "revocation_endpoint": metadata.revocation_endpoint[:500],
        "scope": metadata.scope[:1000],
        "redirect_uri": redirect_uri,
        "client_id": client.client_id,
        "secret": crypto.encrypt({"client_secret": client.client_secret})
        if client.client_secret
        else "",
        "auth_method": client.auth_method,
        "registration": registration,
    }
    oauth_client, _ = UpstreamOAuthClient.objects.update_or_create(
        assignment=assignment, defaults=fields
    )
    return oauth_client


def _as_client(oauth_client: UpstreamOAuthClient) -> oauth.Client:
    secret = crypto.decrypt(oauth_client.secret)["client_secret"] if oauth_client.secret else ""
    return oauth.Client(oauth_client.client_id, secret, oauth_client.auth_method)


def start_connection(
    *, assignment, redirect_uri: str, connection: UpstreamConnection | None = None
) -> tuple[str, dict]:
    """The authorization URL to send the person to, and the pending state to keep until they
    come back (in their session: it holds the PKCE verifier).

    `connection`: the person's current one, when reconnecting: the scopes it was granted and
    those the upstream asked for since (step-up) are asked for again, with the server's own."""
    if assignment.identity_scheme != USER_OAUTH:
        raise ValidationFailed("This assignment does not use each person's own OAuth account.")
    if assignment.server.kind != "remote":
        raise ValidationFailed(f"The server '{assignment.server.name}' is not a remote server.")
    oauth_client = _client_for(assignment, redirect_uri)
    state = secrets.token_urlsafe(24)
    verifier, challenge = oauth.pkce_pair()
    url = oauth.authorization_url(
        endpoint=oauth_client.authorization_endpoint,
        client_id=oauth_client.client_id,
        redirect_uri=oauth_client.redirect_uri,
        state=state,
        challenge=challenge,
        resource=oauth_client.resource,
        scope=oauth.joined_scopes(
            oauth_client.scope,
            connection.scope if connection else "",
            connection.wanted_scope if connection else "",
        ),
    )
    pending = {
        "state": state,
        "verifier": verifier,
        "workspace": assignment.workspace_id,
        "assignment": assignment.pk,
        "client": oauth_client.pk,
    }
    return url, pending


def _stored(connection: UpstreamConnection, tokens: oauth.Tokens, refresh: str) -> None:
    connection.secret = crypto.encrypt(
        {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token or refresh}
    )
    connection.expires_at = (
        timezone.now() + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
    )
    connection.scope = tokens.scope[:1000]
    connection.status = UpstreamConnection.Status.CONNECTED
    connection.last_error = ""


def _forget_cached(connection: UpstreamConnection) -> None:
    key = selectors.connection_cache_key(connection.assignment_id, connection.owner_id)
    transaction.on_commit(lambda: cache.delete(key))


def _audit_detail(connection: UpstreamConnection, assignment) -> dict:
    return {
        "assignment": assignment.pk,
        "gateway": assignment.gateway.slug,
        "server": assignment.server.name,
        "owner": connection.owner.email,
    }


def finish_connection(*, assignment, pending: dict, code: str, issuer: str, actor):
    """Exchange the authorization code the person came back with; the stored connection."""
    oauth_client = (
        UpstreamOAuthClient.objects.for_workspace(assignment.workspace_id)
        .filter(assignment=assignment, pk=pending["client"])
        .first()
    )
    if oauth_client is None:
        raise ValidationFailed("The assignment changed while you were away; connect again.")
    if issuer and issuer.rstrip("/") != oauth_client.issuer.rstrip("/"):
        # RFC 9207: an answer from another authorization server is a mix-up attack.
        raise ValidationFailed("The answer came from another authorization server than asked.")
    tokens = oauth.request_tokens(
        token_endpoint=oauth_client.token_endpoint,
        client=_as_client(oauth_client),
        resource=oauth_client.resource,
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": oauth_client.redirect_uri,
            "code_verifier": pending["verifier"],
        },
    )
    with transaction.atomic():
        connection = (
            UpstreamConnection.objects.for_workspace(assignment.workspace_id)
            .select_for_update(of=("self",))
            .filter(assignment=assignment, owner=actor)
            .first()
        )
        reconnect = connection is not None
        if connection is None:
            connection = UpstreamConnection(
                workspace_id=assignment.workspace_id, assignment=assignment, owner=actor
            )
        _stored(connection, tokens, "")
        connection.wanted_scope = ""  # asked for this time; a server granting less asks again
        connection.connected_at = timezone.now()
        connection.refreshed_at = None
        connection.save()
        _forget_cached(connection)
        record_change(
            workspace=assignment.workspace,
            actor=actor,
            action="connection.reconnect" if reconnect else "connection.connect",
            target=connection,
            detail=_audit_detail(connection, assignment),
        )
    return connection


def disconnect(*, connection: UpstreamConnection, actor) -> None:
    """Revoke the connection's tokens at the upstream's authorization server (a failure is
    logged, the disconnect goes on), then forget them."""
    assignment = connection.assignment
    grant = revocation.grant_of(connection)
    if grant is not None:
        revocation.revoke(grant)
    with transaction.atomic():
        _forget_cached(connection)
        record_change(
            workspace=assignment.workspace,
            actor=actor,
            action="connection.disconnect",
            target=connection,
            detail=_audit_detail(connection, assignment),
        )
        connection.delete()


def record_wanted_scope(*, workspace_id: int, assignment_id: int, owner_id: int, scope: str):
    """The upstream refused the owner a call for want of `scope` (403 insufficient_scope): their
    connection needs more consent, and reconnecting asks for those scopes too."""
    with transaction.atomic():
        connection = (
            UpstreamConnection.objects.for_workspace(workspace_id)
            .select_for_update(of=("self",))
            .select_related("assignment__gateway", "owner")
            .filter(assignment_id=assignment_id, owner_id=owner_id)
            .first()
        )
        if connection is None:
            return
        wanted = oauth.joined_scopes(connection.wanted_scope, scope)[:1000]
        if wanted == connection.wanted_scope:
            return
        connection.wanted_scope = wanted
        connection.save(update_fields=["wanted_scope", "updated_at"])
        _forget_cached(connection)
        assignment = connection.assignment
        record_change(
            workspace=assignment.workspace,
            actor=None,
            action="connection.needs_consent",
            target=connection,
            detail={**_audit_detail(connection, assignment), "scope": wanted},
        )


def version_of(connection: UpstreamConnection) -> str:
    # Prefixed: the data plane keys decrypted secrets by version, credentials' versions included.
    return f"c{connection.pk}.{connection.updated_at.timestamp():.6f}"


def refresh_connection(
    *, connection_id: int, seen_version: str = "", due_before=None
) -> UpstreamConnection | None:
    """Refresh one connection's tokens; the connection as it stands after (None if gone).

    `seen_version`: the version a caller found refused; if the connection changed since, another
    worker already refreshed it and nothing is done; `due_before`: likewise when its token no
    longer expires before then. The row stays locked during the request, so
    two workers never spend the same refresh token. Raises OAuthFailed when the authorization
    server cannot be reached (the connection is left as it was, to try again).
    """
    with transaction.atomic():
        connection = (
            UpstreamConnection.objects.select_for_update(of=("self",))
            .select_related("assignment__oauth_client", "assignment__gateway", "owner")
            .filter(pk=connection_id)
            .first()
        )
        if connection is None or connection.status != UpstreamConnection.Status.CONNECTED:
            return connection
        if seen_version and version_of(connection) != seen_version:
            return connection
        expires_at = connection.expires_at
        if due_before is not None and expires_at is not None and expires_at >= due_before:
            return connection
        assignment = connection.assignment
        oauth_client = getattr(assignment, "oauth_client", None)
        refresh = crypto.decrypt(connection.secret).get("refresh_token", "")
        try:
            if oauth_client is None or not refresh:
                raise oauth.GrantRefused("There is no refresh token to use.")
            tokens = oauth.request_tokens(
                token_endpoint=oauth_client.token_endpoint,
                client=_as_client(oauth_client),
                resource=oauth_client.resource,
                form={"grant_type": "refresh_token", "refresh_token": refresh},
            )
        except oauth.GrantRefused as exc:
            connection.status = UpstreamConnection.Status.NEEDS_RECONNECT
            connection.last_error = exc.message[:300]
            connection.save(update_fields=["status", "last_error", "updated_at"])
            _forget_cached(connection)
            record_change(
                workspace=assignment.workspace,
                actor=None,
                action="connection.needs_reconnect",
                target=connection,
                detail={**_audit_detail(connection, assignment), "reason": exc.message[:200]},
            )
            return connection
        _stored(connection, tokens, refresh)
        connection.refreshed_at = timezone.now()
        connection.save()
        _forget_cached(connection)
        return connection


def rotate_keys(*, workspace) -> tuple[int, list[str]]:
    """Re-encrypt the tokens and client secrets of `workspace` with the first configured key."""
    rotated, unreadable = 0, []
    for model in (UpstreamConnection, UpstreamOAuthClient):
        rows = (
            model.objects.for_workspace(workspace)
            .select_for_update(of=("self",))
            .exclude(secret="")
        )
        for row in rows.order_by("pk"):
            try:
                secret = crypto.rotate(row.secret)
            except crypto.UndecryptableSecret:
                unreadable.append(f"{model.__name__}:{row.pk}")
                continue
            model.objects.for_workspace(workspace).filter(pk=row.pk).update(secret=secret)
            if model is UpstreamConnection:
                _forget_cached(row)
            rotated += 1
    return rotated, unreadable
