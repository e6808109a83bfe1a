"""The workspace's alert webhook in the management API: `/workspaces/<ws>/alert-webhook/`.

GET, PUT (set up or change), DELETE, and `POST .../alert-webhook/test/` (post a test alert now
and say whether the receiver took it). Every action needs `integrations.manage`, as the SIEM
sinks do; setting it up or changing it also needs `alerts.view_all`, since every alert of the
workspace goes there. The signing key is write-only: the answer carries a hint, and the key
generated for a webhook set up without one, once.
"""

from django.http import Http404
from django.urls import re_path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from audit.alerts import delivery
from audit.alerts.selectors import alert_webhook_of
from audit.alerts.webhook import delete_alert_webhook, set_alert_webhook
from audit.models import AlertWebhook
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import ALERTS_VIEW_ALL, INTEGRATIONS_MANAGE


class AlertWebhookOutput(serializers.ModelSerializer):
    has_secret = serializers.SerializerMethodField()
    pending = serializers.IntegerField(
        read_only=True, help_text="Alerts waiting to be posted (new, or after a failure)."
    )

    class Meta:
        model = AlertWebhook
        fields = [
            "enabled",
            "endpoint",
            "allow_private",
            "has_secret",
            "secret_hint",
            "last_status",
            "last_attempt_at",
            "last_success_at",
            "last_error",
            "pending",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_secret(self, webhook) -> bool:
        return bool(webhook.secret)


class AlertWebhookCreatedOutput(AlertWebhookOutput):
    signing_key = serializers.CharField(
        read_only=True, required=False, help_text="The generated signing key, shown only once."
    )

    class Meta(AlertWebhookOutput.Meta):
        fields = [*AlertWebhookOutput.Meta.fields, "signing_key"]
        read_only_fields = fields


class AlertWebhookInput(serializers.Serializer):
    endpoint = serializers.CharField(max_length=500)
    allow_private = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text="Networks a private or loopback endpoint may be in; left out, kept as it is.",
    )
    enabled = serializers.BooleanField(default=True)
    signing_key = serializers.CharField(
        max_length=500,
        required=False,
        write_only=True,
        trim_whitespace=False,
        help_text="Write-only; left out, the stored key is kept (or one is generated).",
    )


class AlertWebhookTestOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.CharField()


@workspace_scoped
class AlertWebhookViewSet(WorkspaceViewSet):
    serializer_class = AlertWebhookOutput
    queryset = AlertWebhook.objects.none()
    required = {name: INTEGRATIONS_MANAGE for name in ("retrieve", "update", "destroy", "test")}

    def scoped_queryset(self, workspace):
        return AlertWebhook.objects.for_workspace(workspace)

    def _webhook(self) -> AlertWebhook:
        webhook = alert_webhook_of(self.workspace)
        if webhook is None:
            raise Http404("No alert webhook is set up for this workspace.")
        return webhook

    def retrieve(self, request, *args, **kwargs):
        return Response(AlertWebhookOutput(self._webhook()).data)

    @extend_schema(
        request=AlertWebhookInput,
        responses={200: AlertWebhookOutput, 201: AlertWebhookCreatedOutput},
    )
    def update(self, request, *args, **kwargs):
        self.require(ALERTS_VIEW_ALL)
        serializer = AlertWebhookInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        existed = self.get_queryset().exists()
        _, generated = set_alert_webhook(
            workspace=self.workspace, actor=request.user, **serializer.validated_data
        )
        body = AlertWebhookOutput(self._webhook()).data
        if generated:
            body["signing_key"] = generated
        return Response(body, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        delete_alert_webhook(webhook=self._webhook(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=AlertWebhookTestOutput)
    def test(self, request, *args, **kwargs):
        """Post a test alert now; no delivery is recorded, only the webhook's last status."""
        error = delivery.send_test(self._webhook())
        return Response({"ok": not error, "error": error})


alert_webhook_routes = [
    re_path(
        r"^workspaces/(?P<workspace>[^/.]+)/alert-webhook/$",
        AlertWebhookViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"}),
        name="alert-webhook",
    ),
    re_path(
        r"^workspaces/(?P<workspace>[^/.]+)/alert-webhook/test/$",
        AlertWebhookViewSet.as_view({"post": "test"}),
        name="alert-webhook-test",
    ),
]
