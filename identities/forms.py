"""Console forms of the identities app: issuing an API token, and setting one's own credential
for a `manual` assignment."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from identities.models import ApiToken
from teams.api_access import READ
from teams.capabilities import CAPABILITIES
from teams.forms import group_teams_from_lines

EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="What it is for, e.g. 'laptop' or 'CI'.")
    kind = forms.ChoiceField(
        choices=[
            (ApiToken.Kind.GATEWAY, "Gateway: for MCP clients, opens gateway URLs only"),
            (ApiToken.Kind.API, "API: for scripts, opens the management API within its scopes"),
            (
                ApiToken.Kind.CONNECTOR,
                "Connector: for gatehouse-connect, serves your workstation servers",
            ),
        ],
        initial=ApiToken.Kind.GATEWAY,
        required=False,
    )
    gateway = forms.ChoiceField(
        required=False, help_text="Of a gateway token: limit it to one gateway."
    )
    scopes = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Of an API token: what it may do, within your own role.",
    )
    expires_in = forms.ChoiceField(required=False, choices=EXPIRY_CHOICES, label="Expires")
    user = forms.EmailField(
        required=False,
        label="For member",
        help_text="Leave empty for yourself.",
    )

    def __init__(self, *args, gateways, scopes, for_others: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(READ, "read: read everything your role can see")] + [
            (c.key, f"{c.key}: {c.label}") for c in CAPABILITIES if c.key in scopes
        ]
        self.fields["gateway"].choices = [("", "Every gateway I can use")] + [
            (g.slug, g.name) for g in gateways
        ]
        if not for_others:
            del self.fields["user"]

    def clean_kind(self) -> str:
        # Left out, it is the kind a client configuration needs, the one that opens least.
        return self.cleaned_data.get("kind") or ApiToken.Kind.GATEWAY

    def expires_at(self):
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=int(days)) if days else None


class _WriteOnlyTextarea(forms.Textarea):
    # Headers carry secrets: a form shown again with errors must not print them back.
    def format_value(self, value):
        return None


class ManualCredentialForm(forms.Form):
    """What a person presents to a `manual` assignment's upstream: a bearer token or headers.
    Only the shape is checked here; the service checks the rest
    (identities/upstream/credential_shapes.py)."""

    kind = forms.ChoiceField(
        choices=[("bearer", "Bearer token"), ("headers", "Custom headers")], initial="bearer"
    )
    token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Sent as Authorization: Bearer <token>.",
    )
    headers = forms.CharField(
        required=False,
        widget=_WriteOnlyTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One header a line, as Name: value.",
    )

    def clean_headers(self) -> dict[str, str]:
        parsed: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data.get("headers", "").splitlines(), 1):
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            name = name.strip()
            if not colon or not name:
                raise forms.ValidationError(f"Line {number} is not of the form Name: value.")
            if name.lower() in {n.lower() for n in parsed}:
                raise forms.ValidationError(f"The header '{name}' is given twice.")
            parsed[name] = value.strip()
        return parsed

    def clean(self):
        data = super().clean()
        if data.get("kind") == "bearer" and not data.get("token"):
            self.add_error("token", "Enter the token.")
        headers_missing = not data.get("headers") and "headers" not in self.errors
        if data.get("kind") == "headers" and headers_missing:
            self.add_error("headers", "Enter at least one header.")
        return data

    def credential_data(self) -> dict:
        """The credential as the service takes it."""
        if self.cleaned_data["kind"] == "bearer":
            return {"kind": "bearer", "token": self.cleaned_data["token"]}
        return {"kind": "headers", "headers": self.cleaned_data["headers"]}


class ScimSettingsForm(forms.Form):
    """A workspace's SCIM settings; the group mapping is written one `group = team-slug` a line."""

    default_role = forms.ChoiceField(label="Role of new people", required=False)
    group_teams = forms.CharField(
        required=False,
        label="Groups to teams",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One mapping a line: group = team-slug. Other groups take the team of the "
        "same name, or a new one.",
    )

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_role"].choices = [("", "As single sign-on gives it (else Member)")] + [
            (role.key, role.name) for role in roles
        ]

    def clean_group_teams(self):
        return group_teams_from_lines(self.cleaned_data["group_teams"])

    @staticmethod
    def initial_from(settings) -> dict:
        if settings is None:
            return {}
        return {
            "default_role": settings.default_role.key if settings.default_role else "",
            "group_teams": "\n".join(f"{g} = {t}" for g, t in settings.group_teams.items()),
        }


class ScimTokenForm(forms.Form):
    name = forms.CharField(max_length=120, label="Token name", initial="SCIM")


class TrustedIdpForm(forms.Form):
    issuer = forms.CharField(
        max_length=500, help_text="The identity provider's issuer, exactly as in its ID-JAGs."
    )
    jwks_url = forms.CharField(max_length=500, label="JWKS URL")
    audience = forms.CharField(
        max_length=500,
        required=False,
        help_text="The `aud` its ID-JAGs carry; blank: this platform's issuer.",
    )


class HeadlessClientForm(forms.Form):
    name = forms.CharField(max_length=255, label="Client name")
    member = forms.EmailField(help_text="The member whose access the client acts with.")
