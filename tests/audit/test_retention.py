"""Retention: expired entries go in batches, and what remains still verifies."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from audit.log.chain import verify_workspace
from audit.log.policy import update_log_policy
from audit.log.retention import purge_expired
from audit.models import ChainHead, LogEntry
from audit.tasks import purge_expired_logs

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def _days_ago(days: float) -> float:
    return (NOW - timedelta(days=days)).timestamp()


def _ages(workspace):
    entries = LogEntry.objects.for_workspace(workspace).order_by("seq")
    return [round((NOW - e.at).total_seconds() / 86400) for e in entries]


def test_it_deletes_what_is_older_than_the_retention_in_batches(acme, write_calls):
    for age in (200, 120, 95, 89, 10):
        write_calls(acme, 2, at=_days_ago(age))
    deleted = purge_expired(now=NOW, batch_size=3)
    assert deleted == {acme.pk: 24}
    assert _ages(acme) == [89] * 8 + [10] * 8
    head = ChainHead.objects.get(workspace=acme)
    assert (head.anchor_seq, head.seq) == (24, 40)
    verdict = verify_workspace(acme.pk)
    assert verdict.ok, str(verdict)
    assert (verdict.count, verdict.first_seq) == (16, 25)
    assert purge_expired(now=NOW) == {}


def test_each_workspace_keeps_its_own_retention(acme, globex, alice, mallory, write_calls):
    update_log_policy(workspace=acme, actor=alice, retention_days=30)
    update_log_policy(workspace=globex, actor=mallory, retention_days=365)
    write_calls(acme, 1, at=_days_ago(40))
    write_calls(globex, 1, at=_days_ago(40))
    assert purge_expired(now=NOW) == {acme.pk: 4}
    assert LogEntry.objects.for_workspace(globex).count() == 4


def test_it_never_leaves_a_hole_in_the_chain(acme, write_calls):
    # An entry written after a newer one (another worker's batch) stops the purge there.
    write_calls(acme, 1, at=_days_ago(100))
    write_calls(acme, 1, at=_days_ago(1))
    write_calls(acme, 1, at=_days_ago(100))
    assert purge_expired(now=NOW) == {acme.pk: 4}
    assert _ages(acme) == [1] * 4 + [100] * 4
    assert verify_workspace(acme.pk).ok


def test_deleting_more_than_retention_did_is_still_caught(acme, write_calls):
    write_calls(acme, 2, at=_days_ago(100))
    write_calls(acme, 2, at=_days_ago(1))
    purge_expired(now=NOW)
    LogEntry.objects.filter(workspace=acme, seq=9).delete()
    verdict = verify_workspace(acme.pk)
    assert not verdict.ok
    assert verdict.broken_seq == 10
    assert "seq 9..9 are missing" in verdict.problem


def test_the_beat_task_reads_the_clock(acme, write_calls):
    write_calls(acme, 1, at=_days_ago(91))
    write_calls(acme, 1, at=_days_ago(89))
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        assert purge_expired_logs.apply().get() == 4
    assert _ages(acme) == [89] * 4
