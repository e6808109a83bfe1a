"""Fixtures of the audit tests: entries as the data plane passes them, and a way to write them."""

import itertools
import uuid

import pytest

from audit.log.recorder import write_entries
from teams import services as team_services
from teams.models import Membership, User
from tests.audit.load_run import start_upstream

_rpc_ids = itertools.count(1)


def call_hops(workspace, *, user=None, gateway="dev", tool="time__now", payload=None, **extra):
    """The four hop entries of one successful tools/call, sharing one correlation id."""
    correlation = str(uuid.uuid4())
    base = {
        "workspace_id": workspace.pk,
        "correlation_id": correlation,
        "gateway_id": 7,
        "gateway_slug": gateway,
        "assignment_id": 3,
        "server_id": 5,
        "server_name": "time",
        "user_id": user.pk if user else None,
        "user_email": user.email if user else "",
        "token_id": 11,
        "session_id": "sealed-session-id",
        "client_name": "claude-code",
        "client_version": "2.1.0",
        "method": "tools/call",
        "rpc_id": next(_rpc_ids),
        "tool": tool,
        "upstream_tool": tool.split("__")[-1],
        "identity_scheme": "service_account",
        **extra,
    }
    request = payload or {"name": tool, "arguments": {"zone": "UTC"}}
    return [
        {**base, "hop": "client.request", "payload": request},
        {**base, "hop": "upstream.request", "payload": request},
        {
            **base,
            "hop": "upstream.response",
            "payload": {"content": [{"text": "noon"}]},
            "latency_ms": 4.25,
        },
        {
            **base,
            "hop": "client.response",
            "payload": {"content": [{"text": "noon"}]},
            "latency_ms": 5.5,
        },
    ]


@pytest.fixture
def write_calls():
    """`write_calls(workspace, n, **kw)`: write n calls (4 hops each) synchronously."""

    def write(workspace, n=1, **kwargs):
        hops = [h for _ in range(n) for h in call_hops(workspace, **kwargs)]
        write_entries(hops)
        return hops

    return write


_role_keys = itertools.count(1)


@pytest.fixture
def dave(acme, alice):
    """A member of acme; tests give him a role with exactly the capabilities they name."""
    user = User.objects.create_user(email="dave@acme.test", password="correct horse battery")
    team_services.add_member(
        workspace=acme, user=user, role_key="member", actor=alice, acting_member=None
    )
    return user


@pytest.fixture
def as_dave_with(api, acme, alice, dave):
    """`as_dave_with({caps})`: an API client signed in as dave holding exactly `caps`."""

    def sign_in(capabilities):
        role = team_services.create_role(
            workspace=acme,
            key=f"logs-{next(_role_keys)}",
            name="Custom",
            capabilities=sorted(capabilities),
            actor=alice,
            acting_member=None,
        )
        membership = Membership.objects.get(workspace=acme, user=dave)
        team_services.update_member(
            membership=membership, role_key=role.key, actor=alice, acting_member=None
        )
        return api.as_(dave)

    return sign_in


@pytest.fixture(scope="session")
def echo_upstream():
    """A stateless echo MCP server over Streamable HTTP, shared by the live-gateway tests."""
    process, url = start_upstream()
    yield url
    process.stop()
