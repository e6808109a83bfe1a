"""OpenAPI declarations shared by the workspace-scoped viewsets, and the API's schema class.

The `workspace` (and `gateway`) URL kwargs are slugs; without these declarations the schema
generator would guess their type from the models' foreign keys and call them integers.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_standardized_errors.openapi import AutoSchema

WORKSPACE_PARAMETER = OpenApiParameter(
    "workspace", str, OpenApiParameter.PATH, description="The workspace slug."
)
GATEWAY_PARAMETER = OpenApiParameter(
    "gateway", str, OpenApiParameter.PATH, description="The gateway slug."
)

workspace_scoped = extend_schema(parameters=[WORKSPACE_PARAMETER])
gateway_scoped = extend_schema(parameters=[WORKSPACE_PARAMETER, GATEWAY_PARAMETER])


# Router basenames whose tag is not simply the plural of the basename.
_TAGS = {"my-workspace": "workspaces", "client-app": "clients"}
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class GatehouseAutoSchema(AutoSchema):
    """One tag per resource, and the error responses our views can give beyond the defaults.

    drf-standardized-errors documents 403 only for views with permission classes beyond
    `IsAuthenticated`, but every workspace endpoint refuses a missing capability or token scope
    with 403; a 400 comes from a body or from query parameters; every write may meet a 409.
    """

    def get_tags(self) -> list[str]:
        basename = getattr(self.view, "basename", None)
        if basename:
            return [_TAGS.get(basename, f"{basename}s")]
        # A single resource routed without the router (sso, scim, alert-webhook): its segment.
        segments = self.path.strip("/").split("/")
        if "{workspace}" in segments[:-1]:
            return [segments[segments.index("{workspace}") + 1]]
        return super().get_tags()

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        if status_code == "409" and self.method not in _UNSAFE:
            return False
        return super()._should_add_error_response(responses, status_code)

    def _should_add_http403_error_response(self) -> bool:
        return bool(self._get_auth_methods()) or super()._should_add_http403_error_response()

    def _should_add_validation_error_response(self) -> bool:
        has_query = any(p["in"] == "query" for p in self._get_parameters())
        return (
            self.method in _UNSAFE or has_query or super()._should_add_validation_error_response()
        )

    def _get_auth_methods(self) -> list:
        return [method for method in self.get_auth() if method]
