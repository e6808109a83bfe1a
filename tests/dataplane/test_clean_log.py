"""A worker's log stays clean when clients leave and Redis fails: those are expected events,
handled and counted, never a traceback.

Each test serves the application with uvicorn in a process of its own, as in production, and
reads what it wrote once it has stopped."""

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid

import httpx
import pytest
import redis
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.test import override_settings

from audit.models import Hop, LogEntry
from dataplane import cancellation, near_cache
from tests.support.database import database_url
from tests.support.parallel_workers import redis_url
from tests.support.processes import free_port, port_is_open, start_process

REDIS_URL = redis_url(13)
METRICS_TOKEN = "clean-log-metrics"
PROBLEMS = ("Traceback", "exception", "Exception", "Unhandled")


def _serve(settings, tmp_path, **extra):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "GATEHOUSE_VAR_DIR": str(tmp_path),
        **extra,
    }
    if "REDIS_URL" not in extra:
        env.pop("REDIS_URL", None)  # the embedded cache and channel layer
    argv = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return start_process(argv, port=port, env=env), port


def _log_after_stop(process) -> str:
    """SIGTERM, as an orchestrator stops a worker; its whole output once it has exited."""
    process.popen.send_signal(signal.SIGTERM)
    process.popen.wait(timeout=30)
    return process.output(tail=1_000_000)


def _problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(p in line for p in PROBLEMS)]


@pytest.fixture
def worker(deployment, settings, tmp_path):
    """A worker on the embedded cache, with a quick SSE keep-alive (it notices leavers), and
    its metrics on."""
    process, port = _serve(
        settings, tmp_path, MCP_SSE_HEARTBEAT_SECONDS="0.2", METRICS_TOKEN=METRICS_TOKEN
    )
    yield process, port
    process.stop()


@pytest.fixture
def redis_worker(deployment, settings, tmp_path):
    """A worker whose cache and channel layer are Redis."""
    if not port_is_open(6379):
        pytest.skip("needs Redis on 127.0.0.1:6379")
    process, port = _serve(
        settings,
        tmp_path,
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=f"clean-log-{uuid.uuid4().hex[:8]}",
    )
    yield process, port
    process.stop()


