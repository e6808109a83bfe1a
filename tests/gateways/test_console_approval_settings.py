"""The assignment page's approval card: which tools need approval, who approves, how long."""

from gateways.models import Assignment
from servers.models import Server
from teams.capabilities import GATEWAYS_MANAGE, GATEWAYS_PROVISION_FEATURES
from tests.support.console import text

CATALOG = {"tools": [{"name": "now"}, {"name": "reset_clock"}]}


def _url(assignment):
    return f"/w/acme/gateways/dev/assignments/{assignment.pk}/approvals/"


def _assignment(gateway) -> Assignment:
    assignment = gateway.assignments.get()
    Server.objects.filter(pk=assignment.server_id).update(catalog=CATALOG)
    return gateway.assignments.select_related("server").get()


def test_it_saves_the_approval_settings(as_, acme_gateway, alice):
    assignment = _assignment(acme_gateway)
    console = as_(alice)
    page = text(console.get(f"/w/acme/gateways/dev/assignments/{assignment.pk}/"))
    assert "Save approval settings" in page and "reset_clock" in page and "Engineering" in page
    response = console.post(
        _url(assignment),
        {
            "approval_tools": ["reset_clock"],
            "approval_team": "eng",
            "approval_timeout_seconds": "45",
        },
    )
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.approval_tools == ["reset_clock"]
    assert assignment.approval_team.slug == "eng" and assignment.approval_timeout_seconds == 45


def test_bad_settings_are_form_errors(as_, acme_gateway, alice, globex):
    assignment = _assignment(acme_gateway)
    response = as_(alice).post(
        _url(assignment),
        {"approval_tools": ["nope"], "approval_team": "ops", "approval_timeout_seconds": "0"},
    )
    assert response.status_code == 400
    page = text(response)
    assert "Select a valid choice" in page
    assignment.refresh_from_db()
    assert assignment.approval_tools == [] and assignment.approval_team is None


def test_it_needs_provision_features(console_as_dave_with, acme_gateway):
    assignment = _assignment(acme_gateway)
    client = console_as_dave_with({GATEWAYS_MANAGE})
    page = text(client.get(f"/w/acme/gateways/dev/assignments/{assignment.pk}/"))
    assert "Save approval settings" not in page and "The caller" in page
    response = client.post(
        _url(assignment), {"approval_tools": ["now"], "approval_timeout_seconds": "30"}
    )
    assert response.status_code == 403 and GATEWAYS_PROVISION_FEATURES in text(response)
    assignment.refresh_from_db()
    assert assignment.approval_tools == []
