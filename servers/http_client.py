"""A lean keep-alive HTTP/1.1 client for the data plane's upstream POSTs.

Every `tools/call` costs one POST upstream. Through aiohttp that POST took more CPU than
anything else the gateway does per call (its request and response objects, cookie, tracing and
redirect machinery); written on an asyncio protocol with httptools (the parser uvicorn uses)
it costs about a third of that. The client does only what the upstream MCP session needs:

* POST a body with the caller's headers, over a pooled connection per origin (http or https,
  certificates verified against the one trust store). A connection that sat idle for a while and
  is closed by the server as the request goes out (its idle timeout crossing the request) is
  replaced once; one closed unanswered soon after its last use is an error like any other,
  since the server may have acted on the request.
* The response as `status`, case-insensitive `headers`, and its body as `read()`, `text()` or
  `content` (an `asyncio.StreamReader` of the decoded body, read by chunks for SSE).
  Bodies delimited by length, by chunks or by the end of the connection; gzip and deflate.
* A connection goes back to the pool only after a complete response the server let it keep;
  one left half-read (an error, a cancelled call) is closed.
* Bounded: at most `MAX_HEADERS` headers in `_MAX_HEAD_BYTES`, a body of at most the caller's
  `max_reply_bytes` (decoded; not read past it, and the connection is closed), and at most
  UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN connections per origin and event loop: a request beyond
  them waits UPSTREAM_CONNECTION_WAIT_SECONDS for one to be free.
* Connections go to the addresses the outbound rule (`core.outbound_http`) allows for upstream
  servers (private ones, never a cloud metadata one), directly or through the proxy
  HTTPS_PROXY / HTTP_PROXY name (a CONNECT tunnel to the judged address for https; the absolute
  form for http, where the proxy resolves the name again).

Redirects are not followed: the caller hands a redirected request to aiohttp, which does.
"""

import asyncio
import base64
import collections
import contextlib
import ssl
import weakref
import zlib
from collections.abc import AsyncIterator
from functools import lru_cache

import httptools
from django.conf import settings
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from core import outbound_http

# A line of an SSE stream (one event's data) can be a whole tool result.
_LINE_LIMIT = 2**26
_MAX_IDLE_PER_ORIGIN = 256
# aiohttp's bounds: more than this is no MCP server's answer, and would be held in memory.
MAX_HEADERS = 100
_MAX_HEAD_BYTES = 64 * 1024
# Headers every request carries after its Content-Length.
_FIXED_HEADERS = "User-Agent: Gatehouse\r\nAccept-Encoding: gzip, deflate\r\n"
# Servers close idle keep-alive connections after seconds (uvicorn 5, nginx 75); a connection
# idle for less than this that drops a request is not taken for one the server timed out.
_STALE_AFTER_SECONDS = 0.5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class HttpClientError(Exception):
    """The exchange failed: no connection, a dropped connection, or not HTTP."""


class ConnectFailed(HttpClientError):
    """No connection could be opened (refused, unreachable, TLS handshake)."""


class ReplyTooLarge(HttpClientError):
    """The reply exceeded a bound (`limit`, named by `setting`); it was not read further."""

    def __init__(self, message: str, *, limit: int, setting: str):
        super().__init__(message)
        self.limit = limit
        self.setting = setting


class ConnectionsBusy(HttpClientError):
    """Every connection allowed to the origin stayed busy for the whole wait."""


class _Dropped(HttpClientError):
    def __init__(self, message: str, *, before_answer: bool):
        super().__init__(message)
        self.before_answer = before_answer


@lru_cache(maxsize=256)
def _target(url: str) -> tuple[tuple[str, str, int], bytes] | None:
    """(origin, the request line and Host header) of a URL this client serves, else None."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.user:
        return None
    host = parsed.raw_host
    authority = f"[{host}]" if ":" in host else host
    if not parsed.is_default_port():
        authority += f":{parsed.port}"
    head = f"POST {parsed.raw_path_qs or '/'} HTTP/1.1\r\nHost: {authority}\r\n"
    return (parsed.scheme, host, parsed.port), head.encode("ascii")


@lru_cache(maxsize=256)
def _proxied_head(url: str) -> bytes:
    """The request line in absolute form, for plain http through a proxy."""
    parsed = URL(url)
    host = parsed.raw_host
    authority = f"[{host}]" if ":" in host else host
    if not parsed.is_default_port():
        authority += f":{parsed.port}"
    path = parsed.raw_path_qs or "/"
    return f"POST http://{authority}{path} HTTP/1.1\r\nHost: {authority}\r\n".encode("ascii")


def proxy_for(origin: tuple[str, str, int]) -> str | None:
    """The proxy to reach `origin` through: the environment's (`outbound_http.proxy_for`), but
    never for the managed-server supervisor, the platform's own and on its own network."""
    supervisor = URL(settings.MANAGED_SUPERVISOR_URL)
    if origin[0] == "unix" or origin == (supervisor.scheme, supervisor.raw_host, supervisor.port):
        return None
    return outbound_http.proxy_for(origin[0], origin[1])


