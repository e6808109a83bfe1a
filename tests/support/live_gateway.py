"""Pytest fixtures of the live gateway: the whole ASGI application and a live SDK upstream, each
on a real socket for the session, and `deployment`, a workspace wired through them.

* ``gateway_base`` (alias ``console_base``): the application (console, API, data plane).
* ``upstream_url``: the SDK upstream of tests/dataplane/upstream_app.py (echo read-only,
  delete_note destructive, add, ...); ``notes_server``: acme's server `notes` at it.
* ``deployment``: gateway `acme/dev` with two assignments of that upstream (``Deployment``);
  ``connect`` opens an SDK client on it, ``run_client`` runs what the client does.
* ``fresh_cache``: an empty cache before and after the test, and no list fetched before it. The
  data plane keeps ended sessions, config snapshots and tokens there, so its tests use it on
  every test (autouse in their conftest) and no test sees another's.
"""

import asyncio

import httpx
import httpx2
import pytest
from django.core.cache import cache
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from audit.log.writer import flush
from dataplane import catalog
from gateways import services as gateway_services
from identities import services as identity_services
from servers import services as server_services
from teams.models import Membership
from tests.dataplane import upstream_app
from tests.support.live import ThreadedServer


@pytest.fixture(scope="session")
def upstream_url():
    """A live SDK upstream (echo read-only, delete_note destructive, add, ...)."""
    server = ThreadedServer(upstream_app.build().streamable_http_app()).start()
    yield f"{server.url}/mcp"
    server.stop()


@pytest.fixture(scope="session")
def gateway_base(django_db_setup, django_db_blocker):
    from config.asgi import application

    server = ThreadedServer(application).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def console_base(gateway_base):
    """The live console, which the same application serves."""
    return gateway_base


@pytest.fixture
def fresh_cache():
    # The process's own lists too: they are keyed by assignment id, and ids come back after a
    # flush, so a list fetched for another test's assignment would be served stale.
    catalog.forget_catalogs()
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def notes_server(acme, alice, upstream_url):
    return server_services.create_server(
        workspace=acme, name="notes", url=upstream_url, actor=alice
    )


class Deployment:
    """A workspace wired to a live upstream: gateway `acme/dev` with two assignments."""

    def __init__(self, base, acme, alice, bob, upstream_url):
        self.base, self.acme, self.alice, self.bob = base, acme, alice, bob
        self.server = server_services.create_server(
            workspace=acme, name="notes", url=upstream_url, actor=alice
        )
        self.gateway = gateway_services.create_gateway(
            workspace=acme, slug="dev", name="Developer tools", actor=alice
        )
        gateway_services.provision_teams(gateway=self.gateway, team_slugs=["eng"], actor=alice)
        self.full = gateway_services.assign_server(
            gateway=self.gateway, server=self.server, namespace="notes", actor=alice
        )
        self.readonly = gateway_services.assign_server(
            gateway=self.gateway,
            server=self.server,
            namespace="ro",
            tool_mode="read_only",
            actor=alice,
        )
        self.url = f"{base}/mcp/acme/dev"

    def token_for(self, user, **kwargs) -> str:
        membership = Membership.objects.get(workspace=self.acme, user=user)
        return identity_services.issue_token(
            membership=membership, name="test", actor=user, **kwargs
        ).secret

    def headers(self, token, **extra) -> dict:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            **extra,
        }

    def initialize(self, token, version="2025-06-18") -> str:
        response = httpx.post(
            self.url,
            headers=self.headers(token),
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1"},
                },
            },
        )
        assert response.status_code == 200, response.text
        return response.headers["mcp-session-id"]


@pytest.fixture
def deployment(transactional_db, gateway_base, acme, alice, bob, upstream_url):
    yield Deployment(gateway_base, acme, alice, bob, upstream_url)
    # The audit writer finishes this test's entries before the database is emptied.
    flush(timeout=10)


def connect(deployment, token, mode="legacy", **client_options) -> Client:
    """An SDK client of the deployment's gateway that presents `token`."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    # Lists are fetched fresh: the gateway's answer depends on the caller and on live config.
    transport = streamable_http_client(deployment.url, http_client=http)
    return Client(transport, mode=mode, cache=None, **client_options)


def run_client(scenario):
    """Run the coroutine `scenario`; an error of the client comes out as the call raised it."""
    try:
        return asyncio.run(scenario)
    except BaseExceptionGroup as group:
        # The client's task group wraps what the call raised; tests expect that error.
        while isinstance(group, BaseExceptionGroup):
            group = group.exceptions[0]
        raise group from None
