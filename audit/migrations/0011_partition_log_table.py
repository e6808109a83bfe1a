"""On PostgreSQL, the log table becomes partitioned by range of `at`, one partition per UTC day,
plus a DEFAULT partition (docs/audit.md, "The log table on PostgreSQL").

The rows move: the old table is renamed, a partitioned table takes its name (same columns,
constraints and index names), the partitions are made, the rows are copied over, and the old
table is dropped, all in the migration's one transaction. PostgreSQL requires a partitioned
table's primary key and unique constraints to include the partition key, so the primary key is
(id, at) and `logentry_unique_seq` is (workspace_id, seq, at); Django still knows `id` alone as
the primary key, which stays unique as one sequence numbers every row. `id` takes its values
from a sequence owned by the column (an identity column cannot be partitioned on PostgreSQL 15).

Self-contained on purpose (no import of the app's code): a migration must keep doing what it did
when the code around it changes. SQLite is left as it is.
"""

from datetime import UTC, datetime, time, timedelta

from django.db import migrations

# Every name in the SQL below is a constant of this module or read from the catalog.
# ruff: noqa: S608

TABLE = "audit_logentry"
OLD = "audit_logentry_unpartitioned"
SEQUENCE = "audit_logentry_id_seq"
DEFAULT_RETENTION_DAYS = 90
AHEAD_DAYS = 7
FK_NAME = "audit_logentry_workspace_id_9111e9c6_fk_teams_workspace_id"
INDEXES = {
    "logentry_ws_at": "(workspace_id, at)",
    "logentry_ws_call": "(workspace_id, correlation_id)",
    "logentry_ws_gw_at": "(workspace_id, gateway_slug, at)",
    "logentry_ws_user_at": "(workspace_id, user_email, at)",
    "logentry_ws_tool": "(workspace_id, tool)",
}


def _constraints_and_indexes(cursor, table: str, *, partitioned: bool) -> None:
    key = "(id, at)" if partitioned else "(id)"
    unique = "(workspace_id, seq, at)" if partitioned else "(workspace_id, seq)"
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY {key}")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT logentry_unique_seq UNIQUE {unique}")
    cursor.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {FK_NAME} FOREIGN KEY (workspace_id) "
        "REFERENCES teams_workspace (id) DEFERRABLE INITIALLY DEFERRED"
    )
    for name, columns in INDEXES.items():
        cursor.execute(f"CREATE INDEX {name} ON {table} {columns}")


def _strip(cursor, table: str) -> None:
    """Drop a table's constraints (primary key, unique, foreign key) and indexes, so their names
    are free for the table that replaces it."""
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN "
        "('p', 'u', 'f')",
        [table],
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name in INDEXES:
        cursor.execute(f"DROP INDEX IF EXISTS {name}")


def _next_id(cursor, table: str) -> int:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    (sequence,) = cursor.fetchone()
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
    (highest,) = cursor.fetchone()
    if sequence:
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
        last, called = cursor.fetchone()
        highest = max(highest, last if called else last - 1)
    return highest + 1


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _first_day(cursor, today):
    """The oldest day that gets its own partition: that of the oldest row, but no earlier than
    the longest retention reaches (older rows, due for deletion, go to the DEFAULT partition)."""
    cursor.execute(f"SELECT min(at) FROM {OLD}")
    (oldest,) = cursor.fetchone()
    cursor.execute("SELECT coalesce(max(retention_days), 0) FROM audit_logpolicy")
    (longest,) = cursor.fetchone()
    reach = today - timedelta(days=max(longest, DEFAULT_RETENTION_DAYS) + 1)
    if oldest is None:
        return today
    return min(today, max(oldest.astimezone(UTC).date(), reach))


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        next_id = _next_id(cursor, TABLE)
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
        _strip(cursor, OLD)
        cursor.execute(f"ALTER TABLE {OLD} ALTER COLUMN id DROP IDENTITY IF EXISTS")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
            "PARTITION BY RANGE (at)"
        )
        cursor.execute(f"CREATE SEQUENCE {SEQUENCE} OWNED BY {TABLE}.id START WITH {next_id}")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{SEQUENCE}')")
        _constraints_and_indexes(cursor, TABLE, partitioned=True)
        cursor.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
        today = datetime.now(UTC).date()
        day = _first_day(cursor, today)
        while day <= today + timedelta(days=AHEAD_DAYS):
            cursor.execute(
                f"CREATE TABLE {TABLE}_p{day:%Y%m%d} PARTITION OF {TABLE} "
                "FOR VALUES FROM (%s) TO (%s)",
                [_day_start(day), _day_start(day + timedelta(days=1))],
            )
            day += timedelta(days=1)
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(f"ANALYZE {TABLE}")


def unpartition(apps, schema_editor):
    """Back to one plain table, rows and all."""
    if schema_editor.connection.vendor != "postgresql":
        return
    partitioned = f"{TABLE}_partitioned"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        next_id = _next_id(cursor, TABLE)
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {partitioned}")
        _strip(cursor, partitioned)
        cursor.execute(f"ALTER TABLE {partitioned} ALTER COLUMN id DROP DEFAULT")
        cursor.execute(f"DROP SEQUENCE {SEQUENCE}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {partitioned} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        cursor.execute(
            f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY "
            f"(START WITH {next_id})"
        )
        _constraints_and_indexes(cursor, TABLE, partitioned=False)
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {partitioned}")
        cursor.execute(f"DROP TABLE {partitioned} CASCADE")


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0010_payload_storage"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
