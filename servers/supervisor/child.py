"""The operating-system side of one child: spawn, line-delimited JSON pipes, stderr, kill.

A child starts in its sandbox (servers/supervisor/sandbox.py) and leads its own process group,
so package runners that fork the real server (npx, uvx) are stopped with it. stderr is drained
continuously and logged, so a chatty child can never fill the pipe and block.
"""

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable

from servers.supervisor import sandbox
from servers.supervisor.spec import ProcessSpec

logger = logging.getLogger(__name__)

# One JSON-RPC message per line; large tool results must fit.
LINE_LIMIT = 64 * 1024 * 1024
STDERR_CHUNK = 64 * 1024
STDERR_TAIL_LINES = 5
GRACE_SECONDS = 2.0


class Child:
    def __init__(self, spec: ProcessSpec, proc: asyncio.subprocess.Process, on_message, on_exit):
        self.spec = spec
        self.pid = proc.pid
        self._proc = proc
        self._on_message = on_message
        self._on_exit = on_exit
        self._write_lock = asyncio.Lock()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._reader = asyncio.create_task(self._read_stdout())

    @classmethod
    async def spawn(
        cls,
        spec: ProcessSpec,
        *,
        on_message: Callable[[object], None],
        on_exit: Callable[[int], None],
    ) -> "Child":
        """Start a child of `spec`; raises `ServerUnavailable` when it must not or cannot start."""
        # Off the event loop: the first start tries the sandbox out in a subprocess.
        launch = await asyncio.to_thread(sandbox.launch, spec)
        proc = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=launch.env,
            cwd=launch.cwd,
            start_new_session=True,
            preexec_fn=launch.preexec_fn,  # setrlimit calls only: safe between fork and exec
            limit=LINE_LIMIT,
        )
        return cls(spec, proc, on_message, on_exit)

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def exit_description(self) -> str:
        if not self._stderr_tail:
            return ""
        return "; last output: " + " | ".join(self._stderr_tail)

    async def write(self, message: dict) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        async with self._write_lock:
            stdin = self._proc.stdin
            if stdin is None or stdin.is_closing():
                raise ConnectionResetError("the child's stdin is closed")
            stdin.write(data)
            await stdin.drain()

    async def wait(self) -> int:
        """Until the child has exited and its output has been read."""
        await asyncio.shield(self._reader)
        return self._proc.returncode

    def terminate_soon(self) -> None:
        self._signal(signal.SIGTERM)

    async def shutdown(self) -> None:
        """Close stdin, then SIGTERM, then SIGKILL: the order the MCP stdio transport asks for."""
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                self._signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), GRACE_SECONDS)
                break
        await asyncio.gather(self._reader, self._stderr_task, return_exceptions=True)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def _read_stdout(self) -> None:
        stdout = self._proc.stdout
        try:
            while True:
                try:
                    line = await stdout.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    logger.error("%s: a message exceeded %d bytes", self.spec.label, LINE_LIMIT)
                    break
                if not line:
                    break
                self._handle_line(line)
        finally:
            # Closed stdout means the child is gone or broken; make sure of it, then report.
            if self._proc.returncode is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._proc.wait(), GRACE_SECONDS)
            if self._proc.returncode is None:
                self._signal(signal.SIGKILL)
                await self._proc.wait()
            # Grandchildren may still hold the group; they go with their parent.
            self._signal(signal.SIGKILL)
            self._on_exit(self._proc.returncode)

    def _handle_line(self, line: bytes) -> None:
        text = line.strip()
        if not text:
            return
        try:
            message = json.loads(text)
        except ValueError:
            logger.warning("%s: ignored non-JSON output: %.200s", self.spec.label, text)
            return
        for item in message if isinstance(message, list) else [message]:
            try:
                self._on_message(item)
            except Exception:
                logger.exception("%s: could not route a message", self.spec.label)

    async def _drain_stderr(self) -> None:
        stderr = self._proc.stderr
        pending = b""
        while chunk := await stderr.read(STDERR_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > STDERR_CHUNK:
                lines, pending = [*lines, pending], b""
            for line in lines:
                self._log_stderr(line)
        if pending:
            self._log_stderr(pending)

    def _log_stderr(self, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip()
        if text:
            self._stderr_tail.append(text[:300])
            logger.info("%s [pid %s]: %s", self.spec.label, self.pid, text)
