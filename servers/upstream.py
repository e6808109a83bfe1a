"""The upstream MCP client: one logical session per (assignment, identity), pooled per process.

It speaks both protocol eras to the upstream. At first use it offers the `initialize` handshake:
an upstream that takes it gets a reusable session, re-initialised when the upstream forgets it
(404); one that refuses it and answers `server/discover` with 2026-07-28 is driven statelessly
(per-request `_meta`, routing headers). An upstream that speaks both is reached both ways: a
2026-07-28 caller's requests go statelessly (its capabilities, tasks and input rounds travel
per request), the earlier revisions' in the session, so that the upstream's own requests reach
them. Requests and their answers go through the lean client of `servers.http_client` (about a
third of aiohttp's CPU per call); aiohttp, which the benchmark found several times faster than
httpx, carries the long-lived GET streams, the notifications, redirects and whatever else the
lean client does not serve.

A managed server's session goes to the supervisor (`servers.supervisor_link`): every request
signed for itself, on the supervisor's unix socket or loopback port, and every answer refused
unless it proves it came from the supervisor.

Both carry the same bounds (UPSTREAM_MAX_REPLY_BYTES on a reply, headers as aiohttp bounds
them, UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN) and the same outbound rule, trust store and proxy
(`core.outbound_http`): aiohttp through `GuardedConnector` and `proxy_of`.
"""

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from django.conf import settings
from mcp.shared.inbound import encode_header_value
from yarl import URL

from core import json_text, outbound_http
from servers import http_client, supervisor_link
from servers.sse import read_body, read_events

logger = logging.getLogger(__name__)

_COMPACT = json_text.encoder(separators=json_text.COMPACT)

MODERN_VERSION = "2026-07-28"
HANDSHAKE_VERSION = "2025-11-25"
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
_MAX_PAGES = 100
# After a 2026-07-28 side's probe got no answer either way, how long a session serves alone.
_PROBE_AGAIN_SECONDS = 30.0
# Notifications about the upstream as a whole, not about one call.
SESSION_EVENTS = frozenset({"notifications/resources/updated"})
# What the gateway asks a 2026-07-28 upstream to announce on its listen stream.
LISTEN = "subscriptions/listen"
LISTEN_FILTER = {"toolsListChanged": True, "promptsListChanged": True, "resourcesListChanged": True}
NAME_PARAM = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    # SEP-2663: a task's requests name it, so a balancer can route them to its holder.
    "tasks/get": "taskId",
    "tasks/update": "taskId",
    "tasks/cancel": "taskId",
}
CLIENT_INFO = {"name": "gatehouse", "version": "0.1.0"}
# MCP Apps pass through the gateway (dataplane/mcp_apps.py): declared so that a server that
# offers its apps only to hosts that render them offers them through the gateway too.
APPS_EXTENSIONS = {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}
# What the gateway offers upstream so that upstream requests can be relayed to the caller.
CLIENT_CAPABILITIES = {
    "sampling": {},
    "elicitation": {},
    "roots": {"listChanged": True},
    "extensions": APPS_EXTENSIONS,
}


class UpstreamError(Exception):
    """The upstream answered with a JSON-RPC error; it is passed on as it is."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or answered something that is not MCP."""


class UpstreamReplyTooLarge(UpstreamUnavailable):
    """The upstream's reply crossed a bound; the message names it."""

    def __init__(self, exc: http_client.ReplyTooLarge):
        super().__init__(f"{exc} ({exc.setting})" if exc.setting else str(exc))
        self.of_size = bool(exc.setting)  # the reply's size, not the count of its headers


class UpstreamRejected(UpstreamUnavailable):
    """The upstream refused the request at the HTTP level (4xx without a JSON-RPC body)."""


class UpstreamUnauthorized(UpstreamRejected):
    """The upstream refused the credential presented (HTTP 401)."""


