"""Alerts: from rules that ask for one, refused callers and servers going down; who sees them."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.log.recorder import write_entries
from audit.models import Alert
from servers.discovery import refresh_catalog
from servers.models import Server

W = "/api/v1/workspaces/acme/alerts/"


def policy_action(workspace, gateway, *, alert=True, rule="no-secrets", at=None):
    return {
        "hop": "policy.action",
        "workspace_id": workspace.pk,
        "correlation_id": str(uuid.uuid4()),
        "gateway_id": gateway.pk,
        "gateway_slug": gateway.slug,
        "at": at or timezone.now(),
        "outcome": "blocked",
        "detail": {
            "rule": rule,
            "detector": "secrets",
            "action": "block",
            "mode": "enforce",
            "kinds": {"github_pat": 1},
            "alert": alert,
        },
    }


def denied(workspace, gateway, reason="not provisioned"):
    return {
        "hop": "auth.denied",
        "workspace_id": workspace.pk,
        "gateway_id": gateway.pk,
        "gateway_slug": gateway.slug,
        "outcome": "error",
        "detail": {"reason": reason},
    }


def test_a_rule_that_asks_for_an_alert_raises_one_and_repeats_fold(
    acme, acme_gateway, mailoutbox, django_capture_on_commit_callbacks
):
    write_entries([policy_action(acme, acme_gateway, alert=False)])
    assert not Alert.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        write_entries([policy_action(acme, acme_gateway)])
        write_entries([policy_action(acme, acme_gateway)])
    alert = Alert.objects.get()
    assert (alert.kind, alert.count, alert.gateway_slug) == ("rule", 2, "dev")
    assert alert.title == "Rule 'no-secrets' acted on dev (github_pat)"
    # One mail for the new alert, to those who see every alert (owner, auditor); none for repeats.
    assert [m.to for m in mailoutbox] == [["alice@acme.test", "carol@acme.test"]]
    assert "no-secrets" in mailoutbox[0].subject


def test_an_acknowledged_or_old_alert_is_not_folded_into(acme, acme_gateway, alice):
    long_ago = timezone.now() - timedelta(hours=2)
    write_entries([policy_action(acme, acme_gateway, at=long_ago)])
    write_entries([policy_action(acme, acme_gateway)])
    assert Alert.objects.count() == 2
    Alert.objects.update(acknowledged_at=timezone.now())
    write_entries([policy_action(acme, acme_gateway)])
    assert list(Alert.objects.filter(acknowledged_at__isnull=True).values_list("count")) == [(1,)]


def test_refused_callers_in_one_batch_are_one_alert(acme, acme_gateway):
    write_entries(
        [denied(acme, acme_gateway) for _ in range(5)] + [denied(acme, acme_gateway, "x")]
    )
    counts = dict(Alert.objects.values_list("subject", "count"))
    assert counts == {"not provisioned": 5, "x": 1}
    assert set(Alert.objects.values_list("kind", flat=True)) == {"auth"}


def test_a_server_going_down_raises_one_alert(acme, alice, free_tcp_port):
    from servers import services as server_services

    server = server_services.create_server(
        workspace=acme, name="gone", url=f"http://127.0.0.1:{free_tcp_port}/mcp", actor=alice
    )
    assert refresh_catalog(server=server, timeout=2).health == Server.Health.DOWN
    server.refresh_from_db()
    refresh_catalog(server=server, timeout=2)  # still down: no second alert
    alert = Alert.objects.get()
    assert (alert.kind, alert.subject, alert.count) == ("server_down", "gone", 1)
    assert alert.title.startswith("Server 'gone' is down")


def test_members_see_the_alerts_of_their_gateways_only(api, acme, acme_gateway, alice, bob, carol):
    from servers import services as server_services

    write_entries([policy_action(acme, acme_gateway)])
    server = server_services.create_server(
        workspace=acme, name="gone", url="http://127.0.0.1:9/mcp", actor=alice
    )
    from audit.alerts import raising

    raising.server_went_down(server=server, detail="refused")
    assert {a["kind"] for a in api.as_(alice).get(W).json()["results"]} == {"rule", "server_down"}
    # Bob reaches gateway dev through team eng; Carol, an auditor, holds raising.view_all.
    assert [a["kind"] for a in api.as_(bob).get(W).json()["results"]] == ["rule"]
    assert len(api.as_(carol).get(W).json()["results"]) == 2
    assert api.as_(alice).get(f"{W}?kind=nonsense").status_code == 400


def test_acknowledging_an_alert(api, acme, acme_gateway, bob):
    write_entries([policy_action(acme, acme_gateway)])
    alert = Alert.objects.get()
    response = api.as_(bob).post(f"{W}{alert.pk}/acknowledge/")
    assert response.status_code == 200, response.content
    assert response.json()["acknowledged_by"] == "bob@acme.test"
    assert api.as_(bob).get(f"{W}?open=1").json()["results"] == []
    assert len(api.as_(bob).get(W).json()["results"]) == 1


@pytest.mark.parametrize("hop", ["client.request", "policy.tool_filtered"])
def test_other_hops_raise_nothing(acme, acme_gateway, hop):
    entry = policy_action(acme, acme_gateway)
    entry["hop"] = hop
    write_entries([entry])
    assert not Alert.objects.exists()
