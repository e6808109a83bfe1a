"""SIEM streaming: sinks receive every log entry, in order, at least once, through outages.

The sinks here are real servers on real sockets in the test process: an HTTP receiver that can
answer 200 or 503 or be stopped, and a syslog listener over TCP and TLS (certificates made by
`cryptography`) that parses the octet-counted frames it reads.
"""

import contextlib
import datetime as dt
import json
import socket
import ssl
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.models import LogEntry, LogSink
from audit.sinks import services
from audit.sinks.delivery import claim, deliver_sink
from audit.tasks import deliver_sinks
from config.celery import app as celery_app
from teams.capabilities import INTEGRATIONS_MANAGE, LOGS_VIEW, LOGS_VIEW_PAYLOADS
from teams.models import ConfigChange
from tests.audit.webhook_receiver import LOOPBACK, signed
from tests.support.api import error, refused_capability
from tests.support.certificates import issue_certificates

W = "/api/v1/workspaces/acme"


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.SIEM_RETRY_BASE_SECONDS = 0.05
    settings.SIEM_RETRY_MAX_SECONDS = 0.2
    settings.SIEM_TIMEOUT_SECONDS = 5


# -- the sinks ----------------------------------------------------------------------------------


def _read_frames(conn) -> list[bytes]:
    """Octet-counted frames (RFC 6587) until the sender closes its side."""
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        frames.append(rest[: int(length)])
        data = rest[int(length) :]
    return frames


class SyslogListener:
    """A syslog receiver over TCP, or TLS when given a server context."""

    def __init__(self, context=None):
        self.context = context
        self.messages = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                if self.context:
                    conn = self.context.wrap_socket(conn, server_side=True)
                self.messages.extend(_read_frames(conn))
                if self.context:
                    conn = conn.unwrap()
            except (ssl.SSLError, OSError):
                pass  # a client that refused our certificate
            finally:
                conn.close()

    def stop(self):
        # Closing alone leaves a socket blocked in accept() listening; shutdown wakes it.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=5)

    def records(self):
        out = []
        for message in self.messages:
            head, _, body = message.decode().partition(" - \ufeff")
            out.append((head, json.loads(body)))
        return out


@pytest.fixture
def tls_listener(tmp_path):
    ca_pem, chain = issue_certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    listener = SyslogListener(context)
    listener.ca_pem = ca_pem
    yield listener
    listener.stop()


@pytest.fixture
def tcp_listener():
    listener = SyslogListener()
    yield listener
    listener.stop()


def _webhook(workspace, actor, receiver, **fields):
    sink, key = services.create_sink(
        workspace=workspace,
        actor=actor,
        name=fields.pop("name", "siem"),
        kind="webhook",
        endpoint=receiver.url + "/gatehouse",
        allow_private=LOOPBACK,
        **fields,
    )
    return sink, key


def _wait_until_due(sink_id):
    due = LogSink.objects.get(pk=sink_id).next_attempt_at
    while due and dt.datetime.now(dt.UTC) < due:
        time.sleep(0.02)


def _seqs(workspace):
    return list(
        LogEntry.objects.for_workspace(workspace).order_by("seq").values_list("seq", flat=True)
    )


# -- at-least-once, in order, through an outage --------------------------------------------------


