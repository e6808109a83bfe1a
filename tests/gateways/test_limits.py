"""A gateway's rate limits through the API, the console and `apply`: the same checks and
messages everywhere; and the API's own throttles."""

import pytest
from django.core.management.base import CommandError

from gateways.models import Gateway
from identities.services import issue_token
from teams.models import Membership
from tests.support.api import error
from tests.support.config_files import ACME_YAML
from tests.support.console import text

W = "/api/v1/workspaces/acme"
LIMITS = [
    {"scope": "person", "rate": "60/minute"},
    {"scope": "tool", "tool": "time__now", "rate": "10/minute"},
]

BAD = [
    ([{"scope": "person", "rate": "lots"}], "'lots' is not a rate"),
    ([{"scope": "person", "rate": "0/minute"}], "allows nothing"),
    ([{"scope": "person", "rate": "1/minute;9/second"}], "write one rate per limit"),
    ([{"scope": "team", "rate": "5/minute"}], "scope must be one of person, token, gateway, tool"),
    ([{"scope": "tool", "rate": "5/minute"}], "a tool limit names its tool"),
    ([{"scope": "person", "tool": "x", "rate": "5/minute"}], "'tool' is for the tool scope"),
    ([{"scope": "person", "rate": "5/minute", "burst": 3}], "unknown key 'burst'"),
    ("60/minute", "Limits are a list"),
]


def test_the_api_sets_and_shows_limits(api, acme, alice, acme_gateway):
    client = api.as_(alice)
    response = client.patch(f"{W}/gateways/dev/", {"limits": LIMITS}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["limits"] == LIMITS
    assert client.get(f"{W}/gateways/dev/").json()["limits"] == LIMITS
    created = client.post(
        f"{W}/gateways/", {"slug": "ops", "name": "Ops", "limits": LIMITS[:1]}, format="json"
    )
    assert created.status_code == 201
    assert Gateway.objects.for_workspace(acme).get(slug="ops").limits == LIMITS[:1]


@pytest.mark.parametrize(("limits", "message"), BAD)
def test_the_api_refuses_bad_limits_with_a_clear_message(api, alice, acme_gateway, limits, message):
    response = api.as_(alice).patch(f"{W}/gateways/dev/", {"limits": limits}, format="json")
    assert response.status_code == 400
    assert message in error(response)["detail"]
    assert error(response)["attr"] == "limits"
    acme_gateway.refresh_from_db()
    assert acme_gateway.limits == []


def test_the_console_sets_limits_and_shows_them(as_, alice, acme_gateway):
    client = as_(alice)
    response = client.post(
        "/w/acme/gateways/dev/limits/",
        {"limits": "person 60/minute\n\ntool time__now 10/minute\n"},
    )
    assert response.status_code == 302
    acme_gateway.refresh_from_db()
    assert acme_gateway.limits == LIMITS
    page = text(client.get("/w/acme/gateways/dev/"))
    assert "60/minute per person" in page
    assert "10/minute for tool time__now" in page


def test_the_console_refuses_bad_limits_on_the_field(as_, alice, acme_gateway):
    response = as_(alice).post("/w/acme/gateways/dev/limits/", {"limits": "person often"})
    assert response.status_code == 400
    assert "often" in text(response) and "is not a rate" in text(response)
    acme_gateway.refresh_from_db()
    assert acme_gateway.limits == []


def test_setting_limits_needs_gateways_manage(as_, bob, acme_gateway):
    response = as_(bob).post("/w/acme/gateways/dev/limits/", {"limits": "person 1/minute"})
    assert response.status_code == 403
    acme_gateway.refresh_from_db()
    assert acme_gateway.limits == []


_WITH_LIMITS = ACME_YAML.replace(
    "    teams: [eng]\n    assignments:",
    "    teams: [eng]\n"
    "    limits:\n"
    '      - {scope: person, rate: "60/minute"}\n'
    '      - {scope: tool, tool: time__now, rate: "10/minute"}\n'
    "    assignments:",
)


@pytest.mark.django_db
def test_apply_sets_limits_and_is_idempotent(config_file, run):
    path = config_file(_WITH_LIMITS)
    run("apply", path)
    assert Gateway.objects.get(slug="dev").limits == LIMITS
    again = run("apply", path)
    assert "0 changed" in again
    changed = run("apply", config_file(_WITH_LIMITS.replace('"60/minute"', '"30/minute"')))
    assert "changed   gateway dev (limits)" in changed
    assert Gateway.objects.get(slug="dev").limits[0]["rate"] == "30/minute"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('rate: "60/minute"', 'rate: "sixty"', "'sixty' is not a rate"),
        ("scope: person", "scope: team", "scope"),
        ("tool: time__now, ", "", "a tool limit names its tool"),
    ],
)
def test_apply_refuses_bad_limits_with_the_place(config_file, run, old, new, message):
    path = config_file(_WITH_LIMITS.replace(old, new))
    with pytest.raises(CommandError) as refused:
        run("apply", path)
    assert "gateways[0].limits[" in str(refused.value)
    assert message in str(refused.value)
    assert not Gateway.objects.exists()


# -- the API's own throttles ----------------------------------------------------------------------


def test_an_api_token_past_its_rate_is_throttled_with_retry_after(api, acme, alice, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "anonymous": "2/minute"},
    }
    membership = Membership.objects.get(workspace=acme, user=alice)
    secret = issue_token(
        membership=membership, name="ci", actor=alice, kind="api", scopes=["read"]
    ).secret
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    codes = [api.get(f"{W}/gateways/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = api.get(f"{W}/gateways/")
    assert 1 <= int(refused["Retry-After"]) <= 60
    # Signed in without the token, alice has a count of her own.
    api.credentials()
    assert api.as_(alice).get(f"{W}/gateways/").status_code == 200


def test_bad_api_tokens_are_throttled_per_address(api, acme, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "anonymous": "2/minute"},
    }
    api.credentials(HTTP_AUTHORIZATION="Bearer gth_guessed")
    codes = [api.get(f"{W}/gateways/").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    refused = api.get(f"{W}/gateways/")
    assert refused.status_code == 429 and "Retry-After" in refused
    assert "bad tokens" in error(refused)["detail"]
    assert api.get(f"{W}/gateways/", REMOTE_ADDR="198.51.100.30").status_code == 401
