"""Step-up: an upstream that refuses a call for want of scope (HTTP 403 with `WWW-Authenticate:
Bearer error="insufficient_scope", scope="..."`, RFC 6750 3.1 and the MCP authorization spec's
scope challenge handling).

The gateway does not retry, since a token with more scope needs the person's consent: on a
person's own connection (`user_oauth`) the scopes asked for are recorded, which marks it as
needing more consent (reconnecting then asks for them along with those granted before), and the
caller gets the link to reconnect. A shared or manual credential cannot be widened by whoever
calls, so they are told which scope it lacks.
"""

from asgiref.sync import sync_to_async

from identities.upstream import connections
from identities.upstream.brokering import (
    IdentityError,
    IdentityMissing,
    IdentityUnavailable,
    UpstreamIdentity,
    connections_url,
)
from servers import oauth_discovery


async def refused_for_scope(
    spec, principal, snapshot, identity: UpstreamIdentity, challenge: str
) -> IdentityError:
    """The error to answer the caller with, after recording what the upstream asked for."""
    server = spec.upstream.server_name
    scope = oauth_discovery.parse_challenge(challenge).get("scope", "")[:1000]
    naming = f" (scope: {scope})" if scope else ""
    if spec.identity_scheme != "user_oauth" or identity.source != "personal":
        return IdentityUnavailable(
            f"The server '{server}' refused the call: the credential this gateway presents to "
            f"it lacks the access the call needs{naming}. Ask an administrator of the gateway."
        )
    if scope:
        await sync_to_async(connections.record_wanted_scope)(
            workspace_id=snapshot.workspace_id,
            assignment_id=spec.id,
            owner_id=principal.user_id,
            scope=scope,
        )
    url = connections_url(snapshot)
    return IdentityMissing(
        f"The server '{server}' needs more access than your connection grants{naming}. "
        f"Reconnect your account at {url}, allowing it, then call again.",
        url,
        url_mode=True,
    )
