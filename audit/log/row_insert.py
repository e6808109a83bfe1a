"""How linked log rows reach the table: binary COPY on PostgreSQL, one executemany INSERT
elsewhere.

Rows come from `audit.log.chain.append` as dicts of model field values (the types
`audit.log.entries.to_row` makes: aware datetimes, UUIDs, JSON values) with their payload's JSON
texts beside them (`audit.log.payload_texts`), so a payload is not serialised again to be stored.
The ORM's bulk_create is not used: it spends most of its time compiling SQL per row, which made
it the writer's bottleneck. Nothing reads ids back: nothing after the insert needs them.

* **PostgreSQL**: `COPY ... FROM STDIN (FORMAT BINARY)` through psycopg 3's `cursor.copy`, with
  the column types set up front so values go out in their binary form without a per-row
  statement (an executemany of INSERTs was a round of parsing and binding per row). JSON columns
  receive the text already made; jsonb parses it into the same value an INSERT of
  `Jsonb(value)` stores.
* **SQLite** (and any other backend): an `executemany` of one INSERT, with each value prepared
  as Django's `get_db_prep_save` would prepare it (measured faster there than bulk_create).
"""

import json
import operator
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import DataError, connection
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from psycopg.pq import Format

from audit.log.payload_texts import PayloadJson
from audit.models import LogEntry

_INT4_MIN, _INT4_MAX = -(2**31), 2**31 - 1
# The binary COPY type of each kind of LogEntry column.
_COPY_TYPES = {
    "BigIntegerField": "int8",
    "ForeignKey": "int8",
    "IntegerField": "int4",
    "FloatField": "float8",
    "DateTimeField": "timestamptz",
    "UUIDField": "uuid",
    "CharField": "text",
    "JSONField": "jsonb",
}


def _columns() -> list:
    return [f for f in LogEntry._meta.concrete_fields if not f.primary_key]


def insert(rows: list[dict]) -> None:
    """Insert linked rows on the current connection (inside the caller's transaction)."""
    if connection.vendor == "postgresql":
        _copy(rows)
    else:
        _executemany(rows)


# -- PostgreSQL --------------------------------------------------------------------------------


class _JsonbTextDumper(Dumper):
    """JSON text (made by the writer) as binary jsonb: a version byte, then the UTF-8 text."""

    format = Format.BINARY
    oid = pg_types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


def _copy(rows: list[dict]) -> None:
    fields = _columns()
    names = [f.attname for f in fields]
    quote = connection.ops.quote_name
    # Only quoted names from the model's own metadata are formatted in; values are data.
    sql = "COPY {} ({}) FROM STDIN (FORMAT BINARY)".format(
        quote(LogEntry._meta.db_table), ", ".join(quote(f.column) for f in fields)
    )
    types = [_COPY_TYPES[f.get_internal_type()] for f in fields]
    payload, detail = names.index("payload"), names.index("detail")
    payload_text, detail_text = _json_text("payload"), _json_text("detail")
    pick = operator.itemgetter(*names)
    small = [i for i, t in enumerate(types) if t == "int4"]
    with connection.cursor() as cursor:
        raw = cursor.cursor
        # By type only (no Python class): it serves the jsonb columns of this COPY alone.
        raw.adapters.register_dumper(None, _JsonbTextDumper)
        with raw.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                values = list(pick(row))
                values[payload] = payload_text(values[payload], PayloadJson.of(row))
                values[detail] = detail_text(values[detail], None)
                for i in small:
                    if values[i] is not None and not _INT4_MIN <= values[i] <= _INT4_MAX:
                        # The binary int4 dumper would wrap it silently; an INSERT is refused.
                        raise DataError(f"{names[i]} {values[i]} is out of range for integer")
                copy.write_row(values)


def _json_text(name: str):
    """For a JSON column, a function giving the JSON text of a value (None for SQL NULL): the
    text the row carries when it has one, else the field's encoder's."""
    encoder = LogEntry._meta.get_field(name).encoder

    def text(value, texts: PayloadJson | None) -> str | None:
        if value is None:
            return None
        if texts is not None and texts.text is not None and encoder is None:
            return texts.text
        if not value and type(value) is dict:
            return "{}"
        return json.dumps(value, cls=encoder)

    return text


# -- SQLite and others -------------------------------------------------------------------------


def _db_value_makers() -> dict[str, object]:
    """For the fields Django converts before saving, a function giving the value Django's
    `get_db_prep_save` gives, on this connection's backend.

    The rows hold the types `audit.log.entries.to_row` makes (aware datetimes, UUIDs, JSON values),
    for which the field's own preparation changes nothing and the backend's adapter does the
    work; these call that adapter directly. Any other value goes through the field.
    """
    ops, features = connection.ops, connection.features
    field = LogEntry._meta.get_field
    # A backend that inherits the base adapter stores json.dumps(value) text (SQLite does);
    # others wrap the value (psycopg's Jsonb on PostgreSQL).
    json_as_text = type(ops).adapt_json_value is BaseDatabaseOperations.adapt_json_value
    adapt_time = ops.adapt_datetimefield_value
    sqlite_time = SQLiteWrapper.ops_class.adapt_datetimefield_value
    if type(ops).adapt_datetimefield_value is sqlite_time and settings.USE_TZ:
        # SQLite's adapter, less its checks: an aware time as naive text in the connection's zone.
        zone = connection.timezone
        utc_zone = zone is UTC or getattr(zone, "key", None) == "UTC"

        def adapt_time(value):
            if utc_zone and value.tzinfo is UTC:
                # The rows' times are in UTC already: str() of the naive time, less its zone
                # conversion (the offset "+00:00" is the last six characters).
                return value.isoformat(" ")[:-6]
            return str(value.astimezone(zone).replace(tzinfo=None))

    def at(value):
        if isinstance(value, datetime) and value.utcoffset() is not None:
            return adapt_time(value)
        return field("at").get_db_prep_save(value, connection)

    def correlation_id(value):
        if isinstance(value, uuid.UUID):
            return value if features.has_native_uuid_field else value.hex
        return field("correlation_id").get_db_prep_save(value, connection)

    def json_of(name):
        encoder = field(name).encoder

        def make(value, texts=None):
            if type(value) not in (dict, list):
                return field(name).get_db_prep_save(value, connection)
            if not json_as_text:
                return ops.adapt_json_value(value, encoder)
            if encoder is None:
                if texts is not None and texts.stored is not None:
                    return texts.stored
                if not value and type(value) is dict:
                    return "{}"  # most rows' detail
            return json.dumps(value, cls=encoder)

        return make

    return {
        "at": at,
        "correlation_id": correlation_id,
        "payload": json_of("payload"),
        "detail": json_of("detail"),
    }


def _executemany(rows: list[dict]) -> None:
    fields = _columns()
    names = [f.attname for f in fields]
    quote = connection.ops.quote_name
    # Only quoted names from the model's own metadata are formatted in; values are parameters.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(LogEntry._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    makers = _db_value_makers()
    at, correlation_id, detail = (names.index(n) for n in ("at", "correlation_id", "detail"))
    payload = names.index("payload")
    pick = operator.itemgetter(*names)
    values = []
    for row in rows:
        value = list(pick(row))
        value[at] = makers["at"](value[at])
        value[correlation_id] = makers["correlation_id"](value[correlation_id])
        value[detail] = makers["detail"](value[detail])
        value[payload] = makers["payload"](value[payload], PayloadJson.of(row))
        values.append(value)
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)
