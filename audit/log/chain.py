"""The hash chain that makes each workspace's log tamper-evident.

Every entry's `digest` is the SHA-256 of a canonical JSON object of its fields (`CHAINED`),
which include `seq` and `prev_digest`, the digest of the entry before it in the same workspace.
The payload enters through its own SHA-256 (`payload_sha256`), so an export without payloads
(for people without `logs.view_payloads`) still verifies, and an export with them proves them.

Canonical JSON: keys sorted, no whitespace, UTF-8, times as ISO 8601 in UTC with microseconds,
UUIDs in their hyphenated form, and floats with an integral value written as integers (so a
value reads back the same from SQLite text and PostgreSQL jsonb alike).

Appending takes a per-workspace lock: the workspace's `ChainHead` row is read with
`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite every write transaction is already exclusive
(`transaction_mode=IMMEDIATE` in settings). Several worker processes therefore append to one
chain without forking it.

Verification walks the chain in `seq` order from the anchor retention left behind (the last
deleted entry's seq and digest, `0`/`GENESIS` before any purge) and stops at the first entry
whose seq, `prev_digest` or digest does not match; it ends by checking the last entry against the
chain head, so deleting the newest entries is caught as well. The digest is not keyed: anyone
with write access to the database could rebuild the chain after an edit, which the digests in
earlier exports (or a copy of the head digest kept elsewhere) then expose.

`verify_export(lines)` checks an export (JSON Lines or CSV) offline, with nothing but this module
and the standard library: see its docstring.
"""

import csv
import hashlib
import json
import math
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring

from django.db import connection

from audit.log import row_insert
from audit.log.payload_texts import PayloadJson
from audit.models import ChainHead, LogEntry
from core import json_text

GENESIS = "0" * 64

#: The fields a digest covers, in the shape an export carries them.
CHAINED = (
    "workspace_id",
    "seq",
    "at",
    "hop",
    "correlation_id",
    "gateway_id",
    "gateway_slug",
    "assignment_id",
    "server_id",
    "server_name",
    "user_id",
    "user_email",
    "token_id",
    "session",
    "client_name",
    "client_version",
    "rpc_method",
    "rpc_id",
    "tool",
    "upstream_tool",
    "outcome",
    "error_code",
    "error_message",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "tokens_estimate",
    "identity_scheme",
    "payload_state",
    "detail",
    "payload_sha256",
    "prev_digest",
)
INTEGERS = frozenset(
    {
        "id",
        "workspace_id",
        "seq",
        "gateway_id",
        "assignment_id",
        "server_id",
        "user_id",
        "token_id",
        "error_code",
        "request_bytes",
        "response_bytes",
        "tokens_estimate",
    }
)
FLOATS = frozenset({"latency_ms"})
JSONS = frozenset({"detail", "payload", "payload_stored"})

#: The model fields a chain record is built from (the payload is read to hash it).
MODEL_FIELDS = tuple(f for f in CHAINED if f != "payload_sha256") + ("id", "payload", "digest")
_RECORD_FIELDS = tuple(f for f in MODEL_FIELDS if f != "payload")
# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
_CANONICAL = json_text.encoder(sort_keys=True, separators=json_text.COMPACT, ensure_ascii=False)
# The canonical JSON of a record: its fixed keys in sorted order, each followed by its value's
# own canonical JSON (which is how the encoder writes a value inside an object).
_SORTED_CHAINED = tuple(sorted(CHAINED))
_sorted_chained_values = operator.itemgetter(*_SORTED_CHAINED)
# For `append`, which takes the values straight from a row: the fields a row holds in another
# form than a record, and where they go in the sorted order.
_row_values = operator.itemgetter(*(f for f in _SORTED_CHAINED if f != "payload_sha256"))
_AT, _CORRELATION_ID, _PAYLOAD_SHA256 = (
    _SORTED_CHAINED.index(f) for f in ("at", "correlation_id", "payload_sha256")
)
_int_text = int.__repr__
_RECORD_TEMPLATE = "{" + ",".join(f"{encode_basestring(name)}:%s" for name in _SORTED_CHAINED) + "}"


