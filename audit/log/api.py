"""The gateway log endpoints of the management API: list, one entry, one call, export.

`/logs/` (filters: see `audit.log.selectors`), `/logs/<id>/`, `/logs/calls/<correlation id>/`
need `logs.view`; `/logs/export/?format=csv|jsonl` needs `logs.export`. Payloads appear only
for callers with `logs.view_payloads`.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from audit.log.export import FORMATS, export_logs
from audit.log.payloads import resolve_entries
from audit.log.selectors import call_timeline, entries_of, filtered_entries, parse_filter
from audit.log.serializers import CallOutput, LogEntryOutput, LogEntryWithPayloadOutput
from audit.models import Hop, Outcome
from core.errors import ValidationFailed
from core.streaming import streamed_download
from teams.api_base import ExportNegotiation, WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import LOGS_EXPORT, LOGS_VIEW, LOGS_VIEW_PAYLOADS

FILTERS = [
    OpenApiParameter("since", str, description="ISO 8601 date or time (UTC if no zone)"),
    OpenApiParameter("until", str, description="ISO 8601 date or time (UTC if no zone)"),
    OpenApiParameter("gateway", str, description="gateway slug or id"),
    OpenApiParameter("person", str, description="email or user id"),
    OpenApiParameter("server", str, description="server name or id"),
    OpenApiParameter("tool", str, description="namespaced or upstream tool name"),
    OpenApiParameter("hop", str, description="comma-separated: " + ", ".join(Hop.values)),
    OpenApiParameter("outcome", str, description="comma-separated: " + ", ".join(Outcome.values)),
    OpenApiParameter("q", str, description="text inside the method, tool names or error"),
]


class NewestFirst(CursorPagination):
    """Cursor pages: stable while entries keep arriving, and no COUNT over a large table."""

    ordering = ("-at", "-id")
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500


@workspace_scoped
class LogEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = LogEntryOutput
    pagination_class = NewestFirst
    lookup_value_regex = r"\d+"
    required = {"list": LOGS_VIEW, "retrieve": LOGS_VIEW, "call": LOGS_VIEW, "export": LOGS_EXPORT}

    def scoped_queryset(self, workspace):
        return entries_of(workspace)

    def filter_queryset(self, queryset):
        if self.action == "list":
            return filtered_entries(self.workspace, parse_filter(self.request.query_params))
        return queryset

    def paginate_queryset(self, queryset):
        # Shared payloads are put back for the page in one query (audit/log/payloads.py).
        page = super().paginate_queryset(queryset)
        resolve_entries(page if page is not None else [])
        return page

    def retrieve(self, request, *args, **kwargs):
        entry = self.get_object()
        resolve_entries([entry])
        return Response(self.get_serializer(entry).data)

    def get_serializer_class(self):
        # The schema is generated without a request: it documents the fuller output.
        if getattr(self, "swagger_fake_view", False) or self.can(LOGS_VIEW_PAYLOADS):
            return LogEntryWithPayloadOutput
        return LogEntryOutput

    @extend_schema(
        parameters=FILTERS,
        responses=LogEntryWithPayloadOutput(many=True),
        description="Newest first. `payload` is included only with logs.view_payloads.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=CallOutput)
    @action(detail=False, methods=["get"], url_path=r"calls/(?P<correlation_id>[^/]+)")
    def call(self, request, *args, correlation_id=None, **kwargs):
        """One client call as a timeline: its hops in order, offsets, and the rules that acted."""
        call = call_timeline(self.workspace, correlation_id)
        rows = self.get_serializer(call.hops, many=True).data
        for row, offset in zip(rows, call.offsets_ms, strict=True):
            row["offset_ms"] = offset
        return Response(
            {
                "correlation_id": str(call.correlation_id),
                "started_at": call.started_at,
                "duration_ms": call.duration_ms,
                "outcome": call.outcome,
                "rules": call.rules,
                "hops": rows,
            }
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=sorted(FORMATS), default="jsonl"),
            *FILTERS,
        ],
        responses={(200, media): OpenApiTypes.STR for media in FORMATS.values()},
    )
    @action(detail=False, methods=["get"], content_negotiation_class=ExportNegotiation)
    def export(self, request, *args, **kwargs):
        """Stream the filtered log in chain order, with its digests; payloads need
        logs.view_payloads. The export itself is recorded in the admin audit log."""
        export_format = request.query_params.get("format", "jsonl")
        if export_format not in FORMATS:
            raise ValidationFailed(
                f"Unknown export format '{export_format}'; use csv or jsonl.", field="format"
            )
        lines = export_logs(
            workspace=self.workspace,
            actor=request.user,
            log_filter=parse_filter(request.query_params),
            export_format=export_format,
            with_payloads=self.can(LOGS_VIEW_PAYLOADS),
            via="api",
        )
        return streamed_download(
            request,
            lines,
            content_type=FORMATS[export_format],
            filename=f"{self.workspace.slug}-logs.{export_format}",
        )
