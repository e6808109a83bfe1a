"""Approval of risky tools: between the request rules (step 5) and the upstream call (step 7).

A call of a tool its assignment lists in `approval_tools` runs only once someone approved it,
seeing the tool and its arguments as the rules left them (docs/approvals.md):

* the caller approves, when no approver team is named: a handshake-era client that offers form
  elicitation is asked with `elicitation/create`; one that offers only URL elicitation is sent
  to the console's approval page; a 2026-07-28 client gets an `input_required` result whose
  sealed `requestState` its retry must bring back;
* an approver team is named: the call is stored (`gateways.models.PendingApproval`) and waits
  for any member's decision on the console's approval page, read from the database, so the
  decision may be made through any worker.

Refused, timed out or unanswerable, the call ends in a tool error. Every step is a
`policy.approval` audit entry of the call.
"""

import asyncio
import contextlib
import hashlib
import json
import secrets
from datetime import timedelta

from channels.layers import get_channel_layer
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from dataplane import audit_trail, protocol, request_state
from dataplane.context import CallContext
from dataplane.snapshot import AssignmentSpec
from gateways import approvals
from gateways.models import PendingApproval

INPUT_KEY = "gatehouse.approval"
_SALT = "gatehouse.approval.state"
_SHOWN_ARGUMENTS = 4000  # characters of the arguments shown to the approver


def needed(spec: AssignmentSpec, upstream_name: str) -> bool:
    return upstream_name in spec.approval_tools


async def check(ctx: CallContext, spec: AssignmentSpec, name: str, params: dict) -> dict | None:
    """None when the call may go on; otherwise what to answer instead (a tool error, or a
    2026-07-28 `input_required` result)."""
    arguments = params.get("arguments") or {}
    answer = await _asked(ctx, spec, name, arguments, params)
    if answer is None:
        # An input round the upstream then asks for carries this, so its retry is not asked again.
        ctx.approved = _digest(arguments)
    return answer


async def _asked(ctx, spec, name, arguments, params) -> dict | None:
    if ctx.modern and request_state.issued(params.get("requestState")):
        # The retry of an input round the upstream asked for: approved when the call began,
        # for these very arguments, or not at all.
        claims = request_state.unseal(ctx, "tools/call", params) or {}
        if claims.get("approved") == _digest(arguments):
            return None
        await audit_trail.approval(
            ctx, spec, "refused", {"via": "input_required", "reason": "state"}
        )
        return _refused(
            ctx, f"The approval sent for {name} does not belong to this call; it was not made."
        )
    if spec.approval_team_id is not None:
        return await _wait_for_decision(ctx, spec, name, arguments, via="team")
    if ctx.modern:
        return await _stateless(ctx, spec, name, arguments, params)
    modes = _elicitation_modes(ctx)
    if ctx.ask is not None and "form" in modes:
        return await _ask_form(ctx, spec, name, arguments)
    if ctx.ask is not None and "url" in modes:
        return await _wait_for_decision(ctx, spec, name, arguments, via="url")
    return await _unanswerable(ctx, spec, name)


def _elicitation_modes(ctx: CallContext) -> set[str]:
    elicitation = (ctx.client_capabilities or {}).get("elicitation")
    if not isinstance(elicitation, dict):
        return set()
    # An empty object is form mode, as the 2025-06-18 revision declared it.
    return set(elicitation) & {"form", "url"} or {"form"}


def _shown(arguments: dict) -> str:
    text = json.dumps(arguments, ensure_ascii=False)
    if len(text) > _SHOWN_ARGUMENTS:
        text = text[:_SHOWN_ARGUMENTS] + "…"
    return text


def _question(name: str, arguments: dict) -> dict:
    return {
        "message": f"Approve the call of the tool {name} with these arguments?\n"
        f"{_shown(arguments)}",
        "requestedSchema": {
            "type": "object",
            "properties": {
                "approve": {
                    "type": "boolean",
                    "title": f"Run {name}",
                    "description": "Approve this call of the tool.",
                    "default": False,
                }
            },
            "required": ["approve"],
        },
    }


def _approved_by_answer(answer: dict) -> bool:
    content = answer.get("content") if answer.get("action") == "accept" else None
    return isinstance(content, dict) and content.get("approve") is True


def _refused(ctx: CallContext, message: str) -> dict:
    ctx.outcome = "blocked"
    return {"content": [{"type": "text", "text": message}], "isError": True}


