"""The log table's daily partitions on PostgreSQL: made ahead of time, listed, and dropped whole.

On PostgreSQL `audit_logentry` is partitioned by range of `at`, one partition per UTC day
(`audit_logentry_pYYYYMMDD`), plus a DEFAULT partition (`audit_logentry_default`) that takes any
row no day partition covers, so an insert never fails for want of a partition. The migration
`audit.0011_partition_log_table` made the table so; SQLite keeps one plain table, and every
function here does nothing there.

A day's partition is made before its first row is due (`ensure_partitions`: by the writer as it
starts and by the beat task `audit.ensure_log_partitions`, for today and the next
`AUDIT_PARTITION_DAYS_AHEAD` days, and for any past day whose rows the DEFAULT partition caught
because its partition was not made in time). It is made as a plain table, filled with the rows
of its day the DEFAULT partition caught meanwhile, then attached. ATTACH locks the log table
only against other schema changes, so writes to the day partitions go on (`CREATE TABLE ...
PARTITION OF` would stop every write), but it takes the DEFAULT partition whole: that lock is
taken before the rows move, so none of the day's rows can land there between the move and the
ATTACH (which would then fail); writes bound for the DEFAULT partition wait meanwhile.
Retention (`audit.log.retention`) drops whole partitions through `drop_partition`.
"""

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from audit.models import LogEntry, LogPolicy

logger = logging.getLogger(__name__)

TABLE = LogEntry._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
_NAME = re.compile(rf"{TABLE}_p(\d{{8}})")
# Serialises partition changes between processes (writers starting, beat, retention).
_LOCK_KEY = 7_170_517_011
_DEFAULT_RETENTION_DAYS = LogPolicy._meta.get_field("retention_days").default


@dataclass(frozen=True)
class Partition:
    """One day partition: rows with `start <= at < end`."""

    name: str
    day: date

    @property
    def start(self) -> datetime:
        return day_start(self.day)

    @property
    def end(self) -> datetime:
        return day_start(self.day + timedelta(days=1))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def is_partitioned() -> bool:
    """Whether the log table is partitioned here (PostgreSQL after the migration)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
            [TABLE],
        )
        return cursor.fetchone() is not None


def partitions() -> list[Partition]:
    """The day partitions attached to the log table, oldest first (not the DEFAULT one)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = []
    for name in names:
        match = _NAME.fullmatch(name)
        if match:
            found.append(Partition(name, datetime.strptime(match[1], "%Y%m%d").date()))
    return sorted(found, key=lambda p: p.day)


def _columns() -> str:
    return ", ".join(connection.ops.quote_name(f.column) for f in LogEntry._meta.concrete_fields)


def create_partition(day: date) -> bool:
    """Make the partition of `day` unless it exists, moving in the rows of that day the DEFAULT
    partition holds; True if it was made."""
    name = partition_name(day)
    start, end = day_start(day), day_start(day + timedelta(days=1))
    quote = connection.ops.quote_name
    columns = _columns()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        cursor.execute("SELECT to_regclass(%s)", [name])
        if cursor.fetchone()[0] is not None:
            return False
        cursor.execute(
            f"CREATE TABLE {quote(name)} (LIKE {quote(TABLE)} INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS)"
        )
        # The lock ATTACH takes anyway, taken first: no row of the day can slip in after the
        # move, and no weaker lock has to be raised (where a deadlock could wait).
        cursor.execute(f"LOCK TABLE {quote(DEFAULT_PARTITION)} IN ACCESS EXCLUSIVE MODE")
        # Names are ours (the table, its partitions, the model's columns), never input.
        cursor.execute(
            f"WITH moved AS (DELETE FROM {quote(DEFAULT_PARTITION)} WHERE at >= %s AND at < %s "  # noqa: S608
            f"RETURNING {columns}) "
            f"INSERT INTO {quote(name)} ({columns}) SELECT {columns} FROM moved",
            [start, end],
        )
        with _deferred_checks_run(cursor):
            cursor.execute(
                f"ALTER TABLE {quote(TABLE)} ATTACH PARTITION {quote(name)} "
                "FOR VALUES FROM (%s) TO (%s)",
                [start, end],
            )
    return True


