"""Fixtures of the workstation tests.

* `personal`, `shared`: gateway `acme/ws` with a workstation server `files`, and connectors of
  the tests' own (fake_connector.py) dialling the live application.
* `who_server`, `workstations`: the acceptance tests' workstation server `who` on the live
  deployment's gateway `acme/dev`, and workstations running the real `gatehouse-connect`.
"""

import asyncio
import sys
import time

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from audit.log.writer import flush
from gateways import services as gateway_services
from identities import services as identity_services
from identities.models import ApiToken, Connector
from servers import services as server_services
from servers.models import Server
from teams import services as team_services
from teams.models import Membership, User
from tests.dataplane.conftest import two_workers, workers_env  # noqa: F401 (fixtures)
from tests.workstations.fake_connector import FakeConnector
from tests.workstations.workstation import WHOAMI_SERVER, Workstation


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """The registry lives in the cache: no test sees another's connectors."""


@pytest.fixture(autouse=True)
def _slow_starts(settings):
    """A workstation's Python server takes seconds to start on a loaded machine: the first
    catalog is waited for, not answered as pending."""
    settings.UPSTREAM_LIST_DEADLINE_SECONDS = 30
    settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS = 30
    settings.UPSTREAM_DISCOVERY_TIMEOUT_SECONDS = 30


class Workstations:
    def __init__(self, base, acme, alice, scope):
        self.base, self.acme, self.alice = base, acme, alice
        self.server = server_services.create_server(
            workspace=acme, name="files", kind="workstation", command="files-mcp", actor=alice
        )
        Server.objects.filter(pk=self.server.pk).update(scope=scope, env_keys=["FILES_ROOT"])
        self.gateway = gateway_services.create_gateway(
            workspace=acme, slug="ws", name="Workstation tools", actor=alice
        )
        gateway_services.provision_teams(gateway=self.gateway, team_slugs=["eng"], actor=alice)
        gateway_services.assign_server(
            gateway=self.gateway, server=self.server, namespace="files", actor=alice
        )
        self.url = f"{base}/mcp/acme/ws"
        self.connectors: list[FakeConnector] = []

    def person(self, email, role_key="member") -> User:
        user = User.objects.create_user(email=email, password="correct horse battery")
        team_services.add_member(
            workspace=self.acme,
            user=user,
            role_key=role_key,
            team_slugs=["eng"],
            actor=self.alice,
            acting_member=None,
        )
        return user

    def token_for(self, user, kind=ApiToken.Kind.GATEWAY) -> str:
        membership = Membership.objects.get(workspace=self.acme, user=user)
        return identity_services.issue_token(
            membership=membership, name=f"{kind} token", actor=user, kind=kind
        ).secret

    def connector(self, user, *, mark, servers=("files",), token=None, start=True, base=None):
        token = token or self.token_for(user, ApiToken.Kind.CONNECTOR)
        connector = FakeConnector(base or self.base, token, list(servers), mark=mark)
        connector.token = token
        self.connectors.append(connector)
        return connector.start() if start else connector

    def call(self, user_or_token, tool="files__whoami", arguments=None, *, url=None, **options):
        """Call one tool as the person (or with the gateway token) and return the result."""
        token = user_or_token if isinstance(user_or_token, str) else self.token_for(user_or_token)

        async def scenario():
            async with self.client(token, url=url, **options) as client:
                return await client.call_tool(tool, arguments or {})

        return run(scenario())

    def client(self, token, *, url=None, **options) -> Client:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
        transport = streamable_http_client(url or self.url, http_client=http)
        return Client(transport, mode="legacy", cache=None, **options)


def run(scenario):
    try:
        return asyncio.run(scenario)
    except BaseExceptionGroup as group:
        while isinstance(group, BaseExceptionGroup):
            group = group.exceptions[0]
        raise group from None


def _workstations(request, transactional_db, gateway_base, acme, alice, scope):
    ws = Workstations(gateway_base, acme, alice, scope)
    yield ws
    for connector in ws.connectors:
        connector.stop()
    settle()


def settle() -> None:
    """Wait for what the platform still writes after connectors stopped, before the database
    is emptied (on PostgreSQL, a write racing the flush's TRUNCATE deadlocks it)."""
    # The platform ends each connection's row after the socket closed.
    deadline = time.monotonic() + 10
    while Connector.objects.filter(disconnected_at__isnull=True).exists():
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    flush(timeout=10)


@pytest.fixture
def personal(transactional_db, gateway_base, acme, alice):
    yield from _workstations(None, transactional_db, gateway_base, acme, alice, "personal")


@pytest.fixture
def shared(transactional_db, gateway_base, acme, alice):
    yield from _workstations(None, transactional_db, gateway_base, acme, alice, "shared")


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

    def make(user, *, allow, env=None, platform=None, token=None, shares_cache=True):
        workstation = Workstation(
            tmp_path / f"ws-{len(made)}-{user.email.split('@')[0]}",
            platform=platform or deployment.base,
            token=token or connector_token(deployment, user),
            user=user,
            allow=allow,
            env=env,
            shares_cache=shares_cache,
        )
        made.append(workstation)
        return workstation

    yield make
    for workstation in made:
        workstation.stop()
    settle()