class UpstreamInsufficientScope(UpstreamRejected):
    """The upstream refused the credential for want of scope (HTTP 403 `insufficient_scope`,
    RFC 6750 3.1); `challenge` is its `WWW-Authenticate` header, which names the scope."""

    def __init__(self, message: str, challenge: str):
        super().__init__(message)
        self.challenge = challenge


class UpstreamTimeout(Exception):
    """A bound on waiting for the answer fired: `bound` is "timeout" (the idle timeout, which
    progress restarts) or "maximum" (the call's whole duration, which nothing extends), and
    `seconds` its value."""

    def __init__(self, message: str, *, bound: str = "timeout", seconds: float = 0.0):
        super().__init__(message)
        self.bound, self.seconds = bound, seconds


# Cancellations on their way upstream, held so the loop does not drop them half-sent.
_cancellations: set[asyncio.Task] = set()


class _Bounds:
    """The two bounds on one request's wait: the idle `timeout`, which progress restarts, and
    the `maximum` from the first attempt's start, which nothing extends."""

    def __init__(self, timeout: float, maximum: float | None):
        self.timeout, self.maximum = timeout, maximum
        self._limit: float | None = None
        self._loop_time = 0.0

    def start(self) -> None:
        if self._limit is None and self.maximum is not None:
            # A retry after a lost session keeps the first attempt's start.
            self._limit = asyncio.get_running_loop().time() + self.maximum

    def next_deadline(self) -> float:
        self._loop_time = asyncio.get_running_loop().time()
        idle = self._loop_time + self.timeout
        return idle if self._limit is None else min(idle, self._limit)

    def fired(self) -> UpstreamTimeout:
        if self._limit is not None and self._loop_time + self.timeout >= self._limit:
            return UpstreamTimeout(
                f"the call ran for its maximum of {self.maximum:g} s",
                bound="maximum",
                seconds=self.maximum,
            )
        return UpstreamTimeout(
            f"no answer within {self.timeout:g} s", bound="timeout", seconds=self.timeout
        )


Notify = Callable[[dict], Awaitable[None]]
AskClient = Callable[[dict], Awaitable[dict]]


@dataclass
class CallHooks:
    """How a call's side traffic reaches the calling client."""

    on_notification: Notify | None = None
    on_request: AskClient | None = None
    client_capabilities: dict | None = None
    # The level of log messages the caller wants, for a 2026-07-28 upstream's `_meta`.
    log_level: str | None = None
    # `Mcp-Param-*` headers for a 2026-07-28 upstream's tools/call, derived by the caller.
    param_headers: dict | None = None
    # The caller speaks 2026-07-28: an upstream that speaks it too is called statelessly, even
    # when the session was opened with the handshake for callers of the earlier revisions.
    stateless: bool = False


@dataclass
class UpstreamInfo:
    era: str
    protocol_version: str
    server_info: dict = field(default_factory=dict)
    capabilities: dict = field(default_factory=dict)
    instructions: str = ""


