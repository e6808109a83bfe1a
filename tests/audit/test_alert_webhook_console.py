"""The alert webhook page: set up with a key shown once, validation, deliveries, removal, and
who may see or change it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.alerts.webhook import set_alert_webhook
from audit.log.recorder import write_entries
from audit.models import AlertDelivery, AlertWebhook
from audit.tasks import deliver_alerts
from teams.capabilities import ALERTS_VIEW_ALL, INTEGRATIONS_MANAGE, LOGS_VIEW
from teams.models import ConfigChange
from tests.audit.test_alerts import policy_action
from tests.support.console import text

pytestmark = pytest.mark.django_db
PAGE = "/w/acme/alerts/webhook/"


def test_it_sets_up_the_webhook_and_shows_the_key_once(as_, acme, alice, receiver):
    client = as_(alice)
    assert 'href="/w/acme/alerts/webhook/"' in text(client.get("/w/acme/alerts/"))
    assert client.get(PAGE).status_code == 200

    saved = client.post(
        PAGE, {"endpoint": receiver.url + "/in", "allow_private": "127.0.0.1/32", "enabled": "on"}
    )
    assert saved.status_code == 200
    webhook = AlertWebhook.objects.get(workspace=acme)
    key = saved.context["new_key"]
    assert key.startswith("whsec_") and key in text(saved)
    assert webhook.allow_private == ["127.0.0.1/32"] and webhook.enabled
    again = text(client.get(PAGE))
    assert key not in again and webhook.secret_hint in again
    assert ConfigChange.objects.filter(action="alert_webhook.create").exists()

    # Saving again without a key keeps it, and says so.
    changed = client.post(PAGE, {"endpoint": receiver.url + "/in", "allow_private": "127.0.0.1"})
    assert changed.status_code == 302
    webhook.refresh_from_db()
    assert webhook.enabled is False and webhook.secret_hint.endswith(key[-4:])


def test_it_shows_how_deliveries_went(as_, acme, alice, acme_gateway, receiver, settings):
    settings.ALERT_EMAILS = False
    set_alert_webhook(
        workspace=acme, actor=alice, endpoint=receiver.url, allow_private=["127.0.0.1/32"]
    )
    receiver.status = 503
    write_entries([policy_action(acme, acme_gateway)])
    deliver_alerts.apply()
    page = text(as_(alice).get(PAGE))
    assert "answered HTTP 503" in page
    assert "Failed" in page and "Rule &#x27;no-secrets&#x27; acted on dev" in page
    assert AlertDelivery.objects.get().state == "pending"

    tested = as_(alice).post(f"{PAGE}test/", follow=True)
    assert "The test alert was not accepted: answered HTTP 503" in text(tested)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"endpoint": "https://10.0.0.5/hook"}, "private, loopback or link-local"),
        ({"endpoint": "http://alerts.example.com/"}, "must use https"),
        ({"endpoint": "https://alerts.example.com/", "allow_private": "nope"}, "not an IP network"),
        ({"endpoint": "https://alerts.example.com/", "signing_key": "short"}, "16 characters"),
        ({"endpoint": ""}, "This field is required."),
    ],
)
def test_it_explains_what_is_wrong(as_, acme, alice, fields, message):
    response = as_(alice).post(PAGE, fields)
    assert response.status_code == 400
    assert message in text(response)
    assert not AlertWebhook.objects.exists()


def test_it_removes_the_webhook_after_a_confirmation(as_, acme, alice):
    set_alert_webhook(workspace=acme, actor=alice, endpoint="https://alerts.example.com/in")
    client = as_(alice)
    confirm = client.get(f"{PAGE}delete/")
    assert confirm.status_code == 200 and "Remove the alert webhook?" in text(confirm)
    assert AlertWebhook.objects.exists()
    assert client.post(f"{PAGE}delete/").status_code == 302
    assert not AlertWebhook.objects.exists()
    assert client.get(f"{PAGE}delete/").status_code == 404


def test_it_requires_integrations_manage(as_, console_as_dave_with, acme, alice, bob):
    set_alert_webhook(workspace=acme, actor=alice, endpoint="https://alerts.example.com/in")
    assert 'href="/w/acme/alerts/webhook/"' not in text(as_(bob).get("/w/acme/alerts/"))
    client = console_as_dave_with({LOGS_VIEW, ALERTS_VIEW_ALL})
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"endpoint": "https://evil.example.com/"}).status_code == 403
    assert client.post(f"{PAGE}test/").status_code == 403
    assert client.post(f"{PAGE}delete/").status_code == 403
    # integrations.manage alone sees it, but cannot point every alert elsewhere.
    client = console_as_dave_with({INTEGRATIONS_MANAGE})
    page = client.get(PAGE)
    assert page.status_code == 200 and "Save</button>" not in text(page)
    assert client.post(PAGE, {"endpoint": "https://evil.example.com/"}).status_code == 403
    assert AlertWebhook.objects.get().endpoint == "https://alerts.example.com/in"


def test_it_hides_other_workspaces(as_, acme, alice, mallory):
    set_alert_webhook(workspace=acme, actor=alice, endpoint="https://alerts.example.com/in")
    assert as_(mallory).get(PAGE).status_code == 404
    assert as_(mallory).post(f"{PAGE}delete/").status_code == 404


def _count(client, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_page_costs_a_fixed_number_of_queries(
    as_, acme, alice, acme_gateway, django_assert_max_num_queries, settings
):
    settings.ALERT_EMAILS = False
    set_alert_webhook(workspace=acme, actor=alice, endpoint="https://alerts.example.com/in")
    client = as_(alice)
    write_entries([policy_action(acme, acme_gateway, rule="r0")])
    few = _count(client, PAGE)
    write_entries([policy_action(acme, acme_gateway, rule=f"r{i}") for i in range(1, 30)])
    assert AlertDelivery.objects.count() == 30
    assert _count(client, PAGE) == few
    with django_assert_max_num_queries(12):
        client.get(PAGE)
