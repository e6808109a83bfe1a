"""Fixtures of the console tests: signed-in browsers of the test client, and dave, whose role
is exactly the capabilities a test names."""

import itertools

import pytest
from django.test import Client

from servers import services as server_services
from teams import services as team_services
from teams.models import Membership, User
from tests.gateways import upstream_app
from tests.support.live import ThreadedServer

_role_keys = itertools.count(1)


@pytest.fixture
def as_():
    """`as_(user)`: a test client with `user` signed in."""

    def sign_in(user):
        client = Client()
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def dave(acme, alice):
    """A member of acme's team eng; tests give him a role with exactly the capabilities needed."""
    user = User.objects.create_user(email="dave@acme.test", password="correct horse battery")
    team_services.add_member(
        workspace=acme,
        user=user,
        role_key="member",
        team_slugs=["eng"],
        actor=alice,
        acting_member=None,
    )
    return user


@pytest.fixture
def as_dave_with(as_, acme, alice, dave):
    """`as_dave_with({caps})`: a client signed in as dave, whose role holds exactly `caps`."""

    def sign_in(capabilities):
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
        return as_(dave)

    return sign_in


def text(response) -> str:
    return response.content.decode()


@pytest.fixture(scope="session")
def upstream_url():
    """A live SDK upstream (echo read-only, delete_note destructive, add, ...)."""
    server = ThreadedServer(upstream_app.build().streamable_http_app()).start()
    yield f"{server.url}/mcp"
    server.stop()


@pytest.fixture
def notes_server(acme, alice, upstream_url):
    return server_services.create_server(
        workspace=acme, name="notes", url=upstream_url, actor=alice
    )
