"""The alert webhook: new alerts posted, signed, by a task; retried with backoff; never lost and
never holding up the log writer when the receiver is slow or down.

The receiver is a real HTTP server on a loopback port (the SIEM tests' `Receiver`).
"""

import datetime as dt
import json
import time

import pytest
from django.core.management import call_command

from audit.log.recorder import write_entries
from audit.models import Alert, AlertDelivery, AlertWebhook
from audit.tasks import deliver_alert, deliver_alerts
from config.celery import app as celery_app
from teams.capabilities import ALERTS_VIEW_ALL, INTEGRATIONS_MANAGE, LOGS_VIEW
from teams.models import ConfigChange
from tests.audit.test_alerts import policy_action
from tests.audit.webhook_receiver import LOOPBACK, signed

W = "/api/v1/workspaces/acme/alert-webhook/"


@pytest.fixture(autouse=True)
def _quick_retries(settings):
    settings.ALERT_WEBHOOK_RETRY_BASE_SECONDS = 0.05
    settings.ALERT_WEBHOOK_RETRY_MAX_SECONDS = 0.2
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 5
    settings.ALERT_EMAILS = False


def _set_up(api, user, receiver, **fields):
    response = api.as_(user).put(
        W,
        {"endpoint": receiver.url + "/alerts", "allow_private": LOOPBACK, **fields},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def _raise_rule_alert(acme, gateway, capture):
    with capture(execute=True):
        write_entries([policy_action(acme, gateway)])
    return Alert.objects.for_workspace(acme).latest("pk")


def _wait_until_due(delivery_id):
    due = AlertDelivery.objects.get(pk=delivery_id).next_attempt_at
    while dt.datetime.now(dt.UTC) < due:
        time.sleep(0.02)


def test_it_works(api, acme, alice, acme_gateway, receiver, django_capture_on_commit_callbacks):
    created = _set_up(api, alice, receiver)
    key = created["signing_key"]
    assert key.startswith("whsec_") and created["has_secret"] is True
    shown = api.as_(alice).get(W).json()
    assert "signing_key" not in shown and shown["secret_hint"] == f"…{key[-4:]}"
    assert key not in json.dumps(list(ConfigChange.objects.values("detail")))
    assert ConfigChange.objects.filter(action="alert_webhook.create").count() == 1

    alert = _raise_rule_alert(acme, acme_gateway, django_capture_on_commit_callbacks)
    delivery = AlertDelivery.objects.get(alert=alert)
    assert delivery.state == "pending"
    assert receiver.attempts == 0  # nothing is posted on the writer's thread
    assert api.as_(alice).get(W).json()["pending"] == 1

    assert deliver_alerts.apply().get() == 1
    [(path, headers, body)] = receiver.accepted
    assert path == "/alerts"
    assert signed(key, headers, body)
    sent = json.loads(body)
    assert sent["workspace"] == "acme" and sent["event"] == "alert"
    assert sent["delivery"] == delivery.pk
    assert sent["alert"]["title"] == "Rule 'no-secrets' acted on dev (github_pat)"
    assert sent["alert"]["kind"] == "rule" and sent["alert"]["gateway"] == "dev"
    shown = api.as_(alice).get(W).json()
    assert (shown["last_status"], shown["last_error"], shown["pending"]) == ("delivered", "", 0)
    assert shown["last_success_at"] is not None
    # Folded repeats are not new alerts: nothing more is posted.
    _raise_rule_alert(acme, acme_gateway, django_capture_on_commit_callbacks)
    assert AlertDelivery.objects.count() == 1


def test_a_failed_post_is_retried_with_backoff(
    api, acme, alice, acme_gateway, receiver, django_capture_on_commit_callbacks
):
    key = _set_up(api, alice, receiver)["signing_key"]
    receiver.status = 503
    alert = _raise_rule_alert(acme, acme_gateway, django_capture_on_commit_callbacks)
    delivery = AlertDelivery.objects.get(alert=alert)

    assert deliver_alert.apply(args=[delivery.pk]).get() == "pending"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        "pending",
        1,
        "answered HTTP 503",
    )
    assert delivery.next_attempt_at > delivery.created_at
    webhook = AlertWebhook.objects.get(workspace=acme)
    assert (webhook.last_status, webhook.last_error) == ("failed", "answered HTTP 503")
    # Not due yet: another pass does not knock again.
    assert deliver_alert.apply(args=[delivery.pk]).get() == "not due"
    assert receiver.attempts == 1

    receiver.status = 200
    _wait_until_due(delivery.pk)
    assert deliver_alerts.apply().get() == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 2, "")
    assert receiver.attempts == 2
    [(_, headers, body)] = receiver.accepted
    assert signed(key, headers, body)
    assert json.loads(body)["alert"]["id"] == alert.pk


