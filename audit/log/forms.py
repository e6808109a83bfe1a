"""Console forms of the audit app.

The log viewer's filter form only renders the filters and carries their errors: the filters
themselves are read by `audit.log.selectors.parse_filter`, as the API and exports read them, so
the three can never disagree. The alert webhook's form parses what was typed; the service
validates it, as it does for the API. A signing key is never rendered back.
"""

from django import forms

from audit.models import Hop, Outcome

_ANY = [("", "Any")]


class LogFilterForm(forms.Form):
    since = forms.CharField(
        required=False,
        label="From",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="UTC",
    )
    until = forms.CharField(
        required=False,
        label="Until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="UTC",
    )
    gateway = forms.CharField(required=False, help_text="Slug or id")
    person = forms.CharField(required=False, help_text="Email or user id")
    server = forms.CharField(required=False, help_text="Name or id")
    tool = forms.CharField(required=False, help_text="Namespaced or upstream name")
    # Plain text fields shown as selects: the API's comma-separated lists still pass through.
    hop = forms.CharField(required=False, widget=forms.Select(choices=_ANY + list(Hop.choices)))
    outcome = forms.CharField(
        required=False, widget=forms.Select(choices=_ANY + list(Outcome.choices))
    )
    q = forms.CharField(
        required=False, label="Text", help_text="Inside the method, tool names or error"
    )


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
