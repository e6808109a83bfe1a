"""Only api tokens open the management API: every operation of the OpenAPI schema, generated at
test time, refuses a gateway, connector or SCIM token (403) and an OAuth access token (401),
even an owner's, with the path filled with real ids of the token's own workspace."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from identities.services import issue_token
from teams.models import Membership

# The object a `{id}` names, by the collection it follows in the path.
ID_AFTER = {
    "alerts": "alert",
    "assignments": "assignment",
    "clients": "client",
    "headless-clients": "headless",
    "connectors": "connector",
    "credentials": "credential",
    "logs": "log",
    "members": "member",
    "rules": "rule",
    "sinks": "sink",
    "tokens": "token",
    "trusted-idps": "trusted_idp",
}
SLUG_AFTER = {"gateways": "dev", "teams": "eng"}


def _operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _fill(path: str, objects: dict) -> str:
    values = {
        "workspace": "acme",
        "gateway": "dev",
        "assignment": objects["assignment"],
        "key": "reviewer",
        "name": "time",
        "correlation_id": objects["correlation"],
    }

    def value(match):
        before, name = match.group(1), match.group(2)
        if name == "id":
            return f"{before}/{objects[ID_AFTER[before]]}"
        if name == "slug":
            return f"{before}/{SLUG_AFTER[before]}"
        return f"{before}/{values[name]}"

    filled = re.sub(r"([\w-]+)/\{(\w+)\}", value, path)
    assert "{" not in filled, f"no value for a parameter of {path}"
    return filled


def _offenders(api, objects, secret, allowed: set[int]) -> list[str]:
    offenders = []
    for method, path in _operations():
        url = _fill(path, objects)
        response = getattr(api, method)(
            url, {}, format="json", HTTP_AUTHORIZATION=f"Bearer {secret}"
        )
        if response.status_code not in allowed:
            offenders.append(f"{method.upper()} {url} -> {response.status_code}")
    return offenders


def _token(workspace, user, **kwargs) -> str:
    membership = Membership.objects.get(workspace=workspace, user=user)
    return issue_token(membership=membership, name="probe", actor=user, **kwargs).secret


def test_the_schema_lists_the_operations_checked():
    operations = _operations()
    assert len(operations) > 60
    assert ("post", "/api/v1/workspaces/{workspace}/gateways/") in operations
    assert ("get", "/api/v1/workspaces/{workspace}/logs/export/") in operations


@pytest.mark.parametrize("gateway", ["dev", None], ids=["one gateway", "every gateway"])
def test_a_gateway_token_is_refused_by_every_operation(
    api, acme, alice, acme_gateway, acme_objects, gateway
):
    secret = _token(acme, alice, gateway=acme_gateway if gateway else None)
    offenders = _offenders(api, acme_objects, secret, {403})
    assert not offenders, "operations that did not refuse a gateway token:\n" + "\n".join(offenders)


@pytest.mark.parametrize("kind", ["connector", "scim"])
def test_connector_and_scim_tokens_are_refused_by_every_operation(
    api, acme, alice, acme_objects, kind
):
    secret = _token(acme, alice, kind=kind)
    offenders = _offenders(api, acme_objects, secret, {401, 403})
    assert not offenders, f"operations that did not refuse a {kind} token:\n" + "\n".join(offenders)


def test_an_oauth_access_token_is_refused_by_every_operation(
    api, acme, acme_objects, client_app, settings
):
    # To the API an OAuth token is a bad token, and bad tokens are throttled per address
    # (tests/gateways/test_limits.py); here every operation must refuse it on its own.
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "anonymous": "100000/minute"},
    }
    secret = client_app.accesstoken_set.get().token
    offenders = _offenders(api, acme_objects, secret, {401, 403})
    assert not offenders, "operations that did not refuse an OAuth token:\n" + "\n".join(offenders)


def test_the_ids_are_real_so_an_api_token_reaches_every_read(
    api, acme, alice, acme_objects, api_token_for
):
    # Guards the tests above: with an owner's api token no read is a 404 or a refusal, so a
    # refusal above is the token's kind, not a wrong URL.
    secret = api_token_for(acme, alice)
    offenders = [
        f"GET {url} -> {status}"
        for method, path in _operations()
        if method == "get"
        for url in [_fill(path, acme_objects)]
        for status in [api.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code]
        if status != 200 and not url.endswith("/sso/")
    ]
    assert not offenders, "\n".join(offenders)
