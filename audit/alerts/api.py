"""The alerts endpoints of the management API: /api/v1/workspaces/<ws>/alerts/.

Alerts live in the audit app; who sees which is a gateways question: with `raising.view_all`
every alert of the workspace, otherwise the alerts about gateways the member reaches.
Whoever sees an alert may acknowledge it.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.alerts import raising
from audit.alerts.selectors import alerts_visible_to
from audit.models import Alert
from core.errors import ValidationFailed
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped


class AlertOutput(serializers.ModelSerializer):
    acknowledged_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "title",
            "subject",
            "gateway_slug",
            "correlation_id",
            "count",
            "first_at",
            "last_at",
            "acknowledged_at",
            "acknowledged_by",
        ]


@workspace_scoped
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = AlertOutput
    queryset = Alert.objects.none()

    def scoped_queryset(self, workspace):
        found = alerts_visible_to(self.membership)
        params = self.request.query_params
        if "kind" in params:
            if params["kind"] not in Alert.Kind.values:
                raise ValidationFailed(
                    f"'kind' must be one of {', '.join(Alert.Kind.values)}.", field="kind"
                )
            found = found.filter(kind=params["kind"])
        if params.get("open") in ("1", "true"):
            found = found.filter(acknowledged_at__isnull=True)
        return found

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=Alert.Kind.values, required=False),
            OpenApiParameter("open", bool, required=False, description="Unacknowledged only."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=AlertOutput)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, *args, **kwargs):
        alert = raising.acknowledge(alert=self.get_object(), user=request.user)
        return Response(AlertOutput(alert).data)