def serves(url: str) -> bool:
    """Whether `post` can send to this URL (http or https, no credentials in it)."""
    return _target(url) is not None


class Response:
    """One response, readable once."""

    def __init__(self, status: int, headers: CIMultiDictProxy, content: asyncio.StreamReader):
        self.status = status
        self.headers = headers
        self.content = content

    async def read(self) -> bytes:
        return await self.content.read()

    async def text(self) -> str:
        charset = "utf-8"
        _, _, params = self.headers.get("Content-Type", "").partition(";")
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        body = await self.read()
        try:
            return body.decode(charset, errors="replace")
        except LookupError:
            return body.decode("utf-8", errors="replace")


class _Connection(asyncio.Protocol):
    """One connection to an origin; one request at a time."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._answered = False
        self._head: asyncio.Future | None = None
        self._body: asyncio.StreamReader | None = None
        self._headers: list[tuple[str, str]] = []
        self._decoder = None
        self._until_close = False
        self._room = 0
        self._limit = 0
        self._head_bytes = 0
        self.complete = False
        self.on_lost = None  # the pool's count of open connections

    # -- the exchange -----------------------------------------------------------------------

    def start(self, request: bytes, max_reply_bytes: int) -> asyncio.Future:
        if self.closed or self.transport.is_closing():
            # Closed between being opened or taken and this request: written, it would vanish.
            raise _Dropped("the upstream closed the connection", before_answer=True)
        loop = asyncio.get_running_loop()
        self._head = loop.create_future()
        self._body = asyncio.StreamReader(limit=_LINE_LIMIT, loop=loop)
        self._body.set_transport(self.transport)
        self._headers = []
        self._answered = self.complete = self.reusable = False
        self._decoder = None
        self._limit = self._room = max_reply_bytes
        self._head_bytes = 0
        self.transport.write(request)
        return self._head

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._head is None or self.complete:
            self.close()  # nothing was asked (a server's parting 408): the connection is done
            return
        self._answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            # A bound crossed in a callback, which the parser wraps.
            cause = exc.__context__
            self._fail(cause if isinstance(cause, HttpClientError) else HttpClientError(str(exc)))
            self.close()
            return
        except httptools.HttpParserError as exc:
            self._fail(HttpClientError(f"the upstream answered not HTTP: {exc}"))
            self.close()
            return
        if not self._head.done():
            # httptools gathers a header whole, so a huge one is refused by the bytes it took.
            self._head_bytes += len(data)
            if self._head_bytes > _MAX_HEAD_BYTES:
                self._too_large(
                    f"the upstream's reply headers exceed {_MAX_HEAD_BYTES} bytes",
                    _MAX_HEAD_BYTES,
                    "",
                )

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.on_lost is not None:
            self.on_lost()
            self.on_lost = None
        if self._head is None or self.complete:
            return
        if self._head.done() and self._until_close:
            self._finish()  # a body delimited by the end of the connection
            return
        self._fail(
            _Dropped(
                "the upstream closed the connection" + (f": {exc}" if exc else ""),
                before_answer=not self._answered,
            )
        )

    # -- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if len(self._headers) > MAX_HEADERS:
            raise ReplyTooLarge(
                f"the upstream's reply has more than {MAX_HEADERS} headers",
                limit=MAX_HEADERS,
                setting="",
            )

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            self._headers = []  # an interim response (100 Continue): the real one follows
            return
        headers = CIMultiDictProxy(CIMultiDict(self._headers))
        encoding = headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        self._until_close = (
            "Content-Length" not in headers
            and "chunked" not in headers.get("Transfer-Encoding", "").lower()
        )
        if not self._head.done():
            self._head.set_result(Response(status, headers, self._body))

    def on_body(self, body: bytes) -> None:
        if self.closed:
            return  # refused already; the rest of the data at hand is dropped
        if self._decoder is not None:
            try:
                # Never more than one byte past the room left: a small bomb stays small.
                body = self._decoder.decompress(body, self._room + 1)
            except zlib.error as exc:
                self._fail(HttpClientError(f"the upstream's compressed body is broken: {exc}"))
                self.close()
                return
        if len(body) > self._room:
            self._too_large(
                f"the upstream's reply exceeds {self._limit} bytes",
                self._limit,
                "UPSTREAM_MAX_REPLY_BYTES",
            )
            return
        self._room -= len(body)
        if body:
            self._body.feed_data(body)

    def _too_large(self, message: str, limit: int, setting: str) -> None:
        self._fail(ReplyTooLarge(message, limit=limit, setting=setting))
        self.close()

    def on_message_complete(self) -> None:
        if self._head is None or not self._head.done() or self.closed:
            return  # the end of an interim response, or of one refused
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    def _finish(self) -> None:
        self.complete = True
        if self._decoder is not None:
            rest = self._decoder.flush()
            if len(rest) > self._room:
                self._too_large(
                    f"the upstream's reply exceeds {self._limit} bytes",
                    self._limit,
                    "UPSTREAM_MAX_REPLY_BYTES",
                )
                return
            if rest:
                self._body.feed_data(rest)
        self._body.feed_eof()

    def _fail(self, error: Exception) -> None:
        if not self._head.done():
            self._head.set_exception(error)
        elif self._body.exception() is None and not self._body.at_eof():
            self._body.set_exception(error)


class _Pool:
    """The connections of one event loop: idle ones per origin, and a count of those open, capped
    per origin; a request over the cap waits for one to come back or close."""

    def __init__(self):
        self.idle: dict[tuple, list[_Connection]] = {}
        self.open: dict[tuple, int] = {}
        self.waiting: dict[tuple, collections.deque] = {}
        self.proxies: dict[tuple, str | None] = {}
        self.limit = max(1, settings.UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN)

    def take(self, origin) -> _Connection | None:
        idle = self.idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed and not connection.transport.is_closing():
                return connection
        return None

    def give_back(self, origin, connection: _Connection) -> None:
        idle = self.idle.setdefault(origin, [])
        if len(idle) < _MAX_IDLE_PER_ORIGIN:
            connection.idle_since = asyncio.get_running_loop().time()
            idle.append(connection)
            self._wake(origin)
        else:
            connection.close()

    def proxy(self, origin) -> str | None:
        """The proxy of an origin, read from the environment once per pool."""
        try:
            return self.proxies[origin]
        except KeyError:
            proxy = self.proxies[origin] = proxy_for(origin)
            return proxy

    async def connection(self, origin) -> _Connection:
        """An idle connection to `origin`, a new one if the cap allows, else the first one
        freed within the wait."""
        connection = self.take(origin)
        if connection is not None:
            return connection
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.UPSTREAM_CONNECTION_WAIT_SECONDS
        while True:
            if self.open.get(origin, 0) < self.limit:
                return await self.connect(origin)
            waiter = loop.create_future()
            queue = self.waiting.setdefault(origin, collections.deque())
            queue.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                raise ConnectionsBusy(
                    f"all {self.limit} connections to the upstream stayed busy for "
                    f"{settings.UPSTREAM_CONNECTION_WAIT_SECONDS:g} s "
                    "(UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN)"
                ) from None
            finally:
                if waiter in queue:
                    queue.remove(waiter)
                elif waiter.done() and not waiter.cancelled() and loop.time() >= deadline:
                    self._wake(origin)  # woken as the wait ran out: pass the turn on
            connection = self.take(origin)
            if connection is not None:
                return connection

    async def connect(self, origin) -> _Connection:
        """A new connection, counted against the origin's cap until it closes."""
        self.open[origin] = self.open.get(origin, 0) + 1
        try:
            connection = await _connect(origin, self.proxy(origin))
        except BaseException:
            self._closed(origin)
            raise
        if connection.closed:  # lost before it was handed over: its place is free again
            self._closed(origin)
        else:
            connection.on_lost = lambda: self._closed(origin)
        return connection

    def discard(self, origin, connection: _Connection) -> None:
        """Close `connection` and free its place at once (not when the close completes)."""
        if connection.on_lost is not None:
            connection.on_lost = None
            self.open[origin] -= 1
        connection.close()

    def _closed(self, origin) -> None:
        self.open[origin] -= 1
        self._wake(origin)

    def _wake(self, origin) -> None:
        queue = self.waiting.get(origin)
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for idle in self.idle.values():
            for connection in idle:
                connection.close()
        self.idle.clear()


