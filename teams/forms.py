"""Console forms of the tenancy app: profile, teams, members and roles.

They check the shape of the input; the services decide the rest and their errors are shown on
the field they name.
"""

from django import forms

from teams.capabilities import CAPABILITIES, grouped
from teams.models import User, slug_validator


def group_teams_from_lines(text: str) -> dict[str, str]:
    """`group = team-slug` lines (SSO and SCIM settings forms) as a mapping; ValidationError
    names the first line that is not one."""
    mapping = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        group, sep, team = line.rpartition("=")
        if not sep or not group.strip() or not team.strip():
            raise forms.ValidationError(f"Line {number}: write group = team-slug.")
        mapping[group.strip()] = team.strip()
    return mapping


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name"]


class TeamForm(forms.Form):
    slug = forms.CharField(max_length=50, validators=[slug_validator])
    name = forms.CharField(max_length=120)


def _role_choices(roles):
    return [(role.key, role.name) for role in roles]


def _team_choices(teams):
    return [(team.slug, team.name) for team in teams]


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField()
    teams = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, roles, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(roles)
        self.fields["role"].initial = "member"
        self.fields["teams"].choices = _team_choices(teams)


class MemberForm(forms.Form):
    role = forms.ChoiceField()
    teams = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, roles, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(roles)
        self.fields["teams"].choices = _team_choices(teams)


class RoleForm(forms.Form):
    """A custom role: its key (fixed once created), name and capabilities."""

    key = forms.CharField(max_length=50, validators=[slug_validator])
    name = forms.CharField(max_length=120)
    capabilities = forms.MultipleChoiceField(
        required=False, choices=[(c.key, c.label) for c in CAPABILITIES]
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["key"]

    def capability_groups(self):
        """[(group, [(capability, checked)])] for the grouped toggles of the template."""
        if self.is_bound:
            chosen = set(self.data.getlist("capabilities"))
        else:
            chosen = set(self.initial.get("capabilities") or [])
        return [
            (group, [(capability, capability.key in chosen) for capability in capabilities])
            for group, capabilities in grouped()
        ]


class DuplicateRoleForm(forms.Form):
    key = forms.CharField(max_length=50, validators=[slug_validator])
    name = forms.CharField(max_length=120)
