"""OpenTelemetry logs over OTLP/HTTP with the JSON encoding, to a collector's `/v1/logs`.

One `ResourceLogs` per batch (resource `service.name=gatehouse` and the workspace), one
`LogRecord` per entry: `timeUnixNano` from the entry's time, `severityText`/`severityNumber`
from its outcome (ok INFO, blocked WARN, error ERROR), a one-line summary of the hop as `body`,
every field of the export row as a `gatehouse.<field>` attribute, and the call's trace id as
`traceId` (the client's, when it sent a W3C `traceparent`, else the correlation id, a UUID of
16 bytes), so a call's hops share the trace its spans are in (`audit.tracing`). An endpoint
without a path gets `/v1/logs`. The headers set on the sink (an API key, a tenant) are sent
with every request.
"""

import json
from datetime import datetime

import httpx

from audit import trace_context
from audit.sinks import http
from audit.sinks.base import Transport
from core import outbound_http

SEVERITIES = {"ok": ("INFO", 9), "blocked": ("WARN", 13), "error": ("ERROR", 17)}
SCOPE = "gatehouse.audit"


def _value(value) -> dict:
    # OTLP JSON writes 64-bit integers as strings; nested values travel as JSON text.
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    return {"stringValue": json.dumps(value, sort_keys=True, ensure_ascii=False)}


def _attributes(values: dict) -> list[dict]:
    return [{"key": k, "value": _value(v)} for k, v in values.items() if v not in (None, "")]


def summary(record: dict) -> str:
    parts = [record.get("hop"), record.get("rpc_method"), record.get("tool"), record.get("outcome")]
    return " ".join(str(p) for p in parts if p)


def _nanos(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    seconds = int(moment.timestamp())
    return str(seconds * 1_000_000_000 + moment.microsecond * 1000)


def log_record(record: dict) -> dict:
    text, number = SEVERITIES.get(record.get("outcome"), ("INFO", 9))
    item = {
        "timeUnixNano": _nanos(record["at"]),
        "severityNumber": number,
        "severityText": text,
        "body": {"stringValue": summary(record)},
        "attributes": _attributes({f"gatehouse.{k}": v for k, v in record.items()}),
    }
    correlation = (record.get("correlation_id") or "").replace("-", "")
    detail = record.get("detail")
    client = trace_context.from_record(detail.get("trace")) if isinstance(detail, dict) else None
    if client is not None:
        item["traceId"] = client.trace_id  # the call joined the client's trace (SEP-414)
    elif len(correlation) == 32:
        item["traceId"] = correlation
    return item


def logs_request(records: list[dict], *, workspace: str) -> dict:
    resource = {"service.name": "gatehouse", "gatehouse.workspace": workspace}
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": _attributes(resource)},
                "scopeLogs": [
                    {"scope": {"name": SCOPE}, "logRecords": [log_record(r) for r in records]}
                ],
            }
        ]
    }


def logs_url(endpoint: str) -> str:
    url = httpx.URL(endpoint)
    if url.path in ("", "/"):
        url = url.copy_with(path="/v1/logs")
    return str(url)


class OtlpHttpTransport(Transport):
    kind = "otlp_http"

    @classmethod
    def clean_endpoint(cls, endpoint, networks, *, tls):
        return http.clean_url(endpoint, networks)

    def send(self, records):
        body = json.dumps(
            logs_request(records, workspace=self.sink.workspace.slug),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {**(self.secret.get("headers") or {}), "Content-Type": "application/json"}
        http.post(
            logs_url(self.sink.endpoint),
            body,
            headers=headers,
            networks=outbound_http.parse_networks(self.sink.allow_private),
            timeout=self.timeout,
        )