# aiohttp sessions belong to one event loop; a process may run several (server, tasks, tests).
# Each loop has two: one for exchanges, capped per origin, and one for the long-lived event
# streams (an upstream session's GET listener, a legacy SSE stream), which hold their connection
# for the session's life and would otherwise take every place under the cap.
_http: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = (
    weakref.WeakKeyDictionary()
)
_streams: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = (
    weakref.WeakKeyDictionary()
)


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's connector under the outbound rule for upstream servers: every address a host
    resolves to (a literal one too) is judged before a connection is made."""

    async def _resolve_host(self, host, port, traces=None):
        results = await super()._resolve_host(host, port, traces=traces)
        for result in results:
            if not outbound_http.address_allowed(result["host"], allow_private=True):
                raise OSError(outbound_http.refusal(result["host"]))
        return results


def http_session() -> aiohttp.ClientSession:
    """The HTTP client of the running event loop for exchanges (keep-alive connections to every
    upstream, at most UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN to one)."""
    return _session(_http, settings.UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN)


def stream_session() -> aiohttp.ClientSession:
    """The HTTP client of the running event loop for event streams that stay open."""
    return _session(_streams, 0)


def _session(sessions, limit_per_host: int) -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = sessions.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            connector=GuardedConnector(
                limit=0,
                limit_per_host=limit_per_host,
                ttl_dns_cache=300,
                ssl=outbound_http.tls_context(),
            ),
            # `connect` includes the wait for a place under the cap: bounded, as on the lean path.
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=settings.UPSTREAM_CONNECTION_WAIT_SECONDS + 10,
                sock_connect=10,
            ),
            auto_decompress=True,
            max_headers=http_client.MAX_HEADERS,
        )
        sessions[loop] = session
    return session


async def proxy_of(url: str) -> dict:
    """aiohttp's `proxy` argument for `url`, from the environment (`outbound_http.proxy_for`).

    Through a proxy aiohttp resolves only the proxy, so the target is judged here first."""
    target = URL(url)
    proxy = http_client.proxy_for((target.scheme, target.raw_host or "", target.port))
    if proxy is None:
        return {}
    try:
        await outbound_http.resolve_async(target.raw_host, target.port or 80, allow_private=True)
    except outbound_http.HostUnresolvable:
        pass  # only the proxy can resolve it
    except outbound_http.HostRefused as exc:
        refused = outbound_http.refusal(exc.addresses[0])
        raise UpstreamUnavailable(f"connection refused: {refused}") from exc
    return {"proxy": proxy}


class NotTheSupervisor(UpstreamUnavailable):
    """An answer on the supervisor's address lacked its proof: another process holds it."""


