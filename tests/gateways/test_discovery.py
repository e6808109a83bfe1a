"""The MCP catalog (`/.well-known/mcp/catalog.json`) and each workspace's registry
(`/registry/<workspace>/v0.1/...`): who sees which gateway, in the published shapes.

Bob (acme, team eng) may use `dev`; alice (owner) may use every acme gateway, `ops` too; carol
(auditor, no team) may use none; mallory owns globex and is nobody in acme.
"""

from urllib.parse import quote

import pytest
from django.test import Client

from gateways import services as gateway_services
from identities.models import ApiToken
from tests.support.api import bearer
from tests.support.mcp_schemas import is_absolute_url, server_json_errors
from tests.support.oauth_apps import oauth_app, oauth_sign_in

CATALOG = "/.well-known/mcp/catalog.json"
REGISTRY = "/registry/acme/v0.1/servers"
DEV = "testserver.acme/dev"
OPS = "testserver.acme/ops"


def _entry(slug: str, name: str) -> dict:
    return {
        "identifier": f"urn:air:testserver:acme:{slug}",
        "displayName": name,
        "type": "application/mcp-server-card+json",
        "url": f"http://testserver/mcp/acme/{slug}/server-card",
    }


DEV_ENTRY = _entry("dev", "Developer tools")
OPS_ENTRY = _entry("ops", "Operations")


@pytest.fixture
def ops(acme, alice):
    """An acme gateway provisioned to no team: only a role with `gateways.use_all` reaches it."""
    return gateway_services.create_gateway(
        workspace=acme, slug="ops", name="Operations", description="Runbooks", actor=alice
    )


def _get(url, secret=None, **params):
    return Client().get(url, params, **(bearer(secret) if secret else {}))


def _entries(secret=None) -> list[dict]:
    response = _get(CATALOG, secret)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["specVersion"] == "draft"
    return body["entries"]


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [entry["server"]["name"] for entry in response.json()["servers"]]


# -- the catalog ---------------------------------------------------------------------------------


def test_the_catalog_lists_nothing_to_anonymous_callers(acme_gateway, ops, globex_gateway):
    response = _get(CATALOG)
    assert response.status_code == 200
    assert response.json() == {"specVersion": "draft", "entries": []}
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response["Vary"] == "Authorization"


def test_a_gateway_token_sees_the_gateways_it_opens(acme, acme_gateway, ops, alice, bob, token_for):
    assert _entries(token_for(acme, bob)) == [DEV_ENTRY]
    assert _entries(token_for(acme, alice)) == [DEV_ENTRY, OPS_ENTRY]
    # Bound to one gateway, a token shows that one, whatever else its owner may use.
    assert _entries(token_for(acme, alice, gateway=ops)) == [OPS_ENTRY]


def test_an_api_token_sees_every_gateway_its_owner_may_use(
    acme, acme_gateway, ops, alice, bob, api_token_for
):
    assert _entries(api_token_for(acme, alice, "read")) == [DEV_ENTRY, OPS_ENTRY]
    assert _entries(api_token_for(acme, bob, "read")) == [DEV_ENTRY]
    response = _get(CATALOG, api_token_for(acme, bob, "read"))
    assert response["Cache-Control"] == "private, no-store"


def test_the_catalog_does_not_query_per_gateway(
    acme, acme_gateway, ops, alice, api_token_for, django_assert_max_num_queries
):
    secret = api_token_for(acme, alice, "read")
    with django_assert_max_num_queries(20) as two:
        assert len(_entries(secret)) == 2
    for n in range(5):
        gateway_services.create_gateway(
            workspace=acme, slug=f"more-{n}", name="More", description="More tools", actor=alice
        )
    with django_assert_max_num_queries(len(two.captured_queries)):
        assert len(_entries(secret)) == 7


def test_an_oauth_token_sees_the_gateway_it_was_issued_for(acme, acme_gateway, ops, alice):
    signed_in = oauth_sign_in(alice, oauth_app(alice), "http://testserver/mcp/acme/ops")
    assert _entries(signed_in["secret"]) == [OPS_ENTRY]


def test_a_person_the_gateways_are_not_provisioned_to_sees_none(
    acme, acme_gateway, ops, carol, token_for
):
    assert _entries(token_for(acme, carol)) == []