def _plain(value):
    """Integral floats as integers, recursively: the one number form both databases return."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def canonical_json(value, *, plain: bool = False) -> str:
    """`plain=True` skips `_plain` for a value known to hold no float with an integral value."""
    return _CANONICAL(value if plain else _plain(value))


def payload_sha256(payload) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def format_time(value: datetime) -> str:
    # A time in UTC already (every row the writer makes) needs no conversion.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def _record_forms(row: dict, call_texts: dict | None = None) -> tuple[str, str, str]:
    """A row's `at`, `correlation_id` and `payload_sha256` as a record holds them.

    `call_texts` (by `id()` of the UUID) keeps each correlation id's text for the rows of one
    batch, which hold those UUID objects alive: a call's rows share one."""
    call = row["correlation_id"]
    if call_texts is None:
        call_text = str(call)
    else:
        call_text = call_texts.get(id(call))
        if call_text is None:
            call_text = call_texts[id(call)] = str(call)
    texts = PayloadJson.of(row)
    return (
        format_time(row["at"]),
        call_text,
        texts.sha256 if texts else payload_sha256(row.get("payload")),
    )


def record_of(row: dict) -> dict:
    """An entry (model field names, as the ORM returns them) in its export and digest shape."""
    record = dict(zip(_RECORD_FIELDS, map(row.get, _RECORD_FIELDS), strict=True))
    record["at"], record["correlation_id"], record["payload_sha256"] = _record_forms(row)
    return record


def _value_json(value) -> str:
    """canonical_json(value), written directly for the kinds a record's fields hold."""
    if isinstance(value, str):
        return encode_basestring(value)
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is float and math.isfinite(value):
        return int.__repr__(int(value)) if value.is_integer() else float.__repr__(value)
    if kind is dict and not value:
        return "{}"  # most rows' detail
    return canonical_json(value)


def digest_of(record: dict) -> str:
    return _digest(_sorted_chained_values(record))


