"""Fixtures of the data-plane tests; the live gateway itself is in tests/support/live_gateway.py."""

import os
import uuid

import pytest

from tests.dataplane.bounded_upstream import BoundedUpstream
from tests.support.database import database_url
from tests.support.live import ThreadedServer
from tests.support.parallel_workers import redis_url
from tests.support.processes import port_is_open, start_asgi_worker


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    """Every data-plane test starts and ends with an empty cache."""


@pytest.fixture(scope="module")
def bounded_upstream():
    """A raw upstream that pushes a call's bounds (tests/dataplane/bounded_upstream.py), served
    on a real socket for the module."""
    upstream = BoundedUpstream()
    server = ThreadedServer(upstream.app).start()
    upstream.url = server.url
    yield upstream
    server.stop()


@pytest.fixture
def workers_env(settings, tmp_path):
    """The environment of gateway worker processes sharing one Redis (skips without Redis)."""
    if not port_is_open(6379):
        pytest.skip("the multi-worker set-up needs Redis on 127.0.0.1:6379")
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url(14),
        "CACHE_KEY_PREFIX": f"workers-{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": settings.SECRET_KEY,
        "GATEHOUSE_VAR_DIR": str(tmp_path),
    }


@pytest.fixture
def shared_cache(settings, workers_env):
    """This process writes the cache the workers read, so its revocations reach them."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": workers_env["REDIS_URL"],
            "KEY_PREFIX": workers_env["CACHE_KEY_PREFIX"],
        }
    }


@pytest.fixture
def two_workers(deployment, workers_env):
    """Two uvicorn workers of the whole application on Redis; the URLs of `acme/dev` on each."""
    workers = []
    try:
        for _ in range(2):
            process, base = start_asgi_worker(workers_env)
            workers.append((process, f"{base}/mcp/acme/dev"))
        yield [url for _, url in workers]
    finally:
        for process, _ in workers:
            process.stop()