def test_a_slow_or_down_receiver_neither_blocks_nor_loses_the_alert(
    api, acme, alice, acme_gateway, receiver, settings, django_capture_on_commit_callbacks
):
    _set_up(api, alice, receiver)
    receiver.delay = 3.0
    # As in production: the delivery is handed to the broker, not run where the alert opened.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    started = time.monotonic()
    alert = _raise_rule_alert(acme, acme_gateway, django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 1.5
    delivery = AlertDelivery.objects.get(alert=alert)
    assert delivery.state == "pending" and receiver.attempts == 0

    receiver.stop()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert deliver_alerts.apply().get() == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == "request failed: ConnectError"

    receiver.delay = 0.0
    receiver.start()
    _wait_until_due(delivery.pk)
    assert deliver_alerts.apply().get() == 1
    assert [json.loads(b)["alert"]["id"] for _, _, b in receiver.accepted] == [alert.pk]
    assert AlertDelivery.objects.get(pk=delivery.pk).state == "delivered"


def test_it_gives_up_after_the_last_attempt(
    api, acme, alice, acme_gateway, receiver, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_WEBHOOK_MAX_ATTEMPTS = 2
    _set_up(api, alice, receiver)
    receiver.status = 500
    alert = _raise_rule_alert(acme, acme_gateway, django_capture_on_commit_callbacks)
    delivery = AlertDelivery.objects.get(alert=alert)
    deliver_alerts.apply()
    _wait_until_due(delivery.pk)
    deliver_alerts.apply()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("gave_up", 2)
    deliver_alerts.apply()
    assert receiver.attempts == 2


def test_a_removed_webhook_is_not_posted_to(
    api, acme, alice, acme_gateway, receiver, django_capture_on_commit_callbacks
):
    _set_up(api, alice, receiver)
    alert = _raise_rule_alert(acme, acme_gateway, django_capture_on_commit_callbacks)
    assert api.as_(alice).delete(W).status_code == 204
    assert api.as_(alice).get(W).status_code == 404
    deliver_alerts.apply()
    assert AlertDelivery.objects.get(alert=alert).state == "gave_up"
    assert receiver.attempts == 0
    actions = list(ConfigChange.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["alert_webhook.create", "alert_webhook.delete"]


def test_a_disabled_webhook_owes_nothing(
    api, acme, alice, acme_gateway, receiver, django_capture_on_commit_callbacks
):
    _set_up(api, alice, receiver, enabled=False)
    _raise_rule_alert(acme, acme_gateway, django_capture_on_commit_callbacks)
    assert not AlertDelivery.objects.exists()


def test_changing_it_keeps_the_key_unless_given_and_is_recorded(api, acme, alice, receiver):
    key = _set_up(api, alice, receiver)["signing_key"]
    changed = _set_up(api, alice, receiver, enabled=False)
    assert "signing_key" not in changed and changed["secret_hint"] == f"…{key[-4:]}"
    assert _set_up(api, alice, receiver, signing_key="s" * 20)["secret_hint"] == "…ssss"
    short = api.as_(alice).put(
        W, {"endpoint": receiver.url, "allow_private": LOOPBACK, "signing_key": "x"}, format="json"
    )
    assert short.status_code == 400
    update = ConfigChange.objects.filter(action="alert_webhook.update").order_by("id").first()
    assert update.detail["fields"] == ["enabled"]
    assert update.detail["before"]["enabled"] is True and update.detail["after"]["enabled"] is False


def test_the_test_action_posts_a_signed_test_alert(api, acme, alice, receiver):
    key = _set_up(api, alice, receiver)["signing_key"]
    assert api.as_(alice).post(f"{W}test/").json() == {"ok": True, "error": ""}
    [(_, headers, body)] = receiver.accepted
    assert signed(key, headers, body) and json.loads(body)["event"] == "test"
    receiver.status = 502
    assert api.as_(alice).post(f"{W}test/").json() == {"ok": False, "error": "answered HTTP 502"}
    assert AlertWebhook.objects.get(workspace=acme).last_status == "failed"
    assert not AlertDelivery.objects.exists()


@pytest.mark.parametrize(
    ("endpoint", "allow_private"),
    [
        ("https://127.0.0.1/hook", []),
        ("https://10.0.0.5/hook", []),
        ("https://169.254.169.254/latest", []),
        ("http://alerts.example.com/hook", []),
        ("https://127.0.0.1/hook", ["10.0.0.0/8"]),
        ("https://user:pw@alerts.example.com/hook", []),
        ("https://127.0.0.1/hook", ["not a network"]),
    ],
)
def test_it_refuses_private_or_plain_endpoints(api, acme, alice, endpoint, allow_private):
    response = api.as_(alice).put(
        W, {"endpoint": endpoint, "allow_private": allow_private}, format="json"
    )
    assert response.status_code == 400, response.content
    assert not AlertWebhook.objects.exists()


@pytest.mark.parametrize(
    ("capabilities", "method", "status"),
    [
        ({LOGS_VIEW}, "get", 403),
        ({LOGS_VIEW, ALERTS_VIEW_ALL}, "put", 403),
        ({INTEGRATIONS_MANAGE}, "put", 403),  # every alert goes there: needs alerts.view_all
        ({LOGS_VIEW}, "delete", 403),
        ({INTEGRATIONS_MANAGE, ALERTS_VIEW_ALL}, "put", 201),
    ],
)
def test_it_requires_integrations_manage(api_as_dave_with, receiver, capabilities, method, status):
    client = api_as_dave_with(capabilities)
    body = {"endpoint": receiver.url, "allow_private": LOOPBACK}
    response = getattr(client, method)(W, body, format="json")
    assert response.status_code == status, response.content
    if INTEGRATIONS_MANAGE not in capabilities:
        assert client.post(f"{W}test/").status_code == 403


def test_it_hides_other_workspaces(api, acme, alice, mallory, receiver):
    _set_up(api, alice, receiver)
    assert api.as_(mallory).get(W).status_code == 404
    assert api.as_(mallory).delete(W).status_code == 404
    assert AlertWebhook.objects.filter(workspace=acme).exists()


def test_deliver_logs_posts_due_alerts_where_no_beat_runs(
    api, acme, alice, acme_gateway, receiver, django_capture_on_commit_callbacks, capsys
):
    key = _set_up(api, alice, receiver)["signing_key"]
    alert = _raise_rule_alert(acme, acme_gateway, django_capture_on_commit_callbacks)
    call_command("deliver_logs", "--workspace", "acme", "--once")
    delivery = AlertDelivery.objects.get(alert=alert)
    assert f"alert delivery {delivery.pk}: delivered" in capsys.readouterr().out
    assert [signed(key, h, b) for _, h, b in receiver.accepted] == [True]


def test_the_sweep_is_on_the_beat_schedule():
    assert celery_app.conf.beat_schedule["audit.deliver_alerts"]["task"] == "audit.deliver_alerts"


@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_posts_the_alert_and_retries_after_a_failure(
    api, acme, alice, acme_gateway, receiver, settings
):
    """The production path: a broker, a worker, and the task retrying itself with a countdown."""
    from celery.contrib.testing.worker import start_worker

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ALERT_WEBHOOK_RETRY_BASE_SECONDS = 1.0
    key = _set_up(api, alice, receiver)["signing_key"]
    receiver.status = 503
    with start_worker(celery_app, perform_ping_check=False, shutdown_timeout=10):
        write_entries([policy_action(acme, acme_gateway)])  # commits: the task is sent
        _wait_for(lambda: receiver.attempts == 1)
        receiver.status = 200
        _wait_for(lambda: AlertDelivery.objects.filter(state="delivered").exists())
    delivery = AlertDelivery.objects.get()
    assert (delivery.attempts, receiver.attempts) == (2, 2)
    [(_, headers, body)] = receiver.accepted
    assert signed(key, headers, body)
    assert json.loads(body)["delivery"] == delivery.pk


def _wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
