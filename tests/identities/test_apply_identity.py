"""`manage.py apply` and `identity:` on assignments: schemes, and secrets named by environment
variable, never written in the file."""

import pytest
from django.core.management.base import CommandError
from django.db import connection

from core import crypto
from gateways.models import Assignment
from identities.models import UpstreamCredential
from tests.support.config_files import ACME_YAML

pytestmark = pytest.mark.django_db

TIME = "      - {server: time, namespace: time, tools: {mode: all}}\n"


def with_identity(identity: str) -> str:
    line = f"      - {{server: time, namespace: time, identity: {identity}}}\n"
    return ACME_YAML.replace(TIME, line)


def _time_assignment():
    return Assignment.objects.get(namespace="time")


def test_a_service_account_is_read_from_the_environment(config_file, run, monkeypatch):
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


def test_headers_and_manual_schemes(config_file, run, monkeypatch):
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
    config_file,
    run,
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


def test_user_oauth_with_a_pre_registered_client(config_file, run, monkeypatch):
    monkeypatch.setenv("TIME_OAUTH_SECRET", "client-secret-from-env-42")
    identity = (
        '{scheme: user_oauth, client_id: gatehouse-app, client_secret: "${TIME_OAUTH_SECRET}"}'
    )
    path = config_file(with_identity(identity))
    assert "created   credential dev/time" in run("apply", path)
    assignment = _time_assignment()
    assert assignment.identity_scheme == "user_oauth"
    credential = UpstreamCredential.objects.get(assignment=assignment, owner__isnull=True)
    assert credential.kind == "oauth_client"
    assert credential.details == {
        "client_id": "gatehouse-app",
        "auth_method": "client_secret_basic",
    }
    assert crypto.decrypt(credential.secret) == {"client_secret": "client-secret-from-env-42"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, hint, details FROM identities_upstreamcredential")
        assert "client-secret-from-env" not in str(cursor.fetchall())
    assert "unchanged credential dev/time" in run("apply", path)


def test_user_oauth_without_a_client_registers_dynamically(config_file, run):
    run("apply", config_file(with_identity("{scheme: user_oauth}")))
    assert _time_assignment().identity_scheme == "user_oauth"
    assert not UpstreamCredential.objects.exists()


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ("{scheme: user_oauth, client_id: app, client_secret: inline-secret}", "${NAME}"),
        ('{scheme: user_oauth, client_id: app, client_secret: "${NOT_SET_ANYWHERE}"}', "not set"),
        ("{scheme: service_account, client_id: app}", "for the scheme user_oauth only"),
        ('{scheme: user_oauth, client_secret: "${TIME_TOKEN}"}', "needs a client_id"),
        ("{scheme: user_oauth, bearer_env: TIME_TOKEN}", "takes no shared credential"),
    ],
)
def test_bad_user_oauth_identities_are_refused(config_file, run, monkeypatch, identity, message):
    monkeypatch.setenv("TIME_TOKEN", "x")
    path = config_file(with_identity(identity))
    with pytest.raises(CommandError) as refused:
        run("apply", path)
    assert "gateways[0].assignments[0].identity" in str(refused.value)
    assert message in str(refused.value)
    assert not UpstreamCredential.objects.exists()
