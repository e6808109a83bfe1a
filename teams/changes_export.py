"""Streams a workspace's admin audit log as CSV or JSON Lines, one row at a time.

Rows come from `QuerySet.iterator()` so an export of any size holds one chunk in memory.
"""

import csv
import json

from teams.changes import changes_of

FORMATS = {"csv": "text/csv", "jsonl": "application/jsonl"}
_COLUMNS = ["id", "created_at", "actor", "action", "target_type", "target"]


def _cell(value) -> str:
    if value is None:
        return ""
    value = str(value)
    # A leading =, +, - or @ would run as a formula when the file is opened in a spreadsheet.
    return "'" + value if value[:1] in {"=", "+", "-", "@"} else value


class _Line:
    """A file-like sink for csv.writer that hands back the line it was given."""

    def write(self, value):
        return value


def _rows(workspace, *, with_detail: bool):
    fields = ["id", "created_at", "actor__email", "action", "target_type", "target"]
    if with_detail:
        fields.append("detail")
    for values in changes_of(workspace).values_list(*fields).iterator(chunk_size=500):
        row = dict(zip(_COLUMNS, values[:6], strict=True))
        row["created_at"] = row["created_at"].isoformat()
        if with_detail:
            row["detail"] = values[6]
        yield row


def stream(workspace, *, export_format: str, with_detail: bool):
    columns = [*_COLUMNS, "detail"] if with_detail else _COLUMNS
    if export_format == "csv":
        writer = csv.writer(_Line())
        yield writer.writerow(columns)
        for row in _rows(workspace, with_detail=with_detail):
            if with_detail:
                row["detail"] = json.dumps(row["detail"], sort_keys=True)
            yield writer.writerow([_cell(row[c]) for c in columns])
    else:
        for row in _rows(workspace, with_detail=with_detail):
            yield json.dumps(row, sort_keys=True) + "\n"
