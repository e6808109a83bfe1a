"""Fixtures of the workstation acceptance tests: workstation servers on the live deployment's
gateway `acme/dev`, connector tokens, and workstations running `gatehouse-connect`."""

import sys

import pytest

from gateways import services as gateway_services
from identities import services as identity_services
from servers import services as server_services
from teams import services as team_services
from teams.models import Membership, User
from tests.dataplane.conftest import two_workers, workers_env  # noqa: F401 (fixtures)
from tests.workstations.workstation import WHOAMI_SERVER, Workstation


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """The connector registry and the data plane's sessions live in the cache: start empty."""


def add_workstation_server(deployment, *, name, namespace, scope="personal", args=None):
    """A workstation server running the whoami stdio server, assigned to `acme/dev`."""
    server = server_services.create_server(
        workspace=deployment.acme,
        name=name,
        kind="workstation",
        command=sys.executable,
        args=args if args is not None else [str(WHOAMI_SERVER)],
        env_keys=["WHOAMI_LABEL"],
        scope=scope,
        actor=deployment.alice,
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=server, namespace=namespace, actor=deployment.alice
    )
    return server


@pytest.fixture
def who_server(deployment):
    """`who`: a personal workstation server, tools `who__*` on acme/dev."""
    return add_workstation_server(deployment, name="who", namespace="who")


@pytest.fixture
def erin(deployment):
    """A member of team eng who runs no connector (bob and dave are the others)."""
    user = User.objects.create_user(email="erin@acme.test", password="correct horse battery")
    team_services.add_member(
        workspace=deployment.acme,
        user=user,
        role_key="member",
        team_slugs=["eng"],
        actor=deployment.alice,
        acting_member=None,
    )
    return user


def connector_token(deployment, user) -> str:
    membership = Membership.objects.get(workspace=deployment.acme, user=user)
    return identity_services.issue_token(
        membership=membership, name="laptop", actor=user, kind="connector"
    ).secret


@pytest.fixture
def workstations(deployment, tmp_path):
    """`workstations(user, allow=[...], env={...}, platform=...)`: a workstation of `user`
    with a fresh connector token, not started; every one is stopped after the test."""
    made = []

    def make(user, *, allow, env=None, platform=None, token=None):
        workstation = Workstation(
            tmp_path / f"ws-{len(made)}-{user.email.split('@')[0]}",
            platform=platform or deployment.base,
            token=token or connector_token(deployment, user),
            user=user,
            allow=allow,
            env=env,
        )
        made.append(workstation)
        return workstation

    yield make
    for workstation in made:
        workstation.stop()
