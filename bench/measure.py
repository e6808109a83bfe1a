"""Calling a target once to check it answers correctly, and driving it with wrk.

A benchmark of error replies is worthless, so each target is called once before it is measured,
and every reply wrk receives is checked by the Lua script (status and echoed text); any bad
reply, non-2xx status or socket error fails the run.

Calls come in the two eras clients speak: 2026-07-28 stateless calls (`_meta` envelope,
`Mcp-Method`/`Mcp-Name` headers), and handshake-era calls in a session that `open_session`
opens with `initialize` (the `Session` then rides on every call as `Mcp-Session-Id`).
"""

import http.client
import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

TEXT = "gatehouse-bench"
LUA = Path(__file__).resolve().parent / "wrk" / "tools_call.lua"
_RESULT = re.compile(r"^BENCH_RESULT (\{.*\})$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
# The newest handshake-era revision, what the clients in use today speak.
HANDSHAKE_VERSION = "2025-11-25"


class BadTarget(Exception):
    pass


@dataclass(frozen=True)
class Session:
    """A handshake-era session: its id and the protocol version it negotiated."""

    id: str
    version: str


@dataclass
class Figures:
    concurrency: int
    calls_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    # CPU milliseconds per call by component (the platform's process tree, PostgreSQL, Redis),
    # measured over the run; platforms only.
    cpu_ms_per_call: dict | None = None
    # PostgreSQL transactions and Redis commands per call, over the same run.
    shared_per_call: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _post(url: str, body: dict, headers: dict) -> tuple[int, dict, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", parts.path, json.dumps(body), headers)
        response = connection.getresponse()
        payload = response.read()
    except OSError as exc:
        raise BadTarget(f"{url} could not be called: {exc}") from exc
    finally:
        connection.close()
    return response.status, dict(response.getheaders()), payload


def _headers(token: str) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def open_session(url: str, *, token: str = "", version: str = HANDSHAKE_VERSION) -> Session:
    """`initialize` and `notifications/initialized`, as a handshake-era client starts."""
    params = {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "gatehouse-bench", "version": "1"},
    }
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    status, headers, payload = _post(url, body, _headers(token))
    found = {k.lower(): v for k, v in headers.items()}.get("mcp-session-id")
    if status != 200 or not found:
        raise BadTarget(f"{url}: initialize answered HTTP {status} without a session: {payload!r}")
    agreed = json.loads(payload)["result"]["protocolVersion"]
    headers = {**_headers(token), "Mcp-Session-Id": found, "MCP-Protocol-Version": agreed}
    notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    status, _, payload = _post(url, notice, headers)
    if status != 202:
        raise BadTarget(f"{url}: notifications/initialized answered HTTP {status}: {payload!r}")
    return Session(found, agreed)


def call(
    url: str,
    method: str,
    params: dict,
    *,
    token: str = "",
    name: str = "",
    session: Session | None = None,
) -> dict:
    """One request, as the wrk script sends it (2026-07-28, or in `session`); returns the
    JSON-RPC reply."""
    headers = _headers(token)
    if session is None:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": _META}}
        headers |= {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
        if name:
            headers["Mcp-Name"] = name
    else:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        headers |= {"MCP-Protocol-Version": session.version, "Mcp-Session-Id": session.id}
    status, _, payload = _post(url, body, headers)
    if status != 200:
        raise BadTarget(f"{url} answered HTTP {status}: {payload[:300]!r}")
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise BadTarget(f"{url} answered something that is not JSON: {payload[:300]!r}") from exc


def verify_echo(url: str, tool: str, *, token: str = "", session: Session | None = None) -> None:
    params = {"name": tool, "arguments": {"text": TEXT}}
    reply = call(url, "tools/call", params, token=token, name=tool, session=session)
    result = reply.get("result") or {}
    content = result.get("content") or [{}]
    if "error" in reply or result.get("isError") or content[0].get("text") != TEXT:
        raise BadTarget(f"{url}: tools/call {tool} did not echo: {json.dumps(reply)[:300]}")


def wrk(
    url: str,
    tool: str,
    *,
    concurrency: int,
    seconds: int,
    token: str = "",
    session: Session | None = None,
) -> Figures:
    threads = 1 if concurrency == 1 else 2
    env = {**os.environ, "BENCH_TOOL": tool, "BENCH_TOKEN": token, "BENCH_TEXT": TEXT}
    if session is not None:
        env |= {"BENCH_SESSION": session.id, "BENCH_VERSION": session.version}
    argv = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--latency"]
    argv += ["--timeout", "10s", "-s", str(LUA), url]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    found = _RESULT.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise BadTarget(
            f"wrk failed on {url} (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )
    result = json.loads(found.group(1))
    errors = result["errors"]
    non_2xx = _NON_2XX.search(done.stdout)
    problems = []
    if errors["status"] or non_2xx:
        problems.append(f"{errors['status']} non-2xx replies")
    if result["bad_replies"]:
        problems.append(f"{result['bad_replies']} bad replies, e.g. {result['bad_sample']}")
    sockets = {k: v for k, v in errors.items() if k != "status" and v}
    if sockets:
        problems.append(f"socket errors {sockets}")
    if not result["requests"]:
        problems.append("no request completed")
    if problems:
        raise BadTarget(f"{url} at c={concurrency}: " + "; ".join(problems))
    return Figures(
        concurrency=concurrency,
        calls_per_s=round(result["requests"] / (result["duration_us"] / 1e6), 1),
        p50_ms=result["p50_us"] / 1000,
        p90_ms=result["p90_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        requests=result["requests"],
    )
