"""A load run against gateway processes: the servers it needs and the client that drives them.

The servers are real processes on real sockets (uvicorn serving `config.asgi:application`, and
`bench/upstream.py` as the upstream), so stopping one is what a deployment does to a worker: a
SIGTERM, after which uvicorn finishes its requests and runs the lifespan shutdown that flushes
the audit log. The client is raw HTTP, the stateless 2026-07-28 `tools/call` that
`bench/wrk/tools_call.lua` sends, with a distinct JSON-RPC id and argument per attempt so that
every attempt can be found in the log. It uses aiohttp: against the bare upstream on this
2-CPU machine httpx's AsyncClient managed about 400 calls/s at concurrency 32, aiohttp about
7,000, and the client shares the CPUs with the servers it measures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support.database import database_url
from tests.support.processes import (
    RunningProcess,
    children_of,
    free_port,
    is_alive,
    port_is_open,
    start_process,
)

ROOT = Path(__file__).resolve().parents[2]
UVICORN = ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def call_headers(token: str, tool: str) -> dict[str, str]:
    """The headers of a 2026-07-28 `tools/call` of `tool` with `token`."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }


def start_upstream() -> tuple[RunningProcess, str]:
    """The benchmark's stateless echo upstream; returns the process and its MCP URL."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "upstream:app", "--app-dir", str(ROOT / "bench")]
    argv += ["--host", "127.0.0.1", "--port", str(port), *UVICORN]
    return start_process(argv, port=port, cwd=ROOT), f"http://127.0.0.1:{port}/mcp"


class Worker:
    """One gateway server process (uvicorn, one worker) on its own port, restartable."""

    def __init__(self, env: dict[str, str], path: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.argv = [sys.executable, "-m", "uvicorn", "config.asgi:application"]
        self.argv += ["--host", "127.0.0.1", "--port", str(self.port), *UVICORN]
        self.env = env
        self.process: RunningProcess | None = None
        self.exit_codes: list[int | None] = []
        self.signalled_at: list[float] = []

    def start(self) -> Worker:
        self.process = start_process(self.argv, port=self.port, env=self.env, cwd=ROOT)
        return self

    def stop(self, *, timeout: float = 60) -> None:
        """A graceful stop: SIGTERM, then wait for uvicorn and its audit writer process."""
        process, self.process = self.process, None
        if process is None:
            return
        writers = children_of(process.pid)
        process.popen.send_signal(signal.SIGTERM)
        self.signalled_at.append(time.monotonic())
        try:
            code = process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        output = process.output()
        process.stop()
        self.exit_codes.append(code)
        # uvicorn raises the signal again once it has shut down gracefully.
        graceful = code in (0, -signal.SIGTERM) and "Traceback" not in output
        assert graceful, f"worker on {self.port} exited with {code}:\n{output}"
        deadline = time.monotonic() + timeout
        while any(is_alive(pid) for pid in writers):
            assert time.monotonic() < deadline, f"the audit writer of {self.port} did not exit"
            time.sleep(0.05)
        assert not port_is_open(self.port)


def worker_env(*, secret_key: str, var_dir: Path) -> dict[str, str]:
    """The environment of gateway processes: the test database, and Redis when the suite has it."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": secret_key,
        "GATEHOUSE_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
    }
    if env.get("REDIS_URL"):
        env["CACHE_KEY_PREFIX"] = f"load-{uuid.uuid4().hex[:8]}"
    return env


@dataclass
class Attempt:
    call: int
    rpc_id: int
    text: str
    worker: int
    ok: bool = False
    failure: str = ""
    # The request never got a reply (refused, reset, closed): a worker going away does that.
    lost: bool = False
    after_restart: bool = False
    answered_at: float = 0.0


@dataclass
class Run:
    """What the client saw: every attempt, by JSON-RPC id."""

    attempts: dict[int, Attempt] = field(default_factory=dict)
    succeeded: int = 0
    restarted: bool = False
    seconds: float = 0.0

    def __str__(self):
        return (
            f"{self.succeeded} calls succeeded in {self.seconds:.1f} s "
            f"({self.succeeded / self.seconds:.0f}/s), {len(self.attempts)} attempts, "
            f"failures: {dict(self.failures()) or 'none'}"
        )

    def successes(self) -> dict[int, Attempt]:
        return {rpc_id: a for rpc_id, a in self.attempts.items() if a.ok}

    def failures(self) -> Counter:
        return Counter(a.failure for a in self.attempts.values() if not a.ok)


def _body(rpc_id: int, tool: str, text: str) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": rpc_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"text": text}, "_meta": META},
    }


async def drive(
    urls: list[str],
    *,
    token: str,
    tool: str,
    calls: int,
    concurrency: int,
    retry: bool = False,
    run: Run | None = None,
) -> Run:
    """`calls` tool calls from `concurrency` tasks, spread over `urls` in turn.

    A call whose request got no reply is tried again on the next URL when `retry` (as a load
    balancer would), with a new JSON-RPC id and text. Any other failure (an error status, a
    reply that does not echo the call's text), or any failure without `retry`, ends the run.
    """
    run = run if run is not None else Run()
    numbers = iter(range(calls))
    rpc_ids = itertools.count(1)
    headers = call_headers(token, tool)

    async def attempt(client: aiohttp.ClientSession, number: int, worker: int) -> Attempt:
        rpc_id = next(rpc_ids)
        made = Attempt(call=number, rpc_id=rpc_id, text=f"call {number} as {rpc_id}", worker=worker)
        run.attempts[rpc_id] = made
        body = json.dumps(_body(rpc_id, tool, made.text))
        try:
            async with client.post(urls[worker], data=body, headers=headers) as reply:
                status, payload = reply.status, await reply.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            made.failure, made.lost = type(exc).__name__, True
            return made
        if status != 200:
            made.failure = f"HTTP {status}"
            return made
        message = json.loads(payload)
        content = (message.get("result") or {}).get("content") or [{}]
        if message.get("id") != rpc_id or content[0].get("text") != made.text:
            made.failure = f"bad reply {payload[:200]!r}"
            return made
        made.ok, made.after_restart, made.answered_at = True, run.restarted, time.monotonic()
        run.succeeded += 1
        return made

    async def caller(client: aiohttp.ClientSession) -> None:
        for number in numbers:
            worker = number % len(urls)
            while not (made := await attempt(client, number, worker)).ok:
                if not (retry and made.lost):
                    raise AssertionError(f"call {number} failed: {made.failure}")
                worker = (worker + 1) % len(urls)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        await asyncio.gather(*(caller(client) for _ in range(concurrency)))
    run.seconds = time.monotonic() - started
    return run
