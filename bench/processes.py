"""The benchmark's servers as child processes, each in its own process group.

Every process is started in a new session so that it can be stopped with everything it spawned,
and `stop_all` runs on every way out of the benchmark (normal end, failure, Ctrl-C, SIGTERM).
Output goes to a log file per server; its tail is shown when a server fails to start.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


class ServerFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(
        self, name: str, argv: list[str], *, port: int, env: dict, cwd: Path, log_dir: Path
    ):
        self.name, self.argv, self.port, self.env, self.cwd = name, argv, port, env, cwd
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"{self.name} exited with status {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise ServerFailed(f"{self.name} did not listen on port {self.port} in {timeout:g} s.")

    def stop(self, grace: float = 5) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


def stop_all(servers: list[Server]) -> None:
    for server in reversed(servers):
        server.stop()
