"""Revoking a person's upstream OAuth tokens (RFC 7009) when their connection ends.

A connection ends when the person disconnects it or an admin removes its assignment (or the
gateway). The tokens are then revoked at the upstream's authorization server, at the
`revocation_endpoint` its metadata named: the refresh token first (revoking it ends the grant at
most servers), then the access token, each authenticated as the client the platform is there.
Requests go through the SSRF-guarded session of identities/upstream/oauth.py. A failure is
logged and never stops the local deletion: the person asked to be disconnected, and is.

A `Grant` carries what revoking needs once the rows are gone, its secrets still encrypted, so
it can wait in a task queue.
"""

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction

from core import crypto
from identities.models import UpstreamConnection
from identities.upstream import oauth
from servers import oauth_discovery

logger = logging.getLogger(__name__)

Grant = dict  # endpoint, client_id, auth_method, client_secret (encrypted), tokens (encrypted)


def grant_of(connection: UpstreamConnection) -> Grant | None:
    """What revoking `connection`'s tokens needs; None when its server has no revocation
    endpoint (or the platform never learnt one)."""
    oauth_client = getattr(connection.assignment, "oauth_client", None)
    if oauth_client is None or not oauth_client.revocation_endpoint or not connection.secret:
        return None
    return {
        "endpoint": oauth_client.revocation_endpoint,
        "client_id": oauth_client.client_id,
        "auth_method": oauth_client.auth_method,
        "client_secret": oauth_client.secret,
        "tokens": connection.secret,
        "connection": connection.pk,
    }


def grants_of(connections) -> list[Grant]:
    return [g for g in (grant_of(c) for c in connections) if g is not None]


def revoke_when_removed(assignments) -> None:
    """Revoke, once the transaction commits, the tokens of every connection to `assignments`,
    which are being deleted (an admin removed them, or their gateway): a queued task does it,
    so the removal never waits on the upstreams."""
    revoke_later(
        grants_of(
            UpstreamConnection.objects.filter(assignment__in=assignments).select_related(
                "assignment__oauth_client"
            )
        )
    )


def revoke_later(grants: list[Grant]) -> None:
    """Revoke `grants` once the transaction commits, off the caller's path."""
    if not grants:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # No worker (the embedded default): revoked in this process, after the commit still.
        transaction.on_commit(lambda: [revoke(grant) for grant in grants])
    else:
        transaction.on_commit(
            lambda: current_app.send_task("identities.revoke_upstream_grants", args=[grants])
        )


def revoke(grant: Grant) -> int:
    """Revoke the grant's refresh token, then its access token; how many the server accepted."""
    try:
        tokens = crypto.decrypt(grant["tokens"])
        secret = grant["client_secret"]
        client_secret = crypto.decrypt(secret)["client_secret"] if secret else ""
    except crypto.UndecryptableSecret:
        logger.warning("connection %s: tokens not revoked, undecryptable", grant["connection"])
        return 0
    client = oauth.Client(grant["client_id"], client_secret, grant["auth_method"])
    revoked = 0
    for hint in ("refresh_token", "access_token"):
        token = tokens.get(hint)
        if not token:
            continue
        try:
            _revoke_one(grant["endpoint"], client, token, hint)
        except oauth_discovery.OAuthFailed as exc:
            logger.warning(
                "connection %s: the %s was not revoked: %s", grant["connection"], hint, exc
            )
            continue
        revoked += 1
    return revoked


def _revoke_one(endpoint: str, client: oauth.Client, token: str, hint: str) -> None:
    form, headers = oauth.authenticated({"token": token, "token_type_hint": hint}, client)
    with oauth_discovery.session() as http:
        response = oauth_discovery.send(
            http, "POST", endpoint, "revocation endpoint", data=form, headers=headers
        )
    # RFC 7009 2.2: 200 whether or not the token was still valid.
    if response.status_code != 200:
        raise oauth_discovery.OAuthFailed(f"HTTP {response.status_code}")
