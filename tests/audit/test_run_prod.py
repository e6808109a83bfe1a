"""`make run-prod`: the production topology of deploy/Procfile on this machine, with Redis:
two web workers, the Celery worker and beat, and the supervisor; a governed call goes
through, the Celery worker answers, and SIGTERM stops every process with the audit log flushed.

It runs on the suite's database (SQLite, or PostgreSQL in the production-backend pass) and
needs Redis for the Celery broker and the channel layer.
"""

import asyncio
import os
import signal
import subprocess
import time
import uuid

import aiohttp
import pytest

from audit.models import LogEntry
from tests.audit.load_run import META, ROOT, call_headers
from tests.audit.test_load_export import TOOL, LoadGateway
from tests.support.parallel_workers import redis_url
from tests.support.processes import children_of, free_port, is_alive, port_is_open, start_process

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not port_is_open(6379), reason="make run-prod needs Redis on 127.0.0.1:6379"
    ),
]


def _tree(pid: int) -> list[int]:
    found = []
    for child in children_of(pid):
        found += [child, *_tree(child)]
    return found


async def _call(url: str, token: str) -> dict:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": TOOL, "arguments": {"text": "through run-prod"}, "_meta": META},
    }
    async with (
        aiohttp.ClientSession() as client,
        client.post(url, json=body, headers=call_headers(token, TOOL)) as reply,
    ):
        assert reply.status == 200, await reply.text()
        return await reply.json(content_type=None)


async def _ready(base: str, deadline: float) -> None:
    async with aiohttp.ClientSession() as client:
        while True:
            try:
                async with client.get(f"{base}/readyz") as reply:
                    if reply.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, "the web workers never became ready"
            await asyncio.sleep(0.2)


def test_run_prod_serves_governed_calls_and_stops_on_sigterm(
    acme, alice, bob, echo_upstream, settings, tmp_path
):
    gateway = LoadGateway(acme, alice, bob, echo_upstream, settings, tmp_path)
    web_port, supervisor_port = free_port(), free_port()
    env = {
        **gateway.env,
        # The suite's own Redis in its PostgreSQL + Redis pass; the machine's otherwise.
        "REDIS_URL": redis_url(12),
        "CACHE_KEY_PREFIX": f"run-prod-{uuid.uuid4().hex[:8]}",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "MANAGED_SUPERVISOR_URL": f"http://127.0.0.1:{supervisor_port}",
        "WEB_WORKERS": "2",
        "CELERY_CONCURRENCY": "1",
    }
    argv = ["make", "--no-print-directory", "run-prod", f"PORT={web_port}"]
    stack = start_process(argv, port=web_port, env=env, cwd=ROOT, timeout=180)
    base = f"http://127.0.0.1:{web_port}"
    try:
        asyncio.run(_ready(base, time.monotonic() + 60))
        answer = asyncio.run(_call(f"{base}/mcp/acme/load", gateway.token))
        assert answer["result"]["content"][0]["text"] == "through run-prod"

        # The Celery worker consumes from Redis: it answers a ping on the broker.
        ping = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "inspect", "ping", "-t", "10"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "pong" in ping.stdout, ping.stdout + ping.stderr

        processes = _tree(stack.pid)
        os.killpg(stack.pid, signal.SIGTERM)
        stack.popen.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(is_alive(pid) for pid in processes):
            assert time.monotonic() < deadline, stack.output()
            time.sleep(0.1)
        output = stack.output(tail=20_000)
    finally:
        stack.stop()
    assert "Traceback" not in output, output
    hops = LogEntry.objects.for_workspace(acme).filter(tool=TOOL).values_list("hop", flat=True)
    assert len(hops) == 4
