"""Reads of the rules app, always scoped to a workspace; and what a snapshot compiles."""

from django.db.models import F, Q

from audit.models import LogEntry
from gateways.models import Assignment, Gateway
from rules.definitions import RuleDefinition
from rules.models import Rule
from teams.scoping import get_scoped_or_404


def rules_of(workspace, *, gateway_slug: str | None = None, scope: str | None = None):
    """The workspace's rules in evaluation order, for the list page and the API."""
    rules = Rule.objects.for_workspace(workspace).select_related("gateway", "assignment")
    if gateway_slug:
        rules = rules.filter(gateway__slug=gateway_slug)
    if scope == "workspace":
        rules = rules.filter(gateway__isnull=True)
    elif scope == "gateway":
        rules = rules.filter(gateway__isnull=False, assignment__isnull=True)
    elif scope == "assignment":
        rules = rules.filter(assignment__isnull=False)
    # Workspace rules (no gateway) first, then gateway, then assignment: NULLs first on every
    # database (PostgreSQL sorts them last by default).
    return rules.order_by(
        F("gateway_id").asc(nulls_first=True),
        F("assignment_id").asc(nulls_first=True),
        "order",
        "id",
    )


def access_rule(workspace, rule_id) -> Rule:
    return get_scoped_or_404(
        Rule.objects.select_related("gateway", "assignment", "workspace"), workspace, pk=rule_id
    )


def gateway_named(workspace, slug: str):
    """A gateway of the workspace by slug, or None."""
    return Gateway.objects.for_workspace(workspace).filter(slug=slug).first()


def assignment_of(workspace, assignment_id):
    """An assignment of the workspace by id (with its gateway), or None."""
    try:
        assignment_id = int(assignment_id)
    except (TypeError, ValueError):
        return None
    return (
        Assignment.objects.for_workspace(workspace)
        .select_related("gateway")
        .filter(pk=assignment_id)
        .first()
    )


def definition_of(rule: Rule) -> RuleDefinition:
    return RuleDefinition(
        id=rule.pk,
        workspace_id=rule.workspace_id,
        name=rule.name,
        description=rule.description,
        enabled=rule.enabled,
        order=rule.order,
        mode=rule.mode,
        direction=rule.direction,
        gateway_id=rule.gateway_id,
        assignment_id=rule.assignment_id,
        conditions=rule.conditions or {},
        detector=rule.detector,
        detector_config=rule.detector_config or {},
        action=rule.action,
        action_config=rule.action_config or {},
        alert=rule.alert,
    )


def definitions_for_gateway(*, workspace_id: int, gateway_id: int) -> list[RuleDefinition]:
    """Every enabled rule that can apply on a gateway: the workspace's, the gateway's and its
    assignments'. One query; `engine.compile_rules` orders them. Called when a snapshot is
    built (sync, in the snapshot's thread)."""
    rules = (
        Rule.objects.for_workspace(workspace_id)
        .filter(enabled=True)
        .filter(Q(gateway__isnull=True) | Q(gateway_id=gateway_id))
        .order_by("order", "id")
    )
    return [definition_of(rule) for rule in rules]


def logged_samples(workspace, *, gateway_slug: str, limit: int = 20) -> list[dict]:
    """The payloads of a gateway's last `limit` logged calls, for "try it" on real traffic:
    `[{"direction", "method", "tool", "server", "payload", "correlation_id"}]`. Reads what the
    audit log kept (already redacted by the rules active then; nothing if payloads are off)."""
    hops = {"client.request": "request", "upstream.response": "response"}
    entries = (
        LogEntry.objects.for_workspace(workspace)
        .filter(gateway_slug=gateway_slug, hop__in=list(hops), payload__isnull=False)
        .order_by("-at", "-id")[: max(1, min(limit, 200)) * 2]
    )
    return [
        {
            "direction": hops[e.hop],
            "method": e.rpc_method,
            "tool": e.tool or None,
            "server": e.server_name or None,
            "payload": e.payload,
            "correlation_id": str(e.correlation_id),
        }
        for e in entries
    ]
