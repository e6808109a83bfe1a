"""The workspace, team, role and member endpoints of the management API.

Every viewset but the caller's workspace list is a `WorkspaceViewSet`: the workspace comes from
the URL, a non-member gets a 404, and each write names its capability in `required`.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from identities import offboarding
from teams import selectors, services
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import PEOPLE_MANAGE, WORKSPACE_MANAGE, grouped
from teams.models import Membership, Role, Team, Workspace
from teams.serializers import (
    CapabilityGroupOutput,
    MemberInviteInput,
    MemberOutput,
    MemberUpdateInput,
    RoleCreateInput,
    RoleDuplicateInput,
    RoleOutput,
    RoleUpdateInput,
    TeamCreateInput,
    TeamOutput,
    TeamUpdateInput,
    WorkspaceOfCallerOutput,
    WorkspaceOutput,
    WorkspaceUpdateInput,
)


def _valid(serializer_class, request, *, partial=False) -> dict:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class MyWorkspacesViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The workspaces the caller belongs to. Not workspace-scoped: it is the way in."""

    serializer_class = WorkspaceOfCallerOutput
    queryset = Membership.objects.none()  # for the schema; rows come from get_queryset

    def get_queryset(self):
        memberships = selectors.memberships_of(self.request.user)
        token = self.request.auth
        if token is not None:
            # An API token speaks for its own workspace only.
            memberships = memberships.filter(workspace_id=token.workspace_id)
        return memberships


@workspace_scoped
class WorkspaceDetailViewSet(WorkspaceViewSet):
    serializer_class = WorkspaceOutput
    queryset = Workspace.objects.none()
    lookup_field = "slug"
    lookup_url_kwarg = "workspace"
    required = {"partial_update": WORKSPACE_MANAGE}

    def scoped_queryset(self, workspace):
        return Workspace.objects.filter(pk=workspace.pk)

    def _render(self, workspace):
        return WorkspaceOutput(workspace, context={"membership": self.membership}).data

    def retrieve(self, request, *args, **kwargs):
        return Response(self._render(self.workspace))

    @extend_schema(request=WorkspaceUpdateInput, responses=WorkspaceOutput)
    def partial_update(self, request, *args, **kwargs):
        data = _valid(WorkspaceUpdateInput, request)
        workspace = services.update_workspace(
            workspace=self.workspace, name=data["name"], actor=request.user
        )
        return Response(self._render(workspace))


@workspace_scoped
class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = TeamOutput
    queryset = Team.objects.none()
    lookup_field = "slug"
    required = {"create": PEOPLE_MANAGE, "partial_update": PEOPLE_MANAGE, "destroy": PEOPLE_MANAGE}

    def scoped_queryset(self, workspace):
        return Team.objects.for_workspace(workspace).order_by("slug")

    @extend_schema(request=TeamCreateInput, responses={201: TeamOutput})
    def create(self, request, *args, **kwargs):
        data = _valid(TeamCreateInput, request)
        team = services.create_team(
            workspace=self.workspace, slug=data["slug"], name=data["name"], actor=request.user
        )
        return Response(TeamOutput(team).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TeamUpdateInput, responses=TeamOutput)
    def partial_update(self, request, *args, **kwargs):
        team = self.get_object()
        data = _valid(TeamUpdateInput, request)
        team = services.update_team(team=team, name=data["name"], actor=request.user)
        return Response(TeamOutput(team).data)

    def destroy(self, request, *args, **kwargs):
        services.delete_team(team=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@workspace_scoped
class RoleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = RoleOutput
    queryset = Role.objects.none()
    lookup_field = "key"
    required = {
        "create": PEOPLE_MANAGE,
        "partial_update": PEOPLE_MANAGE,
        "duplicate": PEOPLE_MANAGE,
        "destroy": PEOPLE_MANAGE,
    }

    def scoped_queryset(self, workspace):
        return Role.objects.for_workspace(workspace).order_by("name")

    @extend_schema(request=RoleCreateInput, responses={201: RoleOutput})
    def create(self, request, *args, **kwargs):
        data = _valid(RoleCreateInput, request)
        role = services.create_role(
            workspace=self.workspace,
            key=data["key"],
            name=data["name"],
            capabilities=data["capabilities"],
            actor=request.user,
            acting_member=self.membership,
        )
        return Response(RoleOutput(role).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RoleUpdateInput, responses=RoleOutput)
    def partial_update(self, request, *args, **kwargs):
        role = self.get_object()
        data = _valid(RoleUpdateInput, request)
        role = services.update_role(
            role=role,
            name=data.get("name"),
            capabilities=data.get("capabilities"),
            actor=request.user,
            acting_member=self.membership,
        )
        return Response(RoleOutput(role).data)

    @extend_schema(request=RoleDuplicateInput, responses={201: RoleOutput})
    @action(detail=True, methods=["post"])
    def duplicate(self, request, *args, **kwargs):
        role = self.get_object()
        data = _valid(RoleDuplicateInput, request)
        copy = services.duplicate_role(
            role=role,
            key=data["key"],
            name=data["name"],
            actor=request.user,
            acting_member=self.membership,
        )
        return Response(RoleOutput(copy).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.delete_role(role=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=CapabilityGroupOutput(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def capabilities(self, request, *args, **kwargs):
        """The capability catalogue, grouped as the role editor shows it."""
        groups = [{"group": group, "capabilities": caps} for group, caps in grouped()]
        return Response(CapabilityGroupOutput(groups, many=True).data)


@workspace_scoped
class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = MemberOutput
    queryset = Membership.objects.none()
    required = {"create": PEOPLE_MANAGE, "partial_update": PEOPLE_MANAGE, "destroy": PEOPLE_MANAGE}

    def scoped_queryset(self, workspace):
        return selectors.memberships_in(workspace)

    def _render(self, membership):
        # Re-read through the list's queryset so the output matches it (role, teams prefetched).
        return MemberOutput(self.get_queryset().get(pk=membership.pk)).data

    @extend_schema(request=MemberInviteInput, responses={201: MemberOutput})
    def create(self, request, *args, **kwargs):
        """Invite a person by email; an account without a password is made if they are new."""
        data = _valid(MemberInviteInput, request)
        membership = services.invite_member(
            workspace=self.workspace,
            email=data["email"],
            role_key=data["role"],
            team_slugs=data["teams"],
            actor=request.user,
            acting_member=self.membership,
        )
        return Response(self._render(membership), status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberUpdateInput, responses=MemberOutput)
    def partial_update(self, request, *args, **kwargs):
        membership = self.get_object()
        data = _valid(MemberUpdateInput, request)
        membership = services.update_member(
            membership=membership,
            role_key=data.get("role"),
            team_slugs=data.get("teams"),
            actor=request.user,
            acting_member=self.membership,
        )
        return Response(self._render(membership))

    def destroy(self, request, *args, **kwargs):
        offboarding.remove_member_and_revoke(
            membership=self.get_object(), actor=request.user, acting_member=self.membership
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
