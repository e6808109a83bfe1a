"""An assignment's approval settings, through the API and the service every edge calls."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import ValidationFailed
from gateways import services
from gateways.models import PendingApproval
from gateways.tasks import purge_closed_approvals
from tests.support.api import error

W = "/api/v1/workspaces/acme"


def test_the_api_sets_and_shows_the_approval_settings(api, acme, alice, acme_gateway):
    assignment = acme_gateway.assignments.get()
    url = f"{W}/gateways/dev/assignments/{assignment.pk}/"
    body = {"approval_tools": ["now"], "approval_team": "eng", "approval_timeout_seconds": 30}
    response = api.as_(alice).patch(url, body, format="json")
    assert response.status_code == 200, response.content
    shown = response.json()
    assert shown["approval_tools"] == ["now"]
    assert shown["approval_team"] == "eng" and shown["approval_timeout_seconds"] == 30
    response = api.as_(alice).patch(url, {"approval_team": None}, format="json")
    assert response.json()["approval_team"] is None
    assignment.refresh_from_db()
    assert assignment.approval_team is None and assignment.approval_tools == ["now"]


def test_the_api_refuses_bad_approval_settings(api, acme, alice, acme_gateway, globex):
    assignment = acme_gateway.assignments.get()
    url = f"{W}/gateways/dev/assignments/{assignment.pk}/"
    client = api.as_(alice)
    # globex's team `ops` is no team of acme's: the same answer as a missing one.
    response = client.patch(url, {"approval_team": "ops"}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "approval_team"
    assert "Unknown team" in error(response)["detail"]
    response = client.patch(url, {"approval_timeout_seconds": 0}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "approval_timeout_seconds"
    response = client.patch(url, {"approval_tools": "now"}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "approval_tools"
    assignment.refresh_from_db()
    assert assignment.approval_team is None and assignment.approval_tools == []


def test_approval_settings_need_the_feature_capability(api, acme, bob, acme_gateway):
    assignment = acme_gateway.assignments.get()
    url = f"{W}/gateways/dev/assignments/{assignment.pk}/"
    response = api.as_(bob).patch(url, {"approval_tools": ["now"]}, format="json")
    assert response.status_code == 403


def test_the_service_refuses_a_timeout_over_an_hour(acme, alice, acme_gateway):
    assignment = acme_gateway.assignments.get()
    with pytest.raises(ValidationFailed, match="at most 3600"):
        services.update_assignment(
            assignment=assignment, approval_timeout_seconds=3601, actor=alice
        )


def test_approvals_long_over_are_purged(acme, alice, bob, acme_gateway):
    now = timezone.now()
    assignment = acme_gateway.assignments.get()
    for days in (1, 31):
        PendingApproval.objects.create(
            workspace=acme,
            gateway=acme_gateway,
            assignment=assignment,
            tool="time__now",
            requested_by=bob,
            status="approved",
            expires_at=now - timedelta(days=days),
        )
    assert purge_closed_approvals.delay().get() == 1
    assert [a.expires_at.date() for a in PendingApproval.objects.all()] == [
        (now - timedelta(days=1)).date()
    ]
