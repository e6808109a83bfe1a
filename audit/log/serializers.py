"""Output shapes of the gateway log. Payloads are only for callers with logs.view_payloads."""

from rest_framework import serializers

from audit.models import LogEntry

_FIELDS = [
    "id",
    "seq",
    "at",
    "hop",
    "correlation_id",
    "gateway_id",
    "gateway_slug",
    "assignment_id",
    "server_id",
    "server_name",
    "user_id",
    "user_email",
    "token_id",
    "session",
    "client_name",
    "client_version",
    "rpc_method",
    "rpc_id",
    "tool",
    "upstream_tool",
    "outcome",
    "error_code",
    "error_message",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "tokens_estimate",
    "identity_scheme",
    "payload_state",
    "detail",
    "prev_digest",
    "digest",
]


class LogEntryOutput(serializers.ModelSerializer):
    class Meta:
        model = LogEntry
        fields = _FIELDS
        read_only_fields = fields


class LogEntryWithPayloadOutput(LogEntryOutput):
    class Meta(LogEntryOutput.Meta):
        fields = [*_FIELDS, "payload"]
        read_only_fields = fields


class CallOutput(serializers.Serializer):
    """One client call as a timeline of its hops."""

    correlation_id = serializers.UUIDField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField()
    outcome = serializers.CharField()
    rules = serializers.ListField(child=serializers.DictField())
    hops = serializers.ListField(child=serializers.DictField())
