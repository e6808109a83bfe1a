"""The platform's storage for the benchmarks: SQLite in a temporary GATEHOUSE_VAR_DIR, or
PostgreSQL and Redis, and what every benchmark does with a platform it serves.

`make bench` measures both: the embedded defaults, and PostgreSQL + Redis when they answer
(BENCH_DATABASE_URL / BENCH_REDIS_URL, by default the local services), in a fresh database per
run that is dropped afterwards. `make bench-soak` and `make bench-export` use the same helpers.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from processes import Server, ServerFailed

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def ensure_database(url: str) -> bool | None:
    """Create the database if missing: True if created, False if it existed, None if down."""
    import psycopg

    name = _database_name(url)
    try:
        with psycopg.connect(_admin_url(url), autocommit=True, connect_timeout=3) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return False
            conn.execute(f'CREATE DATABASE "{name}"')
            return True
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {exc}".strip(), file=sys.stderr)
        return None


def drop_database(url: str) -> None:
    import psycopg

    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{_database_name(url)}" WITH (FORCE)')


def fresh_database(server_url: str, prefix: str) -> str | None:
    """A new, empty database on the PostgreSQL server `server_url` names (its database part is
    replaced), named PREFIX_<time>_<pid>; None when the server does not answer."""
    name = f"{prefix}_{time.strftime('%Y%m%d%H%M%S')}_{os.getpid()}"
    url = server_url.rsplit("/", 1)[0] + "/" + name
    return url if ensure_database(url) else None


def redis_answers(url: str) -> bool:
    """Whether a Redis server answers PING at `url` within a second."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def platform_env(base: dict, *, database_url: str = "", redis_url: str = "", prefix="") -> dict:
    """The platform's environment on top of `base` (a checkout's, embedded defaults): with
    `database_url` and `redis_url`, PostgreSQL and Redis, under cache keys of their own."""
    env = dict(base)
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
        if prefix:
            env["CACHE_KEY_PREFIX"] = prefix
    return env


def child(script: str, args: list[str], env: dict) -> dict:
    """Run bench/SCRIPT ARGS in the platform's environment; its last line, as JSON."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise ServerFailed(f"{script} {args[0]} failed:\n{done.stdout}{done.stderr}"[-3000:])
    return json.loads(lines[-1])


def stop_gracefully(server: Server, timeout: float = 90) -> float:
    """SIGTERM to the server alone (not its group: the audit writer must be left to drain);
    returns how long it took to exit."""
    started = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"  {server.name} did not stop in {timeout:g} s; killing it", flush=True)
    server.stop()
    return time.monotonic() - started


def shared_service_counts(database_url: str, redis_url: str) -> dict[str, int]:
    """Work done so far by the shared services for one platform: transactions committed in
    its PostgreSQL database, and commands Redis has run (every client's, so a quiet machine
    is needed for a true figure)."""
    import psycopg
    import redis

    with psycopg.connect(_admin_url(database_url), autocommit=True) as connection:
        row = connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s",
            (_database_name(database_url),),
        ).fetchone()
    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    commands = sum(int(entry.get("calls", 0)) for entry in stats.values())
    return {"postgres_transactions": int(row[0]) if row else 0, "redis_commands": commands}
