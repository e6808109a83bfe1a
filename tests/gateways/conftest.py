"""Fixtures for the data plane: a live gateway and a live SDK upstream on real sockets."""

import httpx
import pytest
from django.core.cache import cache

from audit.log.writer import flush
from gateways import services as gateway_services
from identities import services as identity_services
from servers import services as server_services
from teams.models import Membership
from tests.gateways import upstream_app
from tests.support.live import ThreadedServer


@pytest.fixture(scope="session")
def upstream_url():
    server = ThreadedServer(upstream_app.build().streamable_http_app()).start()
    yield f"{server.url}/mcp"
    server.stop()


@pytest.fixture(scope="session")
def gateway_base(django_db_setup, django_db_blocker):
    from config.asgi import application

    server = ThreadedServer(application).start()
    yield server.url
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


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
