""" "Try it": run one rule, not yet saved, on a sample payload or on a gateway's logged calls.

The rule is validated exactly as saving it would be, compiled alone and evaluated in enforce
mode (so the answer shows what it would block or rewrite, whatever mode it is set to).
"""

from asgiref.sync import async_to_sync

from core.errors import ValidationFailed
from rules import selectors
from rules.definitions import RuleDefinition, clean_rule
from rules.engine import RuleContext, compile_rules, evaluate

DIRECTIONS = ("request", "response")


def _compile(workspace, rule_data: dict):
    if not isinstance(rule_data, dict):
        raise ValidationFailed("'rule' must be an object.", field="rule")
    cleaned = clean_rule(dict(rule_data, mode="enforce", enabled=True))
    definition = RuleDefinition(workspace_id=workspace.pk, **cleaned)
    compiled = compile_rules([definition], multi_pattern=False)
    if compiled.errors:
        raise ValidationFailed(compiled.errors[0], field="rule")
    return compiled


def _run(compiled, workspace, sample, direction, method, tool_name, server_name, email) -> dict:
    if direction not in DIRECTIONS:
        raise ValidationFailed("'direction' must be 'request' or 'response'.", field="direction")
    if not isinstance(sample, dict):
        raise ValidationFailed(
            "'sample' must be an object: the JSON-RPC params or result.", field="sample"
        )
    evaluation = async_to_sync(evaluate)(
        compiled,
        direction=direction,
        method=method or "tools/call",
        tool_name=tool_name if tool_name is not None else sample.get("name"),
        server_name=server_name,
        team_slugs=(),
        person_email=email,
        payload=sample,
        context=RuleContext(workspace_id=workspace.pk, workspace_slug=workspace.slug),
    )
    blocked = evaluation.blocked_by
    return {
        "blocked": blocked is not None,
        "message": blocked.message if blocked else "",
        "modified": evaluation.modified,
        "payload": evaluation.payload,
        "events": evaluation.events,
    }


def preview(
    *,
    workspace,
    rule_data: dict,
    sample: dict,
    direction: str,
    method: str = "tools/call",
    tool_name: str | None = None,
    server_name: str | None = None,
    person_email: str | None = None,
) -> dict:
    """What `rule_data` would do to `sample` (request params or response result)."""
    compiled = _compile(workspace, rule_data)
    return _run(
        compiled, workspace, sample, direction, method, tool_name, server_name, person_email
    )


def preview_logged(*, workspace, rule_data: dict, gateway_slug: str, limit: int = 20) -> list:
    """What `rule_data` would have done to the gateway's last `limit` logged calls. Calls
    whose direction the rule does not cover, or that it leaves alone, are left out."""
    compiled = _compile(workspace, rule_data)
    out = []
    for sample in selectors.logged_samples(workspace, gateway_slug=gateway_slug, limit=limit):
        if not isinstance(sample["payload"], dict):
            continue
        result = _run(
            compiled,
            workspace,
            sample["payload"],
            sample["direction"],
            sample["method"],
            sample["tool"],
            sample["server"],
            None,
        )
        if result["events"]:
            out.append(
                {**{k: sample[k] for k in ("correlation_id", "direction", "tool")}, **result}
            )
    return out
