"""`manage.py issue_token`: a token for a member, printed on the last line, usable on the API."""

import pytest
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from identities.models import ApiToken
from identities.selectors import active_token

pytestmark = pytest.mark.django_db


def test_it_prints_a_token_that_authenticates(acme, acme_gateway, bob, run):
    out = run(
        "issue_token",
        "--workspace",
        "acme",
        "--user",
        "Bob@acme.test",
        "--name",
        "ci",
        "--kind",
        "api",
        "--scope",
        "read",
    )

    secret = out.strip().splitlines()[-1]
    assert secret.startswith("gth_")
    assert "(the management API, scopes read; never expires)" in out
    token = active_token(secret)
    assert (token.user, token.workspace, token.gateway, token.name) == (bob, acme, None, "ci")
    assert (token.kind, token.scopes) == ("api", ["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.get("/api/v1/workspaces/")
    assert response.status_code == 200
    assert "acme" in response.content.decode()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret[:-1]}x")
    assert client.get("/api/v1/workspaces/").status_code == 401


def test_it_scopes_and_expires_the_token(acme, acme_gateway, alice, run):
    out = run(
        "issue_token",
        "--workspace=acme",
        "--user=alice@acme.test",
        "--gateway=dev",
        "--expires-in-days=7",
    )

    token = active_token(out.splitlines()[-1])
    assert (token.kind, token.gateway, token.scopes) == ("gateway", acme_gateway, [])
    assert "the MCP URL of gateway 'dev'" in out
    # What a client configuration holds is no credential for the management API.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.splitlines()[-1]}")
    assert client.get("/api/v1/workspaces/").status_code == 403
    days = (token.expires_at - timezone.now()).total_seconds() / 86400
    assert 6.99 < days <= 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace=nope", "--user=alice@acme.test"], "Unknown workspace 'nope'"),
        (["--workspace=acme", "--user=mallory@globex.test"], "is not a member of the workspace"),
        (["--workspace=acme", "--user=nobody@acme.test"], "is not a member of the workspace"),
        (["--workspace=acme", "--user=alice@acme.test", "--gateway=nope"], "Unknown gateway"),
        # Another workspace's gateway is as unknown as a missing one.
        (["--workspace=acme", "--user=alice@acme.test", "--gateway=prod"], "Unknown gateway"),
        (["--workspace=acme", "--user=alice@acme.test", "--expires-in-days=0"], "positive"),
        (["--workspace=acme", "--user=alice@acme.test", "--name= "], "A token needs a name"),
        (["--workspace=acme", "--user=alice@acme.test", "--kind=api"], "at least one scope"),
        (
            ["--workspace=acme", "--user=alice@acme.test", "--kind=api", "--scope=root"],
            "Unknown scope: root",
        ),
        (
            ["--workspace=acme", "--user=bob@acme.test", "--kind=api", "--scope=logs.view"],
            "The role of bob@acme.test does not have: logs.view",
        ),
        (["--workspace=acme", "--user=alice@acme.test", "--scope=read"], "Only api tokens"),
    ],
)
def test_it_refuses_bad_input(args, message, acme, acme_gateway, globex_gateway, run):
    with pytest.raises(CommandError, match=message):
        run("issue_token", *args)
    assert not ApiToken.objects.exists()
