"""`/scim/v2/<workspace>/...`, the SCIM endpoint of each workspace."""

from django.urls import path, re_path

from identities.scim import views


def _routes(kind: views.ResourceKind) -> list:
    """`/Users`, `/Users/.search` and `/Users/<id>` (named scim-users, scim-users-search and
    scim-user), and the same for each resource type."""
    many, one = kind.endpoint.lower(), kind.name.lower()
    return [
        path(kind.endpoint, views.collection_view(kind), name=f"scim-{many}"),
        path(f"{kind.endpoint}/.search", views.search_view(kind), name=f"scim-{many}-search"),
        path(f"{kind.endpoint}/<str:scim_id>", views.resource_view(kind), name=f"scim-{one}"),
    ]


urlpatterns = [
    path("ServiceProviderConfig", views.service_provider_config, name="scim-config"),
    path("ResourceTypes", views.resource_types, name="scim-resource-types"),
    path("ResourceTypes/<str:name>", views.resource_types, name="scim-resource-type"),
    path("Schemas", views.schemas, name="scim-schemas"),
    path("Schemas/<str:urn>", views.schemas, name="scim-schema"),
    path(".search", views.search, name="scim-search"),
    *(route for kind in views.KINDS for route in _routes(kind)),
    re_path(r"^(?P<rest>.*)$", views.unknown, name="scim-unknown"),
]
