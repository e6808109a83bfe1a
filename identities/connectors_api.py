"""The connector endpoints of the management API: list and revoke.

A member lists and revokes their own connectors; `servers.manage` extends that to every
connector of the workspace. Another member's connector is a 404 without it, as if it did not
exist.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from identities import connectors
from identities.models import Connector
from identities.serializers import ConnectorOutput
from teams.api_base import OWN, WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import SERVERS_MANAGE

_FILTERS = [
    OpenApiParameter("server", str, description="Only the connectors serving this server name."),
    OpenApiParameter("live", bool, description="1: only the live connectors."),
]


@workspace_scoped
class ConnectorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = ConnectorOutput
    queryset = Connector.objects.none()
    required = {"list": OWN, "retrieve": OWN, "revoke": OWN}

    def scoped_queryset(self, workspace):
        qs = connectors.connectors_visible_to(self.membership, see_all=self.can(SERVERS_MANAGE))
        if self.action != "list":
            return qs
        server = self.request.query_params.get("server")
        if server:
            qs = connectors.serving(qs, server)
        if self.request.query_params.get("live") in {"1", "true", "yes"}:
            qs = connectors.live(qs)
        return qs

    @extend_schema(parameters=_FILTERS)
    def list(self, request, *args, **kwargs):
        """Your connectors, or every connector of the workspace with servers.manage."""
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=ConnectorOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        """Revoke the connector's token: its socket (and any other made with that token) closes."""
        connector = connectors.revoke(self.get_object(), self.membership)
        return Response(ConnectorOutput(connector).data)
