"""Log rows reach the table by binary COPY on PostgreSQL (an executemany INSERT elsewhere): they
read back, export and verify exactly as rows the INSERT path stored.

On SQLite both runs below take the INSERT path; the comparison bites on PostgreSQL, where the
first run COPYs (`DATABASE_URL=postgres://...`)."""

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from audit.log import export, row_insert
from audit.log.chain import verify_export, verify_workspace
from audit.log.recorder import Counters, write_batch, write_entries
from audit.models import LogEntry
from tests.support.audit_entries import call_hops

pytestmark = pytest.mark.django_db(transaction=True)

# What payloads and details hold on the way to JSON columns: integral and huge floats, text
# outside ASCII, NUL and lone surrogates (cleaned), keys that are not strings, a bare string.
PAYLOADS = [
    {"content": [{"type": "text", "text": "hello 5"}], "isError": False},
    {"whole": 2.0, "huge": 1e20, "tiny": 1e-7, "neg": -0.0, 7: "int key", None: "none key"},
    ["a", 1, 1.5, float("nan"), ("t", "u"), {"z": 1, "a": [True, None]}],
    {"del": "a\x7fb", "nul": "a\x00b", "lone": "\ud800", "ü": "Zürich 東京"},
    "just a string",
]
START = datetime(2026, 7, 28, 12, 0, tzinfo=UTC)
# The columns a row owes to its workspace and place in that workspace's chain.
PLACE = {"id", "workspace_id", "digest", "prev_digest"}


def _entries(workspace) -> list[dict]:
    hops = []
    for n, payload in enumerate(PAYLOADS):
        detail = {"credential": "shared", "n": 2.0, "ü": "x"} if n % 2 else None
        call = call_hops(workspace, payload=payload, **({"detail": detail} if detail else {}))
        for i, hop in enumerate(call):
            hop["at"] = START + timedelta(seconds=n, microseconds=i * 10)
            hop["correlation_id"] = str(uuid.UUID(int=n + 1))
            hop["rpc_id"] = n
        hops.extend(call)
    return hops


def _stored(workspace) -> list[dict]:
    rows = LogEntry.objects.for_workspace(workspace).order_by("seq").values()
    return [{k: v for k, v in row.items() if k not in PLACE} for row in rows]


def _exported(workspace) -> list[str]:
    queryset = LogEntry.objects.for_workspace(workspace)
    return list(export.stream(queryset, export_format="jsonl", with_payloads=True))


def _unplaced(lines: list[str]) -> list[str]:
    """Export lines without the fields a row owes to its workspace, as exact JSON text."""
    records = [json.loads(line) for line in lines]
    return [json.dumps({k: v for k, v in r.items() if k not in PLACE}) for r in records]


def test_copied_rows_read_back_export_and_verify_as_inserted_ones(acme, globex, monkeypatch):
    write_entries(_entries(acme))
    with monkeypatch.context() as patched:
        # The reference: the same entries through the executemany INSERT of Django's adapters.
        patched.setattr(row_insert, "_copy", row_insert._executemany)
        write_entries(_entries(globex))

    copied, inserted = _stored(acme), _stored(globex)
    assert len(copied) == 4 * len(PAYLOADS)
    # repr tells 2.0 from 2 and a str from a UUID: the values are the same, type for type.
    assert repr(copied) == repr(inserted)
    assert copied[4]["payload"]["whole"] == 2.0 and type(copied[4]["payload"]["whole"]) is float
    assert copied[5]["detail"] == {"credential": "shared", "n": 2.0, "ü": "x"}
    assert copied[16]["payload"] == "just a string"

    for workspace in (acme, globex):
        assert verify_workspace(workspace.pk).ok
        assert verify_export(_exported(workspace)).ok
    assert _unplaced(_exported(acme)) == _unplaced(_exported(globex))


def test_an_integer_out_of_range_is_refused_not_wrapped_and_only_its_entry_skipped(acme, alice):
    hops = call_hops(acme, user=alice)
    hops[1]["error_code"] = 2**40  # a 32-bit column on PostgreSQL
    counters = Counters()
    write_batch(hops, counters)
    # SQLite stores any integer; PostgreSQL refuses the row, and only that row.
    expected = 4 if row_insert.connection.vendor == "sqlite" else 3
    assert counters.written == expected
    assert counters.skipped == 4 - expected
    assert LogEntry.objects.for_workspace(acme).count() == expected
    assert not LogEntry.objects.for_workspace(acme).filter(error_code=0).exists()
    assert verify_workspace(acme.pk).ok


@pytest.mark.parametrize("microsecond", [0, 1, 250_000])
@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=2))])
def test_a_time_is_prepared_as_djangos_field_prepares_it(microsecond, zone):
    at = datetime(2026, 7, 28, 12, 0, 5, microsecond, tzinfo=zone)
    field = LogEntry._meta.get_field("at")
    prepared = row_insert._db_value_makers()["at"](at)
    assert prepared == field.get_db_prep_save(at, connection)