def _digest(values) -> str:
    """The digest of a record's values, in `_SORTED_CHAINED` order."""
    # Strings, nulls and ints (most fields) inline; the rest through _value_json.
    body = _RECORD_TEMPLATE % tuple(
        [
            encode_basestring(v)
            if type(v) is str
            else "null"
            if v is None
            else _int_text(v)
            if type(v) is int
            else _value_json(v)
            for v in values
        ]
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _digest_of_row(row: dict, call_texts: dict | None = None) -> str:
    """digest_of(record_of(row)), without building the record (`call_texts`: `_record_forms`)."""
    values = list(_row_values(row))
    values.insert(_PAYLOAD_SHA256, None)
    values[_AT], values[_CORRELATION_ID], values[_PAYLOAD_SHA256] = _record_forms(row, call_texts)
    return _digest(values)


# -- writing -----------------------------------------------------------------------------------


def _head_statements() -> tuple[str, str]:
    """The SELECT that locks a workspace's head and the UPDATE that moves it, as plain SQL: the
    ORM compiled both anew for every batch, which cost the writer more than a few rows."""
    quote = connection.ops.quote_name
    field = ChainHead._meta.get_field
    table = quote(ChainHead._meta.db_table)
    workspace, seq, digest = (quote(field(name).column) for name in ("workspace", "seq", "digest"))
    # SQLite has no row locks: its write transactions are exclusive already (see above).
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return (
        f"SELECT {seq}, {digest} FROM {table} WHERE {workspace} = %s{lock}",  # noqa: S608
        f"UPDATE {table} SET {seq} = %s, {digest} = %s WHERE {workspace} = %s",  # noqa: S608
    )


def _locked_head(workspace_id: int, select: str) -> tuple[int, str]:
    """(seq, digest) of the workspace's head, locked until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(select, [workspace_id])
        head = cursor.fetchone()
        if head is None:
            # Two writers may create it at once; the loser's insert is ignored and both then
            # lock it.
            ChainHead.objects.bulk_create(
                [ChainHead(workspace_id=workspace_id, digest=GENESIS, anchor_digest=GENESIS)],
                ignore_conflicts=True,
            )
            cursor.execute(select, [workspace_id])
            head = cursor.fetchone()
    return head


def append(workspace_id: int, rows: list[dict]) -> int:
    """Link `rows` (model field values, without seq and digests) to the workspace's chain; the
    rows gain their seq and digests in place.

    Call inside `transaction.atomic()`: the head stays locked until the caller commits.
    Returns the seq of the last entry written.
    """
    select, update = _head_statements()
    seq, prev = _locked_head(workspace_id, select)
    call_texts: dict = {}
    for row in rows:
        seq += 1
        row["workspace_id"], row["seq"], row["prev_digest"] = workspace_id, seq, prev
        prev = _digest_of_row(row, call_texts)
        row["digest"] = prev
    row_insert.insert(rows)
    with connection.cursor() as cursor:
        cursor.execute(update, [seq, prev, workspace_id])
    return seq


# -- verifying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a verification found: `ok`, how many entries, and the first broken link if any."""

    ok: bool
    count: int
    first_seq: int | None = None
    last_seq: int | None = None
    broken_seq: int | None = None
    broken_id: int | None = None
    problem: str = ""
    gaps: int = 0

    def __str__(self):
        if self.ok:
            if not self.count:
                return "OK: no entries."
            text = f"OK: {self.count} entries verified (seq {self.first_seq}..{self.last_seq})."
            if self.gaps:
                text += f" {self.gaps} gaps between them (a filtered export)."
            return text
        where = f"seq {self.broken_seq}" if self.broken_seq is not None else "the chain head"
        if self.broken_id is not None:
            where += f" (id {self.broken_id})"
        return f"BROKEN at {where}: {self.problem}"


class _Walk:
    """Checks records one by one in seq order; stops at the first broken link."""

    def __init__(self, *, start_seq: int | None, start_digest: str | None, contiguous: bool):
        self.expected_seq = start_seq
        self.expected_prev = start_digest
        self.contiguous = contiguous
        self.count = 0
        self.first_seq = None
        self.last_seq = None
        self.last_digest = None
        self.gaps = 0
        self.broken: Verdict | None = None

    def _break(self, record: dict, problem: str) -> None:
        self.broken = Verdict(
            ok=False,
            count=self.count,
            first_seq=self.first_seq,
            last_seq=self.last_seq,
            broken_seq=record.get("seq"),
            broken_id=record.get("id"),
            problem=problem,
        )

    def check(self, record: dict) -> bool:
        seq = record["seq"]
        if self.expected_seq is not None and seq != self.expected_seq:
            if seq < self.expected_seq or self.contiguous:
                first_missing = self.expected_seq
                problem = (
                    f"seq {seq} follows seq {first_missing - 1}: a duplicated or reordered entry"
                    if seq < first_missing
                    else f"entries seq {first_missing}..{seq - 1} are missing"
                )
                self._break(record, problem)
                return False
            self.gaps += 1
            self.expected_prev = None
        if self.expected_prev is not None and record["prev_digest"] != self.expected_prev:
            self._break(
                record,
                f"prev_digest is {record['prev_digest'][:12]}…, the entry before it has "
                f"{self.expected_prev[:12]}…: an entry was changed, removed or inserted",
            )
            return False
        if digest_of(record) != record["digest"]:
            self._break(record, "digest mismatch: the entry's content was changed")
            return False
        self.count += 1
        self.first_seq = seq if self.first_seq is None else self.first_seq
        self.last_seq = seq
        self.last_digest = record["digest"]
        self.expected_seq = seq + 1
        self.expected_prev = record["digest"]
        return True

    def verdict(self) -> Verdict:
        return self.broken or Verdict(
            ok=True,
            count=self.count,
            first_seq=self.first_seq,
            last_seq=self.last_seq,
            gaps=self.gaps,
        )


def verify_workspace(workspace_id: int, *, chunk_size: int = 2000) -> Verdict:
    """Walk the stored chain of a workspace from the retention anchor to the head."""
    head = ChainHead.objects.filter(workspace_id=workspace_id).first()
    start_seq = head.anchor_seq + 1 if head else 1
    walk = _Walk(
        start_seq=start_seq,
        start_digest=head.anchor_digest if head else GENESIS,
        contiguous=True,
    )
    rows = (
        LogEntry.objects.for_workspace(workspace_id)
        .order_by("seq")
        .values(*MODEL_FIELDS)
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        if not walk.check(record_of(row)):
            return walk.verdict()
    verdict = walk.verdict()
    head_seq = head.seq if head else 0
    last_seq = verdict.last_seq if verdict.count else start_seq - 1
    problem = ""
    if last_seq > head_seq:
        problem = f"the chain head is at seq {head_seq}; entries after it were inserted"
    elif last_seq < head_seq:
        problem = f"the chain head is at seq {head_seq}; entries after seq {last_seq} are missing"
    elif verdict.count and walk.last_digest != head.digest:
        problem = "the newest entry's digest does not match the chain head"
    if problem:
        return Verdict(
            ok=False,
            count=verdict.count,
            first_seq=verdict.first_seq,
            last_seq=verdict.last_seq,
            broken_seq=last_seq + 1 if last_seq < head_seq else last_seq,
            problem=problem,
        )
    return verdict


# -- offline verification of an export -----------------------------------------------------


def _typed(row: dict) -> dict:
    """A CSV row back in the types of its JSON Lines twin."""
    record = {}
    for name, cell in row.items():
        if name in INTEGERS:
            record[name] = int(cell) if cell != "" else None
        elif name in FLOATS:
            record[name] = float(cell) if cell != "" else None
        else:
            # A leading ' was added to cells a spreadsheet would run as a formula.
            text = cell[1:] if cell[:1] == "'" else cell
            record[name] = json.loads(text) if name in JSONS else text
    return record


def _records(lines: Iterable[str]) -> Iterator[dict]:
    lines = iter(lines)
    for first in lines:
        if first.strip():
            break
    else:
        return
    if first.lstrip().startswith("{"):
        yield json.loads(first)
        for line in lines:
            if line.strip():
                yield json.loads(line)
        return

    def all_lines():
        yield first
        yield from lines

    for row in csv.DictReader(all_lines()):
        yield _typed(row)


def verify_export(lines: Iterable[str], *, contiguous: bool = True) -> Verdict:
    """Verify an export (the lines of a JSON Lines or CSV file, in the order written).

    Every row's digest is recomputed from its fields; a row that carries its payload must match
    its `payload_sha256`; each row's `prev_digest` must be the digest of the row before it. An
    export of a whole workspace is one contiguous stretch of the chain; an export filtered by
    gateway or other fields skips entries, so pass `contiguous=False` to accept gaps in `seq`
    (rows are then checked one by one, and links only where seqs are consecutive).

        with open("acme.jsonl") as f:
            print(verify_export(f))
    """
    walk = _Walk(start_seq=None, start_digest=None, contiguous=contiguous)
    for record in _records(lines):
        # A payload stored once for its call is hashed as stored: the reference to the
        # call's upstream.response (which is itself a row of the chain).
        stored = record.get("payload_stored")
        payload = stored if stored is not None else record.get("payload")
        if "payload" in record and payload_sha256(payload) != record["payload_sha256"]:
            walk._break(record, "the payload does not match its payload_sha256")
            return walk.verdict()
        if not walk.check(record):
            break
    return walk.verdict()
