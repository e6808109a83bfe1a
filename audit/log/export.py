"""Exports of the gateway log, as CSV or JSON Lines, streamed in constant memory.

Rows leave in chain order (`seq`), read with `QuerySet.iterator()` one chunk at a time, and carry
`seq`, `prev_digest`, `digest` and `payload_sha256`, so an auditor can check an export offline
with `audit.log.chain.verify_export`. The payload columns are present only for people who may see
payloads: `payload` in full, and `payload_stored`, what the digest covers when the row refers to
its call's upstream.response payload (`audit.log.payloads`); a payload over the storage cap says
so itself (`"payload_truncated": true`, with its digest, size and edges). In CSV, JSON fields
are JSON text, and a text cell that a spreadsheet would run as a formula (a leading `=`, `+`,
`-`, `@`, tab or carriage return) or that starts with `'` gets a leading `'`, which the verifier
strips again.

Every export is itself recorded, before its first row leaves, as an admin audit row
(`ConfigChange`, action `logs.export`) with the format, the filters, whether payloads were
included, and where it was asked for (API or command).
"""

import csv
import json
from collections.abc import Iterator

from audit.log.chain import CHAINED, INTEGERS, JSONS, MODEL_FIELDS, record_of
from audit.log.payloads import resolve_records
from audit.log.selectors import LogFilter, filtered_entries
from teams.changes import record_change

FORMATS = {"csv": "text/csv", "jsonl": "application/jsonl"}
CHUNK_SIZE = 2000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def columns(*, with_payloads: bool) -> list[str]:
    chained = [c for c in CHAINED if c != "prev_digest"]
    payload = ["payload", "payload_stored"] if with_payloads else []
    return ["id", *chained, *payload, "prev_digest", "digest"]


def _cell(name: str, value) -> str:
    if name in JSONS:
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif value is None:
        return ""
    elif name in INTEGERS or isinstance(value, float):
        return repr(value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class _Line:
    """A file-like sink for csv.writer that hands back the line it was given."""

    def write(self, value):
        return value


def records(queryset, *, with_payloads: bool) -> Iterator[dict]:
    """Rows in chain order. With payloads, a shared payload (`audit.log.payloads`) is given in
    full in `payload`, and as stored, the reference its digest covers, in `payload_stored`
    (null for every other row)."""
    rows = queryset.order_by("seq").values(*MODEL_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    names = columns(with_payloads=with_payloads)
    for chunk in _chunks(rows, CHUNK_SIZE):
        if with_payloads:
            resolve_records(chunk)
        for row in chunk:
            record = record_of({**row, "payload": row.get("payload_stored", row["payload"])})
            if with_payloads:
                record["payload"] = row["payload"]
                record["payload_stored"] = row.get("payload_stored")
            yield {name: record[name] for name in names}


def _chunks(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def stream(queryset, *, export_format: str, with_payloads: bool) -> Iterator[str]:
    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}")
    if export_format == "jsonl":
        for record in records(queryset, with_payloads=with_payloads):
            yield json.dumps(record, ensure_ascii=False) + "\n"
        return
    names = columns(with_payloads=with_payloads)
    writer = csv.writer(_Line())
    yield writer.writerow(names)
    for record in records(queryset, with_payloads=with_payloads):
        yield writer.writerow([_cell(name, record[name]) for name in names])


def export_logs(
    *,
    workspace,
    actor,
    log_filter: LogFilter,
    export_format: str,
    with_payloads: bool,
    via: str,
) -> Iterator[str]:
    """Record the export, then return its lines (lazily: nothing is read until iterated)."""
    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}")
    queryset = filtered_entries(workspace, log_filter)
    record_change(
        workspace=workspace,
        actor=actor,
        action="logs.export",
        target=workspace,
        detail={
            "format": export_format,
            "filters": log_filter.as_dict(),
            "payloads": with_payloads,
            "via": via,
        },
    )
    return stream(queryset, export_format=export_format, with_payloads=with_payloads)
