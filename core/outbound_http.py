"""HTTP sessions for URLs that someone else named, guarded against SSRF.

An identity provider's issuer, an upstream's protected resource metadata, the authorization
server it points at and every endpoint that server lists are all named by someone other than
the platform, so requests to them go through `guarded_session`: the address a connection
actually reached must be public (checked on the connected socket, so a second DNS answer cannot
rebind it) unless the caller allows private addresses, no redirects are followed, no proxy from
the environment is used, and bodies are bounded. `address_allowed` is the address rule alone.
"""

import ipaddress

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_is_public(value: str) -> bool:
    """True for a globally routable address, judging IPv4 embedded in IPv6 forms by the IPv4."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return all(part.is_global for part in ip.teredo)
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    return ip.is_global


def address_allowed(address: str, *, allow_private: bool) -> bool:
    return allow_private or address_is_public(address)


class _PublicPeer:
    """Refuses a connection whose peer address is not public, before anything is sent."""

    def _new_conn(self):
        sock = super()._new_conn()
        address = sock.getpeername()[0]
        if not address_is_public(address):
            sock.close()
            raise NewConnectionError(self, f"refused: {address} is not a public address")
        return sock


class _HTTPConnection(_PublicPeer, HTTPConnection):
    pass


class _HTTPSConnection(_PublicPeer, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class DocumentTooLarge(requests.RequestException):
    pass


def _bounded_body(limit: int, who: str):
    def hook(response, *args, **kwargs):
        # Runs before requests reads the body, so at most the limit (plus one byte) is read.
        if response.is_redirect:
            response.close()
            raise requests.TooManyRedirects(f"{who} answered with a redirect")
        data = response.raw.read(limit + 1, decode_content=True)
        if len(data) > limit:
            response.close()
            raise DocumentTooLarge(f"{who}'s answer exceeds {limit} bytes")
        response._content = data
        response._content_consumed = True
        return response

    return hook


def guarded_session(
    *, timeout: float, max_bytes: int, allow_private: bool, who: str = "the server"
) -> requests.Session:
    """A requests session under the rules above; `who` names the far end in errors."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    adapter = HTTPAdapter(max_retries=0) if allow_private else _PublicOnlyAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.hooks["response"].append(_bounded_body(max_bytes, who))
    plain_request = session.request

    def request(method, url, **kwargs):
        kwargs.setdefault("timeout", timeout)
        kwargs["allow_redirects"] = False
        return plain_request(method, url, **kwargs)

    session.request = request
    return session
