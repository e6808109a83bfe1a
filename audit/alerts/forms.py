"""Console form of the alert webhook: it parses what was typed; the service validates it, as it
does for the API. A signing key is never rendered back."""

from django import forms

from audit.sinks.forms import NetworksField, SigningKeyField


class AlertWebhookForm(forms.Form):
    endpoint = forms.CharField(
        max_length=500,
        help_text="An https:// URL; each new alert is posted there as signed JSON.",
    )
    allow_private = NetworksField()
    enabled = forms.BooleanField(required=False, initial=True, label="Post new alerts")
    signing_key = SigningKeyField(
        help_text="16 characters or more. Leave blank to keep the stored key (or to have one "
        "generated and shown once).",
    )

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        if not data["signing_key"]:
            data["signing_key"] = None
        return data
