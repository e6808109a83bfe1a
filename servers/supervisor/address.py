"""Where the supervisor listens and gateway workers reach it: MANAGED_SUPERVISOR_URL, either
`unix:///path/to.sock` (the default, under VAR_DIR) or `http://host:port` on loopback."""

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

# Requests over the socket still name a host; `.invalid` never resolves (RFC 6761).
UNIX_HOST = "supervisor.invalid"


class InvalidAddress(ValueError):
    """The address is neither a unix socket path nor an http host and port."""


@dataclass(frozen=True)
class SupervisorAddress:
    socket_path: str | None = None
    host: str = ""
    port: int = 0

    @property
    def base_url(self) -> str:
        """The URL the routes are under, as the HTTP requests name it."""
        if self.socket_path:
            return f"http://{UNIX_HOST}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __str__(self) -> str:
        return f"unix://{self.socket_path}" if self.socket_path else self.base_url


def parse(url: str) -> SupervisorAddress:
    """The address `url` names; InvalidAddress says what is wrong with it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidAddress(f"'{url}' is not a supervisor address ({exc})") from exc
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or parts.path.endswith("/"):
            raise InvalidAddress(f"'{url}' does not name a socket by its absolute path")
        return SupervisorAddress(socket_path=parts.path)
    if parts.scheme == "http" and parts.hostname and port and parts.path in ("", "/"):
        return SupervisorAddress(host=parts.hostname, port=port)
    raise InvalidAddress(
        f"'{url}' is not a supervisor address: unix:///path/to.sock or http://host:port"
    )


@lru_cache(maxsize=4)
def _parsed(url: str) -> SupervisorAddress:
    return parse(url)


def configured() -> SupervisorAddress:
    """MANAGED_SUPERVISOR_URL, parsed once per value."""
    return _parsed(settings.MANAGED_SUPERVISOR_URL)
