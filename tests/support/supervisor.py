"""The managed-server supervisor in tests: `manage.py run_managed` in a real process, and the MCP
SDK's Streamable HTTP client connected to one of its servers."""

import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from django.conf import settings
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from servers.supervisor.auth import SUPERVISOR_HEADER, supervisor_token
from tests.support.database import database_url
from tests.support.processes import free_port, start_process

REPO = Path(__file__).resolve().parents[2]


def start_supervisor(**environment: str):
    """`run_managed` on a free port, sharing the test database; `environment` adds settings."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "LOG_LEVEL": "INFO",
        **environment,
    }
    argv = [sys.executable, "manage.py", "run_managed", "--port", str(port)]
    process = start_process(argv, port=port, env=env, cwd=REPO)
    return f"http://127.0.0.1:{port}", process


def mcp_url(base_url: str, server_id) -> str:
    return f"{base_url}/managed/{server_id}/mcp"


@asynccontextmanager
async def connect(url, **session_kwargs):
    headers = {SUPERVISOR_HEADER: supervisor_token()}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, **session_kwargs) as session,
    ):
        await session.initialize()
        yield session


def text_of(result) -> str:
    assert result.content, result
    return result.content[0].text
