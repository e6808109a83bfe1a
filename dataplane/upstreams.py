"""Step 6 of the lifecycle: the upstream session for an assignment and the caller's brokered
identity, from the per-process pool.

The identity is what the assignment's scheme presents upstream for this caller
(identities/upstream/brokering.py): nothing, the shared service account, or the person's own
OAuth connection or manual token; for a workstation server, the session through its
connector's socket (the caller's own connector for a personal one). The client's own token is
never passed on. Sessions are pooled
per (assignment, identity), so people with their own credentials never share one, and the pool
replaces a session whose credential changed.

What an upstream sends on its own (`list_changed`, `resources/updated`) goes to the handler the
caller names. Every caller names the catalog's (`catalog.on_upstream_event`); it is passed in
rather than imported because the catalog reads its lists over these very sessions.
"""

from collections.abc import Awaitable, Callable
from functools import partial

from django.conf import settings

from dataplane import near_cache
from dataplane.snapshot import AssignmentSpec, GatewaySnapshot
from identities.upstream import brokering
from servers.upstream import UpstreamSession
from servers.upstream_pool import pool
from servers.workstation import registry
from servers.workstation.session import WorkstationTarget

# (assignment, identity, snapshot, message) -> None, awaited for each message an upstream pushes.
EventHandler = Callable[
    [AssignmentSpec, brokering.UpstreamIdentity, GatewaySnapshot, dict], Awaitable[None]
]


async def identity_for(spec: AssignmentSpec, principal, snapshot) -> brokering.UpstreamIdentity:
    """What the gateway presents upstream for this caller; raises brokering.IdentityError."""
    return await brokering.resolve(spec, principal, snapshot, near_cache.get_many)


async def identity_after_refusal(
    spec: AssignmentSpec, principal, snapshot, refused: brokering.UpstreamIdentity
) -> brokering.UpstreamIdentity | None:
    """A fresher identity to retry with after the upstream refused `refused`, or None; raises
    brokering.IdentityError when the caller must reconnect."""
    return await brokering.after_refusal(spec, principal, snapshot, refused, near_cache.get_many)


def upstream_session(
    spec: AssignmentSpec,
    identity: brokering.UpstreamIdentity,
    snapshot: GatewaySnapshot,
    on_event: EventHandler,
) -> UpstreamSession:
    # One session per identity: people with their own credentials never share one, and the
    # pool replaces a session whose credential (its headers) changed.
    upstream = spec.upstream
    return pool.get(
        (spec.id, identity.slot),
        spec.upstream.url,
        {**identity.headers, **dict(spec.upstream.headers)},
        transport=spec.upstream.transport,
        on_event=partial(on_event, spec, identity, snapshot),
        max_reply_bytes=result_cap(spec)[0],
        handshake_timeout=spec.upstream.handshake_timeout,
        supervised=spec.upstream.kind == "managed",
        workstation=workstation_target(upstream, identity),
    )


def workstation_target(upstream, identity: brokering.UpstreamIdentity) -> WorkstationTarget | None:
    """What a workstation server's connector runs, and whose connector serves this identity
    (the person's own for a personal server); None for any other server."""
    if upstream.kind != "workstation":
        return None
    return WorkstationTarget(
        server_id=upstream.server_id,
        name=upstream.server_name,
        command=upstream.command,
        args=upstream.args,
        env_keys=upstream.env_keys,
        url=upstream.url,
        scope=upstream.scope,
        workspace_id=upstream.workspace_id,
        owner=registry.owner_of(upstream.scope, identity.user_id),
    )


def result_cap(spec: AssignmentSpec) -> tuple[int, str]:
    """The bound on one reply of this assignment's upstream, and what sets it: the assignment's
    `max_result_bytes`, else its server's `max_reply_bytes`, else UPSTREAM_MAX_REPLY_BYTES."""
    if spec.max_result_bytes:
        return spec.max_result_bytes, "the assignment's max_result_bytes"
    if spec.upstream.max_reply_bytes:
        return spec.upstream.max_reply_bytes, "the server's max_reply_bytes"
    return settings.UPSTREAM_MAX_REPLY_BYTES, "UPSTREAM_MAX_REPLY_BYTES"


def upstream_failed(
    spec: AssignmentSpec, identity: brokering.UpstreamIdentity, session: UpstreamSession
) -> None:
    """The upstream could not be reached or refused the call: connect afresh next time, with a
    client-credentials token fetched afresh (it may have been revoked before it expired)."""
    session.reset()
    if spec.credential is not None and identity.source == "shared":
        brokering.forget_token(spec.credential)