async def _unanswerable(ctx, spec, name) -> dict:
    await audit_trail.approval(ctx, spec, "unanswerable", {})
    return _refused(
        ctx,
        f"The tool {name} needs approval, and this client cannot be asked for it "
        "(it offers no elicitation). The call was not made.",
    )


async def _ask_form(ctx, spec, name, arguments) -> dict | None:
    await audit_trail.approval(ctx, spec, "asked", {"via": "form"})
    request = {
        "jsonrpc": "2.0",
        "method": "elicitation/create",
        "params": _question(name, arguments),
    }
    try:
        async with asyncio.timeout(spec.approval_timeout):
            answer = await ctx.ask(request, timeout=spec.approval_timeout)
    except TimeoutError:
        answer = {"error": {"code": protocol.UPSTREAM_TIMEOUT}}
    error = answer.get("error")
    if error is not None and error.get("code") == protocol.UPSTREAM_TIMEOUT:
        return await _timed_out(ctx, spec, name, {"via": "form"})
    if error is not None:
        await audit_trail.approval(ctx, spec, "unanswerable", {"via": "form", "error": error})
        return _refused(ctx, f"The tool {name} needs approval; the client could not ask for it.")
    result = answer.get("result") or {}
    if _approved_by_answer(result):
        await audit_trail.approval(
            ctx, spec, "approved", {"via": "form", "by": ctx.principal.email}
        )
        return None
    await audit_trail.approval(
        ctx,
        spec,
        "refused",
        {"via": "form", "by": ctx.principal.email, "action": result.get("action")},
    )
    return _refused(ctx, f"The call of {name} was not approved, and was not made.")


async def _timed_out(ctx, spec, name, detail) -> dict:
    await audit_trail.approval(ctx, spec, "timed_out", dict(detail, seconds=spec.approval_timeout))
    return _refused(
        ctx,
        f"The call of {name} was not approved within {spec.approval_timeout:g} seconds, "
        "and was not made.",
    )


# -- decided in the console ---------------------------------------------------------------------


async def _wait_for_decision(ctx, spec, name, arguments, *, via: str) -> dict | None:
    snapshot = ctx.snapshot
    pending = await PendingApproval.objects.acreate(
        workspace_id=snapshot.workspace_id,
        gateway_id=snapshot.id,
        assignment_id=spec.id,
        tool=name,
        arguments=arguments,
        requested_by_id=ctx.principal.user_id,
        approver_team_id=spec.approval_team_id,
        correlation_id=ctx.correlation_id,
        expires_at=timezone.now() + timedelta(seconds=spec.approval_timeout),
    )
    path = reverse("approval", kwargs={"ws": snapshot.workspace_slug, "pk": pending.pk})
    page = f"{ctx.origin}{path}" if ctx.origin else path
    detail = {"via": via, "approval_id": pending.pk, "page": page}
    if spec.approval_team_id is not None:
        detail["team_id"] = spec.approval_team_id
    await audit_trail.approval(ctx, spec, "asked", detail)
    try:
        return await _decided(ctx, spec, name, pending, page, via)
    except asyncio.CancelledError:
        # The client left or cancelled: the call is no longer anyone's to decide.
        await asyncio.shield(_close(pending.pk, PendingApproval.Status.CANCELLED, None))
        raise


async def _decided(ctx, spec, name, pending, page, via) -> dict | None:
    if via == "url":
        answer = await ctx.ask(
            {
                "jsonrpc": "2.0",
                "method": "elicitation/create",
                "params": {
                    "mode": "url",
                    "elicitationId": f"approval-{pending.pk}",
                    "url": page,
                    "message": f"The tool {name} needs your approval before it runs.",
                },
            },
            timeout=spec.approval_timeout,
        )
        action = (answer.get("result") or {}).get("action")
        if action in ("decline", "cancel"):
            await _close(pending.pk, PendingApproval.Status.REFUSED, ctx.principal.user_id)
            await audit_trail.approval(
                ctx, spec, "refused", {"via": via, "by": ctx.principal.email, "action": action}
            )
            return _refused(ctx, f"The call of {name} was not approved, and was not made.")
    # The URL elicitation's wait counts: a call waits no longer than its timeout in all.
    left = (pending.expires_at - timezone.now()).total_seconds()
    decided = await _decision(pending.pk, left)
    if decided is None:
        await _close(pending.pk, PendingApproval.Status.TIMED_OUT, None)
        return await _timed_out(ctx, spec, name, {"via": via, "approval_id": pending.pk})
    status, by = decided
    outcome = {"via": via, "approval_id": pending.pk, "by": by}
    if status == PendingApproval.Status.APPROVED:
        await audit_trail.approval(ctx, spec, "approved", outcome)
        return None
    await audit_trail.approval(ctx, spec, "refused", outcome)
    return _refused(ctx, f"The call of {name} was refused by {by}, and was not made.")


