"""Input and output shapes of the sinks API; `services` validates the values."""

from rest_framework import serializers

from audit.models import LogSink


class SinkOutput(serializers.ModelSerializer):
    has_secret = serializers.SerializerMethodField()
    lag = serializers.SerializerMethodField(help_text="Entries written but not yet accepted.")

    class Meta:
        model = LogSink
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "endpoint",
            "allow_private",
            "tls",
            "tls_verify",
            "ca_pem",
            "include_payloads",
            "batch_size",
            "has_secret",
            "secret_hint",
            "cursor_seq",
            "lag",
            "failures",
            "last_error",
            "last_success_at",
            "failing_since",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_secret(self, sink) -> bool:
        return bool(sink.secret)

    def get_lag(self, sink) -> int:
        head = getattr(sink, "head_seq", None) or 0
        return max(head - sink.cursor_seq, 0)


class SinkUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=64, required=False)
    enabled = serializers.BooleanField(required=False)
    endpoint = serializers.CharField(max_length=500, required=False)
    allow_private = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=32
    )
    tls = serializers.BooleanField(required=False)
    tls_verify = serializers.BooleanField(required=False)
    ca_pem = serializers.CharField(allow_blank=True, max_length=65536, required=False)
    include_payloads = serializers.BooleanField(required=False)
    batch_size = serializers.IntegerField(required=False)
    signing_key = serializers.CharField(
        max_length=500, required=False, write_only=True, help_text="Webhook only; write-only."
    )
    headers = serializers.DictField(
        child=serializers.CharField(max_length=4096, allow_blank=True),
        required=False,
        write_only=True,
        help_text="OTLP only: headers sent with every request; write-only.",
    )


class SinkCreateInput(SinkUpdateInput):
    name = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=LogSink.Kind.choices)
    endpoint = serializers.CharField(max_length=500)
    backfill = serializers.BooleanField(
        default=True, help_text="Send the entries already logged; false starts at the newest."
    )


class SinkCreatedOutput(SinkOutput):
    signing_key = serializers.CharField(
        read_only=True, required=False, help_text="The generated signing key, shown only once."
    )

    class Meta(SinkOutput.Meta):
        fields = [*SinkOutput.Meta.fields, "signing_key"]
        read_only_fields = fields


class SinkTestOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.CharField()
