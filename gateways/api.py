"""The gateway, assignment and report endpoints of the management API.

Gateways a member may not use (not provisioned to their teams, no `gateways.use_all`) are
404 here exactly as another workspace's are. An assignment's fields fall in two groups: what it
connects (gateways.manage) and which features it exposes (gateways.provision_features); a write
needs the capability of every group it touches. Pinning tools, approving changes to pinned
tools and approving tools the admission checks flagged are curation, so they need
gateways.provision_features.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.reports import inventory
from core.errors import ValidationFailed
from gateways import selectors, services
from gateways.models import Assignment, Gateway
from gateways.serializers import (
    AdmitToolsInput,
    ApprovePinsInput,
    AssignmentCreateInput,
    AssignmentOutput,
    AssignmentUpdateInput,
    GatewayCreateInput,
    GatewayOutput,
    GatewayTeamsInput,
    GatewayUpdateInput,
    PinToolsInput,
    SummaryOutput,
)
from servers.selectors import server_named
from teams.api_base import WorkspaceViewSet
from teams.api_schema import gateway_scoped, workspace_scoped
from teams.capabilities import (
    GATEWAYS_MANAGE,
    GATEWAYS_PROVISION_FEATURES,
    GATEWAYS_PROVISION_TEAMS,
    REPORTS_VIEW,
)

CONNECTION_FIELDS = frozenset(
    {
        "server",
        "namespace",
        "prefix_mode",
        "identity_scheme",
        "timeout_seconds",
        "max_call_seconds",
        "max_result_bytes",
        "position",
    }
)
FEATURE_FIELDS = frozenset(
    {
        "tool_mode",
        "tool_allow",
        "tool_overrides",
        "tool_pinning",
        "prompts_enabled",
        "resources_enabled",
        "approval_tools",
        "approval_team",
        "approval_timeout_seconds",
    }
)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@workspace_scoped
class GatewayViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = GatewayOutput
    queryset = Gateway.objects.none()
    lookup_field = "slug"
    required = {
        "create": GATEWAYS_MANAGE,
        "partial_update": GATEWAYS_MANAGE,
        "destroy": GATEWAYS_MANAGE,
        "provision": GATEWAYS_PROVISION_TEAMS,
    }

    def scoped_queryset(self, workspace):
        return selectors.gateways_visible_to(self.membership)

    def _render(self, gateway):
        return GatewayOutput(gateway, context={"workspace": self.workspace}).data

    @extend_schema(request=GatewayCreateInput, responses={201: GatewayOutput})
    def create(self, request, *args, **kwargs):
        data = _valid(GatewayCreateInput, request)
        gateway = services.create_gateway(workspace=self.workspace, actor=request.user, **data)
        return Response(self._render(gateway), status=status.HTTP_201_CREATED)

    @extend_schema(request=GatewayUpdateInput, responses=GatewayOutput)
    def partial_update(self, request, *args, **kwargs):
        gateway = self.get_object()
        data = _valid(GatewayUpdateInput, request)
        gateway = services.update_gateway(gateway=gateway, actor=request.user, **data)
        return Response(self._render(gateway))

    def destroy(self, request, *args, **kwargs):
        services.delete_gateway(gateway=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=GatewayTeamsInput, responses=GatewayOutput)
    @action(detail=True, methods=["put"], url_path="teams")
    def provision(self, request, *args, **kwargs):
        """Replace the teams the gateway is provisioned to."""
        gateway = self.get_object()
        data = _valid(GatewayTeamsInput, request)
        gateway = services.provision_teams(
            gateway=gateway, team_slugs=data["teams"], actor=request.user
        )
        # Re-read so the teams shown are the ones just set, not a stale prefetch.
        return Response(self._render(self.get_object()))


@gateway_scoped
class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = AssignmentOutput
    queryset = Assignment.objects.none()
    required = {
        "create": GATEWAYS_MANAGE,
        "destroy": GATEWAYS_MANAGE,
        "pin": GATEWAYS_PROVISION_FEATURES,
        "approve_pins": GATEWAYS_PROVISION_FEATURES,
        "admit": GATEWAYS_PROVISION_FEATURES,
    }

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # The gateway in the URL must be one the member may see, like every other lookup.
        self.gateway = selectors.access_visible_gateway(self.membership, kwargs["gateway"])

    def scoped_queryset(self, workspace):
        return selectors.assignments_of(self.gateway)

    def _require_for(self, fields) -> None:
        needed = []
        if fields & CONNECTION_FIELDS:
            needed.append(GATEWAYS_MANAGE)
        if fields & FEATURE_FIELDS:
            needed.append(GATEWAYS_PROVISION_FEATURES)
        for capability in needed:
            self.require(capability)

    @extend_schema(request=AssignmentCreateInput, responses={201: AssignmentOutput})
    def create(self, request, *args, **kwargs):
        data = _valid(AssignmentCreateInput, request)
        self._require_for(set(data))
        name = data.pop("server")
        server = server_named(self.workspace, name)
        if server is None:
            raise ValidationFailed(f"Unknown server '{name}'.", field="server")
        assignment = services.assign_server(
            gateway=self.gateway, server=server, actor=request.user, **data
        )
        return Response(AssignmentOutput(assignment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AssignmentUpdateInput, responses=AssignmentOutput)
    def partial_update(self, request, *args, **kwargs):
        assignment = self.get_object()
        data = _valid(AssignmentUpdateInput, request)
        if not data:
            raise ValidationFailed("Nothing to change.")
        self._require_for(set(data))
        assignment = services.update_assignment(assignment=assignment, actor=request.user, **data)
        return Response(AssignmentOutput(assignment).data)

    def destroy(self, request, *args, **kwargs):
        services.unassign_server(assignment=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=PinToolsInput, responses=AssignmentOutput)
    @action(detail=True, methods=["post"], url_path="pins")
    def pin(self, request, *args, **kwargs):
        """Pin tools as the server's last discovery found them (all exposed ones by default)."""
        assignment = self.get_object()
        data = _valid(PinToolsInput, request)
        assignment = services.pin_tools(
            assignment=assignment, actor=request.user, tools=data.get("tools")
        )
        return Response(AssignmentOutput(assignment).data)

    @extend_schema(request=ApprovePinsInput, responses=AssignmentOutput)
    @action(detail=True, methods=["post"], url_path="pins/approve")
    def approve_pins(self, request, *args, **kwargs):
        """Approve changed definitions of pinned tools, so clients see those tools again."""
        assignment = self.get_object()
        data = _valid(ApprovePinsInput, request)
        assignment = services.approve_pin_changes(
            assignment=assignment, actor=request.user, tools=data["tools"]
        )
        return Response(AssignmentOutput(assignment).data)

    @extend_schema(request=AdmitToolsInput, responses=AssignmentOutput)
    @action(detail=True, methods=["post"], url_path="admissions/approve")
    def admit(self, request, *args, **kwargs):
        """Approve the definitions the admission checks flagged, so clients see those tools."""
        assignment = self.get_object()
        data = _valid(AdmitToolsInput, request)
        assignment = services.admit_tools(
            assignment=assignment, actor=request.user, tools=data["tools"]
        )
        return Response(AssignmentOutput(assignment).data)


@workspace_scoped
class ReportViewSet(WorkspaceViewSet):
    serializer_class = SummaryOutput
    queryset = Gateway.objects.none()
    required = {"summary": REPORTS_VIEW}

    def scoped_queryset(self, workspace):
        return Gateway.objects.for_workspace(workspace)

    @extend_schema(responses=SummaryOutput)
    @action(detail=False, methods=["get"], pagination_class=None)
    def summary(self, request, *args, **kwargs):
        """Counts of the workspace's configuration, and assignments per gateway."""
        return Response(SummaryOutput(inventory.workspace_summary(self.workspace)).data)
