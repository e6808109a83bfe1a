"""A person's workstation in the acceptance tests: its own directory, its own environment, and
`gatehouse-connect` running there as a real process against the platform on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from django.utils import timezone

from identities.models import Connector
from servers.models import Server
from servers.workstation import registry
from tests.support.processes import RunningProcess, start_process

WHOAMI_SERVER = Path(__file__).with_name("whoami_stdio_server.py")


def wait_until(predicate, *, what: str, timeout: float = 30.0, interval: float = 0.05):
    """Poll `predicate` until it returns something true, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        time.sleep(interval)


class Workstation:
    """One machine: `start()` runs gatehouse-connect with `allow`ed servers and `env` exported."""

    def __init__(
        self, root: Path, *, platform: str, token: str, user, allow, env=None, shares_cache=True
    ):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.platform, self.token, self.user, self.allow = platform, token, user, list(allow)
        self.config = root / "connect.json"
        # A small environment of its own, as a laptop's shell would have, plus what the test
        # exports; HOME is the workstation's directory so nothing reads the real one.
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "LANG": "C.UTF-8",
            **(env or {}),
        }
        self.process: RunningProcess | None = None
        self.started_at = timezone.now()
        # Whether the platform keeps its registry in this process's cache (the live gateway in a
        # thread of the tests does; worker processes on Redis do not).
        self.shares_cache = shares_cache

    @property
    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "gatehouse_connect", "--platform", self.platform]
        argv += ["--token", self.token]
        for name in self.allow:
            argv += ["--allow", name]
        return [*argv, "--config", str(self.config), "--no-prompt"]

    def start(self, *, serving: str | None = None, argv=None) -> Workstation:
        """Start the connector (`argv`, else `self.argv`); with `serving`, return once the
        platform routes that server to this run of it."""
        self.started_at = timezone.now()
        self.process = start_process(argv or self.argv, env=self.env, cwd=self.root)
        if serving:
            self.wait_serving(serving)
        return self

    def live_connector(self, serving: str | None = None) -> Connector | None:
        """The Connector row of this run, while connected (and serving `serving`)."""
        rows = Connector.objects.filter(
            user=self.user, disconnected_at__isnull=True, connected_at__gte=self.started_at
        )
        for row in rows.order_by("-connected_at"):
            if serving is None or serving in (row.servers or []):
                return row
        return None

    def wait_serving(self, name: str, *, timeout: float = 30.0) -> Connector:
        def serving():
            if self.process.popen.poll() is not None:
                raise AssertionError(
                    f"gatehouse-connect exited with {self.process.popen.returncode}:\n"
                    f"{self.process.output()}"
                )
            row = self.live_connector(name)
            if row is None or not self.shares_cache:
                return row
            # The row is written just before the registry entry that routes calls to it.
            server = Server.objects.get(workspace_id=row.workspace_id, name=name)
            owner = registry.owner_of(server.scope, self.user.pk)
            entry = asyncio.run(registry.lookup(server.pk, owner)) or {}
            return row if entry.get("connector") == row.pk else None

        return wait_until(
            serving, what=f"{self.user.email}'s connector to serve {name}", timeout=timeout
        )

    def kill(self) -> None:
        """SIGKILL the connector alone, as a crash or a pulled plug would end it."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.stop(timeout=5)
        # What it started (its stdio servers) goes with it, even after a SIGKILL left them.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def approved(self) -> dict:
        return json.loads(self.config.read_text()).get("allowed", {})

    def output(self) -> str:
        return self.process.output() if self.process else ""
