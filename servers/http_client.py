"""A lean keep-alive HTTP/1.1 client for the data plane's upstream POSTs.

Every `tools/call` costs one POST upstream. Through aiohttp that POST took more CPU than
anything else the gateway does per call (its request and response objects, cookie, tracing and
redirect machinery); written on an asyncio protocol with httptools (the parser uvicorn uses)
it costs about a third of that. The client does only what the upstream MCP session needs:

* POST a body with the caller's headers, over a pooled connection per origin (http or https,
  certificates verified as aiohttp verifies them). A connection that sat idle for a while and
  is closed by the server as the request goes out (its idle timeout crossing the request) is
  replaced once; one closed unanswered soon after its last use is an error like any other,
  since the server may have acted on the request.
* The response as `status`, case-insensitive `headers`, and its body as `read()`, `text()` or
  `content` (an `asyncio.StreamReader` of the decoded body, read line by line for SSE).
  Bodies delimited by length, by chunks or by the end of the connection; gzip and deflate.
* A connection goes back to the pool only after a complete response the server let it keep;
  one left half-read (an error, a cancelled call) is closed.

Redirects are not followed: the caller hands a redirected request to aiohttp, which does.
"""

import asyncio
import contextlib
import ssl
import weakref
import zlib
from collections.abc import AsyncIterator
from functools import lru_cache

import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# A line of an SSE stream (one event's data) can be a whole tool result.
_LINE_LIMIT = 2**26
_MAX_IDLE_PER_ORIGIN = 256
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


class _Dropped(HttpClientError):
    def __init__(self, message: str, *, before_answer: bool):
        super().__init__(message)
        self.before_answer = before_answer


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


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
        self.complete = False

    # -- the exchange -----------------------------------------------------------------------

    def start(self, request: bytes) -> asyncio.Future:
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
        except httptools.HttpParserError as exc:
            self._fail(HttpClientError(f"the upstream answered not HTTP: {exc}"))
            self.close()

    def connection_lost(self, exc) -> None:
        self.closed = True
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
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error as exc:
                self._fail(HttpClientError(f"the upstream's compressed body is broken: {exc}"))
                self.close()
                return
        if body:
            self._body.feed_data(body)

    def on_message_complete(self) -> None:
        if self._head is None or not self._head.done():
            return  # the end of an interim response
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    def _finish(self) -> None:
        self.complete = True
        if self._decoder is not None:
            rest = self._decoder.flush()
            if rest:
                self._body.feed_data(rest)
        self._body.feed_eof()

    def _fail(self, error: Exception) -> None:
        if not self._head.done():
            self._head.set_exception(error)
        elif self._body.exception() is None and not self._body.at_eof():
            self._body.set_exception(error)


class _Pool:
    """Idle connections of one event loop, per origin."""

    def __init__(self):
        self.idle: dict[tuple, list[_Connection]] = {}

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
        else:
            connection.close()

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


async def _connect(origin) -> _Connection:
    scheme, host, port = origin
    loop = asyncio.get_running_loop()
    try:
        _, connection = await loop.create_connection(
            _Connection,
            host,
            port,
            ssl=_tls() if scheme == "https" else None,
            server_hostname=host if scheme == "https" else None,
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConnectFailed(str(exc) or type(exc).__name__) from exc
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
async def post(url: str, body: bytes, headers: dict[str, str]) -> AsyncIterator[Response]:
    """POST `body` to `url` (which `serves`); the response's body is read inside the block."""
    origin, head = _target(url)
    request = _request(head, body, headers)
    pool = _pool()
    connection = pool.take(origin)
    loop = asyncio.get_running_loop()
    stale = connection is not None and loop.time() - connection.idle_since > _STALE_AFTER_SECONDS
    if connection is None:
        connection = await _connect(origin)
    try:
        try:
            response = await connection.start(request)
        except _Dropped as exc:
            if not (stale and exc.before_answer):
                raise
            # The server timed the idle connection out as the request went out.
            connection.close()
            connection = await _connect(origin)
            response = await connection.start(request)
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
