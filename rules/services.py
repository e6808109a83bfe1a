"""Writes of the rules app. Each validates, runs in one transaction, leaves an admin audit row,
and bumps the workspace epoch so data-plane workers recompile their gateway snapshots."""

from django.db import transaction

from core import config_events
from core.errors import ValidationFailed
from rules.definitions import clean_rule, default_rules
from rules.errors import InvalidRule, RuleNameTaken
from rules.models import Rule
from teams.changes import record_change

_FIELDS = (
    "name",
    "description",
    "enabled",
    "order",
    "mode",
    "direction",
    "conditions",
    "detector",
    "detector_config",
    "action",
    "action_config",
    "alert",
)


def _fields_of(rule: Rule) -> dict:
    return {name: getattr(rule, name) for name in _FIELDS}


def _scope(workspace, gateway, assignment) -> tuple:
    """Check that the scope's objects are the workspace's; an assignment implies its gateway."""
    if assignment is not None:
        if assignment.workspace_id != workspace.pk:
            raise InvalidRule("Unknown assignment.", field="assignment")
        if gateway is not None and assignment.gateway_id != gateway.pk:
            raise InvalidRule("The assignment is not on that gateway.", field="assignment")
        return assignment.gateway_id, assignment.pk
    if gateway is not None:
        if gateway.workspace_id != workspace.pk:
            raise InvalidRule("Unknown gateway.", field="gateway")
        return gateway.pk, None
    return None, None


def _check_name_free(rule: Rule) -> None:
    taken = (
        Rule.objects.for_workspace(rule.workspace_id)
        .filter(gateway_id=rule.gateway_id, assignment_id=rule.assignment_id, name=rule.name)
        .exclude(pk=rule.pk)
        .exists()
    )
    if taken:
        raise RuleNameTaken(
            f"A rule named '{rule.name}' already exists in this scope.", field="name"
        )


def _changed(workspace_id: int) -> None:
    config_events.workspace_changed(workspace_id=workspace_id)


@transaction.atomic
def create_rule(
    *, workspace, actor, name: str, detector: str, gateway=None, assignment=None, **fields
) -> Rule:
    unknown = set(fields) - set(_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    cleaned = clean_rule({"name": name, "detector": detector, **fields})
    gateway_id, assignment_id = _scope(workspace, gateway, assignment)
    rule = Rule(workspace=workspace, gateway_id=gateway_id, assignment_id=assignment_id, **cleaned)
    _check_name_free(rule)
    rule.save()
    _changed(workspace.pk)
    record_change(
        workspace=workspace,
        actor=actor,
        action="rule.create",
        target=rule,
        detail={"detector": rule.detector, "action": rule.action, "scope": rule.scope},
    )
    return rule


@transaction.atomic
def update_rule(*, rule: Rule, actor, **changes) -> Rule:
    """Change some fields; the whole rule is validated again as it will be."""
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    merged = {**_fields_of(rule), **changes}
    if "detector" in changes and changes["detector"] != rule.detector:
        merged.setdefault("detector_config", {})
        if "detector_config" not in changes:
            merged["detector_config"] = {}
    if "action" in changes and "action_config" not in changes:
        merged["action_config"] = {}
    cleaned = clean_rule(merged)
    for key, value in cleaned.items():
        setattr(rule, key, value)
    _check_name_free(rule)
    rule.save()
    _changed(rule.workspace_id)
    record_change(
        workspace=rule.workspace,
        actor=actor,
        action="rule.update",
        target=rule,
        detail={"fields": sorted(changes)},
    )
    return rule


@transaction.atomic
def delete_rule(*, rule: Rule, actor) -> None:
    record_change(workspace=rule.workspace, actor=actor, action="rule.delete", target=rule)
    workspace_id = rule.workspace_id
    rule.delete()
    _changed(workspace_id)


@transaction.atomic
def reorder_rules(*, workspace, actor, rule_ids: list) -> list[Rule]:
    """Give the listed rules the orders 10, 20, 30... in the order listed. Order only counts
    within a scope, so one list may mix scopes; rules not listed keep their order."""
    try:
        ids = [int(i) for i in rule_ids]
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("Rule ids must be integers.", field="ids") from exc
    if not ids or len(set(ids)) != len(ids):
        raise ValidationFailed("List each rule id once.", field="ids")
    rules = {r.pk: r for r in Rule.objects.for_workspace(workspace).filter(pk__in=ids)}
    missing = [i for i in ids if i not in rules]
    if missing:
        raise ValidationFailed(f"Unknown rules: {', '.join(str(i) for i in missing)}.", field="ids")
    ordered = []
    for position, rule_id in enumerate(ids, 1):
        rule = rules[rule_id]
        rule.order = position * 10
        ordered.append(rule)
    Rule.objects.bulk_update(ordered, ["order"])
    _changed(workspace.pk)
    record_change(
        workspace=workspace,
        actor=actor,
        action="rule.reorder",
        target=workspace,
        detail={"ids": ids},
    )
    return ordered


@transaction.atomic
def install_default_rules(*, workspace, actor) -> list[Rule]:
    """Create the default rule set at workspace scope; rules already there by name are kept."""
    existing = set(
        Rule.objects.for_workspace(workspace)
        .filter(gateway__isnull=True)
        .values_list("name", flat=True)
    )
    return [
        create_rule(workspace=workspace, actor=actor, **data)
        for data in default_rules()
        if data["name"] not in existing
    ]
