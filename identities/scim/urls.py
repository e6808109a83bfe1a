"""`/scim/v2/<workspace>/...`, the SCIM endpoint of each workspace."""

from django.urls import path, re_path

from identities.scim import views

urlpatterns = [
    path("ServiceProviderConfig", views.service_provider_config, name="scim-config"),
    path("ResourceTypes", views.resource_types, name="scim-resource-types"),
    path("ResourceTypes/<str:name>", views.resource_types, name="scim-resource-type"),
    path("Schemas", views.schemas, name="scim-schemas"),
    path("Schemas/<str:urn>", views.schemas, name="scim-schema"),
    path(".search", views.search, name="scim-search"),
    path("Users", views.users, name="scim-users"),
    path("Users/.search", views.users_search, name="scim-users-search"),
    path("Users/<str:scim_id>", views.user, name="scim-user"),
    path("Groups", views.groups, name="scim-groups"),
    path("Groups/.search", views.groups_search, name="scim-groups-search"),
    path("Groups/<str:scim_id>", views.group, name="scim-group"),
    re_path(r"^(?P<rest>.*)$", views.unknown, name="scim-unknown"),
]
