"""The server endpoints of the management API.

Which capability a write needs depends on the server's kind (remote, managed or workstation), so
those actions check it from the kind rather than from the static `required` map.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from gateways.selectors import servers_visible_to
from servers import services
from servers.models import KIND_CAPABILITY, Server
from servers.platform_addresses import callback_uri
from servers.serializers import ProbeOutput, ServerCreateInput, ServerOutput, ServerUpdateInput
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped


@workspace_scoped
class ServerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = ServerOutput
    queryset = Server.objects.none()
    lookup_field = "name"

    def scoped_queryset(self, workspace):
        # servers.view_all decides between every server and those on the member's gateways.
        return servers_visible_to(self.membership)

    def _require_kind(self, kind: str) -> None:
        self.require(KIND_CAPABILITY[kind])

    @extend_schema(request=ServerCreateInput, responses={201: ServerOutput})
    def create(self, request, *args, **kwargs):
        serializer = ServerCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        self._require_kind(data["kind"])
        server = services.create_server(workspace=self.workspace, actor=request.user, **data)
        return Response(ServerOutput(server).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ServerUpdateInput, responses=ServerOutput)
    def partial_update(self, request, *args, **kwargs):
        server = self.get_object()
        self._require_kind(server.kind)
        serializer = ServerUpdateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "kind" in changes:
            self._require_kind(changes["kind"])
        server = services.update_server(server=server, actor=request.user, **changes)
        return Response(ServerOutput(server).data)

    @extend_schema(request=None, responses=ProbeOutput)
    @action(detail=True, methods=["post"])
    def probe(self, request, *args, **kwargs):
        """Ask the remote server which identity it needs, keep and return the proposal."""
        server = self.get_object()
        self._require_kind(server.kind)
        services.probe_identity(server=server)
        answer = {
            **server.identity_probe,
            "redirect_uri": callback_uri(workspace=self.workspace, request=request),
            "probed_at": server.identity_probed_at,
        }
        return Response(ProbeOutput(answer).data)

    def destroy(self, request, *args, **kwargs):
        server = self.get_object()
        self._require_kind(server.kind)
        services.delete_server(server=server, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
