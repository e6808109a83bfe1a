"""Writes of the gateways app. Every change to what a gateway serves bumps its config_version.

Curating an assignment's tools (creating it, changing its tool policy) pins each tool it exposes
that the server's last discovery found and that has no pin yet. An existing pin is never moved
by curation: a tool that changed since it was pinned stays withheld until someone approves it.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core import config_events
from core.errors import Conflict, ValidationFailed
from gateways import approvals, pinning, rate_limits, selectors
from gateways.errors import InvalidToolPolicy, NamespaceTaken
from gateways.models import Assignment, Gateway
from identities.upstream import revocation
from servers.models import Server
from teams.changes import record_change
from teams.models import Team


def _clean(instance, exclude=("workspace",)):
    try:
        instance.full_clean(exclude=list(exclude), validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ValidationFailed(" ".join(messages), field=field) from exc


def bump_config_version(gateway: Gateway) -> None:
    Gateway.objects.filter(pk=gateway.pk).update(config_version=F("config_version") + 1)
    gateway.refresh_from_db(fields=["config_version"])
    config_events.gateway_changed(
        workspace_id=gateway.workspace_id, slug=gateway.slug, gateway_id=gateway.pk
    )


@transaction.atomic
def create_gateway(
    *, workspace, slug: str, name: str, actor, description: str = "", limits=None
) -> Gateway:
    gateway = Gateway(
        workspace=workspace,
        slug=slug,
        name=name,
        description=description,
        limits=rate_limits.clean_limits(limits),
    )
    _clean(gateway)
    if Gateway.objects.for_workspace(workspace).filter(slug=slug).exists():
        raise Conflict(f"A gateway with slug '{slug}' already exists.", field="slug")
    gateway.save()
    config_events.gateway_changed(
        workspace_id=workspace.pk, slug=gateway.slug, gateway_id=gateway.pk
    )
    record_change(workspace=workspace, actor=actor, action="gateway.create", target=gateway)
    return gateway


@transaction.atomic
def update_gateway(
    *,
    gateway: Gateway,
    actor,
    name: str | None = None,
    description: str | None = None,
    limits: list | None = None,
) -> Gateway:
    if name is not None:
        gateway.name = name
    if description is not None:
        gateway.description = description
    if limits is not None:
        gateway.limits = rate_limits.clean_limits(limits)
    _clean(gateway)
    gateway.save()
    bump_config_version(gateway)
    record_change(workspace=gateway.workspace, actor=actor, action="gateway.update", target=gateway)
    return gateway


@transaction.atomic
def delete_gateway(*, gateway: Gateway, actor) -> None:
    revocation.revoke_when_removed(
        Assignment.objects.for_workspace(gateway.workspace_id).filter(gateway=gateway)
    )
    record_change(workspace=gateway.workspace, actor=actor, action="gateway.delete", target=gateway)
    config_events.gateway_changed(
        workspace_id=gateway.workspace_id, slug=gateway.slug, gateway_id=gateway.pk
    )
    gateway.delete()


@transaction.atomic
def provision_teams(*, gateway: Gateway, team_slugs, actor) -> Gateway:
    slugs = list(dict.fromkeys(team_slugs))
    teams = list(Team.objects.for_workspace(gateway.workspace_id).filter(slug__in=slugs))
    missing = sorted(set(slugs) - {t.slug for t in teams})
    if missing:
        raise ValidationFailed(f"Unknown teams: {', '.join(missing)}.", field="teams")
    gateway.teams.set(teams)
    bump_config_version(gateway)
    record_change(
        workspace=gateway.workspace,
        actor=actor,
        action="gateway.provision",
        target=gateway,
        detail={"teams": sorted(slugs)},
    )
    return gateway


def _check_policy(assignment: Assignment) -> None:
    if assignment.tool_mode == Assignment.ToolMode.SELECTED:
        allow = assignment.tool_allow
        if not isinstance(allow, list) or not all(isinstance(n, str) and n for n in allow):
            raise InvalidToolPolicy("'allow' must be a list of tool names.", field="tool_allow")
    elif assignment.tool_allow:
        raise InvalidToolPolicy(
            "An allow-list only applies to the 'selected' tool mode.", field="tool_allow"
        )
    overrides = assignment.tool_overrides
    if not isinstance(overrides, dict) or not all(
        isinstance(v, dict) and set(v) <= {"name", "description", "timeout"}
        for v in overrides.values()
    ):
        raise InvalidToolPolicy(
            "Tool overrides map an upstream tool name to {name, description, timeout}.",
            field="tool_overrides",
        )
    for tool, override in overrides.items():
        timeout = override.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise InvalidToolPolicy(
                f"The timeout of '{tool}' must be a positive number of seconds.",
                field="tool_overrides",
            )
    if assignment.prefix_mode == Assignment.PrefixMode.ALWAYS and not assignment.namespace:
        raise ValidationFailed("Prefix mode 'always' needs a namespace.", field="namespace")


def _check_bounds(assignment: Assignment) -> None:
    """A call's bounds are positive when set; empty takes the server's or the platform's."""
    for field, what in (
        ("timeout_seconds", "number of seconds"),
        ("max_call_seconds", "number of seconds"),
        ("max_result_bytes", "number of bytes"),
    ):
        value = getattr(assignment, field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValidationFailed(f"'{field}' must be a positive {what}.", field=field)


def _check_namespace_free(assignment: Assignment) -> None:
    if not assignment.namespace:
        return
    taken = (
        Assignment.objects.for_workspace(assignment.workspace_id)
        .filter(gateway_id=assignment.gateway_id, namespace=assignment.namespace)
        .exclude(pk=assignment.pk)
        .exists()
    )
    if taken:
        raise NamespaceTaken(
            f"The namespace '{assignment.namespace}' is already used on this gateway.",
            field="namespace",
        )


_ASSIGNMENT_FIELDS = {
    "namespace",
    "prefix_mode",
    "identity_scheme",
    "tool_mode",
    "tool_allow",
    "tool_overrides",
    "prompts_enabled",
    "resources_enabled",
    "timeout_seconds",
    "max_call_seconds",
    "max_result_bytes",
    "position",
    "tool_pinning",
    "approval_tools",
    "approval_team",
    "approval_timeout_seconds",
}
_CURATION_FIELDS = frozenset({"tool_mode", "tool_allow", "tool_overrides", "tool_pinning"})


def _discovered(assignment: Assignment) -> dict[str, dict]:
    # Read afresh: a discovery may have run since the server row was loaded.
    servers = Server.objects.for_workspace(assignment.workspace_id).filter(pk=assignment.server_id)
    catalog = servers.values_list("catalog", flat=True)
    return pinning.discovered_tools(catalog.first())


def _lock_pins(assignment: Assignment) -> None:
    """Re-read the pins under a row lock, so concurrent approvals and curations never undo
    each other (the instance may have been loaded before another one committed)."""
    rows = Assignment.objects.for_workspace(assignment.workspace_id).filter(pk=assignment.pk)
    locked = rows.select_for_update().values_list("tool_pins", "tool_admissions").get()
    assignment.tool_pins, assignment.tool_admissions = locked


def _pin_curated(assignment: Assignment) -> list[str]:
    """Pin each exposed, discovered tool that has no pin yet; return their names."""
    if not assignment.tool_pinning:
        return []
    pins = dict(assignment.tool_pins or {})
    added = []
    for name, tool in _discovered(assignment).items():
        if name not in pins and assignment.exposes(name, tool.get("annotations")):
            pins[name] = pinning.pin(tool)
            added.append(name)
    assignment.tool_pins = pins
    return added


@transaction.atomic
def assign_server(*, gateway: Gateway, server: Server, actor, **fields) -> Assignment:
    unknown = set(fields) - _ASSIGNMENT_FIELDS
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if server.workspace_id != gateway.workspace_id:
        raise ValidationFailed("Unknown server.", field="server")
    fields.setdefault("namespace", server.name[:32].replace("-", "_"))
    if "position" not in fields:
        fields["position"] = gateway.assignments.count()
    if "approval_team" in fields:
        fields["approval_team"] = approvals.team_for(gateway.workspace_id, fields["approval_team"])
    assignment = Assignment(workspace_id=gateway.workspace_id, gateway=gateway, server=server)
    for key, value in fields.items():
        setattr(assignment, key, value)
    _clean(assignment, exclude=("workspace", "gateway", "server"))
    _check_policy(assignment)
    approvals.clean_settings(assignment)
    _check_bounds(assignment)
    _check_namespace_free(assignment)
    pinned = _pin_curated(assignment)
    assignment.save()
    bump_config_version(gateway)
    detail = {"server": server.name, "namespace": assignment.namespace}
    if pinned:
        detail["pinned"] = pinned
    record_change(
        workspace=gateway.workspace,
        actor=actor,
        action="assignment.create",
        target=assignment,
        detail=detail,
    )
    return assignment


@transaction.atomic
def update_assignment(*, assignment: Assignment, actor, **changes) -> Assignment:
    unknown = set(changes) - _ASSIGNMENT_FIELDS
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if changes.get("tool_mode") not in (None, Assignment.ToolMode.SELECTED):
        changes.setdefault("tool_allow", [])
    if "approval_team" in changes:
        changes["approval_team"] = approvals.team_for(
            assignment.workspace_id, changes["approval_team"]
        )
    _lock_pins(assignment)
    for key, value in changes.items():
        setattr(assignment, key, value)
    _clean(assignment, exclude=("workspace", "gateway", "server"))
    _check_policy(assignment)
    approvals.clean_settings(assignment)
    _check_bounds(assignment)
    _check_namespace_free(assignment)
    pinned = _pin_curated(assignment) if _CURATION_FIELDS & set(changes) else []
    assignment.save()
    bump_config_version(assignment.gateway)
    detail = {"fields": sorted(changes)}
    if pinned:
        detail["pinned"] = pinned
    record_change(
        workspace=assignment.gateway.workspace,
        actor=actor,
        action="assignment.update",
        target=assignment,
        detail=detail,
    )
    return assignment


def _tool_names(tools, field: str = "tools") -> list[str]:
    if not isinstance(tools, list | tuple) or not all(isinstance(n, str) and n for n in tools):
        raise ValidationFailed("Give a list of tool names.", field=field)
    return list(dict.fromkeys(tools))


def _reviewed(tools, field: str = "tools") -> dict[str, str]:
    """Name -> the fingerprint of the definition the admin reviewed, from `[{name, digest}]`."""
    if not isinstance(tools, list | tuple) or not all(
        isinstance(t, dict)
        and isinstance(t.get("name"), str)
        and t["name"]
        and isinstance(t.get("digest"), str)
        and t["digest"]
        for t in tools
    ):
        raise ValidationFailed(
            "Give a list of tools, each with its name and the digest of the definition reviewed.",
            field=field,
        )
    reviewed: dict[str, str] = {}
    for tool in tools:
        if reviewed.setdefault(tool["name"], tool["digest"]) != tool["digest"]:
            raise ValidationFailed(f"{tool['name']} is named with two digests.", field=field)
    return reviewed


def _check_unchanged(reviewed: dict[str, str], current: dict[str, str]) -> None:
    """Refuse when the definition now discovered is not the one reviewed: an upstream may
    change it between the review and the approval, and only what was read is approved."""
    changed = sorted(name for name, digest in reviewed.items() if current[name] != digest)
    if changed:
        raise Conflict(
            f"Changed since it was reviewed: {', '.join(changed)}. Review the current "
            "definition and approve it again.",
            field="tools",
        )


@transaction.atomic
def pin_tools(*, assignment: Assignment, actor, tools=None) -> Assignment:
    """Pin tools as the last discovery found them: the named ones, else every exposed one.

    Tools already pinned keep their pin; one whose definition changed must be approved instead.
    """
    _lock_pins(assignment)
    discovered = _discovered(assignment)
    if tools is None:
        names = [n for n, t in discovered.items() if assignment.exposes(n, t.get("annotations"))]
    else:
        names = _tool_names(tools)
        unknown = [n for n in names if n not in discovered]
        if unknown:
            raise ValidationFailed(
                f"Not in the last discovery of {assignment.server.name}: {', '.join(unknown)}.",
                field="tools",
            )
    pins = dict(assignment.tool_pins or {})
    changed = {c.tool for c in pinning.changes(pins, discovered)} & set(names)
    if changed and tools is not None:
        raise ValidationFailed(
            f"Changed since pinned, approve the change instead: {', '.join(sorted(changed))}.",
            field="tools",
        )
    added = [n for n in names if n not in pins]
    if not added:
        return assignment
    for name in added:
        pins[name] = pinning.pin(discovered[name])
    assignment.tool_pins = pins
    assignment.save(update_fields=["tool_pins"])
    bump_config_version(assignment.gateway)
    record_change(
        workspace=assignment.gateway.workspace,
        actor=actor,
        action="assignment.pin",
        target=assignment,
        detail={"tools": {n: pins[n]["digest"] for n in added}},
    )
    return assignment


def _admit(assignment: Assignment, holds, actor) -> dict:
    """Record the approval of these flagged definitions; return the change log's detail."""
    admissions = dict(assignment.tool_admissions or {})
    at = timezone.now().isoformat()
    for hold in holds:
        admissions[hold.tool] = {
            "digest": hold.digest,
            "reasons": [r.as_dict() for r in hold.reasons],
            "approved_by": getattr(actor, "email", ""),
            "approved_at": at,
        }
    assignment.tool_admissions = admissions
    return {h.tool: {"digest": h.digest, "reasons": [r.text for r in h.reasons]} for h in holds}


def _approved(assignment: Assignment, actor, action: str, detail: dict) -> None:
    bump_config_version(assignment.gateway)
    # Every worker recompiles its snapshots at once, so the approved tools reappear everywhere.
    config_events.workspace_changed(workspace_id=assignment.workspace_id)
    record_change(
        workspace=assignment.gateway.workspace,
        actor=actor,
        action=action,
        target=assignment,
        detail=detail,
    )


@transaction.atomic
def approve_pin_changes(*, assignment: Assignment, actor, tools) -> Assignment:
    """Accept the discovered definition of pinned tools that changed, so clients see them again.

    `tools`: `[{name, digest}]`, the digest being the new definition's as reviewed. The approval
    page shows what the admission checks found, so a flagged new definition is admitted with it."""
    reviewed = _reviewed(tools)
    names = list(reviewed)
    if not names:
        raise ValidationFailed("Name at least one tool to approve.", field="tools")
    _lock_pins(assignment)
    discovered = _discovered(assignment)
    pending = {c.tool: c for c in pinning.changes(assignment.tool_pins, discovered)}
    missing = [n for n in names if n not in pending]
    if missing:
        raise ValidationFailed(
            f"No change awaits approval for: {', '.join(missing)}.", field="tools"
        )
    _check_unchanged(reviewed, {n: pending[n].current_digest for n in names})
    pins = dict(assignment.tool_pins)
    for name in names:
        pins[name] = pinning.pin(discovered[name])
    assignment.tool_pins = pins
    holds = [h for h in selectors.admission_holds(assignment) if reviewed.get(h.tool) == h.digest]
    admitted = _admit(assignment, holds, actor)
    assignment.save(update_fields=["tool_pins", "tool_admissions"])
    detail = {
        "tools": {
            n: {"from": pending[n].pinned_digest, "to": pending[n].current_digest} for n in names
        }
    }
    if admitted:
        detail["admitted"] = admitted
    _approved(assignment, actor, "assignment.pins_approve", detail)
    return assignment


@transaction.atomic
def admit_tools(*, assignment: Assignment, actor, tools) -> Assignment:
    """Approve the discovered definition of tools the admission checks flagged, so clients see
    them. `tools`: `[{name, digest}]`, the digest being the one reviewed; the approval records
    it, so a later change is assessed again. A pinned tool that changed is approved with it,
    since it is the same definition."""
    reviewed = _reviewed(tools)
    names = list(reviewed)
    if not names:
        raise ValidationFailed("Name at least one tool to approve.", field="tools")
    _lock_pins(assignment)
    holds = {h.tool: h for h in selectors.admission_holds(assignment)}
    missing = [n for n in names if n not in holds]
    if missing:
        raise ValidationFailed(
            f"No flagged tool awaits approval for: {', '.join(missing)}.", field="tools"
        )
    _check_unchanged(reviewed, {n: holds[n].digest for n in names})
    detail = {"tools": _admit(assignment, [holds[n] for n in names], actor)}
    changed = [
        c for c in pinning.changes(assignment.tool_pins, _discovered(assignment)) if c.tool in names
    ]
    if assignment.tool_pinning and changed:
        pins = dict(assignment.tool_pins)
        for change in changed:
            pins[change.tool] = {"digest": change.current_digest, "definition": change.current}
        assignment.tool_pins = pins
        detail["pins"] = {
            c.tool: {"from": c.pinned_digest, "to": c.current_digest} for c in changed
        }
    assignment.save(update_fields=["tool_pins", "tool_admissions"])
    _approved(assignment, actor, "assignment.tools_admit", detail)
    return assignment


@transaction.atomic
def unassign_server(*, assignment: Assignment, actor) -> None:
    gateway = assignment.gateway
    # People's tokens for it are revoked at the upstream, not only forgotten here.
    revocation.revoke_when_removed([assignment])
    record_change(
        workspace=gateway.workspace, actor=actor, action="assignment.delete", target=assignment
    )
    assignment.delete()
    bump_config_version(gateway)
