"""What the workspace dashboard shows of the gateway log beside its charts (which are
`audit.reports.activity`): calls, errors and blocked calls per gateway over the last 24 hours
and 7 days, and the newest policy actions.

A call is counted as `audit.reports.activity` counts it: the one `client.response` entry each
`tools/call` writes, with the outcome the client saw. Each read is one query, whatever the
traffic or the number of gateways.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from audit.log.selectors import entries_of
from audit.models import Hop, Outcome

RECENT_ACTIONS = 10


@dataclass(frozen=True)
class Traffic:
    calls_24h: int = 0
    errors_24h: int = 0
    blocked_24h: int = 0
    calls_7d: int = 0
    errors_7d: int = 0
    blocked_7d: int = 0


NO_TRAFFIC = Traffic()


def _counts(now) -> dict:
    recent = Q(at__gte=now - timedelta(hours=24))
    error = Q(outcome=Outcome.ERROR)
    blocked = Q(outcome=Outcome.BLOCKED)
    return {
        "calls_7d": Count("id"),
        "errors_7d": Count("id", filter=error),
        "blocked_7d": Count("id", filter=blocked),
        "calls_24h": Count("id", filter=recent),
        "errors_24h": Count("id", filter=recent & error),
        "blocked_24h": Count("id", filter=recent & blocked),
    }


def _calls(workspace, now):
    return entries_of(workspace).filter(
        hop=Hop.CLIENT_RESPONSE, rpc_method="tools/call", at__gte=now - timedelta(days=7)
    )


def traffic_by_gateway(workspace, gateways, *, now=None) -> dict[int, Traffic]:
    """`{gateway id: Traffic}` for `gateways` (gateways without calls are left out).

    Entries are matched on id and slug together, as the gateway charts match them: the slug
    uses the log's index, the id keeps a deleted gateway's history off a new one of its slug.
    """
    by_id = {g.pk: g.slug for g in gateways}
    if not by_id:
        return {}
    now = now or timezone.now()
    rows = (
        _calls(workspace, now)
        .filter(gateway_id__in=list(by_id), gateway_slug__in=set(by_id.values()))
        .values("gateway_id", "gateway_slug")
        .annotate(**_counts(now))
        .order_by()
    )
    return {
        row["gateway_id"]: Traffic(
            **{k: v for k, v in row.items() if k not in ("gateway_id", "gateway_slug")}
        )
        for row in rows
        if by_id.get(row["gateway_id"]) == row["gateway_slug"]
    }


def recent_policy_actions(workspace, *, limit: int = RECENT_ACTIONS) -> list:
    """The newest entries where a rule acted; their `detail` names the rule, never the match."""
    return list(
        entries_of(workspace)
        .filter(hop=Hop.POLICY_ACTION)
        .only(
            "at",
            "correlation_id",
            "gateway_slug",
            "tool",
            "user_email",
            "outcome",
            "detail",
        )
        .order_by("-at", "-id")[:limit]
    )
