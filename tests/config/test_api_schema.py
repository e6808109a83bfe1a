"""The OpenAPI document of the management API."""

import re

from drf_spectacular.validation import validate_schema


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
