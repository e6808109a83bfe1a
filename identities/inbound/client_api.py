"""The client apps endpoints of the management API: /api/v1/workspaces/<ws>/clients/.

Every member sees which OAuth client apps hold tokens for the workspace's gateways; switching
an app off or on, for the workspace or one gateway, needs `clients.toggle`.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from identities.inbound import client_access
from identities.models import DisabledClient
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import CLIENTS_TOGGLE


class ClientAppOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    client_id = serializers.CharField()
    registration = serializers.CharField(source="registration_source", allow_blank=True)
    created = serializers.DateTimeField()
    disabled_everywhere = serializers.SerializerMethodField()
    disabled_gateways = serializers.SerializerMethodField()

    def _switches(self, app) -> list:
        return self.context.get("switches", {}).get(app.pk, [])

    def get_disabled_everywhere(self, app) -> bool:
        return None in self._switches(app)

    def get_disabled_gateways(self, app) -> list[str]:
        return sorted(slug for slug in self._switches(app) if slug)


class ToggleInput(serializers.Serializer):
    gateway = serializers.SlugField(
        required=False, allow_blank=True, help_text="One gateway; leave out for the workspace."
    )


@workspace_scoped
class ClientAppViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = ClientAppOutput
    queryset = DisabledClient.objects.none()
    required = {"disable": CLIENTS_TOGGLE, "enable": CLIENTS_TOGGLE}

    def scoped_queryset(self, workspace):
        return client_access.client_apps_of(workspace)

    def get_serializer(self, *args, **kwargs):
        if getattr(self, "swagger_fake_view", False):
            # The schema is generated without a request, hence without a workspace.
            return super().get_serializer(*args, **kwargs)
        apps = args[0] if args else []
        apps = apps if isinstance(apps, list | tuple) else [apps]
        kwargs.setdefault("context", self.get_serializer_context())
        kwargs["context"]["switches"] = client_access.switches_of(
            self.workspace, [a.pk for a in apps]
        )
        return super().get_serializer(*args, **kwargs)

    def _toggle(self, request, switch):
        app = self.get_object()
        data = ToggleInput(data=request.data)
        data.is_valid(raise_exception=True)
        switch(
            workspace=self.workspace,
            app=app,
            gateway_slug=data.validated_data.get("gateway") or None,
            actor=request.user,
        )
        return Response(self.get_serializer(app).data)

    @extend_schema(request=ToggleInput, responses=ClientAppOutput)
    @action(detail=True, methods=["post"])
    def disable(self, request, *args, **kwargs):
        return self._toggle(request, client_access.disable_client)

    @extend_schema(request=ToggleInput, responses=ClientAppOutput)
    @action(detail=True, methods=["post"])
    def enable(self, request, *args, **kwargs):
        return self._toggle(request, client_access.enable_client)
