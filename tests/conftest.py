"""Shared fixtures: named people in two workspaces.

acme: alice (owner), bob (member of team eng), carol (auditor).
globex: mallory (owner), the intruder of every isolation test.
"""

import pytest
from rest_framework.test import APIClient

from gateways import services as gateway_services
from servers import services as server_services
from teams import services as team_services
from teams.models import User

# Real upstream MCP servers (subprocesses started on first use) and the live servers the
# identity probe is tried on, for every test folder.
pytest_plugins = ["tests.support.upstreams", "tests.support.probe_targets"]


def _person(email):
    return User.objects.create_user(email=email, password="correct horse battery")


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
    team_services.add_member(
        workspace=workspace,
        user=bob,
        role_key="member",
        team_slugs=["eng"],
        actor=alice,
        acting_member=None,
    )
    team_services.add_member(
        workspace=workspace, user=carol, role_key="auditor", actor=alice, acting_member=None
    )
    return workspace


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


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
