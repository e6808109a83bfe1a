"""Console forms of the gateways app: gateways, provisioning, assignments and tool curation."""

from django import forms

from gateways.models import Assignment, namespace_validator
from teams.models import slug_validator


class GatewayForm(forms.Form):
    slug = forms.CharField(
        max_length=50,
        validators=[slug_validator],
        help_text="Part of the URL: /mcp/<workspace>/<slug>.",
    )
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class LimitsForm(forms.Form):
    """A gateway's rate limits, one a line: `person 60/minute`, `tool time__now 10/minute`.

    The lines only become {scope, rate, tool}; the service checks them (gateways/rate_limits.py)
    so the console says what the API and `apply` say.
    """

    limits = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=(
            "One limit a line: person, token or gateway and a rate (person 60/minute), "
            "or tool, its name and a rate (tool time__now 10/minute)."
        ),
    )

    @staticmethod
    def text_of(limits: list[dict]) -> str:
        return "\n".join(
            " ".join(filter(None, (limit["scope"], limit.get("tool"), limit["rate"])))
            for limit in limits
        )

    def clean_limits(self) -> list[dict]:
        limits = []
        for line in self.cleaned_data["limits"].splitlines():
            if not line.strip():
                continue
            scope, _, rest = line.strip().partition(" ")
            if scope == "tool":
                tool, _, rate = rest.strip().partition(" ")
                limits.append({"scope": scope, "tool": tool, "rate": rate.strip()})
            else:
                limits.append({"scope": scope, "rate": rest.strip()})
        return limits


class ProvisionForm(forms.Form):
    teams = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["teams"].choices = [(team.slug, team.name) for team in teams]


class ConnectionForm(forms.Form):
    """What an assignment connects: namespace, prefix mode and identity scheme, and for
    `user_oauth` at a provider without dynamic registration, the client registered there.

    The client secret is write-only: the field never renders a value, not even when the form
    comes back with an error, and it is stored encrypted as the assignment's shared credential.
    """

    namespace = forms.CharField(
        max_length=32,
        required=False,
        validators=[namespace_validator],
        help_text="Tools appear as <namespace>__<tool>.",
    )
    prefix_mode = forms.ChoiceField(choices=Assignment.PrefixMode.choices)
    identity_scheme = forms.ChoiceField(choices=Assignment.IdentityScheme.choices)
    max_call_seconds = forms.FloatField(
        required=False,
        min_value=0.1,
        label="Longest call (seconds)",
        help_text="However much progress the server reports. Empty: the platform's "
        "MCP_MAX_CALL_SECONDS.",
    )
    max_result_bytes = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        label="Largest result (bytes)",
        help_text="Empty: the server's largest reply, else the platform's "
        "UPSTREAM_MAX_REPLY_BYTES.",
    )
    oauth_client_id = forms.CharField(
        required=False,
        max_length=500,
        label="OAuth client ID",
        help_text="For 'own OAuth identity' when the provider does not register clients "
        "dynamically: the client registered there with the platform's redirect URI.",
    )
    oauth_client_secret = forms.CharField(
        required=False,
        max_length=8192,
        label="OAuth client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again. Empty for a public client.",
    )
    oauth_auth_method = forms.ChoiceField(
        required=False,
        label="Client authentication",
        choices=[
            ("client_secret_basic", "HTTP Basic (client_secret_basic)"),
            ("client_secret_post", "In the form (client_secret_post)"),
        ],
        help_text="How the client authenticates at the token endpoint, as registered.",
    )

    CONNECTION_FIELDS = (
        "namespace",
        "prefix_mode",
        "identity_scheme",
        "max_call_seconds",
        "max_result_bytes",
    )

    def clean(self):
        data = super().clean()
        client_id = data.get("oauth_client_id", "").strip()
        secret = data.get("oauth_client_secret", "")
        data["oauth_client_id"] = client_id
        if (client_id or secret) and data.get("identity_scheme") != "user_oauth":
            self.add_error(
                "oauth_client_id", "A pre-registered client is only for 'own OAuth identity'."
            )
        elif secret and not client_id:
            self.add_error("oauth_client_id", "Enter the client ID the secret belongs to.")
        return data

    def connection_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.CONNECTION_FIELDS}

    def oauth_client(self) -> dict | None:
        """The pre-registered client as a shared credential, or None when none was entered."""
        data = self.cleaned_data
        if not data.get("oauth_client_id"):
            return None
        secret = data.get("oauth_client_secret", "")
        return {
            "kind": "oauth_client",
            "client_id": data["oauth_client_id"],
            "client_secret": secret,
            "auth_method": (data.get("oauth_auth_method") or "client_secret_basic")
            if secret
            else "none",
        }


class AssignmentForm(ConnectionForm):
    server = forms.ChoiceField()

    field_order = ["server", "namespace", "prefix_mode", "identity_scheme"]
    CONNECTION_FIELDS = ("server", *ConnectionForm.CONNECTION_FIELDS)

    def __init__(self, *args, servers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["server"].choices = [(s.name, s.name) for s in servers]


class CurationForm(forms.Form):
    tool_mode = forms.ChoiceField(choices=Assignment.ToolMode.choices, widget=forms.RadioSelect)
    tool_allow = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, tool_names, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tool_allow"].choices = [(name, name) for name in tool_names]


class ApprovalSettingsForm(forms.Form):
    """Which tools need approval before each call, who approves, and how long a call waits."""

    approval_tools = forms.MultipleChoiceField(
        required=False,
        label="Tools that need approval",
        widget=forms.CheckboxSelectMultiple,
        help_text="Each call of these tools waits for an approval that shows its arguments.",
    )
    approval_team = forms.ChoiceField(
        required=False,
        label="Approver",
        help_text="A team decides on the console's Approvals page; otherwise the caller "
        "confirms in their client.",
    )
    approval_timeout_seconds = forms.IntegerField(
        min_value=1,
        max_value=3600,
        label="Wait for a decision (seconds)",
        help_text="A call not decided in this time is refused.",
    )

    def __init__(self, *args, tool_names, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["approval_tools"].choices = [(name, name) for name in tool_names]
        self.fields["approval_team"].choices = [
            ("", "The caller"),
            *((team.slug, team.name) for team in teams),
        ]
