"""Console forms of single sign-on: the workspace's identity provider settings.

The fields of both protocols are on one form; the service checks those of the protocol chosen.
"""

import re

from django import forms

from teams.forms import group_teams_from_lines
from teams.models import WorkspaceSso
from teams.sso.saml import SAML_FIELDS


def _split_domains(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text or "") if part]


class SsoForm(forms.Form):
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    protocol = forms.ChoiceField(
        required=False, label="Protocol", widget=forms.RadioSelect, initial=WorkspaceSso.OIDC
    )
    issuer = forms.CharField(
        required=False,
        max_length=500,
        label="Issuer URL",
        help_text="The identity provider's issuer; its /.well-known/openid-configuration is read.",
    )
    client_id = forms.CharField(required=False, max_length=255, label="Client id")
    client_secret = forms.CharField(
        required=False,
        label="Client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave blank to keep the stored one.",
    )
    domains = forms.CharField(
        label="Email domains",
        help_text="People whose address is in these domains sign in here, e.g. example.com.",
    )
    default_role = forms.ChoiceField(label="Role of new members")
    groups_claim = forms.CharField(
        required=False,
        max_length=100,
        label="Groups claim",
        initial="groups",
        help_text="The OpenID Connect claim or SAML attribute that lists the person's groups.",
    )
    group_teams = forms.CharField(
        required=False,
        label="Groups to teams",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One mapping a line: group = team-slug. Other groups are ignored.",
    )
    scopes = forms.CharField(
        required=False, max_length=255, initial="openid profile email", label="Scopes"
    )
    idp_metadata_url = forms.CharField(
        required=False,
        max_length=500,
        label="IdP metadata URL",
        help_text="Read when you save; it fills the three fields below. Leave blank to enter them.",
    )
    idp_entity_id = forms.CharField(required=False, max_length=500, label="IdP entity id")
    idp_sso_url = forms.CharField(required=False, max_length=500, label="IdP sign-in URL")
    idp_x509cert = forms.CharField(
        required=False,
        max_length=20000,
        label="IdP signing certificate",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="PEM. Assertions must be signed with its key.",
    )
    email_attribute = forms.CharField(
        required=False,
        max_length=255,
        initial="email",
        label="Email attribute",
        help_text="Blank: the NameID is the address.",
    )
    first_name_attribute = forms.CharField(
        required=False, max_length=255, label="First name attribute"
    )
    last_name_attribute = forms.CharField(
        required=False, max_length=255, label="Last name attribute"
    )
    show_button = forms.BooleanField(
        required=False, label="Show a button naming this workspace on the sign-in page"
    )

    def __init__(self, *args, roles, saml_available, **kwargs):
        super().__init__(*args, **kwargs)
        saml_label = "SAML 2.0" if saml_available else "SAML 2.0 (unavailable on this platform)"
        self.fields["protocol"].choices = [
            (WorkspaceSso.OIDC, "OpenID Connect"),
            (WorkspaceSso.SAML, saml_label),
        ]
        self.fields["default_role"].choices = [(role.key, role.name) for role in roles]
        self.fields["default_role"].initial = "member"

    def clean_protocol(self):
        return self.cleaned_data["protocol"] or WorkspaceSso.OIDC

    def clean_domains(self):
        return _split_domains(self.cleaned_data["domains"])

    def clean_group_teams(self):
        return group_teams_from_lines(self.cleaned_data["group_teams"])

    @staticmethod
    def initial_from(sso) -> dict:
        return {
            "enabled": sso.enabled,
            "protocol": sso.protocol,
            "issuer": sso.issuer,
            "client_id": sso.client_id,
            "domains": ", ".join(d.domain for d in sso.domains.all()),
            "default_role": sso.default_role.key if sso.default_role else "member",
            "groups_claim": sso.groups_claim,
            "group_teams": "\n".join(f"{g} = {t}" for g, t in sso.group_teams.items()),
            "scopes": sso.scopes,
            "show_button": sso.show_button,
            **{field: getattr(sso, field) for field in SAML_FIELDS},
        }
