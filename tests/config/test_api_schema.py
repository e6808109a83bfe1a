"""The OpenAPI document of the management API."""

import json
import re

from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from tests.support.api import error


def test_the_schema_is_a_valid_openapi_document(api, alice):
    response = api.as_(alice).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document = response.json()
    validate_schema(document)
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert "/api/v1/workspaces/{workspace}/gateways/{gateway}/assignments/{id}/" in paths
    assert "/api/v1/workspaces/{workspace}/changes/export/" in paths
    assert "apiToken" in document["components"]["securitySchemes"]


def test_the_docs_page_renders(api, alice):
    assert api.as_(alice).get("/api/docs/").status_code == 200


def test_swagger_and_redoc_load_their_assets_from_this_site(api, alice, client):
    """Offline use: no asset of either page comes from a CDN."""
    for url in ("/api/docs/", "/api/redoc/"):
        page = api.as_(alice).get(url).content.decode()
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert assets, url
        assert all(asset.startswith("/static/") for asset in assets), (url, assets)
        for asset in assets:
            assert client.get(asset).status_code in (200, 302), asset


def test_the_api_root_says_where_everything_is(client):
    index = client.get("/api/").json()
    assert index["versions"] == {"v1": "http://testserver/api/v1/"}
    assert index["docs"] == "http://testserver/api/docs/"
    assert index["redoc"] == "http://testserver/api/redoc/"


def test_the_favicon_is_served(client):
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 301
    assert redirect["Location"].endswith(".svg")


def test_the_schema_generates_without_a_warning(tmp_path):
    """`spectacular --validate --fail-on-warn`: every view's serializers, path parameter types
    and responses are known to the generator, and the result is valid OpenAPI."""
    target = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(target),
    )
    document = json.loads(target.read_text())
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert len(operations) > 80
    assert all(op["tags"] != ["v1"] and len(op["tags"]) == 1 for op in operations)
    # Every operation documents its errors, each in the one error shape.
    for op in operations:
        errors = {code: r for code, r in op["responses"].items() if code.startswith(("4", "5"))}
        assert {"401", "403", "405", "429", "500"} <= set(errors), op["operationId"]


def test_an_error_has_one_shape_whatever_its_cause(api, acme, alice, carol):
    """A 404, a 405, a validation error, a refused capability and a missing credential."""
    cases = [
        (api.as_(alice).get("/api/v1/workspaces/nowhere/gateways/"), 404, "not_found", None),
        (api.as_(alice).put("/api/v1/workspaces/acme/teams/", {}), 405, "method_not_allowed", None),
        (
            api.as_(alice).post("/api/v1/workspaces/acme/teams/", {"slug": "x"}, format="json"),
            400,
            "required",
            "name",
        ),
        (
            api.as_(carol).post(
                "/api/v1/workspaces/acme/teams/", {"slug": "x", "name": "X"}, format="json"
            ),
            403,
            "capability_required",
            None,
        ),
    ]
    # Paths no route matches: an id with a dot, a typo.
    cases.append(
        (api.as_(alice).post("/api/v1/workspaces/acme/roles/x./duplicate/"), 404, "not_found", None)
    )
    cases.append((api.as_(alice).get("/api/v1/workspaces/acme/gatewayz/"), 404, "not_found", None))
    api.logout()
    cases.append((api.get("/api/v1/workspaces/acme/teams/"), 401, "not_authenticated", None))
    cases.append((api.delete("/api/v1/no/such/thing"), 404, "not_found", None))
    for response, status, code, attr in cases:
        assert response.status_code == status, response.content
        assert error(response)["code"] == code
        assert error(response)["attr"] == attr
    assert cases[0][0].json()["type"] == "client_error"
    assert cases[2][0].json()["type"] == "validation_error"


def test_a_path_missing_its_trailing_slash_is_redirected_or_named(api, acme, alice):
    client = api.as_(alice)
    response = client.get("/api/v1/workspaces/acme/teams?page=2")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/workspaces/acme/teams/?page=2"
    response = client.post("/api/v1/workspaces/acme/teams", {"slug": "x"}, format="json")
    assert response.status_code == 404
    assert error(response)["detail"] == (
        "No such endpoint; did you mean /api/v1/workspaces/acme/teams/?"
    )
    assert client.get("/api/v1/no/such/thing").status_code == 404


def test_the_scim_endpoint_keeps_the_scim_error_format(client):
    """RFC 7644 section 3.12: SCIM errors are SCIM documents, not the API's shape."""
    response = client.get("/scim/v2/acme/Users")
    assert response.status_code == 401
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "401"
