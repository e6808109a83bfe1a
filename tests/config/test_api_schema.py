"""The OpenAPI document of the management API."""

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
