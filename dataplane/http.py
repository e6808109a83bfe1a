"""ASGI plumbing of the MCP endpoint: answers, bodies with a size limit, Origin checks."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http.request import split_domain_port, validate_host

from core import json_text
from dataplane import protocol

JSON = [(b"content-type", b"application/json")]
SSE = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


class ClientGone(Exception):
    """The client closed its connection before it sent its whole request: an ordinary event
    (a load generator stopping, a client shutting down), answered by nobody and counted."""


class HttpError(Exception):
    def __init__(
        self, status: int, message: str, *, headers=(), code=protocol.INVALID_REQUEST, data=None
    ):
        super().__init__(message)
        self.status, self.message, self.headers, self.code = status, message, list(headers), code
        self.data = data


async def send_empty(send, status: int, body: bytes = b"", headers=()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


_COMPACT = json_text.encoder(separators=json_text.COMPACT)


async def send_json(send, status: int, message: dict, headers=()) -> None:
    body = _COMPACT(message).encode()
    await send_empty(send, status, body, [*JSON, *headers])


async def read_body(receive, headers: dict) -> bytes:
    limit = settings.MCP_MAX_BODY_BYTES
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"The request body is larger than the {limit} byte limit.")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"The request body is larger than the {limit} byte limit.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


# Host values seen, and whether they are served: every request checks one, and clients send
# the same few. Bounded, since the header is the client's to choose.
_served_netlocs: dict[str, bool] = {}
_SERVED_CACHE_SIZE = 1024


def _served(netloc: str) -> bool:
    served = _served_netlocs.get(netloc)
    if served is None:
        domain, _port = split_domain_port(netloc)
        served = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
        if len(_served_netlocs) < _SERVED_CACHE_SIZE:
            _served_netlocs[netloc] = served
    return served


@receiver(setting_changed)
def _forget_served(*, setting, **_kwargs) -> None:
    if setting == "ALLOWED_HOSTS":
        _served_netlocs.clear()


def host_allowed(host: str | None) -> bool:
    """DNS-rebinding protection: only the host names this platform serves."""
    return host is None or _served(host)


def origin_allowed(origin: str | None) -> bool:
    # A browser page may only reach us from a host we serve.
    if not origin:
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    return _served(urlsplit(origin).netloc)


def request_origin(scope, headers) -> str:
    """The origin the client reached (its Host was checked against ALLOWED_HOSTS)."""
    host = headers.get("host", "localhost")
    secure = scope.get("scheme") == "https" or (
        # The proxy that ends TLS says the client used https (PROXY_TLS_HEADER).
        settings.PROXY_TLS_HEADER
        and headers.get(settings.PROXY_TLS_HEADER.lower(), "").strip().lower() == "https"
    )
    return f"{'https' if secure else 'http'}://{host}"


def resource_metadata_url(scope, headers, workspace: str, gateway: str | None) -> str:
    """The RFC 9728 metadata of a gateway URL, or of the workspace URL when `gateway` is None."""
    origin = request_origin(scope, headers)
    path = f"/mcp/{workspace}/{gateway}" if gateway else f"/mcp/{workspace}"
    return f"{origin}/.well-known/oauth-protected-resource{path}"


def unauthenticated(scope, headers, workspace: str, gateway: str | None, secret) -> HttpError:
    """401 with the challenge that points a client at the URL's resource metadata (RFC 9728)."""
    challenge = (
        f'Bearer resource_metadata="{resource_metadata_url(scope, headers, workspace, gateway)}"'
    )
    if secret:
        challenge += ', error="invalid_token"'
    return HttpError(
        401,
        "Authentication required: send a gateway token or sign in with OAuth.",
        headers=[(b"www-authenticate", challenge.encode())],
    )
