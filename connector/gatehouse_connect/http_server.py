"""A session relayed to a Streamable HTTP MCP server on this workstation's network.

Each message is POSTed; the answer (JSON, or an SSE stream of messages) is relayed back as
`message` frames, a 202 relays nothing. The Mcp-Session-Id and MCP-Protocol-Version the
initialize handshake settles go with every later request, and closing sends DELETE.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from gatehouse_connect import frames
from gatehouse_connect.display import printable

ACCEPT = "application/json, text/event-stream"
SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"

Send = Callable[[dict[str, Any]], Awaitable[None]]


class HttpSession:
    def __init__(self, *, sid: str, name: str, spec: dict[str, Any], send: Send):
        self.sid = sid
        self.name = name
        self.url = str(spec["url"])
        self.send = send
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.streams: set[asyncio.Task] = set()
        self.worker: asyncio.Task | None = None
        self.ended = False

    async def start(self) -> str | None:
        self.worker = asyncio.create_task(self._post_in_order())
        return None

    async def deliver(self, message: dict[str, Any]) -> None:
        await self.queue.put(message)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if self.session_id:
            headers[SESSION_HEADER] = self.session_id
        if self.protocol_version:
            headers[VERSION_HEADER] = self.protocol_version
        return headers

    async def _post_in_order(self) -> None:
        """POST messages in the order they came; answers are read concurrently.

        The server sees the requests in order (it accepted one before the next is sent), while a
        long answer (an SSE stream with progress) does not hold back the next request. The
        initialize answer is read whole first: it settles the protocol version.
        """
        while True:
            message = await self.queue.get()
            request = self.client.build_request(
                "POST", self.url, headers=self._headers(), content=json.dumps(message)
            )
            try:
                response = await self.client.send(request, stream=True)
            except httpx.HTTPError as error:
                await self._end(f"'{self.name}' at {self.url} cannot be reached: {error}")
                return
            if SESSION_HEADER.lower() in response.headers:
                self.session_id = response.headers[SESSION_HEADER]
            if message.get("method") == "initialize":
                await self._relay(message, response)
                continue
            task = asyncio.create_task(self._relay(message, response))
            self.streams.add(task)
            task.add_done_callback(self.streams.discard)

    async def _relay(self, message: dict[str, Any], response: httpx.Response) -> None:
        try:
            if response.status_code == 404 and self.session_id:
                await self._end(f"'{self.name}' ended the session (HTTP 404)")
                return
            if response.status_code >= 400:
                await self._fail(message, f"'{self.name}' answered HTTP {response.status_code}")
                return
            if response.status_code == 202:
                return
            content_type = response.headers.get("content-type", "")
            if content_type.startswith("text/event-stream"):
                async for payload in _sse_messages(response):
                    await self._forward(payload)
            else:
                body = await response.aread()
                if body.strip():
                    payload = json.loads(body)
                    for item in payload if isinstance(payload, list) else [payload]:
                        await self._forward(item)
        except (httpx.HTTPError, ValueError) as error:
            await self._fail(
                message, f"'{self.name}' sent an answer that could not be read: {error}"
            )
        finally:
            await response.aclose()

    async def _forward(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        result = payload.get("result")
        if isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
            self.protocol_version = result["protocolVersion"]
        await self.send(frames.message(self.sid, payload))

    async def _fail(self, message: dict[str, Any], reason: str) -> None:
        """Answer a request that got no answer with a JSON-RPC error (notifications need none)."""
        if "id" in message and "method" in message:
            error = {"code": -32603, "message": reason}
            await self.send(
                frames.message(self.sid, {"jsonrpc": "2.0", "id": message["id"], "error": error})
            )

    async def _end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        print(printable(reason), flush=True)
        with contextlib.suppress(Exception):
            await self.send(frames.closed(self.sid, reason))

    async def stop(self) -> None:
        self.ended = True
        tasks = [task for task in [self.worker, *self.streams] if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.session_id:
            with contextlib.suppress(httpx.HTTPError):
                await self.client.delete(self.url, headers=self._headers(), timeout=5.0)
        await self.client.aclose()


async def _sse_messages(response: httpx.Response) -> AsyncIterator[Any]:
    """The JSON payloads of an SSE stream's `message` events (the default event type)."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if not line:
            if data and event == "message":
                text = "\n".join(data)
                if text.strip():
                    yield json.loads(text)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
