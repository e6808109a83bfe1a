"""`manage.py verify_logs` finds the first broken link: an edited, deleted or inserted entry."""

import io
import time

import pytest
from django.core.management import CommandError, call_command

from audit.log.chain import MODEL_FIELDS, digest_of, record_of
from audit.log.recorder import write_entries
from audit.models import LogEntry
from tests.support.audit_entries import call_hops

pytestmark = pytest.mark.django_db


def verify(workspace="acme"):
    out = io.StringIO()
    call_command("verify_logs", workspace=workspace, stdout=out)
    return out.getvalue()


def _entry(workspace, seq):
    return LogEntry.objects.for_workspace(workspace).get(seq=seq)


def test_an_intact_log_verifies(acme, write_calls):
    write_calls(acme, 3)
    assert verify() == "acme: OK: 12 entries verified (seq 1..12).\n"


def test_an_empty_log_verifies(acme):
    assert verify() == "acme: OK: no entries.\n"


def test_an_edited_payload_is_reported_at_its_seq(acme, write_calls):
    write_calls(acme, 3)
    edited = _entry(acme, 6)
    LogEntry.objects.filter(pk=edited.pk).update(payload={"name": "rm -rf /"})
    with pytest.raises(CommandError) as caught:
        verify()
    assert str(caught.value) == (
        f"acme: BROKEN at seq 6 (id {edited.pk}): digest mismatch: the entry's content was changed"
    )


def test_an_edited_field_is_reported(acme, write_calls):
    write_calls(acme, 2)
    LogEntry.objects.filter(workspace=acme, seq=3).update(outcome="ok", user_email="x@y.z")
    with pytest.raises(CommandError, match="BROKEN at seq 3 .*digest mismatch"):
        verify()


def test_a_deleted_entry_is_reported(acme, write_calls):
    write_calls(acme, 3)
    _entry(acme, 5).delete()
    with pytest.raises(CommandError, match=r"BROKEN at seq 6 .*entries seq 5\.\.5 are missing"):
        verify()


def test_deleting_the_newest_entries_is_reported(acme, write_calls):
    write_calls(acme, 3)
    LogEntry.objects.filter(workspace=acme, seq__gte=11).delete()
    with pytest.raises(CommandError, match="entries after seq 10 are missing"):
        verify()


def test_an_inserted_entry_is_reported(acme, write_calls):
    write_calls(acme, 2)
    # A forged entry in the chain's own format, linked to the newest one.
    last = LogEntry.objects.for_workspace(acme).values(*MODEL_FIELDS).get(seq=8)
    forged = {**last, "seq": 9, "prev_digest": last["digest"], "tool": "forged"}
    forged.pop("id")
    forged["digest"] = digest_of(record_of(forged))
    LogEntry.objects.create(**forged)
    with pytest.raises(CommandError, match="head is at seq 8; entries after it were inserted"):
        verify()


def test_a_rewritten_link_is_reported(acme, write_calls):
    write_calls(acme, 2)
    LogEntry.objects.filter(workspace=acme, seq=4).update(prev_digest="f" * 64)
    with pytest.raises(CommandError, match="BROKEN at seq 4 .*prev_digest"):
        verify()


def test_other_workspaces_do_not_count(acme, globex, write_calls):
    write_calls(acme, 1)
    write_calls(globex, 2)
    LogEntry.objects.filter(workspace=globex, seq=2).update(tool="x")
    assert "OK: 4 entries" in verify("acme")
    with pytest.raises(CommandError, match="globex: BROKEN at seq 2"):
        verify("globex")


def test_an_unknown_workspace_is_an_error(db):
    with pytest.raises(CommandError, match="No workspace 'nope'"):
        verify("nope")


def _call_an_hour_ago(workspace, **extra):
    return call_hops(workspace, at=time.time() - 3600, **extra)


def test_a_call_never_answered_in_the_log_is_reported(acme, globex):
    # What a crash leaves: the request hops were written, the response hops never were.
    whole = _call_an_hour_ago(acme)
    cut = _call_an_hour_ago(acme)
    write_entries(whole + cut[:2] + _call_an_hour_ago(globex))
    with pytest.raises(CommandError) as caught:
        verify()
    correlation = cut[0]["correlation_id"]
    assert str(caught.value) == "\n".join(
        [
            f"acme: INCOMPLETE: 1 client.request without client.response (e.g. {correlation})",
            f"acme: INCOMPLETE: 1 upstream.request without upstream.response (e.g. {correlation})",
        ]
    )
    out = io.StringIO()
    call_command("verify_logs", workspace="globex", stdout=out)
    assert out.getvalue() == "globex: OK: 4 entries verified (seq 1..4).\n"


def test_a_deleted_client_response_is_reported_with_its_call(acme, write_calls):
    write_entries(_call_an_hour_ago(acme) + _call_an_hour_ago(acme))
    deleted = _entry(acme, 8)
    assert deleted.hop == "client.response"
    deleted.delete()
    with pytest.raises(CommandError) as caught:
        verify()
    assert str(caught.value).splitlines()[1] == (
        f"acme: INCOMPLETE: 1 client.request without client.response "
        f"(e.g. {deleted.correlation_id})"
    )


def test_calls_within_the_grace_period_may_still_be_running(acme):
    write_entries(call_hops(acme)[:2])
    assert verify() == "acme: OK: 2 entries verified (seq 1..2).\n"
    with pytest.raises(CommandError, match="INCOMPLETE: 1 client.request"):
        call_command("verify_logs", workspace="acme", grace_seconds=0, stdout=io.StringIO())


def test_without_a_workspace_every_workspace_is_checked(acme, globex):
    write_entries(_call_an_hour_ago(acme)[:1] + _call_an_hour_ago(globex))
    with pytest.raises(CommandError) as caught:
        call_command("verify_logs", stdout=io.StringIO())
    assert str(caught.value).startswith("acme: INCOMPLETE: 1 client.request without")
