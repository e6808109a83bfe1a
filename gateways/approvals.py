"""Calls of tools that need approval (docs/approvals.md): who may decide one, the pending ones a
person may decide, and the decision itself.

The data plane stores a pending call here and waits for its row to change; a decision made in
the console on any worker reaches it through the database, and the waiting call is woken at
once through the channel layer (its group `group_of(id)`). The approver is the assignment's
approver team when it names one (any active member of it), otherwise the caller alone.
"""

import logging
from datetime import timedelta
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import ValidationFailed
from gateways.errors import ApprovalClosed
from gateways.models import PendingApproval
from teams.changes import record_change
from teams.models import Team
from teams.scoping import get_scoped_or_404

logger = logging.getLogger(__name__)

MAX_TIMEOUT_SECONDS = 3600
# Closed approvals are kept this long for the console's sake; the audit log keeps the record.
KEEP_CLOSED = timedelta(days=30)


def team_for(workspace_id: int, value):
    """The approver team a service was given: a Team, a slug of the workspace's, or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, Team):
        found = Team.objects.for_workspace(workspace_id).filter(pk=value.pk).first()
        named = ""  # another workspace's team is not named back
    else:
        found = Team.objects.for_workspace(workspace_id).filter(slug=str(value)).first()
        named = f" '{value}'"
    if found is None:
        raise ValidationFailed(f"Unknown team{named}.", field="approval_team")
    return found


def clean_settings(assignment) -> None:
    """The approval settings of an assignment, checked before it is saved."""
    tools = assignment.approval_tools
    if not isinstance(tools, list) or not all(isinstance(n, str) and n for n in tools):
        raise ValidationFailed(
            "'approval_tools' must be a list of tool names.", field="approval_tools"
        )
    timeout = assignment.approval_timeout_seconds
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not timeout > 0:
        raise ValidationFailed(
            "The approval timeout must be a positive number of seconds.",
            field="approval_timeout_seconds",
        )
    if timeout > MAX_TIMEOUT_SECONDS:
        raise ValidationFailed(
            f"The approval timeout may be at most {MAX_TIMEOUT_SECONDS} seconds.",
            field="approval_timeout_seconds",
        )


def decidable_by(workspace, user):
    """The pending calls `user` may decide in `workspace`: their own, when no team approves,
    and others' calls of the teams they are an active member of (a team's approval is a
    second person's: a member never approves their own call)."""
    teams = user.memberships.filter(workspace=workspace, active=True).values("teams")
    others = Q(approver_team__in=teams) & ~Q(requested_by=user)
    return (
        PendingApproval.objects.for_workspace(workspace)
        .filter(
            Q(approver_team__isnull=True, requested_by=user) | others,
            status=PendingApproval.Status.PENDING,
            expires_at__gt=timezone.now(),
        )
        .select_related("gateway", "requested_by", "approver_team")
    )


def access_decidable(workspace, user, approval_id) -> PendingApproval:
    """One pending call `user` may decide; any other (another workspace's, someone else's, a
    closed one) is the same 404 as a missing one."""
    return get_scoped_or_404(decidable_by(workspace, user), workspace, pk=approval_id)


@transaction.atomic
def decide(*, approval: PendingApproval, actor, approve: bool) -> PendingApproval:
    """Approve or refuse one pending call; the waiting call reads the row and carries on."""
    status = PendingApproval.Status.APPROVED if approve else PendingApproval.Status.REFUSED
    # Conditional, so a decision never overwrites another one or a timeout that came first.
    taken = PendingApproval.objects.filter(
        pk=approval.pk, status=PendingApproval.Status.PENDING, expires_at__gt=timezone.now()
    ).update(status=status, decided_by=actor, decided_at=timezone.now())
    if not taken:
        raise ApprovalClosed("This call was already decided or has timed out.")
    transaction.on_commit(partial(_announce, approval.pk))
    approval.refresh_from_db()
    record_change(
        workspace=approval.workspace,
        actor=actor,
        action=f"approval.{status}",
        target=approval,
        detail={"tool": approval.tool, "correlation_id": approval.correlation_id},
    )
    return approval


def group_of(approval_id: int) -> str:
    """The channel-layer group the call waiting on this approval listens on."""
    return f"approval.{approval_id}"


def _announce(approval_id: int) -> None:
    """Wake the call waiting on this approval, on whichever worker holds it."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            group_of(approval_id), {"type": "approval.decided"}
        )
    except Exception:  # noqa: BLE001 - the call reads its row again shortly without it
        logger.warning("could not announce the decision of approval %s", approval_id, exc_info=True)


def purge_closed(*, now=None) -> int:
    """Delete the approvals whose wait ended more than KEEP_CLOSED ago; how many went."""
    cutoff = (now or timezone.now()) - KEEP_CLOSED
    deleted, _ = PendingApproval.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
