"""Client apps: the OAuth clients holding tokens for a workspace's gateways, switched off and on."""

from gateways import services as gateway_services
from teams.models import ConfigChange
from tests.identities.test_oauth_tokens import initialize, refused
from tests.support.api import error, refused_capability

W = "/api/v1/workspaces"


def test_an_admin_switches_a_client_app_off_and_on(deployment, api, alice, bob, oauth_client):
    access = oauth_client.tokens_for(bob.email, deployment.url)["access_token"]
    assert initialize(deployment, access).status_code == 200
    admin = api.as_(alice)
    apps = admin.get(f"{W}/acme/clients/").json()["results"]
    assert len(apps) == 1 and apps[0]["disabled_everywhere"] is False
    app_url = f"{W}/acme/clients/{apps[0]['id']}/"

    # A member sees the app but may not switch it.
    assert api.as_(bob).get(app_url).status_code == 200
    refused_switch = api.as_(bob).post(f"{app_url}disable/", {}, format="json")
    assert refused_switch.status_code == 403
    assert refused_capability(refused_switch) == "clients.toggle"

    admin = api.as_(alice)  # one test client: sign Alice in again
    switched = admin.post(f"{app_url}disable/", {}, format="json")
    assert switched.status_code == 200, switched.content
    assert switched.json()["disabled_everywhere"] is True
    assert refused(initialize(deployment, access))  # at once: the cached lookup was dropped

    assert admin.post(f"{app_url}enable/", {}, format="json").json()["disabled_everywhere"] is False
    assert initialize(deployment, access).status_code == 200
    actions = ConfigChange.objects.filter(action__startswith="client.").values_list("action")
    assert sorted(a for (a,) in actions) == ["client.disable", "client.enable"]


def test_one_gateway_can_be_switched_off_alone(deployment, api, alice, bob, oauth_client):
    other = gateway_services.create_gateway(
        workspace=deployment.acme, slug="ops", name="Operations", actor=alice
    )
    gateway_services.provision_teams(gateway=other, team_slugs=["eng"], actor=alice)
    gateway_services.assign_server(
        gateway=other, server=deployment.server, namespace="notes", actor=alice
    )
    ops_url = f"{deployment.base}/mcp/acme/ops"
    dev_token = oauth_client.tokens_for(bob.email, deployment.url)["access_token"]
    ops_token = oauth_client.tokens_for(bob.email, ops_url)["access_token"]
    admin = api.as_(alice)
    app_id = admin.get(f"{W}/acme/clients/").json()["results"][0]["id"]
    body = admin.post(f"{W}/acme/clients/{app_id}/disable/", {"gateway": "ops"}, format="json")
    assert body.json()["disabled_gateways"] == ["ops"]
    assert refused(initialize(deployment, ops_token, url=ops_url))
    assert initialize(deployment, dev_token).status_code == 200
    unknown = admin.post(f"{W}/acme/clients/{app_id}/disable/", {"gateway": "nope"}, format="json")
    assert unknown.status_code == 400 and error(unknown)["attr"] == "gateway"


def test_another_workspace_sees_no_client_app_of_ours(deployment, api, bob, oauth_client, globex):
    from teams.models import User

    oauth_client.tokens_for(bob.email, deployment.url)
    mallory = User.objects.get(email="mallory@globex.test")
    assert api.as_(mallory).get(f"{W}/globex/clients/").json()["results"] == []
    app_id = api.as_(bob).get(f"{W}/acme/clients/").json()["results"][0]["id"]
    assert api.as_(mallory).get(f"{W}/globex/clients/{app_id}/").status_code == 404
    assert api.as_(mallory).post(f"{W}/globex/clients/{app_id}/disable/").status_code == 404