class UpstreamSession:
    def __init__(self, url: str, headers: dict[str, str], *, on_event=None, supervised=False):
        self.url = url
        self.headers = headers
        self.supervised = supervised
        self._link = supervisor_link.current() if supervised else None
        self.info: UpstreamInfo | None = None
        self.session_id: str | None = None
        self._ids = itertools.count(1)
        self._ready = asyncio.Lock()
        self._on_event = on_event
        self._listener: asyncio.Task | None = None
        # A handshake session's stateless side: None until a 2026-07-28 caller asks, then the
        # upstream's 2026-07-28 info, or False when it speaks only the handshake.
        self._stateless: UpstreamInfo | bool | None = None
        self._stateless_listener: asyncio.Task | None = None
        self._probe_again_at = 0.0
        self._generation = 0  # bumped by reset(): a probe answered after it is dropped
        self.max_reply_bytes = settings.UPSTREAM_MAX_REPLY_BYTES
        self.in_flight = 0
        self.handshake_timeout: float | None = None  # the server's own, if it has one

    # -- connection -----------------------------------------------------------------------

    async def ensure_ready(self, timeout: float | None = None) -> UpstreamInfo:
        """Connect once, within `timeout`, else the server's own handshake timeout, else
        UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS."""
        if self.info is not None:
            return self.info
        timeout = timeout or self.handshake_timeout or settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS
        async with self._ready:
            if self.info is None:
                try:
                    await asyncio.wait_for(self._connect(), timeout)
                except TimeoutError as exc:
                    raise UpstreamTimeout(f"no handshake within {timeout:g} s") from exc
        return self.info

    async def _connect(self) -> None:
        # The handshake first: a stateful session is what lets an upstream's requests
        # (sampling, elicitation, roots) and logging reach the caller. Only an upstream that
        # refuses it is driven statelessly.
        try:
            info = await self._handshake()
        except (UpstreamError, UpstreamRejected) as refused:
            try:
                info = await self._probe_modern()
            except UpstreamRejected:
                info = None
            if info is None:
                raise refused
        self.info = info
        if info.era == "modern" and self._on_event and self._listener is None:
            # A 2026-07-28 upstream announces list changes on subscriptions/listen only.
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), context=contextvars.Context()
            )

    async def _probe_modern(self) -> UpstreamInfo | None:
        params = {"_meta": self._meta(MODERN_VERSION, None)}
        try:
            message, _ = await self._post(
                {
                    "jsonrpc": "2.0",
                    "id": next(self._ids),
                    "method": "server/discover",
                    "params": params,
                },
                version=MODERN_VERSION,
                method="server/discover",
                session_id=None,
            )
        except (UpstreamUnauthorized, UpstreamInsufficientScope):
            raise
        except (UpstreamError, UpstreamRejected):
            return None  # a refusal: the upstream does not speak 2026-07-28
        result = message.get("result") if isinstance(message, dict) else None
        result = result if isinstance(result, dict) else {}
        versions = result.get("supportedVersions")
        if not isinstance(versions, list) or MODERN_VERSION not in versions:
            return None
        meta = result.get("_meta")
        server_info = (
            meta.get("io.modelcontextprotocol/serverInfo") if isinstance(meta, dict) else None
        )
        capabilities = result.get("capabilities")
        instructions = result.get("instructions")
        return UpstreamInfo(
            era="modern",
            protocol_version=MODERN_VERSION,
            server_info=server_info if isinstance(server_info, dict) else {},
            capabilities=capabilities if isinstance(capabilities, dict) else {},
            instructions=instructions if isinstance(instructions, str) else "",
        )

    async def _handshake(self) -> UpstreamInfo:
        request = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "initialize",
            "params": {
                "protocolVersion": HANDSHAKE_VERSION,
                "capabilities": CLIENT_CAPABILITIES,
                "clientInfo": CLIENT_INFO,
            },
        }
        message, response_headers = await self._post(request, version=None, session_id=None)
        if "error" in message:
            error = message["error"]
            raise UpstreamError(error.get("code", -32603), error.get("message", ""), None)
        result = message.get("result") or {}
        self.session_id = response_headers.get("mcp-session-id")
        version = result.get("protocolVersion") or HANDSHAKE_VERSION
        info = UpstreamInfo(
            era="handshake",
            protocol_version=version,
            server_info=result.get("serverInfo") or {},
            capabilities=result.get("capabilities") or {},
            instructions=result.get("instructions") or "",
        )
        self.info = info
        await self._post_notification({"jsonrpc": "2.0", "method": "notifications/initialized"})
        if self.session_id and self._on_event and self._listener is None:
            # Pooled across calls: its own context, not the correlation id of the first call.
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), context=contextvars.Context()
            )
        return info

    def _meta(self, version: str, capabilities: dict | None) -> dict:
        capabilities = dict(capabilities or {})
        extensions = capabilities.get("extensions")
        extensions = extensions if isinstance(extensions, dict) else {}
        capabilities["extensions"] = {**extensions, **APPS_EXTENSIONS}
        return {
            META_PROTOCOL_VERSION: version,
            META_CLIENT_CAPABILITIES: capabilities,
            META_CLIENT_INFO: CLIENT_INFO,
        }

    async def _stateless_side(self, info: UpstreamInfo) -> UpstreamInfo:
        """The info to call a handshake session's upstream with for a 2026-07-28 caller: its
        2026-07-28 side when it has one (asked once per session), else the session's own."""
        if self._stateless is None and time.monotonic() >= self._probe_again_at:
            async with self._ready:
                if self._stateless is None and time.monotonic() >= self._probe_again_at:
                    await self._probe_stateless_side()
        return self._stateless or info

    async def _probe_stateless_side(self) -> None:
        generation = self._generation
        timeout = self.handshake_timeout or settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS
        try:
            modern = await asyncio.wait_for(self._probe_modern(), timeout)
        except (TimeoutError, UpstreamTimeout, UpstreamUnavailable) as exc:
            # No answer either way (down, slow, refusing this identity): the session serves
            # the call, and the question is asked again a little later.
            logger.debug("no answer on a 2026-07-28 side at %s: %s", self.url, exc)
            self._probe_again_at = time.monotonic() + _PROBE_AGAIN_SECONDS
            return
        if generation != self._generation:
            return  # reset or closed meanwhile: the answer belongs to a session that is gone
        self._stateless = modern or False
        if modern is not None and self._on_event and self._stateless_listener is None:
            # Such an upstream may announce list changes only on its listen streams.
            self._stateless_listener = asyncio.get_running_loop().create_task(
                self._listen(stateless=True), context=contextvars.Context()
            )

    def reset(self) -> None:
        self._generation += 1
        self.info = None
        self.session_id = None
        self._stateless = None
        self._probe_again_at = 0.0
        for listener in (self._listener, self._stateless_listener):
            if listener is not None:
                listener.cancel()
        self._listener = self._stateless_listener = None

    async def close(self) -> None:
        session_id = self.session_id
        self.reset()
        if session_id:
            headers, _ = self._signed("DELETE", {**self.headers, "mcp-session-id": session_id})
            try:
                async with self._client().delete(
                    self.url,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=2),
                    **await self._proxy(),
                ):
                    pass
            except (aiohttp.ClientError, TimeoutError, UpstreamUnavailable):
                pass

    # -- requests ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        params: dict | None,
        *,
        timeout: float,
        max_duration: float | None = None,
        hooks: CallHooks | None = None,
    ) -> dict:
        """Send one request upstream and return its result; JSON-RPC errors raise UpstreamError.

        `timeout` is the idle timeout, restarted by each progress notification; `max_duration`
        bounds the whole call whatever progress says. Either raises UpstreamTimeout, once the
        upstream was told to stop."""
        self.in_flight += 1  # the pool never evicts a session with a request under way
        try:
            bounds = _Bounds(timeout, max_duration)
            for attempt in range(2):
                info = await self.ensure_ready()
                if hooks is not None and hooks.stateless and info.era == "handshake":
                    stateless = await self._stateless_side(info)
                    if stateless is not info:
                        try:
                            return await self._request_once(
                                stateless, method, params, bounds, hooks
                            )
                        except UpstreamError as refused:
                            if not _needs_back_channel(refused):
                                raise
                            # A tool that asks mid-call the handshake way: in the session, where
                            # the gateway turns its question into an input round.
                try:
                    return await self._request_once(info, method, params, bounds, hooks)
                except _SessionLost:
                    if attempt:
                        raise UpstreamUnavailable("the upstream keeps losing its session") from None
                    self.reset()
            raise AssertionError("unreachable")
        finally:
            self.in_flight -= 1

    async def _request_once(self, info, method, params, bounds, hooks) -> dict:
        hooks = hooks or CallHooks()
        request_id = next(self._ids)
        params = dict(params or {})
        if info.era == "modern":
            meta = dict(params.get("_meta") or {})
            meta.update(self._meta(info.protocol_version, hooks.client_capabilities))
            if hooks.log_level:
                meta[META_LOG_LEVEL] = hooks.log_level
            params["_meta"] = meta
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            message, _ = await self._post(
                body,
                version=info.protocol_version,
                method=method,
                session_id=self.session_id if info.era == "handshake" else None,
                bounds=bounds,
                hooks=hooks,
            )
        except (asyncio.CancelledError, UpstreamTimeout) as stopped:
            # A 2026-07-28 upstream took the closed connection as the cancellation; one in a
            # session is told, without holding up the answer to the caller.
            if info.era == "handshake":
                reason = str(stopped) if isinstance(stopped, UpstreamTimeout) else ""
                self._cancel_later(request_id, reason or "the client cancelled")
            raise
        if "error" in message:
            error = message["error"] or {}
            raise UpstreamError(
                int(error.get("code", -32603)), str(error.get("message", "")), error.get("data")
            )
        result = message.get("result")
        if not isinstance(result, dict):
            raise UpstreamUnavailable("the upstream answered without a result")
        return result

    def _cancel_later(self, request_id, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self._cancel(request_id, reason))
        _cancellations.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(_cancellations.discard)

    async def _cancel(self, request_id, reason: str) -> None:
        with contextlib.suppress(UpstreamUnavailable, UpstreamError):
            await self._post_notification(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": request_id, "reason": reason},
                }
            )

    def _headers(self, *, version, method=None, name=None, session_id=None) -> dict:
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        if version:
            headers["MCP-Protocol-Version"] = version
        if version == MODERN_VERSION and method:
            headers["Mcp-Method"] = method
            if name is not None:
                headers["Mcp-Name"] = encode_header_value(name)
        if session_id:
            headers["Mcp-Session-Id"] = session_id
        return headers

    async def _post_notification(self, message: dict) -> None:
        version = self.info.protocol_version if self.info else None
        data = json.dumps(message).encode()
        headers, nonce = self._signed(
            "POST", self._headers(version=version, session_id=self.session_id), data
        )
        try:
            async with self._client().post(
                self.url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=10),
                **await self._proxy(),
            ) as response:
                self._check_proof(nonce, response)
                await read_body(response.content, self.max_reply_bytes)
        except http_client.ReplyTooLarge as exc:
            raise UpstreamReplyTooLarge(exc) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamUnavailable(f"could not reach the upstream: {exc}") from exc

    async def _post(
        self,
        body,
        *,
        version,
        method=None,
        session_id,
        timeout: float = 30,
        bounds=None,
        hooks=None,
    ) -> tuple[dict, Any]:
        name_key = NAME_PARAM.get(body.get("method", ""))
        name = (body.get("params") or {}).get(name_key) if name_key else None
        headers = self._headers(version=version, method=method, name=name, session_id=session_id)
        if version == MODERN_VERSION and hooks is not None and hooks.param_headers:
            headers.update(hooks.param_headers)
        data = _COMPACT(body).encode()
        headers, nonce = self._signed("POST", headers, data)
        bounds = bounds or _Bounds(timeout, None)
        bounds.start()
        try:
            async with asyncio.timeout_at(bounds.next_deadline()) as deadline:
                if http_client.serves(self.url):
                    async with http_client.post(
                        self.url,
                        data,
                        headers,
                        max_reply_bytes=self.max_reply_bytes,
                        socket_path=self._link.socket_path if self._link else None,
                    ) as response:
                        self._check_proof(nonce, response)
                        # The supervisor never redirects: its request is not sent twice.
                        if response.status not in http_client.REDIRECTS or self._link:
                            return await self._answer(
                                response, deadline, body, session_id, hooks, bounds
                            )
                # aiohttp follows redirects, and serves any URL the lean client does not.
                async with http_session().post(
                    self.url, data=data, headers=headers, **await proxy_of(self.url)
                ) as response:
                    return await self._answer(response, deadline, body, session_id, hooks, bounds)
        except TimeoutError as exc:
            raise bounds.fired() from exc
        except http_client.ReplyTooLarge as exc:
            raise UpstreamReplyTooLarge(exc) from exc
        except http_client.ConnectFailed as exc:
            raise UpstreamUnavailable(f"connection refused: {exc}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailable(f"connection refused: {exc.os_error or exc}") from exc
        except (aiohttp.ClientError, http_client.HttpClientError) as exc:
            raise UpstreamUnavailable(f"the connection failed: {exc}") from exc

    # -- the supervisor -------------------------------------------------------------------------

    def _signed(self, method: str, headers: dict, body: bytes = b"") -> tuple[dict, str | None]:
        """The headers with this request's proof for the supervisor, and its nonce; as they are
        for any other upstream."""
        if self._link is None:
            return headers, None
        proof, nonce = self._link.sign(method, self.url, body)
        return {**headers, **proof}, nonce

    def _check_proof(self, nonce: str | None, response) -> None:
        if nonce is not None and not self._link.proves(nonce, response.headers):
            raise NotTheSupervisor(
                "the answer on the supervisor's address did not prove it came from the supervisor"
            )

    def _client(self, *, stream: bool = False) -> aiohttp.ClientSession:
        if self._link is not None and self._link.socket_path:
            return self._link.socket_session()
        return stream_session() if stream else http_session()

    async def _proxy(self) -> dict:
        # The supervisor is the platform's own and reached directly (`http_client.proxy_for`).
        return {} if self._link is not None else await proxy_of(self.url)

    async def _answer(self, response, deadline, body, session_id, hooks, bounds):
        """The JSON-RPC message of an upstream's HTTP response (aiohttp's or the lean client's),
        and its headers."""
        if response.status == 404 and session_id:
            raise _SessionLost()
        content_type = response.headers.get("Content-Type", "")
        if response.status == 401:
            # Whatever the body: an OAuth resource server answers JSON, not MCP.
            text = await _error_text(response)
            raise UpstreamUnauthorized(f"the upstream answered HTTP 401: {text}")
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status == 403 and "insufficient_scope" in challenge:
            text = await _error_text(response)
            raise UpstreamInsufficientScope(f"the upstream answered HTTP 403: {text}", challenge)
        if response.status >= 400 and "application/json" not in content_type:
            text = await _error_text(response)
            error = UpstreamRejected if response.status < 500 else UpstreamUnavailable
            raise error(f"the upstream answered HTTP {response.status}: {text}")
        if content_type.startswith("text/event-stream"):
            message = await self._read_stream(
                response, body["id"], hooks, deadline, bounds, session_id
            )
        else:
            if isinstance(response, http_client.Response):
                raw = await response.read()  # bounded as it arrives, by the lean client
            else:
                raw = await read_body(response.content, self.max_reply_bytes)
            try:
                message = json.loads(raw)
            except ValueError as exc:
                raise UpstreamUnavailable("the upstream answered not MCP") from exc
        if not isinstance(message, dict):
            raise UpstreamUnavailable("the upstream answered not MCP")
        return message, response.headers

    async def _read_stream(self, response, request_id, hooks, deadline, bounds, session_id):
        hooks = hooks or CallHooks()
        async for _event, data in read_events(response.content, limit=self.max_reply_bytes):
            try:
                message = json.loads(data)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if "method" in message and "id" in message:
                await self._answer_server_request(message, hooks, session_id)
            elif "method" in message:
                if message["method"] == "notifications/progress":
                    # Progress means the tool is alive: restart its idle timeout, never past
                    # the call's maximum.
                    deadline.reschedule(bounds.next_deadline())
                if hooks.on_notification is not None:
                    await hooks.on_notification(message)
            elif message.get("id") == request_id:
                return message
        raise UpstreamUnavailable("the upstream closed the stream without answering")

    async def _answer_server_request(self, message: dict, hooks: CallHooks, session_id) -> None:
        if session_id is None and self.session_id:
            # A 2026-07-28 request's stream carries no requests; an answer could only go to the
            # handshake session, which did not ask.
            return
        if hooks.on_request is None:
            reply = {
                "jsonrpc": "2.0",
                "id": message["id"],
                "error": {"code": -32601, "message": "The client cannot answer this request."},
            }
        else:
            reply = await hooks.on_request(message)
            reply = {**reply, "id": message["id"], "jsonrpc": "2.0"}
        await self._post_notification(reply)

    def _listening(self, stateless: bool) -> bool:
        if stateless:
            return bool(self._stateless)
        return bool(self.session_id) or (self.info is not None and self.info.era == "modern")

    async def _event_stream(self, stateless: bool):
        """(the request opening the upstream's stream of change notifications, its proof
        nonce): a handshake session's GET stream, or a 2026-07-28 `subscriptions/listen`."""
        client = self._client(stream=True)
        if self.session_id and not stateless:
            headers = self._headers(
                version=self.info.protocol_version if self.info else None,
                session_id=self.session_id,
            )
            headers["Accept"] = "text/event-stream"
            headers, nonce = self._signed("GET", headers)
            return client.get(self.url, headers=headers, **await self._proxy()), nonce
        params = {"notifications": LISTEN_FILTER, "_meta": self._meta(MODERN_VERSION, None)}
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": LISTEN, "params": params}
        data = _COMPACT(body).encode()
        headers = self._headers(version=MODERN_VERSION, method=LISTEN, session_id=None)
        headers, nonce = self._signed("POST", headers, data)
        request = client.post(self.url, data=data, headers=headers, **await self._proxy())
        return request, nonce

    async def _listen(self, *, stateless: bool = False) -> None:
        """Follow the upstream's stream of list_changed notifications, reconnecting; with
        `stateless`, a handshake session's upstream's 2026-07-28 listen stream."""
        delay = 1.0
        while self._listening(stateless):
            started = time.monotonic()
            try:
                request, nonce = await self._event_stream(stateless)
                async with request as response:
                    self._check_proof(nonce, response)
                    if response.status >= 400:
                        return
                    if "text/event-stream" not in response.headers.get("content-type", ""):
                        return  # an answer, not a stream: the upstream offers none
                    async for _event, data in read_events(
                        response.content, limit=self.max_reply_bytes, per_event=True
                    ):
                        try:
                            message = json.loads(data)
                        except ValueError:
                            continue
                        method = message.get("method", "") if isinstance(message, dict) else ""
                        is_event = method in SESSION_EVENTS or method.endswith("/list_changed")
                        if is_event and self._on_event:
                            await self._on_event(message)
            except asyncio.CancelledError:
                raise
            except (
                aiohttp.ClientError,
                TimeoutError,
                UpstreamUnavailable,
                http_client.ReplyTooLarge,
            ) as exc:
                logger.debug("upstream stream of %s dropped: %s", self.url, exc)
            if time.monotonic() - started > 60:
                delay = 1.0
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)


