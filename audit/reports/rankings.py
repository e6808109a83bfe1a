"""The top tools and the top people among a set of calls, counted in the database: what the
dashboard and the workspace report rank."""

from dataclasses import dataclass

from django.db.models import Count


@dataclass(frozen=True)
class Ranked:
    name: str
    count: int
    pct: float  # of the first one's count, for bars on one scale


def _ranked(calls, field: str, top: int) -> list[Ranked]:
    rows = list(
        calls.exclude(**{field: ""})
        .values(field)
        .annotate(n=Count("id"))
        .order_by("-n", field)[:top]
    )
    first = rows[0]["n"] if rows else 0
    return [Ranked(row[field], row["n"], round(100 * row["n"] / first, 1)) for row in rows]


def top_tools(calls, top: int) -> list[Ranked]:
    return _ranked(calls, "tool", top)


def top_people(calls, top: int) -> list[Ranked]:
    return _ranked(calls, "user_email", top)
