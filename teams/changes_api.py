"""The admin audit log endpoints of the management API: the change list and its export."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action

from core.errors import ValidationFailed
from core.streaming import streamed_download
from teams import changes_export as change_export
from teams.api_base import ExportNegotiation, WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import LOGS_EXPORT, LOGS_VIEW, LOGS_VIEW_PAYLOADS
from teams.changes import changes_of
from teams.changes_serializers import ChangeOutput, ChangeWithDetailOutput
from teams.models import ConfigChange


@workspace_scoped
class ChangeViewSet(mixins.ListModelMixin, WorkspaceViewSet):
    serializer_class = ChangeOutput
    queryset = ConfigChange.objects.none()
    required = {"list": LOGS_VIEW, "export": LOGS_EXPORT}

    def scoped_queryset(self, workspace):
        return changes_of(workspace)

    def get_serializer_class(self):
        if self.can(LOGS_VIEW_PAYLOADS):
            return ChangeWithDetailOutput
        return ChangeOutput

    @extend_schema(
        responses=ChangeWithDetailOutput(many=True),
        description="Newest first. `detail` is included only with logs.view_payloads.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=sorted(change_export.FORMATS), default="csv"),
        ],
        responses={(200, media): OpenApiTypes.STR for media in change_export.FORMATS.values()},
    )
    @action(detail=False, methods=["get"], content_negotiation_class=ExportNegotiation)
    def export(self, request, *args, **kwargs):
        """Stream the whole log as a file; `detail` is included only with logs.view_payloads."""
        export_format = request.query_params.get("format", "csv")
        if export_format not in change_export.FORMATS:
            raise ValidationFailed(
                f"Unknown export format '{export_format}'; use csv or jsonl.", field="format"
            )
        lines = change_export.stream(
            self.workspace, export_format=export_format, with_detail=self.can(LOGS_VIEW_PAYLOADS)
        )
        return streamed_download(
            request,
            lines,
            content_type=change_export.FORMATS[export_format],
            filename=f"{self.workspace.slug}-changes.{export_format}",
        )