def _needs_back_channel(error: UpstreamError) -> bool:
    """Whether a 2026-07-28 request failed only because its tool asks mid-call the handshake
    way, which has no channel there (the SDK's NoBackChannelError)."""
    return error.code == -32600 and "back-channel" in error.message


class _SessionLost(Exception):
    pass


async def _error_text(response) -> str:
    """The start of an error answer, for the message; the rest is never read."""
    return (await response.content.read(200)).decode("utf-8", errors="replace")


async def read_all_pages(session: UpstreamSession, method: str, field_name: str, *, timeout: float):
    """Every page of a list; returns (items, smallest ttlMs or None, cache scope or None)."""
    items: list[dict] = []
    cursor, seen = None, set()
    ttl_ms, scope = None, None
    for _ in range(_MAX_PAGES):
        params = {"cursor": cursor} if cursor else {}
        result = await session.request(method, params, timeout=timeout)
        items.extend(i for i in result.get(field_name) or [] if isinstance(i, dict))
        if isinstance(result.get("ttlMs"), int):
            ttl_ms = result["ttlMs"] if ttl_ms is None else min(ttl_ms, result["ttlMs"])
        if result.get("cacheScope"):
            scope = "private" if "private" in (scope, result["cacheScope"]) else "public"
        cursor = result.get("nextCursor")
        if not cursor or cursor in seen:
            break
        seen.add(cursor)
    return items, ttl_ms, scope


async def close_http_session() -> None:
    http_client.close_pool()
    await supervisor_link.close_socket_session()
    loop = asyncio.get_running_loop()
    for sessions in (_http, _streams):
        session = sessions.pop(loop, None)
        if session is not None and not session.closed:
            await session.close()
