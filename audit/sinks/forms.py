"""Console forms of the SIEM sinks: one per kind (webhook, OTLP/HTTP, syslog) over one base.

The forms parse what was typed; `audit.sinks.services` validates the values, as it does for the
API, and its errors are put back on the field they name. `NetworksField` and `SigningKeyField`
serve the alert webhook's form too. Secrets (the signing key, the OTLP
headers) are never rendered back, not even when the form returns with an error; left blank on
a change, the stored ones are kept.
"""

from django import forms

from audit.models import LogSink
from audit.sinks.services import MAX_BATCH_SIZE


class NetworksField(forms.CharField):
    """Networks typed as a list separated by commas, spaces or lines; checked by the service."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", "Allowed private networks")
        kwargs.setdefault(
            "help_text",
            "Only to reach a receiver on loopback or a private network, e.g. 10.0.0.0/8.",
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        return [item for item in text.replace(",", " ").split() if item]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value


class SigningKeyField(forms.CharField):
    """A signing key typed in a password box: never rendered back, blank means "keep it"."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("strip", False)
        kwargs.setdefault("widget", forms.PasswordInput(attrs={"autocomplete": "new-password"}))
        super().__init__(**kwargs)


class SecretTextarea(forms.Textarea):
    def format_value(self, value):
        return None


class SinkForm(forms.Form):
    kind = ""
    endpoint_help = ""
    name = forms.CharField(
        max_length=64, help_text="Letters, digits, '.', '_' and '-'; unique in the workspace."
    )
    endpoint = forms.CharField(max_length=500)
    allow_private = NetworksField(
        help_text="Only to reach a collector on loopback or a private network, e.g. "
        "127.0.0.1/32; plain http or TCP is allowed only there."
    )
    include_payloads = forms.BooleanField(
        required=False, label="Send payloads", help_text="Otherwise entries go without them."
    )
    batch_size = forms.IntegerField(
        min_value=1, max_value=MAX_BATCH_SIZE, initial=200, help_text="Entries per request."
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    backfill = forms.BooleanField(
        required=False,
        initial=True,
        label="Send the entries already logged",
        help_text="Otherwise the sink starts with the next entry.",
    )

    def __init__(self, *args, new: bool, with_payloads: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].help_text = self.endpoint_help
        if not new:
            del self.fields["backfill"]
        if not with_payloads:
            del self.fields["include_payloads"]

    @classmethod
    def initial_from(cls, sink: LogSink) -> dict:
        return {name: getattr(sink, name) for name in cls.base_fields if hasattr(sink, name)}

    def service_fields(self) -> dict:
        """The cleaned values as the service takes them; secrets only when typed."""
        return dict(self.cleaned_data)


class WebhookSinkForm(SinkForm):
    kind = LogSink.Kind.WEBHOOK
    endpoint_help = "An https:// URL; each batch is one signed JSON POST."
    signing_key = SigningKeyField(
        help_text="16 characters or more. Left blank, a new sink gets a generated key (shown "
        "once) and a changed one keeps its key.",
    )

    def service_fields(self):
        data = super().service_fields()
        if not data["signing_key"]:
            del data["signing_key"]
        return data


class OtlpSinkForm(SinkForm):
    kind = LogSink.Kind.OTLP_HTTP
    endpoint_help = "The collector's OTLP/HTTP URL; without a path, /v1/logs is used."
    headers = forms.CharField(
        required=False,
        widget=SecretTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One per line as 'Name: value' (an API key, a tenant). Left blank on a "
        "change, the stored headers are kept.",
    )

    def clean_headers(self):
        text = self.cleaned_data["headers"]
        headers = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise forms.ValidationError(
                    f"Line {number}: write one header per line as 'Name: value'."
                )
            headers[name.strip()] = value.strip()
        return headers or None

    def service_fields(self):
        data = super().service_fields()
        if data["headers"] is None:
            del data["headers"]
        return data


class SyslogSinkForm(SinkForm):
    kind = LogSink.Kind.SYSLOG
    endpoint_help = "host:port of the receiver, e.g. siem.example.com:6514."
    tls = forms.BooleanField(
        required=False,
        initial=True,
        label="TLS",
        help_text="Syslog over TLS (RFC 5425); plain TCP only to an allowed private network.",
    )
    tls_verify = forms.BooleanField(required=False, initial=True, label="Verify the certificate")
    ca_pem = forms.CharField(
        required=False,
        label="CA certificates",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="PEM; when set, the receiver's certificate is checked against these only.",
    )


FORMS = {form.kind: form for form in (WebhookSinkForm, OtlpSinkForm, SyslogSinkForm)}
