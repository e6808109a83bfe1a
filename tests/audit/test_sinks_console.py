"""The SIEM sinks pages: the list with cursor, lag and last error; adding each kind with its
validation; secrets never shown back; changing, pausing, testing, deleting; who may do it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.log.recorder import write_entries
from audit.models import LogSink
from audit.sinks import services
from audit.sinks.delivery import deliver_sink
from teams.capabilities import INTEGRATIONS_MANAGE, LOGS_VIEW, LOGS_VIEW_PAYLOADS
from teams.models import ConfigChange
from tests.audit.webhook_receiver import LOOPBACK
from tests.support.audit_entries import call_hops
from tests.support.console import text

pytestmark = pytest.mark.django_db
PAGE = "/w/acme/sinks/"


def webhook(acme, alice, endpoint="https://siem.example.com/in", **fields):
    sink, _ = services.create_sink(
        workspace=acme,
        actor=alice,
        name=fields.pop("name", "siem"),
        kind="webhook",
        endpoint=endpoint,
        **fields,
    )
    return sink


def _form(**fields):
    return {"name": "siem", "batch_size": "200", "enabled": "on", "backfill": "on", **fields}


def test_it_lists_sinks_with_cursor_lag_and_last_error(as_, acme, alice, receiver):
    sink = webhook(acme, alice, receiver.url, allow_private=LOOPBACK, batch_size=4)
    services.create_sink(
        workspace=acme,
        actor=alice,
        name="syslog",
        kind="syslog",
        endpoint="siem.example.com:6514",
    )
    write_entries(call_hops(acme) + call_hops(acme))  # 8 entries
    deliver_sink(sink.pk, max_batches=1)
    receiver.status = 503
    deliver_sink(sink.pk, ignore_backoff=True)

    page = as_(alice).get(PAGE)
    assert page.status_code == 200
    body = text(page)
    assert 'href="/w/acme/sinks/"' in body  # in the navigation
    assert f'href="/w/acme/sinks/{sink.pk}/"' in body
    assert "Syslog over TCP or TLS (RFC 5424)" in body and "siem.example.com:6514" in body
    assert f"<code>{receiver.url}</code>" in body
    assert "<td>4</td>" in body and "4 entries" in body  # cursor and lag of the webhook
    assert "8 entries" in body  # the syslog sink has sent nothing
    assert "answered HTTP 503" in body and "failing" in body


def test_it_adds_a_webhook_sink_and_shows_its_key_once(as_, acme, alice, receiver):
    client = as_(alice)
    assert client.get(f"{PAGE}new/?kind=webhook").status_code == 200
    added = client.post(
        f"{PAGE}new/",
        _form(kind="webhook", endpoint=receiver.url + "/in", allow_private="127.0.0.1/32"),
    )
    assert added.status_code == 201, text(added)
    key = added.context["new_key"]
    assert key.startswith("whsec_") and key in text(added)
    sink = LogSink.objects.get(workspace=acme)
    assert (sink.kind, sink.endpoint, sink.allow_private) == (
        "webhook",
        receiver.url + "/in",
        ["127.0.0.1/32"],
    )
    edit = text(client.get(f"{PAGE}{sink.pk}/"))
    assert key not in edit and sink.secret_hint in edit
    assert ConfigChange.objects.filter(action="sink.create").exists()


def test_otlp_headers_are_never_shown_back(as_, acme, alice):
    client = as_(alice)
    added = client.post(
        f"{PAGE}new/",
        _form(
            kind="otlp_http",
            name="otel",
            endpoint="https://otel.example.com",
            headers="Authorization: Bearer s3cret-value\nX-Tenant: acme",
        ),
    )
    assert added.status_code == 302, text(added)
    sink = LogSink.objects.get(name="otel")
    edit = text(client.get(f"{PAGE}{sink.pk}/"))
    assert "s3cret-value" not in edit and "headers: Authorization, X-Tenant" in edit
    # Saved again with the headers left blank, they are kept.
    saved = client.post(
        f"{PAGE}{sink.pk}/", _form(name="otel", endpoint="https://otel.example.com")
    )
    assert saved.status_code == 302
    sink.refresh_from_db()
    assert sink.secret_hint == "headers: Authorization, X-Tenant"


def test_it_adds_a_syslog_sink(as_, acme, alice):
    added = as_(alice).post(
        f"{PAGE}new/",
        _form(kind="syslog", endpoint="siem.example.com:6514", tls="on", tls_verify="on"),
    )
    assert added.status_code == 302, text(added)
    sink = LogSink.objects.get()
    assert (sink.kind, sink.tls, sink.tls_verify, sink.endpoint) == (
        "syslog",
        True,
        True,
        "siem.example.com:6514",
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "webhook", "endpoint": "https://10.0.0.5/in"}, "private, loopback"),
        ({"kind": "webhook", "endpoint": "http://siem.example.com/in"}, "must use https"),
        ({"kind": "webhook", "endpoint": "https://e.test/", "signing_key": "short"}, "16 char"),
        ({"kind": "webhook", "endpoint": "https://e.test/", "name": "no spaces"}, "Use letters"),
        ({"kind": "webhook", "endpoint": "https://e.test/", "batch_size": "0"}, "greater than"),
        ({"kind": "webhook", "endpoint": ""}, "This field is required."),
        ({"kind": "otlp_http", "endpoint": "https://e.test/", "headers": "nocolon"}, "Line 1:"),
        ({"kind": "otlp_http", "endpoint": "https://e.test/", "headers": "Host: x"}, "cannot be"),
        ({"kind": "syslog", "endpoint": "siem.example.com", "tls": "on"}, "must be host:port"),
        ({"kind": "syslog", "endpoint": "siem.example.com:514"}, "plain TCP"),  # TLS unchecked
        (
            {"kind": "syslog", "endpoint": "s.example.com:6514", "tls": "on", "ca_pem": "nope"},
            "no readable PEM",
        ),
        ({"kind": "webhook", "endpoint": "https://e.test/", "allow_private": "x"}, "not an IP"),
    ],
)
def test_it_explains_what_is_wrong(as_, acme, alice, fields, message):
    response = as_(alice).post(f"{PAGE}new/", _form(**fields))
    assert response.status_code == 400
    assert message in text(response)
    assert not LogSink.objects.exists()


def test_a_secret_typed_is_not_rendered_back_with_an_error(as_, acme, alice):
    key = "a-signing-key-of-some-length"
    response = as_(alice).post(
        f"{PAGE}new/", _form(kind="webhook", endpoint="https://10.0.0.5/", signing_key=key)
    )
    assert response.status_code == 400 and key not in text(response)
    response = as_(alice).post(
        f"{PAGE}new/",
        _form(kind="otlp_http", endpoint="https://10.0.0.5/", headers="X-Key: topsecret"),
    )
    assert response.status_code == 400 and "topsecret" not in text(response)


def test_names_are_unique(as_, acme, alice):
    webhook(acme, alice)
    response = as_(alice).post(f"{PAGE}new/", _form(kind="webhook", endpoint="https://e.test/"))
    assert response.status_code == 400 and "A sink named &#x27;siem&#x27; exists" in text(response)


def test_it_changes_pauses_tests_and_deletes_a_sink(as_, acme, alice, receiver):
    sink = webhook(acme, alice)
    client = as_(alice)
    saved = client.post(
        f"{PAGE}{sink.pk}/",
        _form(endpoint=receiver.url + "/new", allow_private="127.0.0.1/32", batch_size="50"),
    )
    assert saved.status_code == 302
    sink.refresh_from_db()
    assert (sink.endpoint, sink.batch_size, sink.kind) == (receiver.url + "/new", 50, "webhook")

    assert client.post(f"{PAGE}{sink.pk}/toggle/").status_code == 302
    assert LogSink.objects.get().enabled is False
    assert "Resume</button>" in text(client.get(PAGE))
    client.post(f"{PAGE}{sink.pk}/toggle/")
    assert LogSink.objects.get().enabled is True

    tested = client.post(f"{PAGE}{sink.pk}/test/", follow=True)
    assert "accepted the test entry" in text(tested)
    assert receiver.attempts == 1
    receiver.status = 500
    tested = client.post(f"{PAGE}{sink.pk}/test/", follow=True)
    assert "did not accept the test entry: answered HTTP 500" in text(tested)

    confirm = client.get(f"{PAGE}{sink.pk}/delete/")
    assert confirm.status_code == 200 and "Delete the sink siem?" in text(confirm)
    assert LogSink.objects.exists()
    assert client.post(f"{PAGE}{sink.pk}/delete/").status_code == 302
    assert not LogSink.objects.exists()
    actions = list(ConfigChange.objects.order_by("id").values_list("action", flat=True))
    assert actions[-5:] == [
        "sink.create",
        "sink.update",
        "sink.update",
        "sink.update",
        "sink.delete",
    ]


def test_it_requires_integrations_manage(as_, console_as_dave_with, acme, alice, bob):
    sink = webhook(acme, alice)
    assert 'href="/w/acme/sinks/"' not in text(as_(bob).get("/w/acme/alerts/"))
    client = console_as_dave_with({LOGS_VIEW, LOGS_VIEW_PAYLOADS})
    for path in (PAGE, f"{PAGE}new/", f"{PAGE}{sink.pk}/", f"{PAGE}{sink.pk}/delete/"):
        assert client.get(path).status_code == 403, path
    for path in ("new/", f"{sink.pk}/", f"{sink.pk}/toggle/", f"{sink.pk}/test/"):
        response = client.post(f"{PAGE}{path}", _form(kind="webhook", endpoint="https://e.test/"))
        assert response.status_code == 403, path
        assert "integrations.manage" in text(response)
    assert client.post(f"{PAGE}{sink.pk}/delete/").status_code == 403
    sink.refresh_from_db()
    assert (sink.endpoint, sink.enabled) == ("https://siem.example.com/in", True)


def test_sending_payloads_requires_logs_view_payloads(console_as_dave_with, acme, alice):
    sends = webhook(acme, alice, name="full", include_payloads=True)
    client = console_as_dave_with({INTEGRATIONS_MANAGE})
    form = text(client.get(f"{PAGE}new/"))
    assert 'name="include_payloads"' not in form
    added = client.post(
        f"{PAGE}new/",
        _form(kind="webhook", name="lean", endpoint="https://e.test/", include_payloads="on"),
    )
    assert added.status_code == 201
    assert LogSink.objects.get(name="lean").include_payloads is False
    # A sink that already sends payloads is not theirs to change.
    changed = client.post(f"{PAGE}{sends.pk}/", _form(name="full", endpoint="https://e.test/"))
    assert changed.status_code == 403 and "logs.view_payloads" in text(changed)
    assert client.post(f"{PAGE}{sends.pk}/toggle/").status_code == 403
    assert LogSink.objects.get(pk=sends.pk).enabled is True


def test_it_hides_other_workspaces(as_, acme, alice, globex, mallory):
    sink = webhook(acme, alice)
    client = as_(mallory)
    assert client.get(PAGE).status_code == 404
    assert client.get(f"/w/globex/sinks/{sink.pk}/").status_code == 404
    assert client.post(f"/w/globex/sinks/{sink.pk}/toggle/").status_code == 404
    assert client.post(f"/w/globex/sinks/{sink.pk}/delete/").status_code == 404
    assert LogSink.objects.get().enabled is True


def _count(client, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_list_pages_at_a_fixed_query_count(as_, acme, alice, django_assert_max_num_queries):
    client = as_(alice)
    webhook(acme, alice, name="one")
    few = _count(client, PAGE)
    LogSink.objects.bulk_create(
        LogSink(
            workspace=acme,
            name=f"s{i}",
            kind="webhook",
            endpoint=f"https://s{i}.example.com/",
            last_error="answered HTTP 503" if i % 2 else "",
            failures=i % 2,
        )
        for i in range(40)
    )
    assert _count(client, PAGE) == few
    with django_assert_max_num_queries(12):
        page = client.get(PAGE)
    assert "Page 1 of 2" in text(page) and 'href="?page=2"' in text(page)
    assert _count(client, f"{PAGE}?page=2") == few
