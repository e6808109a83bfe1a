"""No answered call without its audit entries, even when the serving process is killed.

A gateway server runs as a real process (uvicorn, one worker, its audit writer process beside
it, or its writer thread inside it) on the test database. The client fires `tools/call` at
concurrency 16 until the server is killed with SIGKILL, a set time after the first answer, so the
kill always lands mid-load however fast the machine is; a writer process, left alone, writes what
reached it and exits.
Every call the client saw answered more than the durability window before the kill must then
have its four hops in the log: that is the promise of `audit/log/durability.py`.
"""

import asyncio
import json
import os
import signal
import threading
import time

import aiohttp
import pytest
from django.db import connection, transaction
from django.db.models import F

from audit.models import ChainHead, LogEntry
from tests.audit.load_run import META, Worker, call_headers, drive
from tests.audit.test_load_export import TOOL, LoadGateway
from tests.support.processes import children_of, is_alive

pytestmark = pytest.mark.django_db(transaction=True)

# The load runs until the kill; this only bounds a run whose kill never comes.
MAX_CALLS = 50_000
CONCURRENCY = 16
FLUSH_MS = 50
WINDOW_MS = 250
# The kill comes this long after the first answer: some answers are then older than the window,
# the load is still running, and a writer started cold by the first entry would still be setting
# Django up.
KILL_AFTER_SECONDS = 1.5 * WINDOW_MS / 1000
HOPS = {"client.request", "upstream.request", "upstream.response", "client.response"}


@pytest.fixture
def crash_gateway(acme, alice, bob, echo_upstream, settings, tmp_path):
    gateway = LoadGateway(acme, alice, bob, echo_upstream, settings, tmp_path)
    gateway.env.update(AUDIT_FLUSH_MS=str(FLUSH_MS), AUDIT_DURABILITY_WINDOW_MS=str(WINDOW_MS))
    return gateway


async def _fire_and_kill(url: str, token: str, worker: Worker, first_id: int) -> tuple[dict, int]:
    """Fire calls until the server is killed, KILL_AFTER_SECONDS after the first answer.

    Returns {rpc_id: seconds between its answer and the kill} for every call answered with
    its result before the kill, and how many calls were cut off by the kill."""
    headers = call_headers(token, TOOL)
    answered: dict[int, float] = {}
    killed = asyncio.Event()
    first_answer = asyncio.Event()
    killed_at = 0.0
    numbers = iter(range(first_id, first_id + MAX_CALLS))
    cut = 0

    def kill() -> None:
        nonlocal killed_at
        if not killed.is_set():
            killed_at = time.monotonic()
            os.kill(worker.process.pid, signal.SIGKILL)
            killed.set()

    async def call(client: aiohttp.ClientSession, rpc_id: int) -> None:
        nonlocal cut
        text = f"call {rpc_id}"
        body = {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "method": "tools/call",
            "params": {"name": TOOL, "arguments": {"text": text}, "_meta": META},
        }
        try:
            async with client.post(url, data=json.dumps(body), headers=headers) as reply:
                status, payload = reply.status, await reply.read()
        except (aiohttp.ClientError, TimeoutError):
            cut += killed.is_set()
            return
        at = time.monotonic()
        if killed.is_set() or status != 200:
            cut += killed.is_set()
            return
        message = json.loads(payload)
        content = (message.get("result") or {}).get("content") or [{}]
        if content[0].get("text") == text:
            answered[rpc_id] = at
            first_answer.set()

    async def caller(client: aiohttp.ClientSession) -> None:
        for rpc_id in numbers:
            if killed.is_set():
                return
            await call(client, rpc_id)

    async def killer() -> None:
        await first_answer.wait()
        first = min(answered.values())
        # The kill is due at a time, not on an event.
        await asyncio.sleep(max(0.0, first + KILL_AFTER_SECONDS - time.monotonic()))
        kill()

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        killing = asyncio.ensure_future(killer())
        await asyncio.gather(*(caller(client) for _ in range(CONCURRENCY)))
        if not killed.is_set():
            killing.cancel()
            kill()
    return {rpc_id: killed_at - at for rpc_id, at in answered.items()}, cut


def _kill_mid_load(worker: Worker, token: str, *, first_id: int, after_kill=None) -> dict:
    server = worker.process
    writers = children_of(server.pid)
    ages, cut = asyncio.run(_fire_and_kill(worker.url, token, worker, first_id))
    assert cut > 0, "the load ended before the kill"
    if after_kill is not None:
        after_kill()
    # The writer process is not killed: it writes what reached it and exits on end of file.
    writers += [pid for pid in children_of(server.pid) if pid not in writers]
    server.popen.wait(timeout=10)
    deadline = time.monotonic() + 60
    while any(is_alive(pid) for pid in writers):
        assert time.monotonic() < deadline, "the audit writer did not exit"
        time.sleep(0.05)
    server.stop()
    worker.process = None
    return ages


def _unrecorded(workspace, ages: dict) -> list[int]:
    """Calls answered longer than the window before the kill without their four hops."""
    old = [rpc_id for rpc_id, age in ages.items() if age > WINDOW_MS / 1000]
    hops: dict[str, set] = {}
    rows = LogEntry.objects.for_workspace(workspace).filter(rpc_id__in=[str(i) for i in old])
    for rpc_id, hop in rows.values_list("rpc_id", "hop"):
        hops.setdefault(rpc_id, set()).add(hop)
    return [rpc_id for rpc_id in old if hops.get(str(rpc_id), set()) != HOPS]


def _check(acme, ages: dict) -> None:
    old = sum(1 for age in ages.values() if age > WINDOW_MS / 1000)
    missing = _unrecorded(acme, ages)
    print(f"\n{len(ages)} answered before the kill, {old} older than the window")
    assert old > 0, "the kill came before any call was older than the window"
    assert not missing, f"{len(missing)} of {old} answered calls have no audit entries"


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_a_cold_server_killed_mid_load_loses_no_answered_call(crash_gateway, acme, writer):
    crash_gateway.env["AUDIT_WRITER"] = writer
    (worker,) = crash_gateway.workers(1)
    worker.start()
    ages = _kill_mid_load(worker, crash_gateway.token, first_id=1)
    _check(acme, ages)


def test_a_warm_server_killed_mid_load_loses_no_answered_call(crash_gateway, acme):
    (worker,) = crash_gateway.workers(1)
    worker.start()
    asyncio.run(drive([worker.url], token=crash_gateway.token, tool=TOOL, calls=100, concurrency=4))
    ages = _kill_mid_load(worker, crash_gateway.token, first_id=10_000)
    _check(acme, ages)


class ChainLock:
    """Holds the workspace's chain head locked (an open transaction that updated it), so the
    writer's next commit waits on the database as it would on a slow or busy one."""

    def __init__(self, workspace):
        self.workspace = workspace
        self.held = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                ChainHead.objects.filter(workspace=self.workspace).update(seq=F("seq"))
                self.held.set()
                self.release.wait(60)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        assert self.held.wait(10), "the chain head could not be locked"
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(10)


def test_a_server_killed_while_the_database_holds_its_writer_loses_no_answered_call(
    crash_gateway, acme
):
    """The writer's commit waits on the database past the window while answers go out: those
    answers' entries must already be beyond the serving process when it is killed."""
    (worker,) = crash_gateway.workers(1)
    worker.start()
    asyncio.run(drive([worker.url], token=crash_gateway.token, tool=TOOL, calls=100, concurrency=4))
    with ChainLock(acme) as lock:
        ages = _kill_mid_load(
            worker, crash_gateway.token, first_id=20_000, after_kill=lock.release.set
        )
    _check(acme, ages)
