"""The alerts page: open and acknowledged alerts by kind, a link to the call, acknowledging."""

import uuid

import pytest

from audit.alerts.raising import raise_alert
from audit.models import Alert
from gateways import services as gateway_services
from tests.support.console import text

pytestmark = pytest.mark.django_db


def alert(workspace, *, title, kind=Alert.Kind.RULE, gateway=None, correlation_id=None):
    return raise_alert(
        workspace_id=workspace.pk,
        kind=kind,
        subject=title,
        title=title,
        gateway_id=gateway.pk if gateway else None,
        gateway_slug=gateway.slug if gateway else "",
        correlation_id=correlation_id,
    )


@pytest.fixture
def ops(acme, alice):
    """A gateway no team of bob's reaches."""
    return gateway_services.create_gateway(workspace=acme, slug="ops", name="Ops", actor=alice)


def test_it_lists_open_alerts_and_acknowledges_one(as_, acme, alice, acme_gateway):
    call = uuid.uuid4()
    leaked = alert(
        acme, title="Rule 'secrets' acted on dev", gateway=acme_gateway, correlation_id=call
    )
    alert(acme, title="Server 'time' is down", kind=Alert.Kind.SERVER_DOWN)
    client = as_(alice)

    page = client.get("/w/acme/alerts/")
    assert page.status_code == 200
    assert "Rule &#x27;secrets&#x27; acted on dev" in text(page)
    assert "Server &#x27;time&#x27; is down" in text(page)
    assert f'href="/w/acme/logs/calls/{call}/"' in text(page)
    assert 'href="/w/acme/alerts/"' in text(page)  # in the navigation

    done = client.post(f"/w/acme/alerts/{leaked.pk}/acknowledge/", {"back": "kind=rule"})
    assert done.status_code == 302 and done["Location"] == "/w/acme/alerts/?kind=rule"
    assert "Acknowledged: Rule" in text(client.get(done["Location"]))  # the message, once
    leaked.refresh_from_db()
    assert leaked.acknowledged_at is not None and leaked.acknowledged_by == alice

    still_open = text(client.get("/w/acme/alerts/"))
    assert "secrets" not in still_open and "is down" in still_open
    acknowledged = text(client.get("/w/acme/alerts/?state=acknowledged"))
    assert "secrets" in acknowledged and "is down" not in acknowledged
    assert "alice@acme.test" in acknowledged and "Acknowledge</button>" not in acknowledged


def test_it_filters_by_kind(as_, acme, alice, acme_gateway):
    alert(
        acme, title="Callers refused on dev: bad token", kind=Alert.Kind.AUTH, gateway=acme_gateway
    )
    alert(acme, title="Server 'time' is down", kind=Alert.Kind.SERVER_DOWN)
    body = text(as_(alice).get("/w/acme/alerts/?kind=auth"))
    assert "bad token" in body and "is down" not in body
    # An unknown kind or state shows the default listing rather than failing.
    assert as_(alice).get("/w/acme/alerts/?kind=nope&state=nope").status_code == 200


def test_a_member_sees_only_the_alerts_of_gateways_they_reach(as_, acme, bob, acme_gateway, ops):
    alert(acme, title="On dev", gateway=acme_gateway, correlation_id=uuid.uuid4())
    hidden = alert(acme, title="On ops", gateway=ops)
    alert(acme, title="Server 'time' is down", kind=Alert.Kind.SERVER_DOWN)
    bobs = as_(bob)
    body = text(bobs.get("/w/acme/alerts/"))
    assert "On dev" in body
    assert "On ops" not in body and "is down" not in body
    assert "/logs/calls/" not in body  # no logs.view: no timeline link
    assert bobs.post(f"/w/acme/alerts/{hidden.pk}/acknowledge/").status_code == 404
    hidden.refresh_from_db()
    assert hidden.acknowledged_at is None


def test_it_hides_other_workspaces(as_, acme, globex, mallory, acme_gateway):
    theirs = alert(acme, title="Acme only", gateway=acme_gateway)
    intruder = as_(mallory)
    assert intruder.get("/w/acme/alerts/").status_code == 404
    assert "Acme only" not in text(intruder.get("/w/globex/alerts/"))
    assert intruder.post(f"/w/globex/alerts/{theirs.pk}/acknowledge/").status_code == 404
    assert intruder.post(f"/w/acme/alerts/{theirs.pk}/acknowledge/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.acknowledged_at is None


def test_pages_keep_the_filter(as_, acme, alice):
    for i in range(30):
        alert(acme, title=f"Callers refused: reason {i}", kind=Alert.Kind.AUTH)
    body = text(as_(alice).get("/w/acme/alerts/?kind=auth"))
    assert 'href="?kind=auth&amp;page=2"' in body
    second = text(as_(alice).get("/w/acme/alerts/?kind=auth&page=2"))
    assert "Page 2 of 2" in second


def test_the_dashboard_links_to_the_open_alerts_one_sees(as_, acme, alice, bob, acme_gateway, ops):
    alert(acme, title="On dev", gateway=acme_gateway)
    alert(acme, title="On ops", gateway=ops)
    acknowledged = alert(acme, title="Old news", gateway=acme_gateway, kind=Alert.Kind.AUTH)
    acknowledged.acknowledged_at = acknowledged.last_at
    acknowledged.save()
    badge = 'data-testid="open-alerts">{} open alert{}</a>'
    assert badge.format(1, "") in text(as_(bob).get("/w/acme/"))
    assert badge.format(2, "s") in text(as_(alice).get("/w/acme/"))