_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool]" = weakref.WeakKeyDictionary()


def _pool() -> _Pool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = _Pool()
    return pool


class _TunnelHead(asyncio.Protocol):
    """Reads a proxy's answer to CONNECT, up to the end of its head."""

    def __init__(self):
        self.data = b""
        self.head: asyncio.Future = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data
        if b"\r\n\r\n" in self.data and not self.head.done():
            self.head.set_result(self.data)
        elif len(self.data) > _MAX_HEAD_BYTES and not self.head.done():
            self.head.set_exception(ConnectFailed("the proxy's answer to CONNECT is too long"))

    def connection_lost(self, exc) -> None:
        if not self.head.done():
            self.head.set_exception(ConnectFailed("the proxy closed the connection"))


async def _connect(origin, proxy: str | None) -> _Connection:
    scheme, host, port = origin
    if scheme == "unix":
        try:
            _, connection = await asyncio.get_running_loop().create_unix_connection(
                _Connection, host
            )
        except OSError as exc:
            raise ConnectFailed(f"{host}: {exc.strerror or exc}") from exc
        return connection
    try:
        addresses = await outbound_http.resolve_async(host, port, allow_private=True)
    except outbound_http.HostUnresolvable as exc:
        if proxy is None:
            raise ConnectFailed(exc.message) from exc
        addresses = [host]  # only the proxy can resolve it; a literal was judged above
    except outbound_http.HostRefused as exc:
        raise ConnectFailed(outbound_http.refusal(exc.addresses[0])) from exc
    tls = outbound_http.tls_context() if scheme == "https" else None
    failure: Exception | None = None
    for address in addresses:
        try:
            if proxy is None:
                _, connection = await asyncio.get_running_loop().create_connection(
                    _Connection, address, port, ssl=tls, server_hostname=host if tls else None
                )
            elif tls is None:
                connection = await _through_proxy(proxy)
            else:
                connection = await _tunnel(proxy, address, port, tls, host)
            return connection
        except (OSError, ssl.SSLError) as exc:
            failure = exc
    raise ConnectFailed(str(failure) or type(failure).__name__) from failure