def ensure_partitions(*, now: datetime | None = None, ahead: int | None = None) -> list[str]:
    """Make today's partition and the next `ahead` days' (AUDIT_PARTITION_DAYS_AHEAD) that are
    missing, and those of past days whose rows wait in the DEFAULT partition; returns the names
    made. Nothing to do off PostgreSQL or before the migration."""
    if not is_partitioned():
        return []
    ahead = settings.AUDIT_PARTITION_DAYS_AHEAD if ahead is None else ahead
    today = day_of(now or timezone.now())
    existing = {p.day for p in partitions()}
    days = _stranded_days(today) + [today + timedelta(days=n) for n in range(ahead + 1)]
    made = []
    for day in days:
        if day not in existing and create_partition(day):
            made.append(partition_name(day))
    return made


def _stranded_days(today: date) -> list[date]:
    """The past days the DEFAULT partition holds rows of (their partition was not made in time,
    as when beat was down), back to where the longest retention reaches: older rows are due
    for deletion, row by row, and get no partition (as in the migration)."""
    longest = LogPolicy.objects.aggregate(longest=Max("retention_days"))["longest"] or 0
    reach = today - timedelta(days=max(longest, _DEFAULT_RETENTION_DAYS) + 1)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT (at AT TIME ZONE 'UTC')::date FROM {quote(DEFAULT_PARTITION)} "  # noqa: S608
            "WHERE at >= %s AND at < %s ORDER BY 1",
            [day_start(reach), day_start(today)],
        )
        return [row[0] for row in cursor.fetchall()]


def prepare_partitions() -> None:
    """`ensure_partitions` for a writer starting: a failure is logged, not raised, as the
    DEFAULT partition takes the rows until the beat task makes their partition."""
    try:
        made = ensure_partitions()
    except Exception:
        logger.exception("audit writer: could not make the log table's partitions ahead")
        return
    if made:
        logger.info("audit writer: made log partitions %s", ", ".join(made))


def contents(partition: Partition) -> dict[int, tuple[int, int, str]]:
    """What a partition holds of each workspace: {workspace id: (rows, newest seq, its digest)}.
    One pass over the partition, then one index probe per workspace for the digest."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT workspace_id, count(*), max(seq) FROM {quote(partition.name)} "  # noqa: S608
            "GROUP BY workspace_id"
        )
        found = {}
        for workspace_id, rows, top in cursor.fetchall():
            cursor.execute(
                f"SELECT digest FROM {quote(partition.name)} "  # noqa: S608
                "WHERE workspace_id = %s AND seq = %s",
                [workspace_id, top],
            )
            found[workspace_id] = (rows, top, cursor.fetchone()[0])
    return found


@contextmanager
def _deferred_checks_run(cursor):
    """PostgreSQL refuses to ATTACH, DETACH or DROP a table with pending trigger events: the
    deferred foreign-key checks of rows written earlier in the same transaction. Only a caller's
    own enclosing transaction can hold any (a task that logs and then purges in one atomic
    block, a test); running them now lets the change go on. The setting lasts for the whole
    transaction, not the savepoint, so the caller's later writes get their deferred checks
    back (Django declares every foreign key DEFERRABLE INITIALLY DEFERRED)."""
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def drop_partition(partition: Partition, *, lock_timeout_ms: int = 5000) -> None:
    """Detach and drop a partition. DETACH waits for the writers' open transactions to end and
    holds new ones back meanwhile; past `lock_timeout_ms` it gives up (a DatabaseError) rather
    than stall them, and the next run tries again."""
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        cursor.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        with _deferred_checks_run(cursor):
            cursor.execute(f"ALTER TABLE {quote(TABLE)} DETACH PARTITION {quote(partition.name)}")
            cursor.execute(f"DROP TABLE {quote(partition.name)}")
