"""The gateway log as one row per client call: a keyset page of calls, then their hops.

A call is every entry sharing a correlation id (every entry has one; a hop that belongs to no
client call, such as `session.start`, carries its own and so is a call of one hop). A filter
matches a call when any of its hops matches, and calls are ordered by their newest matching hop,
newest first.

The page is grouped in the database without aggregating the whole table: the newest matching
entries after the cursor are read through the (workspace, at) index down to a boundary time a
few pages of hops deep, grouped by correlation id, and the boundary is pushed deeper only when
that window holds fewer calls than a page. A second query reads every hop of the page's calls
through the (workspace, correlation id) index.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Exists, Max, OuterRef, Q

from audit.log.payloads import resolve_entries
from audit.log.selectors import CURSOR_NUMBER, newest_slices
from audit.models import Hop, LogEntry, Outcome

# Hops read per call in the first window: a tool call writes four, rules and retries add some.
HOPS_PER_CALL = 6
# Windows tried before grouping whatever remains after the cursor in one go.
WINDOW_TRIES = 4

_OUTCOME_RANK = {Outcome.OK: 0, Outcome.ERROR: 1, Outcome.BLOCKED: 2}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CallRow:
    """One client call of the grouped viewer: what its hops say together."""

    correlation_id: uuid.UUID
    hops: list[LogEntry]

    @property
    def started_at(self) -> datetime:
        return self.hops[0].at

    @property
    def outcome(self) -> str:
        """The worst outcome of its hops: blocked, then error, then ok."""
        return max((e.outcome for e in self.hops), key=lambda o: _OUTCOME_RANK.get(o, 1))

    @property
    def outcome_label(self) -> str:
        return Outcome(self.outcome).label

    @property
    def first(self) -> LogEntry:
        """The client's request when there is one, else the first hop."""
        return next((e for e in self.hops if e.hop == Hop.CLIENT_REQUEST), self.hops[0])

    @property
    def gateway_slug(self) -> str:
        return next((e.gateway_slug for e in self.hops if e.gateway_slug), "")

    @property
    def user_email(self) -> str:
        return next((e.user_email for e in self.hops if e.user_email), "")

    @property
    def tool(self) -> str:
        return next((e.tool for e in self.hops if e.tool), "")

    @property
    def rpc_method(self) -> str:
        return next((e.rpc_method for e in self.hops if e.rpc_method), "")

    @property
    def error_message(self) -> str:
        return next((e.error_message for e in reversed(self.hops) if e.error_message), "")

    @property
    def latency_ms(self) -> float | None:
        """What the client waited: its answer's latency, else the slowest hop's."""
        answers = [e.latency_ms for e in self.hops if e.hop == Hop.CLIENT_RESPONSE]
        if answers and answers[-1] is not None:
            return answers[-1]
        return max((e.latency_ms for e in self.hops if e.latency_ms is not None), default=None)


def _cursor_of(at: datetime, correlation_id: uuid.UUID) -> str:
    return f"{(at - _EPOCH) // timedelta(microseconds=1)}_{correlation_id.hex}"


def _cursor_key(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    micros, _, correlation = cursor.partition("_")
    if not CURSOR_NUMBER.fullmatch(micros):
        return None
    try:
        key = uuid.UUID(hex=correlation)
        return _EPOCH + timedelta(microseconds=int(micros)), key
    except (ValueError, OverflowError):
        return None


def _boundary(after, window: int, *, until: datetime | None) -> datetime | None:
    """The time of the `window`-th newest entry of `after`, None if it holds fewer."""
    for part in newest_slices(after, until=until):
        deepest = part.order_by("-at").values_list("at", flat=True)
        found = next(iter(deepest[window - 1 : window]), None)
        if found is not None:
            return found
    return None


def _page_keys(matching, *, cursor: str, size: int) -> list[dict]:
    """Up to size + 1 calls after `cursor` as {correlation_id, last_at}, newest first."""
    key = _cursor_key(cursor) if cursor else None
    after = matching
    at = None
    if key is not None:
        at, correlation = key
        after = matching.filter(at__lte=at)
    window = (size + 1) * HOPS_PER_CALL
    for attempt in range(WINDOW_TRIES + 1):
        rows = after
        boundary = _boundary(after, window, until=at) if attempt < WINDOW_TRIES else None
        if boundary is not None:
            # A call is complete as to its newest hop only above the boundary's time.
            rows = after.filter(at__gt=boundary)
        groups = (
            rows.values("correlation_id")
            .annotate(last_at=Max("at"))
            .order_by("-last_at", "-correlation_id")
        )
        if key is not None:
            # Earlier pages showed every call whose newest matching hop is after the cursor.
            groups = groups.filter(
                Q(last_at__lt=at) | Q(last_at=at, correlation_id__lt=correlation)
            ).exclude(Exists(matching.filter(correlation_id=OuterRef("correlation_id"), at__gt=at)))
        found = list(groups[: size + 1])
        if boundary is None or len(found) > size:
            return found
        window *= 2
    return found


def calls_page(
    workspace, matching, *, cursor: str = "", size: int, with_payloads: bool
) -> tuple[list[CallRow], str]:
    """One keyset page of the calls `matching` (a filtered query of the workspace's entries)
    holds, each with every hop of it in order; and the cursor of the next page ("" on the
    last). An unreadable cursor starts from the newest call."""
    keys = _page_keys(matching, cursor=cursor, size=size)
    shown = keys[:size]
    ids = [k["correlation_id"] for k in shown]
    hops = LogEntry.objects.for_workspace(workspace).filter(correlation_id__in=ids)
    if not with_payloads:
        hops = hops.defer("payload")
    by_call: dict[uuid.UUID, list[LogEntry]] = {key: [] for key in ids}
    entries = list(hops.order_by("at", "seq"))
    resolve_entries(entries)
    for entry in entries:
        by_call[entry.correlation_id].append(entry)
    calls = [CallRow(correlation_id=key, hops=by_call[key]) for key in ids if by_call[key]]
    if len(keys) <= size:
        return calls, ""
    last = shown[-1]
    return calls, _cursor_of(last["last_at"], last["correlation_id"])
