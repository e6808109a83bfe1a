"""The SIEM sinks endpoints of the management API: /api/v1/workspaces/<ws>/sinks/.

Every action needs `integrations.manage`: a sink decides where the whole log goes. Creating or
changing a sink that sends payloads also needs `logs.view_payloads`. Secrets
(`signing_key`, `headers`) are write-only; answers carry a hint. `POST .../sinks/<id>/test/`
sends one test event (hop `sink.test`) and says whether the sink accepted it; the cursor does
not move. A sink of another workspace is a 404.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.models import LogSink
from audit.sinks import delivery, services
from audit.sinks.selectors import sinks_of
from audit.sinks.serializers import (
    SinkCreatedOutput,
    SinkCreateInput,
    SinkOutput,
    SinkTestOutput,
    SinkUpdateInput,
)
from core.errors import ValidationFailed
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import INTEGRATIONS_MANAGE, LOGS_VIEW_PAYLOADS


def _valid(serializer_class, request, *, partial: bool = False) -> dict:
    # partial: a form-encoded PATCH must not read an absent checkbox as false.
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@workspace_scoped
class SinkViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = SinkOutput
    queryset = LogSink.objects.none()
    lookup_value_regex = r"\d+"
    required = {
        name: INTEGRATIONS_MANAGE
        for name in ("list", "retrieve", "create", "partial_update", "destroy", "test")
    }

    def scoped_queryset(self, workspace):
        return sinks_of(workspace)

    def _check_payloads(self, data: dict, sink: LogSink | None = None) -> None:
        """Whoever decides where payloads go must be allowed to see them."""
        sends_payloads = data.get("include_payloads", sink is not None and sink.include_payloads)
        if sends_payloads:
            self.require(LOGS_VIEW_PAYLOADS)

    @extend_schema(request=SinkCreateInput, responses={201: SinkCreatedOutput})
    def create(self, request, *args, **kwargs):
        data = _valid(SinkCreateInput, request)
        self._check_payloads(data)
        sink, generated = services.create_sink(workspace=self.workspace, actor=request.user, **data)
        body = SinkOutput(self.get_queryset().get(pk=sink.pk)).data
        if generated:
            body["signing_key"] = generated
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=SinkUpdateInput, responses=SinkOutput)
    def partial_update(self, request, *args, **kwargs):
        sink = self.get_object()
        data = _valid(SinkUpdateInput, request, partial=True)
        if not data:
            raise ValidationFailed("Nothing to change.")
        self._check_payloads(data, sink)
        services.update_sink(sink=sink, actor=request.user, **data)
        return Response(SinkOutput(self.get_object()).data)

    def destroy(self, request, *args, **kwargs):
        services.delete_sink(sink=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=SinkTestOutput)
    @action(detail=True, methods=["post"])
    def test(self, request, *args, **kwargs):
        """Send one test event now, whatever the backoff; the cursor stays where it is."""
        error = delivery.send_test(self.get_object())
        return Response({"ok": not error, "error": error})
