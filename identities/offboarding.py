"""Taking a person's access away in one workspace, and giving it back.

Suspending a membership (SCIM `active: false`) keeps the person, their teams and their history;
`Membership.objects` no longer returns the membership, so no access decision grants it anything.
"""

from django.db import transaction

from core import config_events
from teams.changes import record_change
from teams.models import Membership


@transaction.atomic
def suspend_member(*, membership: Membership, actor, detail: dict | None = None) -> Membership:
    """Suspend a membership; a suspended one is left as it is."""
    if membership.active:
        membership.active = False
        membership.save(update_fields=["active"])
        record_change(
            workspace=membership.workspace,
            actor=actor,
            action="member.suspend",
            target=membership,
            detail=detail,
        )
        config_events.workspace_changed(workspace_id=membership.workspace_id)
    return membership


@transaction.atomic
def reactivate_member(*, membership: Membership, actor, detail: dict | None = None) -> Membership:
    """Give a suspended membership its access back; an active one is left as it is."""
    if not membership.active:
        membership.active = True
        membership.save(update_fields=["active"])
        record_change(
            workspace=membership.workspace,
            actor=actor,
            action="member.reactivate",
            target=membership,
            detail=detail,
        )
        config_events.workspace_changed(workspace_id=membership.workspace_id)
    return membership
