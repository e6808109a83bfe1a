"""The log table on PostgreSQL: partitioned by day, rows in their day's partition, the DEFAULT
partition catching the rest, retention dropping whole days with the chain still verifying, and
the migration moving the rows that were there."""

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit.log import partitions
from audit.log.chain import verify_workspace
from audit.log.policy import update_log_policy
from audit.log.retention import purge_expired
from audit.models import ChainHead, LogEntry

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="the log table is partitioned on PostgreSQL only (SQLite keeps one plain table)",
    ),
]
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def _days_ago(days: float, now=NOW) -> float:
    return (now - timedelta(days=days)).timestamp()


def _day(days: float):
    return partitions.day_of(NOW - timedelta(days=days))


def _where(workspace) -> dict[str, int]:
    """{partition name: rows of the workspace in it}."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, count(*) FROM audit_logentry "
            "WHERE workspace_id = %s GROUP BY 1",
            [workspace.pk],
        )
        return dict(cursor.fetchall())


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        return cursor.fetchone()[0] is not None


def test_the_table_is_partitioned_by_day_ahead_of_time():
    assert partitions.is_partitioned()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partstrat FROM pg_partitioned_table "
            "WHERE partrelid = 'audit_logentry'::regclass"
        )
        assert cursor.fetchone() == ("r",)
    today = partitions.day_of(timezone.now())
    partitions.ensure_partitions(ahead=settings.AUDIT_PARTITION_DAYS_AHEAD)
    days = {p.day for p in partitions.partitions()}
    ahead = {today + timedelta(days=n) for n in range(settings.AUDIT_PARTITION_DAYS_AHEAD + 1)}
    assert ahead <= days
    assert _exists(partitions.DEFAULT_PARTITION)
    assert partitions.ensure_partitions() == []


def test_writes_go_to_their_days_partition(acme, write_calls):
    now = timezone.now()
    write_calls(acme, 2, at=now.timestamp())
    write_calls(acme, 1, at=(now + timedelta(days=1)).timestamp())
    assert _where(acme) == {
        partitions.partition_name(partitions.day_of(now)): 8,
        partitions.partition_name(partitions.day_of(now + timedelta(days=1))): 4,
    }
    assert verify_workspace(acme.pk).ok


def test_the_default_partition_catches_rows_no_day_covers(acme, write_calls):
    write_calls(acme, 1, at=datetime(2100, 1, 1, 9, tzinfo=UTC).timestamp())
    write_calls(acme, 1, at=datetime(2100, 1, 2, 9, tzinfo=UTC).timestamp())
    assert _where(acme) == {partitions.DEFAULT_PARTITION: 8}
    # Making the day's partition later moves its rows out of the DEFAULT partition.
    made = partitions.ensure_partitions(now=datetime(2100, 1, 1, tzinfo=UTC), ahead=0)
    assert made == ["audit_logentry_p21000101"]
    assert _where(acme) == {"audit_logentry_p21000101": 4, partitions.DEFAULT_PARTITION: 4}
    assert LogEntry.objects.for_workspace(acme).filter(at__year=2100).count() == 8
    assert verify_workspace(acme.pk).ok


def test_a_past_day_whose_rows_wait_in_the_default_partition_gets_its_partition(acme, write_calls):
    # Beat was down: two days ago had no partition, so its rows went to the DEFAULT partition.
    write_calls(acme, 1, at=_days_ago(2))
    # Past the longest retention: due for deletion row by row, no partition made for it.
    write_calls(acme, 1, at=_days_ago(200))
    assert _where(acme) == {partitions.DEFAULT_PARTITION: 8}
    made = partitions.ensure_partitions(now=NOW, ahead=0)
    stranded = partitions.partition_name(_day(2))
    assert made[0] == stranded
    assert _where(acme) == {stranded: 4, partitions.DEFAULT_PARTITION: 4}
    assert partitions.ensure_partitions(now=NOW, ahead=0) == []
    assert verify_workspace(acme.pk).ok


@pytest.mark.django_db(transaction=True)
def test_no_row_slips_into_the_default_partition_while_a_day_is_made(acme, write_calls):
    day = datetime(2099, 6, 1, tzinfo=UTC)
    write_calls(acme, 1, at=(day + timedelta(hours=9)).timestamp())
    name = partitions.partition_name(day.date())
    # A writer's transaction puts one more row of the day into the DEFAULT partition and has
    # not committed yet when the partition is made.
    columns = [f.column for f in LogEntry._meta.concrete_fields if f.column not in ("id", "at")]
    listed = ", ".join(columns)
    params = connection.settings_dict
    writer = psycopg.connect(
        dbname=params["NAME"],
        host=params["HOST"],
        port=params["PORT"] or None,
        user=params["USER"],
        password=params["PASSWORD"],
    )
    outcome = {}

    def make():
        try:
            outcome["made"] = partitions.create_partition(day.date())
        except Exception as exc:  # noqa: BLE001 - the test reports it
            outcome["error"] = exc
        finally:
            connection.close()

    maker = threading.Thread(target=make)
    try:
        writer.execute(
            f"INSERT INTO audit_logentry ({listed}, at) SELECT {listed}, %s "  # noqa: S608
            "FROM audit_logentry WHERE workspace_id = %s ORDER BY seq LIMIT 1",
            [day + timedelta(hours=10), acme.pk],
        )
        maker.start()
        # Once the partition's maker waits for the writer's lock on the DEFAULT partition, the
        # writer commits: its row must move with the others, not fail the ATTACH.
        waited = time.monotonic() + 30
        while not _waits_for(partitions.DEFAULT_PARTITION):
            assert time.monotonic() < waited, "the partition was made without a lock to wait for"
            time.sleep(0.01)
        writer.commit()
        maker.join(30)
        assert outcome == {"made": True}
        assert _where(acme) == {name: 5}
    finally:
        writer.close()
        maker.join(30)
        if _exists(name):
            partitions.drop_partition(partitions.Partition(name, day.date()))


def _waits_for(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_locks WHERE relation = to_regclass(%s) AND NOT granted", [table]
        )
        return cursor.fetchone() is not None


def test_retention_drops_whole_days_and_the_chain_still_verifies(acme, write_calls):
    for days in (100, 99, 89):
        partitions.create_partition(_day(days))
    write_calls(acme, 1, at=_days_ago(100))
    write_calls(acme, 1, at=_days_ago(99))
    # Written after the day-99 entries, yet in day 100's partition (another worker's batch):
    # dropping that day takes the day-99 entries before them too, so no hole is left.
    write_calls(acme, 1, at=_days_ago(100))
    write_calls(acme, 2, at=_days_ago(89))
    assert purge_expired(now=NOW) == {acme.pk: 12}
    # Both days went whole (day 99 emptied by the first drop); day 89 is within retention.
    assert not _exists(partitions.partition_name(_day(100)))
    assert not _exists(partitions.partition_name(_day(99)))
    assert _where(acme) == {partitions.partition_name(_day(89)): 8}
    head = ChainHead.objects.get(workspace=acme)
    assert (head.anchor_seq, head.seq) == (12, 20)
    verdict = verify_workspace(acme.pk)
    assert verdict.ok, str(verdict)
    assert (verdict.count, verdict.first_seq) == (8, 13)
    assert purge_expired(now=NOW) == {}


def test_a_day_waits_while_an_earlier_link_is_within_retention(acme, write_calls):
    partitions.create_partition(_day(100))
    write_calls(acme, 1, at=_days_ago(100))
    write_calls(acme, 1, at=_days_ago(1))
    write_calls(acme, 1, at=_days_ago(100))
    # Only the first call goes (row by row): the day-1 entries stop the walk, as without
    # partitions, and the day's partition keeps the call written after them.
    assert purge_expired(now=NOW) == {acme.pk: 4}
    assert _exists(partitions.partition_name(_day(100)))
    assert _where(acme)[partitions.partition_name(_day(100))] == 4
    assert verify_workspace(acme.pk).ok


def test_a_shorter_retention_deletes_rows_of_a_day_another_workspace_keeps(
    acme, globex, alice, mallory, write_calls
):
    update_log_policy(workspace=acme, actor=alice, retention_days=30)
    update_log_policy(workspace=globex, actor=mallory, retention_days=365)
    partitions.create_partition(_day(40))
    write_calls(acme, 1, at=_days_ago(40))
    write_calls(globex, 1, at=_days_ago(40))
    assert purge_expired(now=NOW) == {acme.pk: 4}
    assert _exists(partitions.partition_name(_day(40)))
    assert _where(acme) == {}
    assert _where(globex) == {partitions.partition_name(_day(40)): 4}
    assert verify_workspace(acme.pk).ok and verify_workspace(globex.pk).ok


def test_retention_keeps_whole_days_on_postgresql(acme, write_calls):
    # 90 days' retention at noon: the cutoff is the start of the day 90 days back, so that
    # day's morning stays until the next day's run.
    write_calls(acme, 1, at=_days_ago(90.25))
    write_calls(acme, 1, at=_days_ago(90.75))
    assert purge_expired(now=NOW) == {}
    assert purge_expired(now=NOW + timedelta(days=1)) == {acme.pk: 8}


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_rows_that_were_there(acme, write_calls):
    write_calls(acme, 2, at=timezone.now().timestamp())
    executor = MigrationExecutor(connection)
    executor.migrate([("audit", "0010_payload_storage")])
    assert not partitions.is_partitioned()
    assert LogEntry.objects.for_workspace(acme).count() == 8
    write_calls(acme, 1, at=_days_ago(400, now=timezone.now()))

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("audit"))
    assert partitions.is_partitioned()
    today = partitions.partition_name(partitions.day_of(timezone.now()))
    assert _where(acme) == {today: 8, partitions.DEFAULT_PARTITION: 4}
    write_calls(acme, 1, at=timezone.now().timestamp())
    ids = list(LogEntry.objects.for_workspace(acme).order_by("seq").values_list("id", flat=True))
    assert len(ids) == 16 and ids == sorted(set(ids))
    verdict = verify_workspace(acme.pk)
    assert verdict.ok, str(verdict)
    assert verdict.count == 16


def test_a_day_another_workspace_holds_back_moves_no_anchor(acme, globex, write_calls):
    partitions.create_partition(_day(100))
    write_calls(acme, 1, at=_days_ago(100))
    write_calls(globex, 1, at=_days_ago(100))
    write_calls(globex, 1, at=_days_ago(1))
    write_calls(globex, 1, at=_days_ago(100))
    # Globex's newest entry on day 100 follows one within retention, so the day stays; acme's
    # entries there go row by row, and neither chain is left with rows below its anchor.
    assert purge_expired(now=NOW) == {acme.pk: 4, globex.pk: 4}
    assert _exists(partitions.partition_name(_day(100)))
    assert ChainHead.objects.get(workspace=acme).anchor_seq == 4
    assert ChainHead.objects.get(workspace=globex).anchor_seq == 4
    assert verify_workspace(acme.pk).ok and verify_workspace(globex.pk).ok


def test_entries_left_below_a_moved_anchor_go_with_the_next_purge(acme, write_calls):
    # In the DEFAULT partition, which is never dropped; as after a drop that timed out on its
    # lock, the anchor moved and the rows stayed.
    write_calls(acme, 2, at=_days_ago(100))
    last = LogEntry.objects.for_workspace(acme.pk).order_by("-seq").first()
    ChainHead.objects.filter(workspace=acme).update(anchor_seq=last.seq, anchor_digest=last.digest)
    assert purge_expired(now=NOW)[acme.pk] == 8
    assert _where(acme) == {}
    assert verify_workspace(acme.pk).ok


@pytest.mark.django_db(transaction=True)
def test_a_partition_change_leaves_the_callers_foreign_key_checks_deferred(acme):
    from django.db import IntegrityError, transaction

    from audit.models import LogPolicy

    inserted = False
    with pytest.raises(IntegrityError), transaction.atomic():
        partitions.create_partition(_day(300))
        # A dangling foreign key is checked at the commit, as Django declares it, not at the
        # insert: the partition change ran the pending checks and put the deferral back.
        LogPolicy.objects.create(workspace_id=10**9)
        inserted = True
    assert inserted