async def _decision(approval_id: int, timeout: float) -> tuple[str, str] | None:
    """(status, who decided) once the row is decided; None when the timeout passed first.
    The decision wakes the wait (gateways/approvals.py); the row is read again every
    APPROVAL_POLL_SECONDS too, should that message be lost."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    layer = get_channel_layer()
    group = approvals.group_of(approval_id)
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    try:
        while True:
            row = (
                await PendingApproval.objects.filter(pk=approval_id)
                .values("status", "decided_by__email")
                .afirst()
            )
            if row is not None and row["status"] != PendingApproval.Status.PENDING:
                return row["status"], row["decided_by__email"] or ""
            left = deadline - loop.time()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(settings.APPROVAL_POLL_SECONDS, left)):
                    await layer.receive(channel)
    finally:
        await asyncio.shield(layer.group_discard(group, channel))


async def _close(approval_id: int, status: str, user_id) -> None:
    # Conditional: a decision that came at the last moment stands.
    await PendingApproval.objects.filter(
        pk=approval_id, status=PendingApproval.Status.PENDING
    ).aupdate(status=status, decided_by_id=user_id, decided_at=timezone.now())


# -- 2026-07-28: asked in the result, answered in the retry -------------------------------------


def _digest(arguments: dict) -> str:
    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _binding(ctx: CallContext, spec: AssignmentSpec, name: str, arguments: dict) -> dict:
    principal = ctx.principal
    return {
        "g": ctx.snapshot.id,
        "a": spec.id,
        "u": principal.user_id,
        "k": principal.token_id,
        "n": name,
        "d": _digest(arguments),
    }


async def _stateless(ctx, spec, name, arguments, params) -> dict | None:
    state = params.get("requestState")
    if state is None:
        if "form" not in _elicitation_modes(ctx):
            return await _unanswerable(ctx, spec, name)
        once = {"c": ctx.correlation_id, "j": secrets.token_hex(12)}
        sealed = signing.dumps({**_binding(ctx, spec, name, arguments), **once}, salt=_SALT)
        await audit_trail.approval(ctx, spec, "asked", {"via": "input_required"})
        request = {"method": "elicitation/create", "params": _question(name, arguments)}
        return {
            "resultType": "input_required",
            "inputRequests": {INPUT_KEY: request},
            "requestState": sealed,
        }
    try:
        bound = signing.loads(str(state), salt=_SALT, max_age=spec.approval_timeout)
    except signing.SignatureExpired:
        return await _timed_out(ctx, spec, name, {"via": "input_required"})
    except signing.BadSignature:
        bound = None
    asked_in = bound.pop("c", "") if isinstance(bound, dict) else ""
    nonce = bound.pop("j", "") if isinstance(bound, dict) else ""
    if bound != _binding(ctx, spec, name, arguments):
        # Another call's state, or this call's with other arguments: never an approval.
        await audit_trail.approval(
            ctx, spec, "refused", {"via": "input_required", "reason": "state"}
        )
        return _refused(
            ctx, f"The approval sent for {name} does not belong to this call; it was not made."
        )
    responses = params.get("inputResponses")
    answer = responses.get(INPUT_KEY) if isinstance(responses, dict) else None
    detail = {"via": "input_required", "by": ctx.principal.email, "asked_in": asked_in}
    if isinstance(answer, dict) and _approved_by_answer(answer):
        # One approval, one call: the state is taken once, on whichever worker sees it first.
        if not await cache.aadd(f"approval-state:{nonce}", 1, int(spec.approval_timeout) + 1):
            await audit_trail.approval(ctx, spec, "refused", dict(detail, reason="replayed"))
            return _refused(
                ctx, f"The approval sent for {name} was already used; it approves one call."
            )
        await audit_trail.approval(ctx, spec, "approved", detail)
        return None
    action = answer.get("action") if isinstance(answer, dict) else None
    await audit_trail.approval(ctx, spec, "refused", dict(detail, action=action))
    return _refused(ctx, f"The call of {name} was not approved, and was not made.")
