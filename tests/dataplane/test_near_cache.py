"""Each worker keeps its own copy of the keys read before a request, and Redis invalidates it:
a revoked token, a removed member, a changed gateway and an ended session take effect on a
worker whose copy is warm within a second, although its copies may live for 30 s. A lost
listener connection falls back to the copies' max age. A closed event loop's listener and its
Redis connection do not outlive it."""

import asyncio
import gc
import time
import weakref

import httpx
import pytest
import redis

from core import config_events
from dataplane import near_cache, session
from gateways import services as gateway_services
from identities import offboarding
from identities import selectors as identity_selectors
from identities import services as identity_services
from identities.inbound import tokens
from teams.models import Membership
from tests.support.mcp_sessions import open_session, post

# Seconds from the commit to the change showing on the other worker: a request sent within
# them must be refused (when its answer arrives depends on how busy the machine is).
DEADLINE = 1.0
LONG_LIVED = "30"  # copies outlive every test here, so only an invalidation can end them


@pytest.fixture
def workers_env(workers_env, request):
    seconds = getattr(request, "param", LONG_LIVED)
    return {**workers_env, "NEAR_CACHE_SECONDS": seconds}


def _echo(http, url, headers) -> httpx.Response:
    return post(
        http, url, headers, 2, "tools/call", {"name": "notes__echo", "arguments": {"text": "hi"}}
    )


def _warm(http, url, headers) -> None:
    """Calls enough for the worker's listener to be connected and its copies held."""
    for _ in range(3):
        reply = _echo(http, url, headers)
        assert reply.status_code == 200, reply.text


def _within_deadline(check, what: str) -> float:
    """Call `check` (one request) until it is true, from just after the change; the seconds
    from the change to sending the request that saw it, failing if none sent within the
    deadline did."""
    changed = time.monotonic()
    while True:
        sent = time.monotonic() - changed
        assert sent < DEADLINE, f"{what} not seen by a request sent within {DEADLINE} s"
        if check():
            break
    print(f"\n{what}: seen by a request sent after {sent * 1000:.1f} ms")
    return sent


def _tool_names(http, url, headers) -> set[str]:
    reply = post(http, url, headers, 3, "tools/list")
    assert reply.status_code == 200, reply.text
    return {tool["name"] for tool in reply.json()["result"]["tools"]}


def test_a_revoked_token_is_refused_on_a_warm_worker_within_a_second(
    deployment, bob, two_workers, shared_cache
):
    _, second = two_workers
    secret = deployment.token_for(bob)
    with httpx.Client(timeout=30) as http:
        headers = open_session(http, deployment, second, secret, client="near-cache")
        _warm(http, second, headers)
        token = identity_selectors.active_token(secret)
        identity_services.revoke_token(token=token, actor=deployment.alice)
        _within_deadline(lambda: _echo(http, second, headers).status_code == 401, "revocation")


def test_a_removed_member_is_refused_on_a_warm_worker_within_a_second(
    deployment, bob, two_workers, shared_cache
):
    _, second = two_workers
    with httpx.Client(timeout=30) as http:
        headers = open_session(
            http, deployment, second, deployment.token_for(bob), client="near-cache"
        )
        _warm(http, second, headers)
        membership = Membership.objects.get(workspace=deployment.acme, user=bob)
        offboarding.remove_member_and_revoke(
            membership=membership, actor=deployment.alice, acting_member=None
        )
        _within_deadline(
            lambda: _echo(http, second, headers).status_code in (401, 403), "the removal"
        )


def test_a_changed_gateway_lists_its_tools_anew_on_a_warm_worker_within_a_second(
    deployment, bob, two_workers, shared_cache
):
    _, second = two_workers
    with httpx.Client(timeout=30) as http:
        headers = open_session(
            http, deployment, second, deployment.token_for(bob), client="near-cache"
        )
        _warm(http, second, headers)
        assert any(name.startswith("ro__") for name in _tool_names(http, second, headers))
        gateway_services.unassign_server(assignment=deployment.readonly, actor=deployment.alice)
        _within_deadline(
            lambda: not any(n.startswith("ro__") for n in _tool_names(http, second, headers)),
            "the unassigned server",
        )
        assert any(name.startswith("notes__") for name in _tool_names(http, second, headers))