def test_a_sink_that_was_down_receives_every_entry_in_order(
    api, acme, alice, receiver, write_calls
):
    response = api.as_(alice).post(
        f"{W}/sinks/",
        {
            "name": "siem",
            "kind": "webhook",
            "endpoint": receiver.url + "/gatehouse",
            "allow_private": LOOPBACK,
            "batch_size": 5,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    sink_id, key = response.json()["id"], response.json()["signing_key"]

    receiver.status = 503
    write_calls(acme, 3)
    assert deliver_sinks.apply().get() == 0
    sink = LogSink.objects.get(pk=sink_id)
    assert (sink.cursor_seq, sink.failures, sink.last_error) == (0, 1, "answered HTTP 503")
    assert sink.failing_since is not None and sink.next_attempt_at > sink.failing_since
    # Not due yet: a second run does not knock again.
    attempts = receiver.attempts
    deliver_sinks.apply()
    assert receiver.attempts == attempts

    receiver.stop()
    write_calls(acme, 2)
    _wait_until_due(sink_id)
    deliver_sinks.apply()
    sink = LogSink.objects.get(pk=sink_id)
    assert (sink.cursor_seq, sink.failures) == (0, 2)
    assert sink.last_error == "request failed: ConnectError"

    receiver.status = 200
    receiver.start()
    write_calls(acme, 1)
    _wait_until_due(sink_id)
    assert deliver_sinks.apply().get() == 24

    assert [e["seq"] for e in receiver.entries()] == _seqs(acme) == list(range(1, 25))
    assert len(receiver.accepted) == 5  # batches of 5
    for path, headers, body in receiver.accepted:
        assert path == "/gatehouse"
        assert signed(key, headers, body)
        assert json.loads(body)["workspace"] == "acme"
        assert json.loads(body)["sink"] == "siem"
    sink = LogSink.objects.get(pk=sink_id)
    assert (sink.cursor_seq, sink.failures, sink.last_error, sink.failing_since) == (
        24,
        0,
        "",
        None,
    )
    assert sink.last_success_at is not None
    # What the sink got is what an export gives: digests included, payloads not by default.
    first = receiver.entries()[0]
    assert first["digest"] == LogEntry.objects.get(workspace=acme, seq=1).digest
    assert "payload" not in first


def test_a_refused_batch_is_sent_again_and_the_cursor_never_skips(
    acme, alice, receiver, write_calls
):
    sink, key = _webhook(acme, alice, receiver, batch_size=3, include_payloads=True)
    write_calls(acme, 2)  # 8 entries
    receiver.status = 200
    assert deliver_sink(sink.pk, max_batches=1).cursor_seq == 3

    receiver.status = 503
    result = deliver_sink(sink.pk)
    assert (result.delivered, result.cursor_seq, result.error) == (0, 3, "answered HTTP 503")

    receiver.status = 200
    _wait_until_due(sink.pk)
    result = deliver_sink(sink.pk)
    assert (result.delivered, result.cursor_seq) == (5, 8)
    got = receiver.entries()
    assert [e["seq"] for e in got] == list(range(1, 9))
    assert got[0]["payload"] == {"name": "time__now", "arguments": {"zone": "UTC"}}
    assert all(signed(key, h, b) for _, h, b in receiver.accepted)
    # Caught up: nothing is sent until there is something new.
    assert deliver_sink(sink.pk) is not None
    assert len(receiver.accepted) == 3


def test_a_sink_leased_by_another_worker_is_left_alone(acme, alice, receiver, write_calls):
    sink, _ = _webhook(acme, alice, receiver)
    write_calls(acme, 1)
    assert claim(sink.pk) is not None  # another worker is delivering this sink

    assert deliver_sink(sink.pk) is None
    assert deliver_sinks.apply().get() == 0
    assert receiver.attempts == 0
    assert LogSink.objects.get(pk=sink.pk).cursor_seq == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_deliver_each_entry_once(acme, alice, receiver, write_calls):
    sink, _ = _webhook(acme, alice, receiver, batch_size=4)
    write_calls(acme, 3)
    receiver.delay = 0.2  # each batch takes a while: the second worker arrives mid-delivery
    start = threading.Barrier(2)
    results = []

    def worker():
        start.wait()
        try:
            results.append(deliver_sink(sink.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2
    assert [r is None for r in sorted(results, key=lambda r: r is None)] == [False, True]
    assert [e["seq"] for e in receiver.entries()] == list(range(1, 13))
    assert LogSink.objects.get(pk=sink.pk).cursor_seq == 12


def test_an_expired_lease_is_taken_over_from_the_cursor(acme, alice, receiver, write_calls):
    sink, _ = _webhook(acme, alice, receiver)
    write_calls(acme, 1)
    # A worker that died mid-delivery: its lease ran out an hour ago.
    assert claim(sink.pk, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)) is not None

    assert deliver_sink(sink.pk).delivered == 4
    assert [e["seq"] for e in receiver.entries()] == [1, 2, 3, 4]
    assert LogSink.objects.get(pk=sink.pk).lease_token == ""


def test_a_disabled_sink_and_other_workspaces_entries_are_not_sent(
    acme, globex, alice, receiver, write_calls
):
    sink, _ = _webhook(acme, alice, receiver)
    write_calls(globex, 2)
    assert deliver_sinks.apply().get() == 0
    services.update_sink(sink=sink, actor=alice, enabled=False)
    write_calls(acme, 1)
    assert deliver_sinks.apply().get() == 0
    assert receiver.attempts == 0
    services.update_sink(sink=sink, actor=alice, enabled=True)
    assert deliver_sinks.apply().get() == 4
    assert {e["workspace_id"] for e in receiver.entries()} == {acme.pk}


def test_a_sink_created_without_backfill_starts_at_the_newest_entry(
    acme, alice, receiver, write_calls
):
    write_calls(acme, 1)
    sink, _ = _webhook(acme, alice, receiver, backfill=False)
    assert sink.cursor_seq == 4
    write_calls(acme, 1)
    deliver_sinks.apply()
    assert [e["seq"] for e in receiver.entries()] == [5, 6, 7, 8]


def test_delivery_is_on_the_beat_schedule(settings):
    entry = celery_app.conf.beat_schedule["audit.deliver_sinks"]
    assert entry["task"] == deliver_sinks.name == "audit.deliver_sinks"
    assert entry["schedule"] > 0


# -- the kinds ------------------------------------------------------------------------------------


def test_otlp_sends_log_records_to_v1_logs(acme, alice, receiver, write_calls):
    sink, generated = services.create_sink(
        workspace=acme,
        actor=alice,
        name="otel",
        kind="otlp_http",
        endpoint=receiver.url,
        allow_private=LOOPBACK,
        headers={"Authorization": "Api-Key s3cret-otlp", "X-Scope-OrgID": "acme"},
    )
    assert generated is None
    write_calls(acme, 1)
    write_calls(acme, 1, outcome="blocked", error_code=-32010)
    client_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    write_calls(acme, 1, trace={"traceparent": f"00-{client_trace}-00f067aa0ba902b7-01"})
    assert deliver_sink(sink.pk).delivered == 12

    [(path, headers, body)] = receiver.accepted
    assert path == "/v1/logs"
    assert headers["Authorization"] == "Api-Key s3cret-otlp"
    assert headers["X-Scope-OrgID"] == "acme"
    assert headers["Content-Type"] == "application/json"
    [resource_logs] = json.loads(body)["resourceLogs"]
    resource = {a["key"]: a["value"] for a in resource_logs["resource"]["attributes"]}
    assert resource["service.name"] == {"stringValue": "gatehouse"}
    [scope_logs] = resource_logs["scopeLogs"]
    records = scope_logs["logRecords"]
    entries = list(LogEntry.objects.for_workspace(acme).order_by("seq"))
    assert len(records) == len(entries) == 12
    # A call that joined its client's trace is logged under that trace.
    assert [record["traceId"] for record in records[8:]] == [client_trace] * 4
    for record, entry in zip(records[:8], entries[:8], strict=True):
        attributes = {a["key"]: a["value"] for a in record["attributes"]}
        assert attributes["gatehouse.seq"] == {"intValue": str(entry.seq)}
        assert attributes["gatehouse.hop"] == {"stringValue": entry.hop}
        assert record["traceId"] == entry.correlation_id.hex
        assert int(record["timeUnixNano"]) == int(entry.at.timestamp()) * 10**9 + (
            entry.at.microsecond * 1000
        )
        assert record["body"]["stringValue"].startswith(f"{entry.hop} tools/call time__now")
    assert (records[0]["severityText"], records[0]["severityNumber"]) == ("INFO", 9)
    assert (records[4]["severityText"], records[4]["severityNumber"]) == ("WARN", 13)
    assert {a["key"]: a["value"] for a in records[4]["attributes"]}["gatehouse.error_code"] == {
        "intValue": "-32010"
    }
    assert records[0]["traceId"] == records[3]["traceId"] != records[4]["traceId"]


def test_syslog_over_tcp_frames_rfc5424_messages(acme, alice, tcp_listener, write_calls):
    sink, _ = services.create_sink(
        workspace=acme,
        actor=alice,
        name="syslog",
        kind="syslog",
        endpoint=f"127.0.0.1:{tcp_listener.port}",
        tls=False,
        allow_private=LOOPBACK,
    )
    write_calls(acme, 1)
    write_calls(acme, 1, outcome="error")
    assert deliver_sink(sink.pk).delivered == 8

    received = tcp_listener.records()
    assert [body["seq"] for _, body in received] == list(range(1, 9))
    head, body = received[0]
    pri_version, timestamp, host, app, procid, msgid = head.split(" ")
    assert pri_version == "<110>1"  # facility 13 (log audit), informational
    assert (app, procid, msgid) == ("gatehouse", "-", "client.request")
    assert timestamp == body["at"]
    assert host
    assert received[4][0].startswith("<107>1 ")  # error
    assert body["digest"] == LogEntry.objects.get(workspace=acme, seq=1).digest


def test_syslog_over_tls_checks_the_certificate(acme, alice, tls_listener, write_calls):
    write_calls(acme, 1)
    trusting, _ = services.create_sink(
        workspace=acme,
        actor=alice,
        name="tls",
        kind="syslog",
        endpoint=f"127.0.0.1:{tls_listener.port}",
        allow_private=LOOPBACK,
        ca_pem=tls_listener.ca_pem,
    )
    assert deliver_sink(trusting.pk).delivered == 4
    assert [body["seq"] for _, body in tls_listener.records()] == [1, 2, 3, 4]

    # Against the system's CAs the test certificate is refused, and nothing is lost.
    system, _ = services.create_sink(
        workspace=acme,
        actor=alice,
        name="tls-system",
        kind="syslog",
        endpoint=f"127.0.0.1:{tls_listener.port}",
        allow_private=LOOPBACK,
    )
    result = deliver_sink(system.pk)
    assert result.error.startswith("TLS certificate refused")
    assert LogSink.objects.get(pk=system.pk).cursor_seq == 0
    assert len(tls_listener.records()) == 4


def test_a_syslog_listener_that_is_down_keeps_the_cursor(acme, alice, write_calls):
    listener = SyslogListener()
    port = listener.port
    listener.stop()
    sink, _ = services.create_sink(
        workspace=acme,
        actor=alice,
        name="syslog",
        kind="syslog",
        endpoint=f"127.0.0.1:{port}",
        tls=False,
        allow_private=LOOPBACK,
    )
    write_calls(acme, 1)
    result = deliver_sink(sink.pk)
    assert result.error == "syslog connection failed: ConnectionRefusedError"
    assert LogSink.objects.get(pk=sink.pk).cursor_seq == 0


# -- the operator's command ------------------------------------------------------------------------


def test_deliver_logs_once(acme, globex, alice, mallory, receiver, write_calls, capsys):
    _webhook(acme, alice, receiver)
    other, _ = _webhook(globex, mallory, receiver)
    write_calls(acme, 1)
    write_calls(globex, 1)
    call_command("deliver_logs", "--workspace", "acme", "--once")
    assert "siem: 4 delivered, cursor at 4" in capsys.readouterr().out
    assert LogSink.objects.get(pk=other.pk).cursor_seq == 0

    receiver.status = 503
    write_calls(acme, 1)
    with pytest.raises(CommandError, match="1 sink"):
        call_command("deliver_logs", "--workspace", "acme", "--once")
    # --now retries at once, without waiting out the backoff.
    receiver.status = 200
    call_command("deliver_logs", "--workspace", "acme", "--once", "--now")
    assert [e["seq"] for e in receiver.entries() if e["workspace_id"] == acme.pk] == list(
        range(1, 9)
    )


# -- refusing private addresses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "endpoint", "fields"),
    [
        ("webhook", "https://10.0.0.5/hook", {}),
        ("webhook", "https://169.254.169.254/latest", {}),
        ("webhook", "https://localhost/hook", {}),
        ("webhook", "http://siem.example.com/hook", {}),  # plain http to a public host
        ("webhook", "https://127.0.0.1/hook", {"allow_private": ["10.0.0.0/8"]}),
        ("otlp_http", "http://127.0.0.1:4318", {}),
        ("syslog", "10.0.0.5:6514", {}),
        ("syslog", "siem.example.com:514", {"tls": False}),  # plain TCP to a public host
        ("syslog", "siem.example.com", {}),  # no port
    ],
)
def test_it_refuses_private_or_plain_endpoints(api, acme, alice, kind, endpoint, fields):
    response = api.as_(alice).post(
        f"{W}/sinks/",
        {"name": "evil", "kind": kind, "endpoint": endpoint, **fields},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == "endpoint"
    assert not LogSink.objects.exists()


def test_a_private_endpoint_is_allowed_when_its_network_is_listed(api, acme, alice):
    response = api.as_(alice).post(
        f"{W}/sinks/",
        {
            "name": "lan",
            "kind": "syslog",
            "endpoint": "10.0.0.5:514",
            "tls": False,
            "allow_private": ["10.0.0.0/8"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["allow_private"] == ["10.0.0.0/8"]


# -- the API ------------------------------------------------------------------------------------


def test_it_works(api, acme, alice, receiver, write_calls):
    client = api.as_(alice)
    created = client.post(
        f"{W}/sinks/",
        {
            "name": "siem",
            "kind": "webhook",
            "endpoint": receiver.url,
            "allow_private": LOOPBACK,
            "signing_key": "my-own-signing-key-1234",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "signing_key" not in body  # given, not generated: never echoed
    assert (body["has_secret"], body["secret_hint"], body["cursor_seq"]) == (True, "…1234", 0)
    stored = LogSink.objects.get(pk=body["id"])
    assert stored.secret.startswith("f1:") and "my-own-signing-key" not in stored.secret

    write_calls(acme, 1)
    listed = client.get(f"{W}/sinks/").json()["results"]
    assert [(s["name"], s["lag"]) for s in listed] == [("siem", 4)]
    assert "secret" not in listed[0]

    tested = client.post(f"{W}/sinks/{body['id']}/test/")
    assert tested.json() == {"ok": True, "error": ""}
    [(_, headers, raw)] = receiver.accepted
    assert signed("my-own-signing-key-1234", headers, raw)
    assert [e["hop"] for e in json.loads(raw)["entries"]] == ["sink.test"]
    assert LogSink.objects.get(pk=body["id"]).cursor_seq == 0

    receiver.status = 503
    assert client.post(f"{W}/sinks/{body['id']}/test/").json() == {
        "ok": False,
        "error": "answered HTTP 503",
    }

    patched = client.patch(
        f"{W}/sinks/{body['id']}/",
        {"batch_size": 50, "signing_key": "another-signing-key-9876"},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["batch_size"], patched.json()["secret_hint"]) == (50, "…9876")
    assert client.get(f"{W}/sinks/{body['id']}/").json()["batch_size"] == 50

    assert client.delete(f"{W}/sinks/{body['id']}/").status_code == 204
    assert not LogSink.objects.exists()
    changes = ConfigChange.objects.for_workspace(acme).filter(target_type="logsink")
    assert sorted(changes.values_list("action", flat=True)) == [
        "sink.create",
        "sink.delete",
        "sink.update",
    ]
    recorded = json.dumps(list(changes.values_list("detail", "target")))
    assert "signing-key" not in recorded
    assert json.loads(json.dumps(changes.get(action="sink.update").detail)) == {
        "fields": ["batch_size", "secret"]
    }


def test_a_webhook_without_a_key_gets_one_shown_once(api, acme, alice, receiver):
    client = api.as_(alice)
    created = client.post(
        f"{W}/sinks/",
        {"name": "siem", "kind": "webhook", "endpoint": receiver.url, "allow_private": LOOPBACK},
        format="json",
    ).json()
    assert created["signing_key"].startswith("whsec_")
    assert created["secret_hint"] == "…" + created["signing_key"][-4:]
    assert "signing_key" not in client.get(f"{W}/sinks/{created['id']}/").json()


def test_otlp_headers_are_write_only(api, acme, alice):
    created = api.as_(alice).post(
        f"{W}/sinks/",
        {
            "name": "otel",
            "kind": "otlp_http",
            "endpoint": "https://otel.example.com",
            "headers": {"Authorization": "Bearer very-secret"},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["secret_hint"] == "headers: Authorization"
    assert "very-secret" not in created.content.decode()
    assert "very-secret" not in LogSink.objects.get().secret


def test_names_are_unique_per_workspace(api, acme, alice):
    body = {"name": "siem", "kind": "webhook", "endpoint": "https://siem.example.com/h"}
    assert api.as_(alice).post(f"{W}/sinks/", body, format="json").status_code == 201
    again = api.as_(alice).post(f"{W}/sinks/", body, format="json")
    assert again.status_code == 409
    assert error(again)["attr"] == "name"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("post", "", {"name": "new", "kind": "webhook", "endpoint": "https://s.example.com/h"}),
        ("get", "{id}/", None),
        ("patch", "{id}/", {"enabled": False}),
        ("delete", "{id}/", None),
        ("post", "{id}/test/", None),
    ],
)
def test_it_requires_integrations_manage(acme, alice, api_as_dave_with, method, suffix, body):
    sink, _ = services.create_sink(
        workspace=acme,
        actor=alice,
        name="siem",
        kind="webhook",
        endpoint="https://siem.example.com/hook",
    )
    url = f"{W}/sinks/" + suffix.format(id=sink.pk)
    refused = getattr(api_as_dave_with({LOGS_VIEW}), method)(url, body, format="json")
    assert refused.status_code == 403
    assert refused_capability(refused) == INTEGRATIONS_MANAGE
    assert LogSink.objects.get(pk=sink.pk).enabled

    if suffix.endswith("test/"):
        return  # sending to siem.example.com is not a test's business
    allowed = getattr(api_as_dave_with({INTEGRATIONS_MANAGE}), method)(url, body, format="json")
    assert allowed.status_code in (200, 201, 204), allowed.content


def test_it_hides_other_workspaces(api, acme, alice, globex, mallory):
    sink, _ = services.create_sink(
        workspace=acme, actor=alice, name="siem", kind="webhook", endpoint="https://s.example.com/h"
    )
    client = api.as_(mallory)
    assert client.get("/api/v1/workspaces/globex/sinks/").json()["results"] == []
    assert client.get(f"/api/v1/workspaces/globex/sinks/{sink.pk}/").status_code == 404
    gone = client.delete(f"/api/v1/workspaces/globex/sinks/{sink.pk}/")
    assert gone.status_code == 404
    assert LogSink.objects.filter(pk=sink.pk).exists()


def test_sending_payloads_also_requires_logs_view_payloads(acme, alice, api_as_dave_with):
    body = {"name": "p", "kind": "webhook", "endpoint": "https://s.example.com/h"}
    client = api_as_dave_with({INTEGRATIONS_MANAGE})
    refused = client.post(f"{W}/sinks/", {**body, "include_payloads": True}, format="json")
    assert refused.status_code == 403
    assert refused_capability(refused) == LOGS_VIEW_PAYLOADS
    assert not LogSink.objects.exists()

    # Nor may an existing payload sink be pointed somewhere else.
    sink, _ = services.create_sink(workspace=acme, actor=alice, include_payloads=True, **body)
    moved = client.patch(f"{W}/sinks/{sink.pk}/", {"endpoint": "https://me.example.com/"})
    assert moved.status_code == 403
    assert LogSink.objects.get(pk=sink.pk).endpoint == "https://s.example.com/h"

    client = api_as_dave_with({INTEGRATIONS_MANAGE, LOGS_VIEW_PAYLOADS})
    moved = client.patch(f"{W}/sinks/{sink.pk}/", {"endpoint": "https://me.example.com/"})
    assert moved.status_code == 200, moved.content


def test_a_ca_applies_to_syslog_only(api, acme, alice):
    response = api.as_(alice).post(
        f"{W}/sinks/",
        {
            "name": "w",
            "kind": "webhook",
            "endpoint": "https://s.example.com/h",
            "ca_pem": "-----BEGIN CERTIFICATE-----",
        },
        format="json",
    )
    assert response.status_code == 400
    assert error(response)["attr"] == "ca_pem"
    bad = api.as_(alice).post(
        f"{W}/sinks/",
        {"name": "s", "kind": "syslog", "endpoint": "s.example.com:6514", "ca_pem": "nonsense"},
        format="json",
    )
    assert bad.status_code == 400
    assert error(bad)["attr"] == "ca_pem"
