"""Step 5 of the lifecycle: the rules compiled into the snapshot, run on a routed call.

Request rules see a `tools/call` as `{"name", "arguments"}` (the name as the client sent it)
before the upstream is called, and the client's answers to what an upstream asked as
`{"inputResponses": {key: answer}}` before they go upstream; response rules, run from the
upstream call (step 7), see the result of `tools/call`, `prompts/get` and `resources/read`
before anything is logged or returned.
A block is answered with the JSON-RPC error `RULE_BLOCKED`; every event a rule raises becomes a
`policy.action` audit entry of the call. See docs/rules.md.
"""

from django.conf import settings

from dataplane import audit_trail, output_schema
from dataplane.protocol import RpcError
from rules.detectors import REGISTRY
from rules.engine import Evaluation, RuleContext, evaluate

# An implementation-defined server error (-32000..-32099) that no other gateway error uses, so
# a client can tell "a rule refused this" from an upstream or routing failure.
RULE_BLOCKED = -32010
RESPONSE_METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})


def _context(ctx, spec) -> RuleContext:
    snapshot = ctx.snapshot
    return RuleContext(
        workspace_id=snapshot.workspace_id,
        workspace_slug=snapshot.workspace_slug,
        gateway_id=snapshot.id,
        gateway_slug=snapshot.slug,
        assignment_id=spec.id,
        user_id=ctx.principal.user_id,
        correlation_id=ctx.correlation_id,
    )


async def _run(ctx, spec, direction: str, payload, tool_name, method=None) -> Evaluation:
    evaluation = await evaluate(
        ctx.snapshot.rules,
        direction=direction,
        method=method or ctx.method,
        tool_name=tool_name,
        server_name=spec.upstream.server_name,
        team_slugs=ctx.team_slugs,
        person_email=ctx.principal.email,
        payload=payload,
        context=_context(ctx, spec),
        budget_ms=settings.RULES_CALL_BUDGET_MS,
    )
    return evaluation


async def log_events(ctx, spec, events: list[dict]) -> None:
    for event in events:
        await audit_trail.policy_action(ctx, spec, event)


def _blocked(ctx, evaluation: Evaluation) -> RpcError:
    ctx.outcome = "blocked"
    blocked = evaluation.blocked_by
    return RpcError(RULE_BLOCKED, blocked.message, blocked.error_data())


def kept_when_blocked(evaluation: Evaluation):
    """What the log may keep of a blocked payload. A rule that blocked on what the payload
    says (a secret, a phrase, a webhook's verdict) may have blocked the very text that must not
    be stored, so the payload is withheld; a block on the call's shape (tool, argument, size)
    keeps the payload as the earlier rules left it."""
    detector = REGISTRY.get(evaluation.events[-1]["detector"]) if evaluation.events else None
    if detector is not None and detector.scope == "call" and not detector.is_async:
        return evaluation.payload
    return None


async def check_request(ctx, spec, name: str, arguments: dict) -> dict:
    """The arguments to send upstream, as the request rules leave them; raises on a block."""
    if not ctx.snapshot.rules.has("request"):
        return arguments
    payload = {"name": name, "arguments": arguments}
    evaluation = await _run(ctx, spec, "request", payload, name)
    if evaluation.blocked_by is not None:
        kept = kept_when_blocked(evaluation)
        kept = kept.get("arguments") if isinstance(kept, dict) else None
        await audit_trail.request_checked(ctx, kept if isinstance(kept, dict) else None)
        await log_events(ctx, spec, evaluation.events)
        raise _blocked(ctx, evaluation)
    changed = evaluation.payload
    rewritten = changed.get("arguments") if isinstance(changed, dict) else None
    if not isinstance(rewritten, dict):
        # Only a webhook's `modify` can reshape the call; a malformed one must not go upstream.
        await audit_trail.request_checked(ctx, None)
        await log_events(ctx, spec, evaluation.events)
        ctx.outcome = "blocked"
        raise RpcError(RULE_BLOCKED, "A rule rewrote the tool arguments into something invalid.")
    await audit_trail.request_checked(ctx, rewritten)
    await log_events(ctx, spec, evaluation.events)
    return rewritten


async def check_answers(ctx, spec, answers: dict) -> dict:
    """The client's answers to what an upstream asked (`{key: answer}`: a 2026-07-28 retry's
    `inputResponses`, or a mid-call request's result) as the request rules leave them: what
    the person typed or the model wrote goes upstream, so it is governed like the arguments.
    Raises on a block."""
    if not ctx.snapshot.rules.has("request"):
        return answers
    payload = {"inputResponses": answers}
    evaluation = await _run(ctx, spec, "request", payload, ctx.tool or None)
    await log_events(ctx, spec, evaluation.events)
    if evaluation.blocked_by is not None:
        raise _blocked(ctx, evaluation)
    changed = evaluation.payload
    rewritten = changed.get("inputResponses") if isinstance(changed, dict) else None
    if not isinstance(rewritten, dict):
        ctx.outcome = "blocked"
        raise RpcError(RULE_BLOCKED, "A rule rewrote the answers into something invalid.")
    return rewritten


async def check_response(ctx, spec, method: str, result: dict):
    """`(result, logged, error, events)`: the result as the response rules leave it, what the
    log may keep of it, the error to answer with when a rule blocked it, and the rule events
    (logged by the caller after the upstream response they are about)."""
    if method == "tasks/get" and ctx.snapshot.rules.has("response"):
        return await _check_task(ctx, spec, result)
    if method not in RESPONSE_METHODS or not ctx.snapshot.rules.has("response"):
        return result, result, None, []
    tool_name = ctx.tool if method == "tools/call" else None
    evaluation = await _run(ctx, spec, "response", result, tool_name, method)
    events = evaluation.events
    if evaluation.blocked_by is not None:
        return result, kept_when_blocked(evaluation), _blocked(ctx, evaluation), events
    if not isinstance(evaluation.payload, dict):
        ctx.outcome = "blocked"
        error = RpcError(RULE_BLOCKED, "A rule rewrote the result into something invalid.")
        return result, None, error, events
    rewritten = evaluation.payload
    if evaluation.retyped and method == "tools/call":
        # A number a rule turned into a string must still fit the tool's declared types.
        rewritten = output_schema.fit(rewritten, evaluation.retyped, ctx.output_schema, events)
    return rewritten, rewritten, None, events


async def _check_task(ctx, spec, task: dict):
    """A completed task (dataplane/tasks.py) carries its tool's result: the rules see it as the
    `tools/call` result it is. A block fails the task with the rule's error, as the call itself
    would have failed."""
    inner = task.get("result")
    if task.get("status") != "completed" or not isinstance(inner, dict):
        return task, task, None, []
    rewritten, logged, blocked, events = await check_response(ctx, spec, "tools/call", inner)
    if blocked is None:
        return dict(task, result=rewritten), dict(task, result=logged), None, events
    failed = {k: v for k, v in task.items() if k != "result"}
    failed.update(status="failed", error=blocked.to_error(), statusMessage=blocked.message)
    return failed, failed, None, events
