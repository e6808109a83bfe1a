"""One stdio MCP server per session: a child process speaking newline-delimited JSON-RPC."""

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from gatehouse_connect import frames
from gatehouse_connect.display import note, printable

# The only variables of the connector's environment a child gets, besides its env_keys.
BASE_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
# A line of JSON-RPC may be large (a resource read); asyncio's default limit is 64 KiB.
LINE_LIMIT = 32 * 1024 * 1024
STOP_GRACE_SECONDS = 2.0

Send = Callable[[dict[str, Any]], Awaitable[None]]


def child_environment(env_keys: list[str], source: dict[str, str] | None = None) -> dict[str, str]:
    source = os.environ if source is None else source
    names = [*BASE_ENV, *env_keys]
    return {name: source[name] for name in names if name in source}


class StdioSession:
    def __init__(self, *, sid: str, name: str, spec: dict[str, Any], send: Send):
        self.sid = sid
        self.name = name
        self.spec = spec
        self.send = send
        self.process: asyncio.subprocess.Process | None = None
        self.stopping = False
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> str | None:
        """Start the child; the reason it could not start, or None."""
        command = self.spec.get("command") or ""
        args = [str(a) for a in self.spec.get("args") or []]
        try:
            self.process = await asyncio.create_subprocess_exec(
                command,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=child_environment(list(self.spec.get("env_keys") or [])),
                # Its own process group, so stopping it stops whatever it started too.
                start_new_session=True,
                limit=LINE_LIMIT,
            )
        except OSError as error:
            return f"'{self.name}' could not start: {command}: {error.strerror or error}"
        self.tasks = [
            asyncio.create_task(self._relay_stderr()),
            asyncio.create_task(self._watch()),
        ]
        return None

    async def deliver(self, message: dict[str, Any]) -> None:
        """Write one JSON-RPC message to the child's stdin."""
        if (
            self.process is None
            or self.process.stdin is None
            or self.process.returncode is not None
        ):
            return
        try:
            self.process.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child exited; _watch reports it

    async def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while True:
            try:
                line = await self.process.stdout.readline()
            except ValueError:
                self._note("a line over the size limit was dropped")
                continue
            if not line:
                return
            if not line.strip():
                continue
            try:
                payload = json.loads(line)
            except ValueError:
                self._note("a line on stdout that is not JSON was dropped")
                continue
            if isinstance(payload, dict):
                await self.send(frames.message(self.sid, payload))

    async def _relay_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace").rstrip("\n")
            note(f"[{self.name}] {text}")

    async def _watch(self) -> None:
        """Relay stdout until the child exits, then report the exit to the platform."""
        assert self.process is not None
        await self._read_stdout()
        code = await self.process.wait()
        if self.stopping:
            return
        print(printable(f"'{self.name}' exited with code {code}"), flush=True)
        with contextlib.suppress(Exception):
            await self.send(
                frames.closed(self.sid, f"'{self.name}' exited with code {code}", exit_code=code)
            )

    def _note(self, text: str) -> None:
        note(f"[{self.name}] (gatehouse-connect) {text}")

    async def stop(self) -> None:
        """Stop the child and its process group: TERM, then KILL after a grace period."""
        self.stopping = True
        process = self.process
        if process is not None and process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
                await process.wait()
        if process is not None:
            # Whatever the child started may outlive it in the group.
            _signal_group(process.pid, signal.SIGKILL)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
