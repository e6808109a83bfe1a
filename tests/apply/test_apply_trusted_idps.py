"""`apply` sets a workspace's trusted identity providers (enterprise-managed authorization),
exports them, and with --prune forgets those the file no longer lists."""

import re

import pytest
from django.core.management import CommandError

from identities.models import TrustedIdp
from teams.models import ConfigChange
from tests.support.config_files import ACME_YAML

pytestmark = pytest.mark.django_db

IDPS = """\
trusted_idps:
  - issuer: https://127.0.0.1/okta
    jwks_url: https://127.0.0.1/okta/keys
  - issuer: https://127.0.0.1/entra
    jwks_url: https://127.0.0.1/entra/keys
    audience: urn:gatehouse
    enabled: false
"""


@pytest.fixture(autouse=True)
def _loopback_idps(settings):
    # The identity providers of these files sit on loopback.
    settings.SSO_ALLOW_PRIVATE_ISSUERS = True


def _idps():
    return {i.issuer: (i.jwks_url, i.audience, i.enabled) for i in TrustedIdp.objects.all()}


def test_it_trusts_the_listed_idps_and_a_second_apply_changes_nothing(config_file, run):
    path = config_file(ACME_YAML + IDPS)
    out = run("apply", path)
    assert re.search(r"^created\s+trusted idp https://127.0.0.1/okta$", out, re.M)
    assert _idps() == {
        "https://127.0.0.1/okta": ("https://127.0.0.1/okta/keys", "", True),
        "https://127.0.0.1/entra": ("https://127.0.0.1/entra/keys", "urn:gatehouse", False),
    }
    assert ConfigChange.objects.filter(action="trusted_idp.create").count() == 2
    assert run("apply", path).splitlines()[-1].startswith("0 created, 0 changed")


ENTRA_ONLY = """\
trusted_idps:
  - issuer: https://127.0.0.1/entra
    jwks_url: https://127.0.0.1/entra/keys
    audience: urn:gatehouse
"""


def test_it_changes_what_differs_and_prunes_the_unlisted(config_file, run):
    run("apply", config_file(ACME_YAML + IDPS))
    out = run("apply", config_file(ACME_YAML + ENTRA_ONLY))
    assert re.search(r"^changed\s+trusted idp https://127.0.0.1/entra\s.*enabled", out, re.M)
    assert set(_idps()) == {"https://127.0.0.1/okta", "https://127.0.0.1/entra"}
    run("apply", "--prune", config_file(ACME_YAML + ENTRA_ONLY))
    assert _idps() == {
        "https://127.0.0.1/entra": ("https://127.0.0.1/entra/keys", "urn:gatehouse", True)
    }


def test_the_export_lists_them(config_file, run):
    run("apply", config_file(ACME_YAML + IDPS))
    exported = run("export_config", "--workspace", "acme")
    assert "trusted_idps:" in exported and "audience: urn:gatehouse" in exported
    assert "enabled: false" in exported


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("trusted_idps: [{issuer: nope, jwks_url: https://127.0.0.1/k}]", "issuer"),
        ("trusted_idps: [{issuer: https://127.0.0.1/x}]", "jwks_url"),
    ],
)
def test_bad_idps_name_their_place(config_file, run, snippet, message):
    with pytest.raises(CommandError) as refused:
        run("apply", config_file(ACME_YAML + snippet + "\n", name="bad.yaml"))
    assert message in str(refused.value)
