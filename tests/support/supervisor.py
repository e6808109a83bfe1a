"""The managed-server supervisor in tests: `manage.py run_managed` in a real process, requests
to it signed as the gateway signs them, and the MCP SDK's Streamable HTTP client connected to
one of its servers."""

import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import httpx2
from django.conf import settings
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from servers.supervisor.address import UNIX_HOST
from servers.supervisor.auth import PROOF_HEADER, REQUEST_HEADER, proof_is_valid, sign_request
from tests.support.database import database_url
from tests.support.processes import free_port, start_process

REPO = Path(__file__).resolve().parents[2]


class NotProven(Exception):
    """An answer the supervisor should have proven came without its proof."""


class _Signing:
    """An httpx auth flow that signs each request and checks the proof on its answer (the
    supervisor's own refusals, 401 and 403, carry none)."""

    requires_request_body = True

    def auth_flow(self, request):
        header, nonce = sign_request(request.method, request.url.raw_path.decode(), request.content)
        request.headers[REQUEST_HEADER] = header
        response = yield request
        proven = proof_is_valid(nonce, response.headers.get(PROOF_HEADER))
        if response.status_code not in (401, 403) and not proven:
            raise NotProven(f"{request.method} {request.url} answered {response.status_code}")


class SupervisorAuth(_Signing, httpx.Auth):
    """`auth=` for httpx requests to the supervisor."""


class SupervisorAuth2(_Signing, httpx2.Auth):
    """`auth=` for the httpx2 client the MCP SDK runs on."""


def _environment(environment: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "LOG_LEVEL": "INFO",
        **environment,
    }


def start_supervisor(**environment: str):
    """`run_managed` on a free loopback port, sharing the test database; `environment` adds
    settings. Returns its base URL and process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "manage.py", "run_managed", "--listen", url]
    process = start_process(argv, port=port, env=_environment(environment), cwd=REPO)
    return url, process


def start_supervisor_on_socket(socket_path: str, **environment: str):
    """`run_managed` on the unix socket at `socket_path`; returns its process."""
    argv = [sys.executable, "manage.py", "run_managed", "--listen", f"unix://{socket_path}"]
    process = start_process(argv, env=_environment(environment), cwd=REPO)
    try:
        process.wait_for_socket(socket_path)
    except Exception:
        process.stop(timeout=2)
        raise
    return process


def mcp_url(base_url: str, server_id) -> str:
    return f"{base_url}/managed/{server_id}/mcp"


def socket_mcp_url(server_id) -> str:
    return mcp_url(f"http://{UNIX_HOST}", server_id)


@asynccontextmanager
async def connect(url, *, socket_path: str | None = None, **session_kwargs):
    transport = httpx2.AsyncHTTPTransport(uds=socket_path) if socket_path else None
    async with (
        httpx2.AsyncClient(
            auth=SupervisorAuth2(), transport=transport, timeout=httpx2.Timeout(30, read=60)
        ) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, **session_kwargs) as session,
    ):
        await session.initialize()
        yield session


def text_of(result) -> str:
    assert result.content, result
    return result.content[0].text
