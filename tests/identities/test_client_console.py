"""The client apps page: the OAuth apps holding tokens for the workspace, switched off and on."""

import pytest

from gateways import services as gateway_services
from identities.models import DisabledClient
from teams.capabilities import CLIENTS_TOGGLE
from teams.models import ConfigChange
from tests.support.console import text
from tests.support.oauth_apps import oauth_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def claude(acme, bob, acme_gateway):
    return oauth_app(bob)


@pytest.fixture
def ops(acme, alice):
    return gateway_services.create_gateway(workspace=acme, slug="ops", name="Ops", actor=alice)


def switched_off(app):
    return sorted(
        (row.gateway.slug if row.gateway else "*")
        for row in DisabledClient.objects.filter(application=app).select_related("gateway")
    )


def test_it_lists_the_apps_holding_tokens_for_our_gateways(as_, acme, alice, claude, globex):
    oauth_app(alice, name="Elsewhere", resource="http://testserver/mcp/globex/prod")
    body = text(as_(alice).get("/w/acme/clients/"))
    assert "Claude" in body and claude.client_id[:20] in body
    assert "Elsewhere" not in body
    assert '<span class="badge ok">on</span>' in body
    assert 'href="/w/acme/clients/"' in body  # in the navigation


def test_an_admin_switches_an_app_off_everywhere_after_confirming(as_, acme, alice, claude):
    client = as_(alice)
    confirm = client.get(f"/w/acme/clients/{claude.pk}/off/?gateway=")
    assert confirm.status_code == 200
    assert "Switch Claude off on every gateway of the workspace?" in text(confirm)
    assert switched_off(claude) == []  # asking changed nothing

    done = client.post(f"/w/acme/clients/{claude.pk}/off/?gateway=")
    assert done.status_code == 302 and done["Location"] == "/w/acme/clients/"
    assert switched_off(claude) == ["*"]
    body = text(client.get("/w/acme/clients/"))
    assert "off everywhere" in body and "Switch on</button>" in body

    client.post(f"/w/acme/clients/{claude.pk}/on/")
    assert switched_off(claude) == []
    actions = ConfigChange.objects.filter(action__startswith="client.").values_list("action")
    assert sorted(a for (a,) in actions) == ["client.disable", "client.enable"]


def test_one_gateway_can_be_switched_off_alone(as_, acme, alice, claude, ops):
    client = as_(alice)
    page = text(client.get("/w/acme/clients/"))
    assert '<option value="ops">Ops (ops)</option>' in page
    confirm = text(client.get(f"/w/acme/clients/{claude.pk}/off/?gateway=ops"))
    assert "Switch Claude off on the gateway ops?" in confirm
    client.post(f"/w/acme/clients/{claude.pk}/off/?gateway=ops")
    assert switched_off(claude) == ["ops"]
    body = text(client.get("/w/acme/clients/"))
    assert "off for ops" in body and "Switch on for ops" in body
    assert '<option value="ops">' not in body  # already off there

    client.post(f"/w/acme/clients/{claude.pk}/on/", {"gateway": "ops"})
    assert switched_off(claude) == []


def test_an_unknown_gateway_is_refused_with_a_message(as_, acme, alice, claude):
    client = as_(alice)
    for answer in (
        client.get(f"/w/acme/clients/{claude.pk}/off/?gateway=nope", follow=True),
        client.post(f"/w/acme/clients/{claude.pk}/off/?gateway=nope", follow=True),
    ):
        assert answer.redirect_chain == [("/w/acme/clients/", 302)]
        assert "Unknown gateway &#x27;nope&#x27;." in text(answer)
    assert switched_off(claude) == []


def test_switching_requires_clients_toggle(as_, console_as_dave_with, acme, bob, claude):
    bobs = as_(bob)
    body = text(bobs.get("/w/acme/clients/"))
    assert claude.client_id[:20] in body and "Switch off" not in body
    refused = bobs.post(f"/w/acme/clients/{claude.pk}/off/")
    assert refused.status_code == 403 and "clients.toggle" in text(refused)
    assert bobs.get(f"/w/acme/clients/{claude.pk}/off/").status_code == 403
    assert bobs.post(f"/w/acme/clients/{claude.pk}/on/").status_code == 403
    assert switched_off(claude) == []

    dave = console_as_dave_with({CLIENTS_TOGGLE})
    assert "Switch off" in text(dave.get("/w/acme/clients/"))
    dave.post(f"/w/acme/clients/{claude.pk}/off/")
    assert switched_off(claude) == ["*"]


def test_it_hides_other_workspaces(as_, acme, claude, globex, mallory):
    intruder = as_(mallory)
    assert intruder.get("/w/acme/clients/").status_code == 404
    assert claude.client_id[:20] not in text(intruder.get("/w/globex/clients/"))
    assert intruder.get(f"/w/globex/clients/{claude.pk}/off/").status_code == 404
    assert intruder.post(f"/w/globex/clients/{claude.pk}/off/").status_code == 404
    assert switched_off(claude) == []
