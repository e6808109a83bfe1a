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


class ProvisionForm(forms.Form):
    teams = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["teams"].choices = [(team.slug, team.name) for team in teams]


class ConnectionForm(forms.Form):
    """What an assignment connects: namespace, prefix mode and identity scheme."""

    namespace = forms.CharField(
        max_length=32,
        required=False,
        validators=[namespace_validator],
        help_text="Tools appear as <namespace>__<tool>.",
    )
    prefix_mode = forms.ChoiceField(choices=Assignment.PrefixMode.choices)
    identity_scheme = forms.ChoiceField(choices=Assignment.IdentityScheme.choices)


class AssignmentForm(ConnectionForm):
    server = forms.ChoiceField()

    field_order = ["server", "namespace", "prefix_mode", "identity_scheme"]

    def __init__(self, *args, servers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["server"].choices = [(s.name, s.name) for s in servers]


class CurationForm(forms.Form):
    tool_mode = forms.ChoiceField(choices=Assignment.ToolMode.choices, widget=forms.RadioSelect)
    tool_allow = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, tool_names, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tool_allow"].choices = [(name, name) for name in tool_names]
