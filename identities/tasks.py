"""Background work of the identities app: refreshing people's upstream OAuth tokens, and
revoking those of connections that were removed."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from identities import selectors
from identities.upstream import connections, revocation
from servers import oauth_discovery

logger = logging.getLogger(__name__)


@shared_task(name="identities.refresh_upstream_connections")
def refresh_upstream_connections() -> dict:
    """Refresh every connection whose access token expires within the refresh-ahead window.

    Each row is locked while it is refreshed and re-checked under the lock, so two workers never
    spend one refresh token; an unreachable authorization server leaves the row for the next run.
    """
    before = timezone.now() + timedelta(seconds=settings.UPSTREAM_OAUTH_REFRESH_AHEAD_SECONDS)
    counts = {"refreshed": 0, "needs_reconnect": 0, "failed": 0}
    for connection_id in selectors.connections_due(before):
        try:
            connection = connections.refresh_connection(
                connection_id=connection_id, due_before=before
            )
        except oauth_discovery.OAuthFailed as exc:
            logger.warning("upstream connection %s was not refreshed: %s", connection_id, exc)
            counts["failed"] += 1
            continue
        if connection is None:
            continue
        if connection.status == connection.Status.CONNECTED:
            counts["refreshed"] += 1
        else:
            counts["needs_reconnect"] += 1
    return counts


@shared_task(name="identities.revoke_upstream_grants")
def revoke_upstream_grants(grants: list[dict]) -> int:
    """Revoke the tokens of connections already deleted (identities/upstream/revocation.py);
    their secrets travel still encrypted. How many tokens the servers accepted."""
    return sum(revocation.revoke(grant) for grant in grants)
