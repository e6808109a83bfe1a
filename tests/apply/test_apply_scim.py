"""`apply` sets a workspace's SCIM settings: the role new people get and which team each
identity-provider group stands for; a file without `scim:` leaves them as they are."""

import re

import pytest
from django.core.management import CommandError

from identities.scim.selectors import scim_settings_of
from teams.models import ConfigChange, Workspace
from tests.support.config_files import ACME_YAML

pytestmark = pytest.mark.django_db

SCIM = """\
scim:
  default_role: support
  group_teams: {"Engineering (Okta)": eng}
"""


def _settings():
    return scim_settings_of(Workspace.objects.get(slug="acme"))


def test_it_sets_the_scim_settings_and_a_second_apply_changes_nothing(config_file, run):
    path = config_file(ACME_YAML + SCIM)
    out = run("apply", path)
    assert re.search(r"^created\s+scim settings$", out, re.M)
    settings = _settings()
    assert settings.default_role.key == "support"
    assert settings.group_teams == {"Engineering (Okta)": "eng"}
    assert ConfigChange.objects.filter(action="scim.settings.update").count() == 1

    again = run("apply", path)
    assert again.splitlines()[-1].startswith("0 created, 0 changed")


def test_it_changes_only_what_differs_and_leaves_them_when_absent(config_file, run):
    run("apply", config_file(ACME_YAML + SCIM))
    out = run("apply", config_file(ACME_YAML + "scim: {group_teams: {Ops: eng}}\n"))
    assert re.search(r"^changed\s+scim settings\s.*default_role, group_teams", out, re.M)
    settings = _settings()
    assert settings.default_role is None and settings.group_teams == {"Ops": "eng"}

    run("apply", config_file(ACME_YAML))
    assert _settings().group_teams == {"Ops": "eng"}


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("scim: {group_teams: {Ops: nope}}", "unknown team 'nope'"),
        ("scim: {default_role: boss}", "unknown role 'boss'"),
        ("scim: {default: member}", "unknown key 'default'"),
    ],
)
def test_bad_scim_settings_name_their_place(config_file, run, snippet, message):
    with pytest.raises(CommandError) as refused:
        run("apply", config_file(ACME_YAML + snippet + "\n", name="bad.yaml"))
    assert message in str(refused.value)
    assert "bad.yaml:" in str(refused.value)
