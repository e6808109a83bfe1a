"""What a workspace holds, for the workspace report: gateways, servers, assignments, members and
live API tokens, each counted in one query, plus assignments per gateway."""

from django.db.models import Count, Q
from django.utils import timezone

from gateways.models import Assignment, Gateway
from identities.models import ApiToken
from servers.models import Server
from teams.models import Membership


def workspace_summary(workspace) -> dict:
    now = timezone.now()
    gateways = (
        Gateway.objects.for_workspace(workspace)
        .annotate(assignment_count=Count("assignments"))
        .order_by("slug")
        .values("slug", "name", "assignment_count")
    )
    active_tokens = ApiToken.objects.for_workspace(workspace).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True
    )
    return {
        "gateways": Gateway.objects.for_workspace(workspace).count(),
        "servers": Server.objects.for_workspace(workspace).count(),
        "assignments": Assignment.objects.for_workspace(workspace).count(),
        "members": Membership.objects.for_workspace(workspace).count(),
        "active_tokens": active_tokens.count(),
        "per_gateway": [
            {"slug": g["slug"], "name": g["name"], "assignments": g["assignment_count"]}
            for g in gateways
        ],
    }