def test_the_catalog_never_shows_another_workspace(
    acme, acme_gateway, ops, globex, globex_gateway, mallory, token_for, api_token_for
):
    prod = {
        "identifier": "urn:air:testserver:globex:prod",
        "displayName": "Production",
        "type": "application/mcp-server-card+json",
        "url": "http://testserver/mcp/globex/prod/server-card",
    }
    for secret in (token_for(globex, mallory), api_token_for(globex, mallory)):
        response = _get(CATALOG, secret)
        assert response.json()["entries"] == [prod]
        assert b"acme" not in response.content


@pytest.mark.parametrize("kind", ["connector", "scim"])
def test_tokens_of_other_kinds_are_refused(acme, acme_gateway, alice, token_for, kind):
    response = _get(CATALOG, token_for(acme, alice, kind=kind))
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid, expired or revoked token."}
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_revoked_or_unknown_token_is_refused(acme, acme_gateway, bob, token_for):
    secret = token_for(acme, bob)
    ApiToken.objects.update(revoked_at="2020-01-01T00:00:00Z")
    for token in (secret, "gth_not-a-token", "gto_" + "x" * 40):
        assert _get(CATALOG, token).status_code == 401, token


def test_bad_tokens_are_throttled_per_address(acme_gateway):
    codes = [_get(CATALOG, f"gth_guess{n}").status_code for n in range(31)]
    assert codes == [401] * 30 + [429]


def test_the_catalog_is_read_only(acme_gateway):
    assert Client().post(CATALOG).status_code == 405
    preflight = Client().options(CATALOG)
    assert preflight.status_code == 204
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]


# -- the registry: listing ----------------------------------------------------------------------


def test_the_registry_lists_the_callers_gateways_as_server_json(
    acme, acme_gateway, ops, bob, token_for
):
    gateway_services.update_gateway(gateway=acme_gateway, description="Code review", actor=bob)
    response = _get(REGISTRY, token_for(acme, bob))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["metadata"] == {"count": 1}
    [entry] = body["servers"]
    server = entry["server"]
    assert server_json_errors(server) == []
    assert server["name"] == DEV
    assert server["title"] == "Developer tools"
    assert server["description"] == "Code review"
    assert [(r["type"], r["url"]) for r in server["remotes"]] == [
        ("streamable-http", "http://testserver/mcp/acme/dev"),
        ("sse", "http://testserver/mcp/acme/dev/sse"),
    ]
    assert all(is_absolute_url(remote["url"]) for remote in server["remotes"])
    official = entry["_meta"]["io.modelcontextprotocol.registry/official"]
    assert official["status"] == "active" and official["isLatest"] is True
    assert official["updatedAt"] >= official["publishedAt"]
    # A registry entry says how to connect, never what the gateway offers or what is behind it.
    assert set(server) == {"$schema", "name", "title", "description", "version", "remotes"}
    assert "127.0.0.1:9001" not in response.content.decode()


def test_the_registry_pages_with_cursors(acme, acme_gateway, alice, api_token_for):
    for n in range(7):
        gateway_services.create_gateway(workspace=acme, slug=f"g{n}", name=f"G{n}", actor=alice)
    secret = api_token_for(acme, alice, "read")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = _get(REGISTRY, secret, **params)
        names = _names(response)
        metadata = response.json()["metadata"]
        assert metadata["count"] == len(names) <= 3
        seen += names
        pages += 1
        cursor = metadata.get("nextCursor")
        if not cursor:
            break
    expected = sorted(["testserver.acme/dev", *(f"testserver.acme/g{n}" for n in range(7))])
    assert seen == expected
    assert pages == 3
    # Without a limit, one page of at most 30 holds them all.
    assert _names(_get(REGISTRY, secret)) == expected


