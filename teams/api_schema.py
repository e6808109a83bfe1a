"""OpenAPI declarations shared by the workspace-scoped viewsets.

The `workspace` (and `gateway`) URL kwargs are slugs; without these declarations the schema
generator would guess their type from the models' foreign keys and call them integers.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema

WORKSPACE_PARAMETER = OpenApiParameter(
    "workspace", str, OpenApiParameter.PATH, description="The workspace slug."
)
GATEWAY_PARAMETER = OpenApiParameter(
    "gateway", str, OpenApiParameter.PATH, description="The gateway slug."
)

workspace_scoped = extend_schema(parameters=[WORKSPACE_PARAMETER])
gateway_scoped = extend_schema(parameters=[WORKSPACE_PARAMETER, GATEWAY_PARAMETER])
