"""Where the supervisor listens and how it and gateway workers prove themselves to each other:
`run_managed` on a unix socket or a loopback port in a real process, an impostor process holding
the supervisor's port, and the gateway's own discovery of a managed server on both."""

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings

from servers import services as server_services
from servers.discovery import refresh_catalog
from servers.models import Server
from servers.supervisor.auth import PROOF_HEADER, REQUEST_HEADER
from tests.support.processes import free_port, start_process
from tests.support.supervisor import (
    SupervisorAuth,
    connect,
    socket_mcp_url,
    start_supervisor_on_socket,
    text_of,
)

REPO = Path(__file__).resolve().parents[2]
STDIO_TOOLS = REPO / "tests" / "upstreams" / "stdio_tools.py"
IMPOSTOR = REPO / "tests" / "upstreams" / "supervisor_impostor.py"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def short_dir():
    # A unix socket's path must fit in 108 bytes: pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="gh-sup-")
    yield Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def on_socket(django_db_setup, short_dir):
    """`run_managed` on a unix socket in a directory it creates."""
    path = short_dir / "run" / "supervisor.sock"
    process = start_supervisor_on_socket(str(path))
    yield path, process
    print(process.output())  # Shown by pytest only when a test failed.
    process.stop()


@pytest.fixture
def tools_server(transactional_db, acme, alice):
    return server_services.create_server(
        workspace=acme,
        name="stdio-tools",
        kind="managed",
        command=sys.executable,
        args=[str(STDIO_TOOLS)],
        actor=alice,
    )


def run_managed(*arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SECRET_KEY": django_settings.SECRET_KEY}
    argv = [sys.executable, "manage.py", "run_managed", *arguments]
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


def assert_refused_in_one_line(completed, *expected: str) -> None:
    assert completed.returncode != 0
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    for part in expected:
        assert part in lines[0], lines[0]


def test_it_listens_on_a_private_socket_and_serves_a_managed_server(on_socket, tools_server):
    path, _ = on_socket
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    async def scenario():
        async with connect(socket_mcp_url(tools_server.pk), socket_path=str(path)) as session:
            return await session.call_tool("echo", {"text": "over the socket"})

    assert text_of(asyncio.run(scenario())) == "over the socket"


def test_the_gateway_discovers_a_managed_server_over_the_socket(on_socket, tools_server, settings):
    path, _ = on_socket
    settings.MANAGED_SUPERVISOR_URL = f"unix://{path}"
    server = refresh_catalog(server=tools_server, timeout=30)
    assert server.health == Server.Health.UP, server.health_detail
    assert "echo" in {tool["name"] for tool in server.catalog["tools"]}


def test_a_socket_held_by_a_running_supervisor_is_refused(on_socket):
    path, _ = on_socket
    completed = run_managed("--listen", f"unix://{path}")
    assert_refused_in_one_line(
        completed, "The supervisor cannot listen:", f"{path} is held by a running process"
    )
    assert path.exists()  # the running supervisor keeps its socket


def test_a_stale_socket_is_replaced(django_db_setup, short_dir, tools_server):
    path = short_dir / "supervisor.sock"
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(path))
    left.close()  # the file stays, nobody listens: what a killed supervisor leaves
    process = start_supervisor_on_socket(str(path))
    try:
        transport = httpx.HTTPTransport(uds=str(path))
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        with httpx.Client(transport=transport, auth=SupervisorAuth()) as client:
            answer = client.post(socket_mcp_url(tools_server.pk), json=body)
    finally:
        process.stop()
    assert answer.status_code == 400  # proven, then refused by the bridge: no session yet
    assert not path.exists()  # removed on the way out


def test_a_taken_port_is_refused_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = run_managed("--listen", f"http://127.0.0.1:{port}")
    assert_refused_in_one_line(
        completed, f"The supervisor cannot listen: 127.0.0.1:{port} is in use."
    )


def test_a_directory_it_cannot_create_is_refused_in_one_line(short_dir):
    (short_dir / "file").write_text("not a directory")
    completed = run_managed("--listen", f"unix://{short_dir}/file/run/supervisor.sock")
    assert_refused_in_one_line(completed, f"{short_dir}/file/run cannot be created")


def test_an_address_that_is_not_one_is_refused_in_one_line():
    completed = run_managed("--listen", "ftp://127.0.0.1:21")
    assert_refused_in_one_line(completed, "is not a supervisor address")


def test_an_impostor_on_the_port_learns_nothing_reusable_and_is_not_believed(
    on_socket, tools_server, settings, short_dir
):
    record = short_dir / "received.jsonl"
    port = free_port()
    impostor = start_process(
        [sys.executable, str(IMPOSTOR), str(port), str(record)], port=port, cwd=REPO
    )
    try:
        settings.MANAGED_SUPERVISOR_URL = f"http://127.0.0.1:{port}"
        server = refresh_catalog(server=tools_server, timeout=10)
    finally:
        impostor.stop()

    # The gateway refused the first answer: no catalog of the impostor's tools.
    assert server.health == Server.Health.DOWN
    assert "did not prove it came from the supervisor" in server.health_detail
    assert not (server.catalog or {}).get("tools")

    received = [json.loads(line) for line in record.read_text().splitlines()]
    assert received, "the impostor received nothing"
    key = hmac.new(django_settings.SECRET_KEY.encode(), b"managed-supervisor", hashlib.sha256)
    everything = record.read_text()
    for secret in (key.hexdigest(), key.digest().hex(), django_settings.SECRET_KEY):
        assert secret not in everything

    # What it saw proves one request only: the real supervisor takes it for no other.
    path, _ = on_socket
    captured = received[0]
    assert captured["headers"][REQUEST_HEADER]
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport, base_url="http://supervisor.invalid") as client:
        base = {
            "Content-Type": "application/json",
            REQUEST_HEADER: captured["headers"][REQUEST_HEADER],
        }
        other_body = client.post(
            captured["path"], content=b'{"jsonrpc":"2.0","id":9,"method":"ping"}', headers=base
        )
        other_path = client.post("/managed/999999/mcp", content=captured["body"], headers=base)
        as_a_get = client.get(captured["path"], headers=base)
    for refused in (other_body, other_path, as_a_get):
        assert refused.status_code == 401, refused.text
        assert PROOF_HEADER not in refused.headers
