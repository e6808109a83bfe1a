"""Large upstream results through a gateway server process: memory and the audit log stay bounded.

The gateway runs as a real process (uvicorn and its audit writer process) on the test database;
a real upstream streams results of the size asked for. Ten calls at once with 50 MB results are
each refused at the reply cap while the body is read, and ten at once just under the cap are
answered; in both the server's process tree stays within MEMORY_BOUND of its idle size, and the
audit log holds far less than the results' size (a result over AUDIT_MAX_PAYLOAD_BYTES is kept as
a digest with its first and last bytes, and stored once for both response hops).
"""

import asyncio
import json
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from audit.models import LogEntry
from gateways import services as gateway_services
from identities import services as identity_services
from servers import services as server_services
from teams.models import Membership
from tests.audit.load_run import META, Worker, call_headers, worker_env
from tests.support.processes import children_of

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENT = 10
MB = 1024 * 1024
CAP = 10 * MB
MEMORY_BOUND = 300 * MB  # docs/reliability.md, Payload storage
TOOL = "big__big"


def _rss(pid: int) -> int:
    """Resident bytes of `pid` and every process under it (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            stack.extend(children_of(current))
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


class PeakRss:
    """Samples the tree's RSS every 20 ms on a thread until stopped; keeps the largest."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss(self.pid))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def gateway_process(acme, alice, bob, bounded_upstream, settings, tmp_path):
    upstream = bounded_upstream
    server = server_services.create_server(
        workspace=acme, name="big", url=f"{upstream.url}/modern/mcp", actor=alice
    )
    gateway = gateway_services.create_gateway(workspace=acme, slug="big", name="Big", actor=alice)
    gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=alice)
    gateway_services.assign_server(gateway=gateway, server=server, namespace="big", actor=alice)
    membership = Membership.objects.get(workspace=acme, user=bob)
    token = identity_services.issue_token(membership=membership, name="big", actor=bob).secret
    env = worker_env(secret_key=settings.SECRET_KEY, var_dir=tmp_path)
    env["UPSTREAM_MAX_REPLY_BYTES"] = str(CAP)
    worker = Worker(env, "/mcp/acme/big").start()
    yield worker, token
    worker.stop()


async def _calls(url: str, token: str, size: int, first_id: int) -> list[dict]:
    headers = call_headers(token, TOOL)

    async def call(client, rpc_id: int) -> dict:
        body = {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "method": "tools/call",
            "params": {"name": TOOL, "arguments": {"size": size}, "_meta": META},
        }
        async with client.post(url, data=json.dumps(body), headers=headers) as reply:
            assert reply.status == 200, await reply.text()
            return json.loads(await reply.read())

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        return await asyncio.gather(*(call(client, first_id + i) for i in range(CONCURRENT)))


def _stored_bytes(workspace) -> int:
    """What the workspace's log rows hold of payloads and details, as JSON text."""
    rows = LogEntry.objects.for_workspace(workspace).values_list("payload", "detail")
    return sum(len(json.dumps(payload)) + len(json.dumps(detail)) for payload, detail in rows)


def _idle(worker, token) -> int:
    # One small call first, so the idle figure includes everything a call loads.
    (answer,) = asyncio.run(_calls(worker.url, token, 100, 1))[:1] or [None]
    assert "result" in answer, answer
    time.sleep(0.5)
    return _rss(worker.process.pid)


def test_ten_results_over_the_cap_at_once_are_refused_unread(gateway_process, acme):
    worker, token = gateway_process
    idle = _idle(worker, token)
    before = _stored_bytes(acme)
    with PeakRss(worker.process.pid) as rss:
        answers = asyncio.run(_calls(worker.url, token, 50 * MB, 100))
    for answer in answers:
        error = answer.get("error") or {}
        assert str(CAP) in error.get("message", ""), answer
    print(f"\nidle {idle / MB:.0f} MB, peak {rss.peak / MB:.0f} MB")
    assert rss.peak - idle < MEMORY_BOUND
    assert _stored_bytes(acme) - before < CONCURRENT * 50 * MB / 100


def test_ten_results_under_the_cap_at_once_stay_within_the_memory_bound(gateway_process, acme):
    worker, token = gateway_process
    idle = _idle(worker, token)
    before = _stored_bytes(acme)
    size = 9 * MB
    with PeakRss(worker.process.pid) as rss:
        answers = asyncio.run(_calls(worker.url, token, size, 100))
    for answer in answers:
        text = answer["result"]["content"][0]["text"]
        assert len(text) == size
    grown = _stored_bytes(acme) - before
    print(f"\nidle {idle / MB:.0f} MB, peak {rss.peak / MB:.0f} MB, log grew {grown} bytes")
    assert rss.peak - idle < MEMORY_BOUND
    # Each result kept once, as digest and edges: a small fraction of what was answered.
    assert grown < CONCURRENT * size / 100
