"""The soak's load: a few MCP clients, each a loop of 2026-07-28 JSON-RPC POSTs over aiohttp.

Every client has a role, the upstream it calls (`healthy`, `flapping`, `large`, `hanging`) or
`lister` (a `tools/list` every LIST_EVERY seconds). Roles rather than a shuffled mix per client:
a call to the hanging upstream holds its client until the gateway gives up, and a client mixing
it in would spend nearly all its time waiting there, leaving few healthy calls to measure. Each
client has its own connection pool, as separate MCP clients would. Every call is recorded: what
it targeted, when it started, its latency, its outcome and the JSON-RPC id that the gateway's
audit entries carry.
"""

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass

import aiohttp

TOOLS = {
    "healthy": "healthy__echo",
    "flapping": "flapping__echo",
    "large": "large__blob",
    "hanging": "hanging__echo",
}
# Result sizes the large upstream is asked for, in MB, in turn: one in eight is over the
# gateway's 10 MB reply cap (UPSTREAM_MAX_REPLY_BYTES).
LARGE_SIZES_MB = (2, 5, 8, 3, 6, 4, 7, 12)
LIST_EVERY = 10.0
# Seconds between a large result and the next request: a few MB a second keeps the rules and the
# audit writer busy without taking the two CPUs from the calls that are measured.
LARGE_EVERY = 2.0
_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


@dataclass
class Call:
    target: str
    rpc_id: str
    started: float  # seconds since the start of the run
    latency_ms: float
    outcome: str  # ok, tool_error, rpc_<code>, http_<status>, timeout, connection
    answered: bool  # the gateway answered with a JSON-RPC message
    bytes: int


def roles(clients: int) -> list[str]:
    """Roles for `clients` clients: healthy ones first and most, then one of each other kind."""
    order = ["healthy", "hanging", "healthy", "flapping", "large", "healthy", "lister", "hanging"]
    return [order[i % len(order)] for i in range(clients)]


def _message(body: bytes, content_type: str) -> dict | None:
    """The JSON-RPC message of a reply, JSON or an SSE stream (its last message with an id)."""
    try:
        if "text/event-stream" in content_type:
            found = None
            for line in body.split(b"\n"):
                if line.startswith(b"data:"):
                    message = json.loads(line[5:])
                    if isinstance(message, dict) and "id" in message:
                        found = message
            return found
        message = json.loads(body)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _outcome(message: dict | None, status: int) -> str:
    if message is None:
        return f"http_{status}"
    if "error" in message:
        return f"rpc_{(message.get('error') or {}).get('code')}"
    if (message.get("result") or {}).get("isError"):
        return "tool_error"
    return "ok"


class Client:
    def __init__(self, name: str, role: str, *, url: str, token: str, timeout: float, think: float):
        self.name, self.role, self.url, self.token = name, role, url, token
        self.timeout, self.think = timeout, think
        self.sizes = itertools.cycle(LARGE_SIZES_MB)
        self.numbers = itertools.count(1)

    def _request(self) -> tuple[str, str, dict]:
        if self.role == "lister":
            return "tools/list", "", {}
        tool = TOOLS[self.role]
        arguments = {"bytes": next(self.sizes) << 20} if self.role == "large" else {"text": "soak"}
        return "tools/call", tool, {"name": tool, "arguments": arguments}

    async def call(self, session: aiohttp.ClientSession, origin: float) -> Call:
        method, tool, params = self._request()
        rpc_id = f"{self.name}-{next(self.numbers)}"
        body = {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": {**params}}
        body["params"]["_meta"] = _META
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": method,
            "Authorization": f"Bearer {self.token}",
        }
        if tool:
            headers["Mcp-Name"] = tool
        target = "tools/list" if method == "tools/list" else self.role
        started = time.perf_counter()
        size, answered = 0, False
        try:
            async with session.post(self.url, json=body, headers=headers) as response:
                payload = await response.read()
                size = len(payload)
                message = _message(payload, response.headers.get("Content-Type", ""))
                answered = message is not None and message.get("id") == rpc_id
                outcome = _outcome(message if answered else None, response.status)
        except TimeoutError:
            outcome = "timeout"
        except aiohttp.ClientError:
            outcome = "connection"
        ended = time.perf_counter()
        return Call(
            target=target,
            rpc_id=rpc_id,
            started=round(started - origin, 4),
            latency_ms=round((ended - started) * 1000, 3),
            outcome=outcome,
            answered=answered,
            bytes=size,
        )

    async def run(self, calls: list[Call], origin: float, stop: asyncio.Event) -> None:
        """Call until `stop` is set; a call in flight then is finished and recorded."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        pause = {"lister": LIST_EVERY, "large": LARGE_EVERY}.get(self.role, self.think)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                calls.append(await self.call(session, origin))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
