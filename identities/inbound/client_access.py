"""Client apps of a workspace: the OAuth clients holding tokens for its gateways, and switching
one off (for the whole workspace or one gateway) with `clients.toggle`.

A client app belongs to no workspace (Claude registers once per platform), so a workspace sees
the apps whose tokens name one of its gateways as their resource, and its switches apply only
to its own gateways.
"""

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from oauth2_provider.models import get_access_token_model, get_application_model

from core.errors import ValidationFailed
from gateways.models import Gateway
from identities.inbound import tokens
from identities.models import DisabledClient
from teams.changes import record_change


def names_workspace(workspace) -> Q:
    """Tokens and grants whose resource is one of the workspace's URLs."""
    # A gateway URL (`/mcp/<ws>/<gw>`) or the workspace URL (`/mcp/<ws>`, the end of a JSON string).
    return Q(resource__icontains=f"/mcp/{workspace.slug}/") | Q(
        resource__icontains=f'/mcp/{workspace.slug}"'
    )


def client_apps_of(workspace):
    """The OAuth client apps that were ever granted a token for the workspace's gateways."""
    granted = get_access_token_model().objects.filter(names_workspace(workspace))
    return (
        get_application_model()
        .objects.filter(pk__in=granted.values("application_id"))
        .order_by("name", "id")
    )


def access_client_app(workspace, app_id):
    """One client app of the workspace; any other id is the same 404 as a missing one."""
    from django.http import Http404

    try:
        return client_apps_of(workspace).get(pk=app_id)
    except (get_application_model().DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No client app matches the given query.") from exc


def switches_of(workspace, app_ids) -> dict[int, list]:
    """app id -> [gateway slug, or None for the whole workspace] of what is switched off."""
    found: dict[int, list] = {}
    rows = (
        DisabledClient.objects.for_workspace(workspace)
        .filter(application_id__in=list(app_ids))
        .select_related("gateway")
    )
    for row in rows:
        found.setdefault(row.application_id, []).append(row.gateway.slug if row.gateway else None)
    return found


def is_disabled(*, workspace_id: int, application_id: int, gateway_id: int) -> bool:
    """Whether the app is off for this gateway (the data plane asks when it looks a token up)."""
    return (
        DisabledClient.objects.for_workspace(workspace_id)
        .filter(application_id=application_id)
        .filter(Q(gateway__isnull=True) | Q(gateway_id=gateway_id))
        .exists()
    )


def _gateway(workspace, slug):
    if not slug:
        return None
    gateway = Gateway.objects.for_workspace(workspace).filter(slug=slug).first()
    if gateway is None:
        raise ValidationFailed(f"Unknown gateway '{slug}'.", field="gateway")
    return gateway


def _forget_cached_tokens(app) -> None:
    # Token lookups are cached by the data plane; dropping them makes the switch immediate.
    digests = (
        get_access_token_model()
        .objects.filter(application=app)
        .values_list("token_checksum", flat=True)
    )
    keys = [tokens.lookup_cache_key(d) for d in digests if d]
    transaction.on_commit(lambda: cache.delete_many(keys))


@transaction.atomic
def disable_client(*, workspace, app, gateway_slug: str | None, actor) -> None:
    gateway = _gateway(workspace, gateway_slug)
    DisabledClient.objects.get_or_create(
        workspace=workspace, application=app, gateway=gateway, defaults={"disabled_by": actor}
    )
    _forget_cached_tokens(app)
    record_change(
        workspace=workspace,
        actor=actor,
        action="client.disable",
        target=app.name or app.client_id,
        detail={"client_id": app.client_id, "gateway": gateway.slug if gateway else None},
    )


@transaction.atomic
def enable_client(*, workspace, app, gateway_slug: str | None, actor) -> None:
    """Switch back on what was switched off: for one gateway, or (no gateway) everywhere."""
    gateway = _gateway(workspace, gateway_slug)
    switches = DisabledClient.objects.for_workspace(workspace).filter(application=app)
    if gateway is not None:
        switches = switches.filter(gateway=gateway)
    switches.delete()
    _forget_cached_tokens(app)
    record_change(
        workspace=workspace,
        actor=actor,
        action="client.enable",
        target=app.name or app.client_id,
        detail={"client_id": app.client_id, "gateway": gateway.slug if gateway else None},
    )
