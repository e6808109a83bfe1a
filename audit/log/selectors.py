"""Reads of the gateway log: a workspace's entries, filtered as the viewer and exports filter them.

Filters (all optional, all combined): `since`/`until` (ISO 8601 date or time; a time without a
zone is UTC), `gateway` (slug or id), `person` (email or user id), `server` (name or id), `tool`
(namespaced or upstream name), `hop` (comma-separated), `outcome` (comma-separated), and `q`,
free text matched inside the method, tool names and error message.
"""

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.log.entries import HOPS, OUTCOMES
from audit.log.payloads import resolve_entries
from audit.models import Hop, LogEntry, Outcome
from core.errors import NotFound, ValidationFailed
from gateways.models import Gateway
from servers.models import Server
from teams.models import Membership
from teams.scoping import get_scoped_or_404


@dataclass(frozen=True)
class LogFilter:
    since: datetime | None = None
    until: datetime | None = None
    gateway: str = ""
    person: str = ""
    server: str = ""
    tool: str = ""
    hop: tuple[str, ...] = ()
    outcome: tuple[str, ...] = ()
    q: str = ""

    def as_dict(self) -> dict:
        """The filters in use, JSON-ready, for the record of an export."""
        out = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value:
                out[field.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


def _moment(name: str, text: str, *, end: bool) -> datetime | None:
    if not text:
        return None
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            if day is None:
                raise ValueError
            moment = datetime.combine(day, time.max if end else time.min)
    except ValueError as exc:
        raise ValidationFailed(
            f"'{text}' is not an ISO 8601 date or time (2026-05-01 or 2026-05-01T12:00:00Z).",
            field=name,
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _choices(name: str, text: str, allowed: frozenset[str]) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValidationFailed(
            f"Unknown {name} '{unknown[0]}'; use one of: {', '.join(sorted(allowed))}.",
            field=name,
        )
    return values


def parse_filter(params: Mapping) -> LogFilter:
    """A LogFilter from query parameters or command options; bad values are ValidationFailed."""

    def text(name: str) -> str:
        value = params.get(name)
        return str(value).strip() if value is not None else ""

    since = _moment("since", text("since"), end=False)
    until = _moment("until", text("until"), end=True)
    if since and until and since > until:
        raise ValidationFailed("'since' is after 'until'.", field="since")
    return LogFilter(
        since=since,
        until=until,
        gateway=text("gateway"),
        person=text("person"),
        server=text("server"),
        tool=text("tool"),
        hop=_choices("hop", text("hop"), HOPS),
        outcome=_choices("outcome", text("outcome"), OUTCOMES),
        q=text("q"),
    )


def _name_or_id(name_field: str, id_field: str, value: str) -> Q:
    condition = Q(**{name_field: value})
    if value.isdigit():
        condition |= Q(**{id_field: int(value)})
    return condition


def entries_of(workspace):
    return LogEntry.objects.for_workspace(workspace)


def filtered_entries(workspace, log_filter: LogFilter):
    entries = entries_of(workspace)
    f = log_filter
    if f.since:
        entries = entries.filter(at__gte=f.since)
    if f.until:
        entries = entries.filter(at__lte=f.until)
    if f.gateway:
        entries = entries.filter(_name_or_id("gateway_slug", "gateway_id", f.gateway))
    if f.person:
        entries = entries.filter(_name_or_id("user_email", "user_id", f.person.lower()))
    if f.server:
        entries = entries.filter(_name_or_id("server_name", "server_id", f.server))
    if f.tool:
        entries = entries.filter(Q(tool=f.tool) | Q(upstream_tool=f.tool))
    if f.hop:
        entries = entries.filter(hop__in=f.hop)
    if f.outcome:
        entries = entries.filter(outcome__in=f.outcome)
    if f.q:
        entries = entries.filter(
            Q(rpc_method__icontains=f.q)
            | Q(tool__icontains=f.q)
            | Q(upstream_tool__icontains=f.q)
            | Q(error_message__icontains=f.q)
        )
    return entries


def access_entry(workspace, entry_id) -> LogEntry:
    return get_scoped_or_404(LogEntry.objects, workspace, pk=entry_id)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# ASCII digits only (str.isdigit takes other scripts' digits too), and few enough of them to be a
# time or a row id: anything else in a cursor is a link someone edited, read as no cursor.
CURSOR_NUMBER = re.compile(r"[0-9]{1,18}")


def _cursor_of(entry: LogEntry) -> str:
    # Integer microseconds: exact, and nothing in it needs escaping in a URL.
    return f"{(entry.at - _EPOCH) // timedelta(microseconds=1)}_{entry.pk}"


def _cursor_key(cursor: str) -> tuple[datetime, int] | None:
    micros, _, entry_id = cursor.partition("_")
    if not (CURSOR_NUMBER.fullmatch(micros) and CURSOR_NUMBER.fullmatch(entry_id)):
        return None
    try:
        return _EPOCH + timedelta(microseconds=int(micros)), int(entry_id)
    except OverflowError:
        return None


# Spans back in time the newest matching entries are looked for in before the whole log. The
# lower bound on `at` lets PostgreSQL read only those days' partitions, and keeps it reading
# newest first: on the whole log, a text search (whose matches it cannot estimate) made it sort
# every match instead, 30 s on 10 million rows (docs/audit.md).
RECENT_SPANS = (timedelta(days=1), timedelta(days=7), timedelta(days=31))


def newest_slices(queryset, *, until: datetime | None = None):
    """`queryset` limited to ever longer spans back from `until` (now by default), then whole.
    The newest N entries of a slice holding at least N are the newest N of the whole."""
    until = until or timezone.now()
    for span in RECENT_SPANS:
        yield queryset.filter(at__gte=until - span)
    yield queryset


def entries_page(queryset, *, cursor: str = "", size: int) -> tuple[list[LogEntry], str]:
    """One keyset page, newest first, starting after `cursor`; and the cursor of the next page
    ("" on the last). Keyset rather than page numbers: no COUNT over a large table, and pages
    stay put while new entries arrive. An unreadable cursor starts from the newest entry."""
    key = _cursor_key(cursor) if cursor else None
    until = None
    if key is not None:
        until, entry_id = key
        queryset = queryset.filter(Q(at__lt=until) | Q(at=until, id__lt=entry_id))
    for part in newest_slices(queryset, until=until):
        rows = list(part.order_by("-at", "-id")[: size + 1])
        if len(rows) > size:
            break
    if len(rows) <= size:
        resolve_entries(rows)
        return rows, ""
    resolve_entries(rows[:size])
    return rows[:size], _cursor_of(rows[size - 1])


def call_entries(workspace, correlation_id: str) -> list[LogEntry]:
    """Every entry of one client call, in the order the hops happened; NotFound if none."""
    try:
        key = uuid.UUID(str(correlation_id))
    except ValueError as exc:
        raise NotFound("No call with this correlation id.") from exc
    hops = list(entries_of(workspace).filter(correlation_id=key).order_by("at", "seq"))
    if not hops:
        raise NotFound("No call with this correlation id.")
    resolve_entries(hops)
    return hops


_OUTCOME_RANK = {Outcome.OK: 0, Outcome.ERROR: 1, Outcome.BLOCKED: 2}


@dataclass(frozen=True)
class CallTimeline:
    """One client call: its hops in order, each with its offset from the first, and the rules
    that acted on it."""

    correlation_id: uuid.UUID
    started_at: datetime
    duration_ms: float
    outcome: str
    hops: list[LogEntry]
    offsets_ms: list[float]
    rules: list[dict]


def call_timeline(workspace, correlation_id: str) -> CallTimeline:
    hops = call_entries(workspace, correlation_id)
    started = hops[0].at
    answers = [e for e in hops if e.hop == Hop.CLIENT_RESPONSE]
    # The client's answer says how the call ended; without one, the worst hop does.
    outcome = (
        answers[-1].outcome
        if answers
        else max((e.outcome for e in hops), key=lambda o: _OUTCOME_RANK.get(o, 1))
    )
    return CallTimeline(
        correlation_id=hops[0].correlation_id,
        started_at=started,
        duration_ms=(hops[-1].at - started).total_seconds() * 1000,
        outcome=outcome,
        hops=hops,
        offsets_ms=[(e.at - started).total_seconds() * 1000 for e in hops],
        rules=[dict(e.detail, hop=e.hop) for e in hops if e.hop == Hop.POLICY_ACTION],
    )


# A request hop and the response hop that closes it, in the same call (correlation id).
CALL_HOP_PAIRS = (
    (Hop.CLIENT_REQUEST, Hop.CLIENT_RESPONSE),
    (Hop.UPSTREAM_REQUEST, Hop.UPSTREAM_RESPONSE),
)


@dataclass(frozen=True)
class IncompleteHops:
    """Calls of a workspace whose request hop has no response hop: what a crash leaves."""

    request_hop: str
    response_hop: str
    count: int
    examples: tuple[str, ...]

    def __str__(self):
        shown = ", ".join(self.examples)
        return f"{self.count} {self.request_hop} without {self.response_hop} (e.g. {shown})"


def incomplete_calls(workspace_id: int, *, before: datetime, examples: int = 3) -> list:
    """Each request hop written before `before` whose call has no matching response hop."""
    entries = LogEntry.objects.for_workspace(workspace_id)
    found = []
    for request_hop, response_hop in CALL_HOP_PAIRS:
        answered = entries.filter(hop=response_hop, correlation_id=OuterRef("correlation_id"))
        missing = entries.filter(hop=request_hop, at__lt=before).exclude(Exists(answered))
        count = missing.count()
        if count:
            first = missing.order_by("seq").values_list("correlation_id", flat=True)[:examples]
            found.append(
                IncompleteHops(request_hop, response_hop, count, tuple(str(c) for c in first))
            )
    return found


def filter_choices(workspace) -> dict[str, list[str]]:
    """The workspace's gateways, people (suspended ones too) and servers, for the log viewer's
    filter lists."""
    return {
        "gateways": list(
            Gateway.objects.for_workspace(workspace).order_by("slug").values_list("slug", flat=True)
        ),
        "people": list(
            Membership.everyone.for_workspace(workspace)
            .order_by("user__email")
            .values_list("user__email", flat=True)
        ),
        "servers": list(
            Server.objects.for_workspace(workspace).order_by("name").values_list("name", flat=True)
        ),
    }