def test_the_registry_searches_and_filters(acme, acme_gateway, ops, alice, api_token_for):
    secret = api_token_for(acme, alice, "read")
    assert _names(_get(REGISTRY, secret, search="OPS")) == [OPS]
    assert _names(_get(REGISTRY, secret, search="acme/")) == [DEV, OPS]
    assert _names(_get(REGISTRY, secret, search="nothing-like-it")) == []
    assert _names(_get(REGISTRY, secret, version="latest")) == [DEV, OPS]
    assert _names(_get(REGISTRY, secret, version="0.1.0")) == [DEV, OPS]
    assert _names(_get(REGISTRY, secret, version="9.9.9")) == []
    assert _names(_get(REGISTRY, secret, updated_since="2000-01-01T00:00:00Z")) == [DEV, OPS]
    assert _names(_get(REGISTRY, secret, updated_since="2999-01-01T00:00:00Z")) == []
    assert _names(_get(REGISTRY, secret, include_deleted="true")) == [DEV, OPS]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be between 1 and 100."),
        ({"limit": "101"}, "limit must be between 1 and 100."),
        ({"limit": "ten"}, "limit must be a whole number."),
        ({"cursor": "!!!"}, "cursor is not one this registry returned."),
        ({"cursor": "Zm9vX2Jhcg"}, "cursor is not one this registry returned."),
        ({"cursor": "é"}, "cursor is not one this registry returned."),
        (
            {"updated_since": "2024-13-01T00:00:00Z"},
            "updated_since must be an RFC 3339 date-time with a time zone.",
        ),
        (
            {"updated_since": "2024-02-30T00:00:00+00:00"},
            "updated_since must be an RFC 3339 date-time with a time zone.",
        ),
        (
            {"updated_since": "2025-01-01T00:00:00"},
            "updated_since must be an RFC 3339 date-time with a time zone.",
        ),
        (
            {"updated_since": "yesterday"},
            "updated_since must be an RFC 3339 date-time with a time zone.",
        ),
        ({"include_deleted": "maybe"}, "include_deleted must be true or false."),
    ],
)
def test_bad_list_parameters_are_explained(acme, acme_gateway, bob, token_for, params, message):
    response = _get(REGISTRY, token_for(acme, bob), **params)
    assert response.status_code == 400
    assert response.json() == {"error": message}


# -- the registry: one server -------------------------------------------------------------------


def _server_url(name: str, tail: str = "/versions/latest", workspace: str = "acme") -> str:
    return f"/registry/{workspace}/v0.1/servers/{quote(name, safe='')}{tail}"


def test_one_server_by_name_and_version(acme, acme_gateway, bob, token_for):
    secret = token_for(acme, bob)
    listed = _get(REGISTRY, secret).json()["servers"][0]

    for version in ("latest", "0.1.0"):
        response = _get(_server_url(DEV, f"/versions/{version}"), secret)
        assert response.status_code == 200, response.content
        assert response.json() == listed
    versions = _get(_server_url(DEV, "/versions"), secret)
    assert versions.json() == {"servers": [listed], "metadata": {"count": 1}}

    missing_version = _get(_server_url(DEV, "/versions/2.0.0"), secret)
    assert missing_version.status_code == 404
    assert missing_version.json() == {"error": "Server version not found."}


@pytest.mark.parametrize(
    "name",
    [
        OPS,  # exists, but bob may not use it: the same as a server that does not exist
        "testserver.acme/nope",
        "testserver.globex/dev",  # another namespace
        "example.com.acme/dev",
    ],
)
def test_servers_the_caller_may_not_see_are_missing(acme, acme_gateway, ops, bob, token_for, name):
    secret = token_for(acme, bob)
    for tail in ("/versions", "/versions/latest"):
        response = _get(_server_url(name, tail), secret)
        assert response.status_code == 404
        assert response.json() == {"error": "Server not found."}


# -- the registry: who may read it --------------------------------------------------------------

REGISTRY_URLS = [
    REGISTRY,
    _server_url(DEV, "/versions"),
    _server_url(DEV, "/versions/latest"),
]


def _same_as_missing(url: str, secret=None) -> None:
    response = _get(url, secret)
    missing = _get(url.replace("/registry/acme/", "/registry/nosuch/"), secret)
    assert (response.status_code, response.json()) == (missing.status_code, missing.json())


@pytest.mark.parametrize("url", REGISTRY_URLS)
def test_it_hides_other_workspaces(
    acme, acme_gateway, globex, globex_gateway, mallory, token_for, api_token_for, url
):
    for secret in (token_for(globex, mallory), api_token_for(globex, mallory)):
        response = _get(url, secret)
        assert response.status_code == 404
        assert response.json() == {"error": "Not found."}
        _same_as_missing(url, secret)
    # Nor does globex's own registry answer for acme's servers.
    response = _get(_server_url(DEV, workspace="globex"), token_for(globex, mallory))
    assert response.status_code == 404


@pytest.mark.parametrize("url", REGISTRY_URLS)
def test_anonymous_callers_are_refused(acme, acme_gateway, url):
    response = _get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Developer tools" not in response.content.decode()
    _same_as_missing(url)


def test_the_registry_is_read_only(acme, acme_gateway, bob, token_for):
    response = Client().post(REGISTRY, **bearer(token_for(acme, bob)))
    assert response.status_code == 405
    assert response.json() == {"error": "Use GET."}
