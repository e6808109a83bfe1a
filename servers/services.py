"""Writes of the servers app."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from identities.upstream import revocation
from servers import gateway_notice, identity_probe
from servers.models import Server
from servers.tasks import refresh_catalog_task
from servers.validation import normalise_server_fields
from teams.changes import record_change

_FIELDS = (
    "description",
    "kind",
    "transport",
    "url",
    "command",
    "args",
    "env",
    "scope",
    "env_keys",
    "network",
    "max_reply_bytes",
    "handshake_timeout_seconds",
    "list_deadline_seconds",
)


def _validated(server: Server) -> Server:
    fields = normalise_server_fields(
        kind=server.kind,
        transport=server.transport or None,
        url=server.url,
        command=server.command,
        args=server.args,
        env=server.env,
        network=server.network,
        scope=server.scope,
        env_keys=server.env_keys,
    )
    for name, value in fields._asdict().items():
        setattr(server, name, value)
    try:
        server.full_clean(exclude=["workspace", "catalog"], validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ValidationFailed(" ".join(messages), field=field) from exc
    return server


@transaction.atomic
def create_server(
    *,
    workspace,
    name: str,
    kind: str = "remote",
    actor,
    transport: str = "",
    url: str = "",
    command: str = "",
    args=(),
    env=None,
    scope: str = "",
    env_keys=(),
    network: bool = True,
    description: str = "",
    max_reply_bytes: int | None = None,
    handshake_timeout_seconds: float | None = None,
    list_deadline_seconds: float | None = None,
) -> Server:
    server = Server(
        workspace=workspace,
        name=name,
        kind=kind,
        transport=transport,
        url=url,
        command=command,
        args=list(args),
        env=env or {},
        scope=scope,
        env_keys=list(env_keys or ()),
        network=network,
        description=description,
        max_reply_bytes=max_reply_bytes,
        handshake_timeout_seconds=handshake_timeout_seconds,
        list_deadline_seconds=list_deadline_seconds,
    )
    _validated(server)
    if Server.objects.for_workspace(workspace).filter(name=name).exists():
        raise Conflict(f"A server named '{name}' already exists.", field="name")
    server.save()
    record_change(workspace=workspace, actor=actor, action="server.create", target=server)
    _schedule_discovery(server)
    return server


@transaction.atomic
def update_server(*, server: Server, actor, **changes) -> Server:
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if "kind" in changes and changes["kind"] != server.kind:
        # A new kind starts from its own defaults for what the old kind alone had.
        changes.setdefault("transport", "")
        changes.setdefault("scope", "")
        changes.setdefault("env_keys", [])
    for field, value in changes.items():
        setattr(server, field, value)
    _validated(server)
    server.save()
    gateway_notice.tell_gateways_of(server)
    _schedule_discovery(server)
    record_change(
        workspace=server.workspace,
        actor=actor,
        action="server.update",
        target=server,
        detail={"fields": sorted(changes)},
    )
    return server


@transaction.atomic
def delete_server(*, server: Server, actor) -> None:
    gateway_notice.tell_gateways_of(server)
    # Its assignments go with it: people's tokens for them are revoked at the upstream.
    revocation.revoke_when_removed(server.assignments.all())
    record_change(workspace=server.workspace, actor=actor, action="server.delete", target=server)
    server.delete()


def _schedule_discovery(server: Server) -> None:
    # Embedded set-ups run tasks eagerly; there the data plane discovers on first use instead
    # of making the admin's request wait for the upstream.
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    server_id = server.pk
    transaction.on_commit(lambda: refresh_catalog_task.delay(server_id))


def probe_identity(*, server: Server) -> identity_probe.Probe:
    """Ask a remote server which identity it needs, and keep the answer on the server row.

    Network I/O, so never inside a transaction: callers probe after the server is saved."""
    if server.kind != Server.Kind.REMOTE:
        raise ValidationFailed(
            f"Only remote servers are probed; '{server.name}' is a {server.kind} server, "
            "which takes its secrets through its environment.",
            field="kind",
        )
    result = identity_probe.probe(server.url, transport=server.transport)
    server.identity_probe = result.as_dict()
    server.identity_probed_at = timezone.now()
    Server.objects.filter(pk=server.pk).update(
        identity_probe=server.identity_probe, identity_probed_at=server.identity_probed_at
    )
    return result
