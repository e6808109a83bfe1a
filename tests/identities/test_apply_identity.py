"""`manage.py apply` and `identity:` on assignments: schemes, and secrets named by environment
variable, never written in the file."""

import pytest
from django.core.management.base import CommandError
from django.db import connection

from gateways.models import Assignment
from identities import crypto
from identities.models import UpstreamCredential
from tests.commands.conftest import ACME_YAML, config_file, run  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

TIME = "      - {server: time, namespace: time, tools: {mode: all}}\n"


def with_identity(identity: str) -> str:
    line = f"      - {{server: time, namespace: time, identity: {identity}}}\n"
    return ACME_YAML.replace(TIME, line)


def _time_assignment():
    return Assignment.objects.get(namespace="time")


def test_a_service_account_is_read_from_the_environment(config_file, run, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TIME_TOKEN", "env-secret-token-1234")
    path = config_file(with_identity("{scheme: service_account, bearer_env: TIME_TOKEN}"))
    out = run("apply", path)
    assert "created   credential dev/time" in out
    assignment = _time_assignment()
    assert assignment.identity_scheme == "service_account"
    credential = UpstreamCredential.objects.get(assignment=assignment, owner__isnull=True)
    assert crypto.decrypt(credential.secret) == {"token": "env-secret-token-1234"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, hint FROM identities_upstreamcredential")
        assert "env-secret-token" not in str(cursor.fetchall())

    # The same file again writes nothing; a new value in the environment changes it.
    assert "unchanged credential dev/time" in run("apply", path)
    monkeypatch.setenv("TIME_TOKEN", "rotated-token-5678")
    assert "changed   credential dev/time" in run("apply", path)
    credential.refresh_from_db()
    assert crypto.decrypt(credential.secret) == {"token": "rotated-token-5678"}


def test_headers_and_manual_schemes(config_file, run, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TIME_KEY", "key-from-env")
    identity = "{scheme: manual, headers_env: {X-Api-Key: TIME_KEY}}"
    run("apply", config_file(with_identity(identity)))
    credential = UpstreamCredential.objects.get(assignment=_time_assignment())
    assert credential.kind == "headers"
    assert crypto.decrypt(credential.secret) == {"headers": {"X-Api-Key": "key-from-env"}}
    # Without `identity:` the upstream needs none.
    run("apply", config_file(ACME_YAML))
    assert _time_assignment().identity_scheme == "none"


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ("{scheme: service_account, bearer_env: NOT_SET_ANYWHERE}", "NOT_SET_ANYWHERE is not set"),
        ("{scheme: wizard}", "identity scheme"),
        ("{scheme: none, bearer_env: TIME_TOKEN}", "scheme 'none' takes no shared credential"),
        ("{scheme: service_account, token: inline-secret}", "token"),
        (
            "{scheme: service_account, bearer_env: TIME_TOKEN, headers_env: {X-A: TIME_TOKEN}}",
            "not both",
        ),
    ],
)
def test_bad_identities_are_refused_with_their_position(
    config_file,  # noqa: F811
    run,  # noqa: F811
    monkeypatch,
    identity,
    message,
):
    monkeypatch.setenv("TIME_TOKEN", "x")
    path = config_file(with_identity(identity))
    with pytest.raises(CommandError) as refused:
        run("apply", path)
    assert f"{path}:" in str(refused.value)
    assert "gateways[0].assignments[0].identity" in str(refused.value)
    assert message in str(refused.value)
    assert not UpstreamCredential.objects.exists()
