"""The upstream client for servers that still speak the HTTP+SSE transport (2024-11-05).

One GET stream per session carries every answer; requests go out as POSTs to the URL the
stream's first `endpoint` event names. It offers the same interface as `UpstreamSession`, under
the same bounds: the stream lives as long as the session, so UPSTREAM_MAX_REPLY_BYTES bounds
each of its events.
"""

import asyncio
import contextlib
import itertools
import json
import logging
from urllib.parse import urljoin

import aiohttp
from django.conf import settings

from servers.http_client import ReplyTooLarge
from servers.sse import read_body, read_events
from servers.upstream import (
    CLIENT_CAPABILITIES,
    CLIENT_INFO,
    SESSION_EVENTS,
    CallHooks,
    UpstreamError,
    UpstreamInfo,
    UpstreamReplyTooLarge,
    UpstreamTimeout,
    UpstreamUnavailable,
    http_session,
    proxy_of,
    stream_session,
)

logger = logging.getLogger(__name__)
LEGACY_VERSION = "2024-11-05"


class LegacySseSession:
    supervised = False  # managed servers are reached over Streamable HTTP only

    def __init__(self, url: str, headers: dict[str, str], *, on_event=None):
        self.url = url
        self.headers = headers
        self.info: UpstreamInfo | None = None
        self.session_id: str | None = None
        self._ids = itertools.count(1)
        self._ready = asyncio.Lock()
        self._on_event = on_event
        self._reader: asyncio.Task | None = None
        self._endpoint: str | None = None
        self._pending: dict[int, tuple[asyncio.Future, CallHooks]] = {}
        self.max_reply_bytes = settings.UPSTREAM_MAX_REPLY_BYTES
        self.in_flight = 0
        self.handshake_timeout: float | None = None  # the server's own, if it has one

    async def ensure_ready(self, timeout: float | None = None) -> UpstreamInfo:
        timeout = timeout or self.handshake_timeout or settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS
        if self.info is not None and self._reader is not None and not self._reader.done():
            return self.info
        async with self._ready:
            if self.info is None or self._reader is None or self._reader.done():
                try:
                    await asyncio.wait_for(self._connect(), timeout)
                except TimeoutError as exc:
                    raise UpstreamTimeout(f"no handshake within {timeout:g} s") from exc
        return self.info

    async def _connect(self) -> None:
        self.reset()
        endpoint_known = asyncio.get_running_loop().create_future()
        self._reader = asyncio.get_running_loop().create_task(self._read(endpoint_known))
        self._endpoint = await endpoint_known
        result = await self._call(
            "initialize",
            {
                "protocolVersion": LEGACY_VERSION,
                "capabilities": CLIENT_CAPABILITIES,
                "clientInfo": CLIENT_INFO,
            },
            timeout=30,
            hooks=CallHooks(),
        )
        await self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.info = UpstreamInfo(
            era="legacy-sse",
            protocol_version=result.get("protocolVersion") or LEGACY_VERSION,
            server_info=result.get("serverInfo") or {},
            capabilities=result.get("capabilities") or {},
            instructions=result.get("instructions") or "",
        )

    async def _read(self, endpoint_known: asyncio.Future) -> None:
        headers = {**self.headers, "Accept": "text/event-stream"}
        error: Exception = UpstreamUnavailable("the upstream closed its event stream")
        try:
            async with stream_session().get(
                self.url, headers=headers, **await proxy_of(self.url)
            ) as response:
                if response.status != 200:
                    raise UpstreamUnavailable(f"the upstream answered HTTP {response.status}")
                async for event, data in read_events(
                    response.content, limit=self.max_reply_bytes, per_event=True
                ):
                    if event == "endpoint":
                        if not endpoint_known.done():
                            endpoint_known.set_result(urljoin(self.url, data.strip()))
                        continue
                    await self._dispatch(data)
        except asyncio.CancelledError:
            error = UpstreamUnavailable("the session was closed")
            raise
        except aiohttp.ClientError as exc:
            error = UpstreamUnavailable(f"connection failed: {exc}")
        except ReplyTooLarge as exc:
            error = UpstreamReplyTooLarge(exc)
        except UpstreamUnavailable as exc:
            error = exc
        finally:
            if not endpoint_known.done():
                endpoint_known.set_exception(error)
            for future, _hooks in self._pending.values():
                if not future.done():
                    future.set_exception(error)
            self._pending.clear()
            self.info = None

    async def _dispatch(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if "method" in message and "id" in message:
            hooks = next(reversed([h for _f, h in self._pending.values()]), CallHooks())
            asyncio.get_running_loop().create_task(self._answer(message, hooks))
        elif "method" in message:
            method = message["method"]
            if method in SESSION_EVENTS or method.endswith("/list_changed"):
                if self._on_event:
                    await self._on_event(message)
                return
            token = (message.get("params") or {}).get("progressToken")
            for future, hooks in list(self._pending.values()):
                if hooks.on_notification is not None and (token is None or not future.done()):
                    await hooks.on_notification(message)
                    break
        else:
            pending = self._pending.pop(message.get("id"), None)
            if pending is not None and not pending[0].done():
                pending[0].set_result(message)

    async def _answer(self, message: dict, hooks: CallHooks) -> None:
        if hooks.on_request is None:
            reply = {"error": {"code": -32601, "message": "The client cannot answer this."}}
        else:
            reply = await hooks.on_request(message)
        with contextlib.suppress(UpstreamUnavailable):
            await self._send({**reply, "jsonrpc": "2.0", "id": message["id"]})

    async def _send(self, message: dict) -> None:
        headers = {**self.headers, "Content-Type": "application/json"}
        try:
            async with http_session().post(
                self._endpoint,
                data=json.dumps(message),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=30),
                **await proxy_of(self._endpoint),
            ) as response:
                await read_body(response.content, self.max_reply_bytes)
                if response.status >= 400:
                    raise UpstreamUnavailable(f"the upstream answered HTTP {response.status}")
        except ReplyTooLarge as exc:
            raise UpstreamReplyTooLarge(exc) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"connection failed: {exc}") from exc

    async def _call(self, method, params, *, timeout, hooks, bound="timeout") -> dict:
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, hooks)
        try:
            await self._send(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
            )
            message = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            message = f"no answer within {timeout:g} s"
            if bound == "maximum":
                message = f"the call ran for its maximum of {timeout:g} s"
            raise UpstreamTimeout(message, bound=bound, seconds=timeout) from exc
        finally:
            self._pending.pop(request_id, None)
        if "error" in message:
            error = message["error"] or {}
            raise UpstreamError(
                int(error.get("code", -32603)), str(error.get("message", "")), error.get("data")
            )
        result = message.get("result")
        if not isinstance(result, dict):
            raise UpstreamUnavailable("the upstream answered without a result")
        return result

    async def request(
        self, method, params, *, timeout: float, max_duration: float | None = None, hooks=None
    ) -> dict:
        self.in_flight += 1  # the pool never evicts a session with a request under way
        try:
            await self.ensure_ready()
            # Progress never extends a call here, so the smaller bound is the one that can fire.
            bound = "timeout"
            if max_duration is not None and max_duration < timeout:
                timeout, bound = max_duration, "maximum"
            hooks = hooks or CallHooks()
            return await self._call(method, params, timeout=timeout, hooks=hooks, bound=bound)
        finally:
            self.in_flight -= 1

    def reset(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self._reader = None
        self.info = None

    async def close(self) -> None:
        self.reset()
