"""The connector run as a real process: `python -m gatehouse_connect ...`."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.connector.platform_side import TOKEN

CONNECTOR_SOURCE = Path(__file__).resolve().parents[2] / "connector"
SECRET = "s3cr3t-value-of-the-workstation"


class ConnectorProcess:
    def __init__(
        self,
        platform_url: str,
        *,
        config: Path,
        args: list[str] = (),
        token: str = TOKEN,
        env: dict[str, str] | None = None,
        stdin=subprocess.DEVNULL,
    ):
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(config.parent),
            "PYTHONPATH": str(CONNECTOR_SOURCE),
            "PYTHONUNBUFFERED": "1",
            "GATEHOUSE_CONNECTOR_TOKEN": token,
            "GATEHOUSE_CONNECT_BACKOFF_SECONDS": "0.2",
            "WHOAMI_LABEL": "workstation-of-alice",
            "SECRET_NOT_EXPORTED": SECRET,
            **(env or {}),
        }
        argv = [sys.executable, "-m", "gatehouse_connect", "--platform", platform_url]
        argv += ["--config", str(config), *args]
        self.popen = subprocess.Popen(
            argv,
            env=environment,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.popen.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.popen.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.stdout + self.stderr)

    def wait_for_output(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.stdout) + list(self.stderr):
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not printed within {timeout} s; output:\n{self.output}")

    def wait(self, timeout: float = 15.0) -> int:
        code = self.popen.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.wait()
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise
