"""A workspace's report over the last 31 days, computed from the gateway log in five queries.

* a call is the `client.request` entry of a `tools/call` (every call writes exactly one);
  people are the distinct e-mail addresses of the callers, tools the distinct tool names;
* latency is the end-to-end latency its `client.response` entry carries; p50 and p95 are read
  from latency bins the database counts (`audit.reports.latency_bins`);
* errors are the `client.response` entries of calls whose outcome is `error`;
* blocked and redacted count the `policy.action` entries a rule applied (monitor-mode matches
  are not counted), by the rule's action: `block`, or one that rewrote the matched values
  (`redact`, `replace`, `mask`, `hash`; `flag` only logs).

Per day (UTC) in one grouped query with conditional counts, then the people and tools of the
whole window (distinct counts do not add up across days), the latency bins, the top tools and
the top people. Only ORM
aggregates (`Case`, `Count` with `filter=`, JSON key lookups), so SQLite and PostgreSQL
alike; a day is found as the gateway charts find a bucket (`audit.reports.activity.bucket_of`).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from audit.log.selectors import entries_of
from audit.models import Hop, Outcome
from audit.reports.activity import bucket_of
from audit.reports.latency_bins import histogram_of, latency_bin
from audit.reports.rankings import Ranked, top_people, top_tools

DAYS = 31
TOP = 10
REDACTING_ACTIONS = ("redact", "replace", "mask", "hash")
COUNTS = ("calls", "people", "errors", "blocked", "redacted")

_CALLS = Q(hop=Hop.CLIENT_REQUEST, rpc_method="tools/call")
_PEOPLE = _CALLS & ~Q(user_email="")
_ERRORS = Q(hop=Hop.CLIENT_RESPONSE, rpc_method="tools/call", outcome=Outcome.ERROR)
_APPLIED = Q(hop=Hop.POLICY_ACTION, detail__applied=True)
_BLOCKED = _APPLIED & Q(detail__action="block")
_REDACTED = _APPLIED & Q(detail__action__in=REDACTING_ACTIONS)


@dataclass(frozen=True)
class Day:
    day: date
    calls: int = 0
    people: int = 0
    errors: int = 0
    blocked: int = 0
    redacted: int = 0

    @property
    def active(self) -> bool:
        return bool(self.calls or self.errors or self.blocked or self.redacted)


@dataclass(frozen=True)
class Report:
    first_day: date
    last_day: date
    days: list[Day]
    calls: int
    people: int
    errors: int
    blocked: int
    redacted: int
    tools: int
    p50_ms: float | None
    p95_ms: float | None
    top_tools: list[Ranked]
    top_people: list[Ranked]

    @property
    def active_days(self) -> list[Day]:
        """The days something happened, newest first; the CSV keeps every day."""
        return [day for day in reversed(self.days) if day.active]

    @property
    def busiest_day(self) -> Day | None:
        """The day with the most calls (the latest of equals); None without calls."""
        if not self.calls:
            return None
        return max(reversed(self.days), key=lambda day: day.calls)


def workspace_report(workspace, *, now: datetime | None = None) -> Report:
    """Today (UTC) and the 30 days before it, oldest day first."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first_day = today - timedelta(days=DAYS - 1)
    since = datetime.combine(first_day, time.min, tzinfo=UTC)
    entries = entries_of(workspace).filter(
        at__gte=since, hop__in=[Hop.CLIENT_REQUEST, Hop.CLIENT_RESPONSE, Hop.POLICY_ACTION]
    )
    day_starts = [since + timedelta(days=i) for i in range(DAYS)]
    per_day = (
        entries.annotate(day=bucket_of(day_starts))
        .values("day")
        .annotate(
            calls=Count("id", filter=_CALLS),
            people=Count("user_email", filter=_PEOPLE, distinct=True),
            errors=Count("id", filter=_ERRORS),
            blocked=Count("id", filter=_BLOCKED),
            redacted=Count("id", filter=_REDACTED),
        )
        .order_by()
    )
    found = {
        row["day"]: Day(**{**row, "day": first_day + timedelta(days=row["day"])}) for row in per_day
    }
    days = [found.get(i, Day(first_day + timedelta(days=i))) for i in range(DAYS)]
    calls = entries.filter(_CALLS)
    distinct = calls.aggregate(
        people=Count("user_email", filter=~Q(user_email=""), distinct=True),
        tools=Count("tool", filter=~Q(tool=""), distinct=True),
    )
    latency = histogram_of(
        entries.filter(hop=Hop.CLIENT_RESPONSE, rpc_method="tools/call")
        .annotate(bin=latency_bin())
        .values("bin")
        .annotate(n=Count("id"), total_ms=Sum("latency_ms"))
        .order_by()
    )
    return Report(
        first_day=first_day,
        last_day=today,
        days=days,
        calls=sum(d.calls for d in days),
        people=distinct["people"],
        errors=sum(d.errors for d in days),
        blocked=sum(d.blocked for d in days),
        redacted=sum(d.redacted for d in days),
        tools=distinct["tools"],
        p50_ms=latency.percentile(50),
        p95_ms=latency.percentile(95),
        top_tools=top_tools(calls, TOP),
        top_people=top_people(calls, TOP),
    )


def daily_rows(report: Report):
    """The daily table as CSV rows, header first."""
    yield ["day", *COUNTS]
    for day in report.days:
        yield [day.day.isoformat(), *(getattr(day, name) for name in COUNTS)]