def _proxy_parts(proxy: str) -> tuple[str, int, str | None]:
    """The proxy's host, port and Proxy-Authorization value (from credentials in its URL)."""
    url = URL(proxy)
    authorization = None
    if url.user is not None:
        token = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode("ascii")
        authorization = f"Basic {token}"
    return url.host, url.port or 80, authorization


async def _through_proxy(proxy: str) -> _Connection:
    """A connection to a proxy that takes plain http requests in absolute form."""
    host, port, _ = _proxy_parts(proxy)
    _, connection = await asyncio.get_running_loop().create_connection(_Connection, host, port)
    return connection


async def _tunnel(proxy: str, address: str, port: int, tls, host: str) -> _Connection:
    """TLS to `host` inside a CONNECT tunnel to the judged `address`, so the proxy's own DNS
    answer cannot move it elsewhere."""
    proxy_host, proxy_port, authorization = _proxy_parts(proxy)
    loop = asyncio.get_running_loop()
    transport, reader = await loop.create_connection(_TunnelHead, proxy_host, proxy_port)
    target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if authorization:
        lines.append(f"Proxy-Authorization: {authorization}")
    transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    try:
        head = await reader.head
        line = head.split(b"\r\n", 1)[0]
        status = line.split(b" ")
        if len(status) < 2 or status[1] != b"200":
            raise ConnectFailed(f"the proxy refused CONNECT: {line.decode('latin-1')}")
        connection = _Connection()
        tls_transport = await loop.start_tls(transport, connection, tls, server_hostname=host)
    except BaseException:
        transport.close()
        raise
    connection.connection_made(tls_transport)
    return connection


def _request(head: bytes, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"Content-Length: {len(body)}\r\n{_FIXED_HEADERS}"]
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
            raise HttpClientError(f"the header {name!r} holds a character HTTP does not allow")
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    try:
        return head + "".join(lines).encode("latin-1") + body
    except UnicodeEncodeError as exc:
        raise HttpClientError("a header holds characters HTTP/1.1 cannot carry") from exc


@contextlib.asynccontextmanager
async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    max_reply_bytes: int,
    socket_path: str | None = None,
) -> AsyncIterator[Response]:
    """POST `body` to `url` (which `serves`), or over the unix socket at `socket_path` with the
    URL's path and Host; the response's body is read inside the block, and raises ReplyTooLarge
    past `max_reply_bytes`."""
    origin, head = _target(url)
    if socket_path is not None:
        origin = ("unix", socket_path, 0)
    pool = _pool()
    if origin[0] == "http" and pool.proxy(origin) is not None:
        head = _proxied_head(url)
    request = _request(head, body, headers)
    connection = pool.take(origin) or await pool.connection(origin)
    loop = asyncio.get_running_loop()
    # A connection taken from the pool (a new one was never idle) that sat idle a while.
    idle_since = connection.idle_since
    stale = idle_since > 0 and loop.time() - idle_since > _STALE_AFTER_SECONDS
    try:
        try:
            response = await connection.start(request, max_reply_bytes)
        except _Dropped as exc:
            if not (stale and exc.before_answer):
                raise
            # The server timed the idle connection out as the request went out.
            pool.discard(origin, connection)
            connection = await pool.connect(origin)
            response = await connection.start(request, max_reply_bytes)
        yield response
    except BaseException:
        connection.close()
        raise
    if connection.complete and connection.reusable and not connection.closed:
        pool.give_back(origin, connection)
    else:
        connection.close()


def close_pool() -> None:
    """Close the running loop's idle connections."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        pool.close()
