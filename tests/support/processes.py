"""Real subprocesses for tests: start one, wait for its TCP port, stop it cleanly.

Output goes to a temporary file rather than a pipe, so a chatty process never blocks on a full
pipe, and a process that fails to start reports the tail of what it said. A process that is
still running but never listens is made to dump every thread's stack first (Python's
faulthandler, on in every process started here), so the report says where it hung.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HOST = "127.0.0.1"
# A process that cannot start exits and is reported at once; this only bounds one that hangs.
# Generous, as a worker's start (Django twice: the server and its audit writer) is CPU-bound
# and shares the machine with the other test processes.
START_TIMEOUT = 90.0
_DUMP_WAIT = 2.0


class ProcessDidNotStart(RuntimeError):
    """A process exited, or never opened its port, within the time allowed."""


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_open(port: int, host: str = HOST) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def socket_is_open(path: str) -> bool:
    """Whether a process accepts connections on the unix socket at `path`."""
    with socket.socket(socket.AF_UNIX) as sock, contextlib.suppress(OSError):
        sock.connect(path)
        return True
    return False


class RunningProcess:
    """A subprocess in its own process group, with its combined output in a temporary file."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None, cwd: Path | None):
        self.argv = list(argv)
        self._log = tempfile.NamedTemporaryFile(prefix="proc-", suffix=".log", delete=False)  # noqa: SIM115
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**(os.environ if env is None else env), "PYTHONFAULTHANDLER": "1"},
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self, tail: int = 4000) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-tail:]

    def wait_for_port(self, port: int, *, host: str = HOST, timeout: float = START_TIMEOUT):
        return self._wait_until(lambda: port_is_open(port, host), str(port), timeout)

    def wait_for_socket(self, path: str, *, timeout: float = START_TIMEOUT):
        return self._wait_until(lambda: socket_is_open(path), path, timeout)

    def _wait_until(self, listening, where: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise ProcessDidNotStart(
                    f"{self.argv} exited with code {self.popen.returncode}:\n{self.output()}"
                )
            if listening():
                return self
            time.sleep(0.05)
        raise ProcessDidNotStart(
            f"{self.argv} did not listen on {where} in {timeout}s; its threads:\n"
            f"{self._dump_stacks()}"
        )

    def _dump_stacks(self) -> str:
        """What the process group said, after SIGABRT made each Python process in it print
        its threads' stacks (faulthandler) and exit."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=_DUMP_WAIT)
        return self.output(tail=12000)

    def stop(self, *, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL to the whole group if it does not stop within `timeout`."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)
        return self.popen.returncode


def start_process(
    argv: Sequence[str],
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = START_TIMEOUT,
) -> RunningProcess:
    """Start `argv`; with `port`, return only once it accepts connections there."""
    process = RunningProcess(argv, env=env, cwd=cwd)
    if port is not None:
        try:
            process.wait_for_port(port, timeout=timeout)
        except ProcessDidNotStart:
            process.stop(timeout=2)
            raise
    return process


def start_asgi_worker(env: dict[str, str]) -> tuple[RunningProcess, str]:
    """One uvicorn worker of the whole application on a free loopback port, and its base URL."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return start_process(argv, port=port, env=env), f"http://{HOST}:{port}"


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children.extend(int(c) for c in (task / "children").read_text().split())
    return children


def is_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