def test_a_session_ended_on_one_worker_is_refused_on_the_other_within_a_second(
    deployment, bob, two_workers
):
    first, second = two_workers
    with httpx.Client(timeout=30) as http:
        headers = open_session(
            http, deployment, first, deployment.token_for(bob), client="near-cache"
        )
        _warm(http, second, headers)
        assert http.delete(first, headers=headers).status_code == 204
        _within_deadline(lambda: _echo(http, second, headers).status_code == 404, "the end")


def _listeners(client: redis.Redis, db: int) -> list[dict]:
    return [
        c
        for c in client.client_list()
        if c.get("name") == near_cache.CLIENT_NAME and int(c.get("db", -1)) == db
    ]


# A max age half the deadline: a copy read just before the listener was lost still ends in time.
@pytest.mark.parametrize("workers_env", ["0.5"], indirect=True)
def test_a_lost_listener_falls_back_to_the_max_age(
    deployment, bob, two_workers, shared_cache, workers_env
):
    _, second = two_workers
    redis_url = workers_env["REDIS_URL"]
    server = redis.Redis.from_url(redis_url)
    db = server.connection_pool.connection_kwargs.get("db", 0)
    secret = deployment.token_for(bob)
    with httpx.Client(timeout=30) as http:
        headers = open_session(http, deployment, second, secret, client="near-cache")
        _warm(http, second, headers)
        before = {c["id"] for c in _listeners(server, db)}
        assert before, "no near-cache listener connected to Redis"
        for client_id in before:
            server.client_kill_filter(_id=client_id)
        token = identity_selectors.active_token(secret)
        identity_services.revoke_token(token=token, actor=deployment.alice)
        _within_deadline(lambda: _echo(http, second, headers).status_code == 401, "revocation")

    # The listeners connect again after their pause.
    started = time.monotonic()
    while not {c["id"] for c in _listeners(server, db)} - before:
        assert time.monotonic() - started < 10, "the listeners did not connect again"
        time.sleep(0.05)
    server.close()


def test_every_key_read_before_a_request_is_one_the_near_cache_keeps():
    keys = [
        config_events.version_key(1, "dev"),
        config_events.epoch_key(1),
        tokens.lookup_cache_key(tokens.digest("gth_x")),
        session.ended_key("a-session"),
        identity_selectors.personal_cache_key(1, 2),
        identity_selectors.connection_cache_key(1, 2),
    ]
    assert [key for key in keys if not key.startswith(near_cache.PREFIXES)] == []


@pytest.fixture
def listening(shared_cache, workers_env):
    """The ids of the near-cache listeners connected to the workers' Redis database."""
    server = redis.Redis.from_url(workers_env["REDIS_URL"])
    db = server.connection_pool.connection_kwargs.get("db", 0)
    yield lambda: {c["id"] for c in _listeners(server, db)}
    server.close()


def _read(listening, *, close: bool):
    """A read through the near cache, until this loop's listener is connected; its id."""

    async def read() -> set:
        before = listening()
        await near_cache.get_many(["tok:near-cache-loops"])
        async with asyncio.timeout(10):
            while not listening() - before:
                await asyncio.sleep(0.05)
        if close:
            await near_cache.close()
        return listening() - before

    return read()


def test_a_closed_event_loop_is_let_go(listening):
    async def read_in_a_loop():
        await _read(listening, close=False)
        return weakref.ref(asyncio.get_running_loop())

    # `asyncio.run` cancels the listener as it closes the loop: nothing may keep the loop.
    closed = asyncio.run(read_in_a_loop())
    asyncio.run(_read(listening, close=True))
    gc.collect()
    assert closed() is None


def test_a_listener_left_connected_by_a_closed_loop_is_disconnected(listening):
    # A loop closed without cancelling its tasks: its listener stays pending and connected.
    loop = asyncio.new_event_loop()
    abandoned = loop.run_until_complete(_read(listening, close=False))
    loop.close()
    assert abandoned <= listening()
    # The next loop's listener has Redis close that connection, which would otherwise hear
    # every invalidation, unread, for as long as the process lives.
    asyncio.run(_read(listening, close=True))
    waited = time.monotonic() + 10
    while listening() & abandoned:
        assert time.monotonic() < waited, "the closed loop's listener is still connected"
        time.sleep(0.05)
