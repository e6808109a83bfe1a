"""A stdio MCP server that tries to break out of the managed-server sandbox and says how far it got.

Tools: findings (what of the given paths, other processes' environments and the given secret
values it could read), whoami, connect (a TCP connection), fork_bomb, allocate, echo.
"""

import contextlib
import errno
import json
import os
import socket
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server = MCPServer("sandbox-probe")


def _readable(path: str) -> bool:
    try:
        if os.path.isdir(path):
            os.listdir(path)
            return True
        with open(path, "rb") as file:
            file.read(1)
            return True
    except OSError:
        return False


@server.tool()
def findings(paths: list[str], secrets: list[str]) -> str:
    """JSON list of what could be read: the paths, other processes' environ, the secret values."""
    found = [f"read {path}" for path in paths if _readable(path)]
    for environ in Path("/proc").glob("[0-9]*/environ"):
        if environ.parent.name == str(os.getpid()):
            continue
        try:
            content = environ.read_bytes()
        except OSError:
            continue
        found.append(f"environ of pid {environ.parent.name} ({len(content)} bytes)")
    own = "\n".join(f"{name}={value}" for name, value in os.environ.items())
    found += [f"own environ holds {name}" for name in os.environ if name in _PLATFORM_VARIABLES]
    found += [f"own environ holds secret #{i}" for i, s in enumerate(secrets) if s and s in own]
    return json.dumps(found)


_PLATFORM_VARIABLES = {"SECRET_KEY", "DATABASE_URL", "CREDENTIALS_KEYS", "REDIS_URL"}


@server.tool()
def whoami() -> str:
    """JSON: uid, gid, pid, HOME, the working directory and the environment variable names."""
    return json.dumps(
        {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "pid": os.getpid(),
            "home": os.environ.get("HOME"),
            "cwd": os.getcwd(),
            "env": sorted(os.environ),
        }
    )


@server.tool()
def connect(host: str, port: int) -> str:
    """'connected', or why a TCP connection to host:port failed."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return "connected"
    except OSError as exc:
        return f"failed: {exc}"


def _linger(seconds: float) -> None:
    """In a forked process: fork some more, wait, and go, never returning to the server's code."""
    for _ in range(20):
        with contextlib.suppress(OSError):
            os.fork()
    time.sleep(seconds)
    os._exit(0)


@server.tool()
def fork_bomb(seconds: float = 20.0) -> str:
    """Fork lingering processes until refused. Returns how many were started, and the refusal."""
    started = 0
    for _ in range(100_000):
        try:
            middle = os.fork()
        except OSError as exc:
            return f"started {started}, then: {exc}"
        if middle == 0:
            # Double fork: the lingering process belongs to the sandbox's init, which reaps it.
            try:
                if os.fork() == 0:
                    _linger(seconds)
            except OSError:
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(middle, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return f"started {started}, then: {os.strerror(errno.EAGAIN)}"
        started += 1
    return f"started {started}, then: no error"


@server.tool()
def allocate(megabytes: int) -> str:
    """Allocate and touch `megabytes` of memory; 'allocated' or why not."""
    try:
        block = bytearray(megabytes * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
    except MemoryError:
        return "refused: MemoryError"
    del block
    return "allocated"


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    server.run("stdio")
