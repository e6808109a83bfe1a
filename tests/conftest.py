"""Shared fixtures: named people in two workspaces, and clients signed in as them.

acme: alice (owner), bob (member of team eng), carol (auditor), and dave (member of team eng),
whose role a test sets to exactly the capabilities it names (`dave_with`, and signed in:
`api_as_dave_with`, `console_as_dave_with`).
globex: mallory (owner), the intruder of every isolation test.
"""

import itertools

import pytest
from django.conf import settings
from django.test import Client as ConsoleClient
from rest_framework.test import APIClient

from core import rate_limiting
from gateways import services as gateway_services
from identities.services import issue_token
from servers import services as server_services
from teams import api_access
from teams import services as team_services
from teams.models import Membership, User
from tests.support import managed, parallel_workers
from tests.support.oauth_apps import oauth_app

# For every test folder: real upstream MCP servers (subprocesses started on first use), the live
# servers the identity probe is tried on, the live gateway, config files for `apply`, and
# Chromium on the live console.
pytest_plugins = [
    "tests.support.upstreams",
    "tests.support.probe_targets",
    "tests.support.live_gateway",
    "tests.support.config_files",
    "tests.support.browser",
]

_role_keys = itertools.count(1)


def pytest_configure(config):
    parallel_workers.use_own_redis()
    # The commands the suite's managed servers run, here and in the supervisors tests start.
    managed.apply_to(settings)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Every test starts with no requests counted against any rate limit."""
    rate_limiting.reset()


def _person(email):
    return User.objects.create_user(email=email, password="correct horse battery")


def _join_eng(workspace, user, *, actor):
    """Make `user` a member of `workspace`, in its team eng."""
    team_services.add_member(
        workspace=workspace,
        user=user,
        role_key="member",
        team_slugs=["eng"],
        actor=actor,
        acting_member=None,
    )


@pytest.fixture
def alice(db):
    return _person("alice@acme.test")


@pytest.fixture
def bob(db):
    return _person("bob@acme.test")


@pytest.fixture
def carol(db):
    return _person("carol@acme.test")


@pytest.fixture
def mallory(db):
    return _person("mallory@globex.test")


@pytest.fixture
def acme(alice, bob, carol):
    workspace = team_services.create_workspace(slug="acme", name="Acme", owner=alice)
    team_services.create_team(workspace=workspace, slug="eng", name="Engineering", actor=alice)
    _join_eng(workspace, bob, actor=alice)
    team_services.add_member(
        workspace=workspace, user=carol, role_key="auditor", actor=alice, acting_member=None
    )
    return workspace


@pytest.fixture
def dave(acme, alice):
    """A member of acme's team eng; tests give him a role with exactly the capabilities needed."""
    user = _person("dave@acme.test")
    _join_eng(acme, user, actor=alice)
    return user


@pytest.fixture
def globex(mallory):
    workspace = team_services.create_workspace(slug="globex", name="Globex", owner=mallory)
    team_services.create_team(workspace=workspace, slug="ops", name="Operations", actor=mallory)
    return workspace


@pytest.fixture
def acme_server(acme, alice):
    return server_services.create_server(
        workspace=acme, name="time", kind="remote", url="http://127.0.0.1:9001/mcp", actor=alice
    )


@pytest.fixture
def acme_gateway(acme, alice, acme_server):
    gateway = gateway_services.create_gateway(
        workspace=acme, slug="dev", name="Developer tools", actor=alice
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=alice)
    gateway_services.assign_server(
        gateway=gateway, server=acme_server, namespace="time", actor=alice
    )
    return gateway


@pytest.fixture
def globex_server(globex, mallory):
    return server_services.create_server(
        workspace=globex,
        name="secret",
        kind="remote",
        url="http://127.0.0.1:9002/mcp",
        actor=mallory,
    )


@pytest.fixture
def globex_gateway(globex, mallory, globex_server):
    gateway = gateway_services.create_gateway(
        workspace=globex, slug="prod", name="Production", actor=mallory
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["ops"], actor=mallory)
    gateway_services.assign_server(
        gateway=gateway, server=globex_server, namespace="secret", actor=mallory
    )
    return gateway


@pytest.fixture
def api():
    """An API client; `api.as_(user)` signs it in."""

    class Client(APIClient):
        def as_(self, user):
            self.force_authenticate(user=user)
            return self

    return Client()


@pytest.fixture
def as_():
    """`as_(user)`: a console client (Django's test client) with `user` signed in."""

    def sign_in(user):
        client = ConsoleClient()
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def dave_with(acme, alice, dave):
    """`dave_with({caps})`: dave, after alice gives him a new role holding exactly `caps`."""

    def grant(capabilities):
        role = team_services.create_role(
            workspace=acme,
            key=f"custom-{next(_role_keys)}",
            name="Custom",
            capabilities=sorted(capabilities),
            actor=alice,
            acting_member=None,
        )
        membership = Membership.objects.get(workspace=acme, user=dave)
        team_services.update_member(
            membership=membership, role_key=role.key, actor=alice, acting_member=None
        )
        return dave

    return grant


@pytest.fixture
def api_as_dave_with(api, dave_with):
    """`api_as_dave_with({caps})`: an API client signed in as dave, whose role holds exactly
    `caps`."""
    return lambda capabilities: api.as_(dave_with(capabilities))


@pytest.fixture
def console_as_dave_with(as_, dave_with):
    """`console_as_dave_with({caps})`: a console client signed in as dave, whose role holds
    exactly `caps`."""
    return lambda capabilities: as_(dave_with(capabilities))


@pytest.fixture
def token_for():
    """`token_for(workspace, user)`: issue a gateway token (MCP URLs only) and return its
    secret."""

    def issue(workspace, user, **kwargs):
        membership = Membership.objects.get(workspace=workspace, user=user)
        return issue_token(membership=membership, name="test", actor=user, **kwargs).secret

    return issue


@pytest.fixture
def api_token_for():
    """`api_token_for(workspace, user, *scopes)`: issue an api-kind token (the only kind the
    management API takes) and return its secret; without scopes, every one the role holds."""

    def issue(workspace, user, *scopes):
        membership = Membership.objects.get(workspace=workspace, user=user)
        scopes = scopes or sorted(api_access.scopes_held(membership))
        return issue_token(
            membership=membership, name="test", actor=user, kind="api", scopes=scopes
        ).secret

    return issue


@pytest.fixture
def client_app(acme, bob):
    """An OAuth client app holding bob's token for acme's gateway `dev`, as after a client's
    sign-in."""
    return oauth_app(bob)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
