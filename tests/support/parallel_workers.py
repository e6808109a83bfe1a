"""Each parallel test process (pytest-xdist, `make test`) on a Redis database of its own.

The processes share one Redis server, and their test databases (`test_<name>_gw0`, ...) hold the
same ids, so cache keys, channel groups and rate-limit counters named by ids would cross from one
process to another. On a run on Redis, `use_own_redis()` (from `pytest_configure`, before any
test touches Redis) moves the second process to the database after `REDIS_URL`'s, and so on;
tests that bring up Redis themselves ask `redis_url()` for theirs.
"""

from __future__ import annotations

import os
import re

_DB = re.compile(r"/(\d+)$")


def worker_index() -> int:
    """0 for the first process (or a serial run), 1 for the second, ..."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def redis_url(default_db: int) -> str:
    """A Redis database apart from the run's own (`REDIS_URL`'s server, or 127.0.0.1:6379):
    `default_db` (14, 13 or 12) plus one, counted down by three per process, so the tests' own
    databases are 15, 14 and 13 in the first process, 12, 11 and 10 in the second, down to 6, 5
    and 4 in the fourth (at most four processes, `make test`), above the processes' own 0 to 3.
    Apart, because a test that kills or counts Redis connections must meet only those of the
    servers it started, never the test process's own."""
    db = default_db + 1 - 3 * worker_index()
    server = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    return _DB.sub("", server).rstrip("/") + f"/{db}"


def _own_database(url: str, index: int) -> str:
    match = _DB.search(url)
    db = int(match.group(1)) if match else 0
    return _DB.sub("", url).rstrip("/") + f"/{db + index}"


# Every setting settings.py derives from REDIS_URL.
_DERIVED = ("CACHES", "CHANNEL_LAYERS", "CELERY_BROKER_URL", "RATE_LIMIT_STORAGE_URL")


def _replaced(value, old: str, new: str):
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, dict):
        return {key: _replaced(item, old, new) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replaced(item, old, new) for item in value)
    return value


def use_own_redis() -> None:
    """Point this process's settings, and the servers it starts, at its own Redis database."""
    old = os.environ.get("REDIS_URL")
    if not old or not worker_index():
        return
    from django.conf import settings
    from django.test.utils import override_settings

    new = _own_database(old, worker_index())
    os.environ["REDIS_URL"] = new
    changed = {name: _replaced(getattr(settings, name), old, new) for name in _DERIVED}
    # Enabled for the whole run: the setting_changed signal resets the cache and channel
    # layer handlers, which nothing has connected yet.
    override_settings(REDIS_URL=new, **changed).enable()
