"""A platform the data-plane benchmark serves and measures: one checkout on one backend.

Each is provisioned in storage of its own (a fresh SQLite database in a temporary
GATEHOUSE_VAR_DIR, or a fresh PostgreSQL database with Redis under a cache key prefix of its
own), served by uvicorn with its output in `var/bench/<name>.log`, and checked once measured:
stopped gracefully so the audit writer drains, its log entries counted against the calls the
benchmark saw succeed, its hash chain verified with `manage.py verify_logs`, and its log scanned
for tracebacks. `finish` returns those three bars.
"""

import os
import subprocess
import sys
from pathlib import Path

from backends import child, drop_database, platform_env, stop_gracefully
from checkout import Checkout
from processes import Server
from report import audit_bar, clean_log_bar

# The workspace bench/provision.py creates.
WORKSPACE = "bench"


class Platform:
    def __init__(
        self,
        key: str,
        label: str,
        checkout: Checkout,
        *,
        database_url: str = "",
        redis_url: str = "",
    ):
        self.key, self.label, self.checkout = key, label, checkout
        self.backend = "postgres" if database_url else "sqlite"
        self.database_url, self.redis_url = database_url, redis_url
        prefix = f"bench-{os.getpid()}-{key}"
        self.env = platform_env(
            checkout.env(), database_url=database_url, redis_url=redis_url, prefix=prefix
        )
        self.cache_prefix = prefix if redis_url else ""
        self.server: Server | None = None
        self.access: dict = {}
        # tools/call the benchmark saw answered with the echo, and the most wrk may have had
        # in flight when its runs ended (answered by the platform, never read by wrk).
        self.seen_ok = 0
        self.in_flight = 0

    def provision(self, upstream_url: str) -> dict:
        self.access = self.checkout.provision(upstream_url, self.env)
        return self.access

    def serve(self, port: int, log_dir: Path) -> Server:
        argv = self.checkout.uvicorn_argv(port)
        name = f"gateway-{self.key}"
        self.server = Server(
            name, argv, port=port, env=self.env, cwd=self.checkout.root, log_dir=log_dir
        )
        return self.server.start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{self.access['path']}"

    def counted(self, requests: int, concurrency: int) -> None:
        self.seen_ok += requests
        self.in_flight += concurrency

    def finish(self) -> dict:
        """Stop the server gracefully, then the bars on what it left: the audit log and its
        own log."""
        stop_gracefully(self.server)
        tally = child("soak_platform.py", ["tally", WORKSPACE], self.env)
        verify = self._verify()
        log = self.server.log_path.read_text(errors="replace")
        return {
            "audit": audit_bar(
                tally, seen_ok=self.seen_ok, in_flight=self.in_flight, verified=verify
            ),
            "log": {"file": str(self.server.log_path), **clean_log_bar(log)},
        }

    def _verify(self) -> tuple[bool, str]:
        """`manage.py verify_logs`: the chain, and no call with a hop missing (the server has
        stopped, so no call may still be running)."""
        argv = ["manage.py", "verify_logs", "--workspace", WORKSPACE, "--grace-seconds", "0"]
        done = subprocess.run(
            [sys.executable, *argv],
            env=self.env,
            cwd=self.checkout.root,
            capture_output=True,
            text=True,
            check=False,
        )
        said = (done.stdout + done.stderr).strip().replace("\n", "; ")
        return done.returncode == 0, said[:300]

    def drop_storage(self) -> None:
        """The fresh database and cache keys of a PostgreSQL + Redis platform."""
        if self.database_url:
            drop_database(self.database_url)
        if self.cache_prefix:
            drop_cache_keys(self.redis_url, self.cache_prefix)


def drop_cache_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