def _initialize(url: str, headers: dict) -> dict:
    params = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "clean-log", "version": "1"},
    }
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    reply = httpx.post(url, headers=headers, json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    session = reply.headers["mcp-session-id"]
    return {**headers, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}


def _call(url: str, headers: dict, request_id, tool: str, arguments: dict) -> dict:
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    reply = httpx.post(
        url, headers={**headers, "Accept": "application/json"}, json=body, timeout=30
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def _raw_request(port: int, headers: dict, body: bytes, *, declared: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = [b"POST /mcp/acme/dev HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [f"{k}: {v}".encode() for k, v in headers.items()]
    lines.append(f"Content-Length: {declared}".encode())
    sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    return sock


def test_clients_leaving_before_their_body_leave_no_traceback(deployment, bob, worker):
    process, port = worker
    token = deployment.token_for(bob)
    headers = deployment.headers(token)
    url = f"http://127.0.0.1:{port}/mcp/acme/dev"
    session = _initialize(url, headers)
    for _ in range(5):
        # Half a body, then the connection closes: a load generator stopping mid-request.
        _raw_request(port, session, b'{"jsonrpc": "2.0", "id"', declared=400).close()
    reply = _call(url, session, 7, "notes__echo", {"text": "still here"})
    assert reply["result"]["content"][0]["text"] == "still here"
    scraped = httpx.get(
        f"http://127.0.0.1:{port}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=30,
    )
    assert 'gatehouse_client_disconnects_total{stage="request"} 5.0' in scraped.text
    log = _log_after_stop(process)
    assert _problems(log) == [], log


def test_a_client_leaving_mid_call_leaves_no_traceback(deployment, bob, worker):
    process, port = worker
    token = deployment.token_for(bob)
    url = f"http://127.0.0.1:{port}/mcp/acme/dev"
    session = _initialize(url, deployment.headers(token))
    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "notes__wait", "arguments": {"seconds": 5}},
    }
    body = json.dumps(call).encode()
    sock = _raw_request(port, session, body, declared=len(body))
    # The keep-alive opens the stream: the call is running. Then the client goes.
    assert sock.recv(64).startswith(b"HTTP/1.1 200")
    sock.close()
    log = _log_after_stop(process)
    assert _problems(log) == [], log
    # The worker noticed, and closed the call in the log before it stopped.
    closed = LogEntry.objects.for_workspace(deployment.acme).get(
        hop=Hop.CLIENT_RESPONSE, rpc_id="3"
    )
    assert closed.error_message == "The client went away."


def _kill_listener_connections(client: redis.Redis) -> int:
    """Kill the connections blocked in BZPOPMIN (the cancellation listener's read) on this
    test's Redis database, and no one else's."""
    db = str(client.connection_pool.connection_kwargs.get("db", 0))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        blocked = [
            c for c in client.client_list() if c.get("cmd") == "bzpopmin" and str(c.get("db")) == db
        ]
        if blocked:
            for connection in blocked:
                client.client_kill_filter(_id=connection["id"])
            return len(blocked)
        time.sleep(0.05)
    return 0


def test_the_cancellation_listener_survives_a_killed_redis_connection(
    deployment, bob, redis_worker
):
    process, port = redis_worker
    token = deployment.token_for(bob)
    url = f"http://127.0.0.1:{port}/mcp/acme/dev"
    session = _initialize(url, deployment.headers(token))
    # A first call in a session starts the worker's cancellation listener.
    assert _call(url, session, 1, "notes__echo", {"text": "x"})["result"]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert _kill_listener_connections(client) >= 1
    finally:
        client.close()

    # A cancellation broadcast by another worker still reaches this one's call.
    async def cancel_from_elsewhere(request_id):
        layer = RedisChannelLayer(hosts=[REDIS_URL])
        key = list(cancellation.key(session["Mcp-Session-Id"], request_id))
        await layer.group_send(cancellation.GROUP, {"type": "mcp.cancel", "key": key})
        await layer.flush()

    async def call_and_cancel():
        async with httpx.AsyncClient(timeout=30) as http:
            body = {
                "jsonrpc": "2.0",
                "id": 9,
                "method": "tools/call",
                "params": {"name": "notes__wait", "arguments": {"seconds": 20}},
            }
            headers = {**session, "Accept": "application/json"}
            running = asyncio.create_task(http.post(url, headers=headers, json=body))
            reply = None
            while reply is None:
                # Broadcast until the call is there to cancel (the listener may be in its pause).
                await cancel_from_elsewhere(9)
                done, _ = await asyncio.wait({running}, timeout=0.5)
                reply = running.result() if done else None
            return reply.json()

    answer = asyncio.run(call_and_cancel())
    assert answer["error"]["message"] == "The request was cancelled."
    log = _log_after_stop(process)
    assert _problems(log) == [], log
    # The lost connection was one warning line, not a stack trace.
    assert "cancellation listener: the channel layer failed (ConnectionError" in log, log


def test_the_near_cache_listener_survives_a_killed_redis_connection(deployment, bob, redis_worker):
    process, port = redis_worker
    url = f"http://127.0.0.1:{port}/mcp/acme/dev"
    session = _initialize(url, deployment.headers(deployment.token_for(bob)))
    # A first call starts the worker's near-cache listener; wait until it is connected.
    assert _call(url, session, 1, "notes__echo", {"text": "x"})["result"]
    client = redis.Redis.from_url(REDIS_URL)
    db = str(client.connection_pool.connection_kwargs.get("db", 0))
    try:
        deadline = time.monotonic() + 10
        listeners = []
        while not listeners:
            assert time.monotonic() < deadline, "no near-cache listener connected"
            listeners = [
                c
                for c in client.client_list()
                if c.get("name") == near_cache.CLIENT_NAME and str(c.get("db")) == db
            ]
        for connection in listeners:
            client.client_kill_filter(_id=connection["id"])
    finally:
        client.close()
    # Calls go on, read from Redis while the listener is away.
    assert _call(url, session, 2, "notes__echo", {"text": "y"})["result"]
    log = _log_after_stop(process)
    assert _problems(log) == [], log
    assert "near cache: the Redis listener failed (ConnectionError" in log, log


def test_the_cancellation_listener_survives_redis_read_timeouts(settings, caplog):
    """Every read of the channel layer times out (a read timeout shorter than its blocking
    pop): each is one warning line, and a cancellation still arrives between them."""
    if not port_is_open(6379):
        pytest.skip("needs Redis on 127.0.0.1:6379")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 0.2}],
                "prefix": f"clean-log-{uuid.uuid4().hex[:8]}",
            },
        }
    }
    call_key = cancellation.key("a-session", 5)

    def timeouts() -> list:
        return [r for r in caplog.records if "(TimeoutError" in r.getMessage()]

    async def scenario() -> bool:
        call = asyncio.create_task(asyncio.sleep(30))
        cancellation.register(call_key, call)
        async with asyncio.timeout(10):
            while len(timeouts()) < 2:
                await asyncio.sleep(0.05)
        # Broadcast as another worker would; the listener reads it after its pause.
        await get_channel_layer().group_send(
            cancellation.GROUP, {"type": "mcp.cancel", "key": list(call_key)}
        )
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(call, 10)
        return call.cancelled()

    with caplog.at_level(logging.WARNING, logger="dataplane.cancellation"):
        assert asyncio.run(scenario())
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in timeouts())


class _SilentRedis:
    """A TCP server that accepts connections, reads what it is sent and never answers."""

    def __init__(self):
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._server.getsockname()[1]}/0"
        self.firsts: list[bytes] = []  # the first bytes each connection sent
        self._connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._server.accept()
                self._connections.append(connection)
                threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket):
        with contextlib.suppress(OSError):
            self.firsts.append(connection.recv(4096))
            while connection.recv(4096):
                pass

    def close(self):
        self._server.close()
        for connection in self._connections:
            connection.close()


def test_the_near_cache_listener_survives_a_redis_that_never_answers(caplog):
    """Redis (or a proxy in front of it) accepts the listener's connection and never answers:
    the set-up gives up, one warning line, and the listener connects again after its pause."""
    silent = _SilentRedis()
    # Only for the scenario: the fixtures' own clean-up uses the cache after the test.
    silenced = override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": silent.url,
            }
        },
        NEAR_CACHE_SECONDS=1,
    )

    def listener_connections() -> int:
        return sum(near_cache.CLIENT_NAME.encode() in first for first in silent.firsts)

    def failures() -> list:
        return [r for r in caplog.records if "near cache: the Redis listener failed" in r.message]

    async def scenario():
        reading = asyncio.create_task(near_cache.get_many(["tok:silent"]))
        try:
            async with asyncio.timeout(30):
                while listener_connections() < 2:
                    await asyncio.sleep(0.05)
        finally:
            await near_cache.close()
            with contextlib.suppress(Exception):
                await reading  # the read itself times out against the same silent server

    try:
        with silenced, caplog.at_level(logging.WARNING, logger="dataplane.near_cache"):
            asyncio.run(scenario())
    finally:
        silent.close()
    (failure, *_) = failures()
    assert failure.levelno == logging.WARNING and failure.exc_info is None
    assert "(TimeoutError: Redis did not answer within" in failure.message
