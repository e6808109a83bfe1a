"""Output shapes of the admin audit log. `detail` is only for callers with logs.view_payloads."""

from rest_framework import serializers

from teams.models import ConfigChange


class ChangeOutput(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = ConfigChange
        fields = ["id", "created_at", "actor", "action", "target_type", "target"]
        read_only_fields = fields

    def get_actor(self, change) -> str | None:
        return change.actor.email if change.actor_id else None


class ChangeWithDetailOutput(ChangeOutput):
    class Meta(ChangeOutput.Meta):
        fields = [*ChangeOutput.Meta.fields, "detail"]
        read_only_fields = fields
