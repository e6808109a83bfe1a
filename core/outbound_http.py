"""The one outbound address rule (SSRF guard), and the connections made under it.

Identity providers, an upstream's OAuth metadata and every server it names, client ID metadata
documents, SIEM sinks, the alert webhook and rule webhooks are all at addresses someone other
than the platform chose, so every connection to them is judged by `address_allowed`:

* loopback, private, link-local, shared (CGNAT), unspecified, multicast, reserved and
  documentation addresses are refused, in every spelling: an IPv6 address that carries an IPv4
  one (mapped, compatible, NAT64, 6to4, teredo) is judged by the IPv4 address, a zone id is
  ignored, and a host is judged by what the resolver makes of it (2130706433, 0177.0.0.1,
  0x7f.1 and 127.1 are all 127.0.0.1);
* a path may allow private addresses: wholesale (`allow_private=True`, an operator setting for
  an identity provider on the LAN) or by network (`networks`, the `allow_private` list an admin
  gives a sink or a webhook);
* cloud metadata services are refused even then: no collector or identity provider lives there,
  and they hand out the host's credentials.

A host is resolved once (`resolve`, `resolve_async`): one refused address refuses the host, so a
mixed DNS answer cannot pick the internal one, and the caller connects to the addresses returned,
so a second answer cannot rebind the name. `connect` does that for raw sockets and checks the
peer it reached; `guarded_session` (requests) judges the host before connecting and the peer of
the connected socket before anything is sent, follows no redirect, bounds the time and the size
of every answer, and goes through the proxy `proxy_for` names, the target judged first.

Every stack verifies certificates against one trust store (`tls_context`) and reads proxies one
way (`proxy_for`): HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
"""

import asyncio
import ipaddress
import socket
import ssl
import urllib.parse
import urllib.request
from functools import lru_cache

import requests
import truststore
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

_METADATA = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2/32",  # AWS ECS task credentials
        "169.254.170.23/32",  # AWS EKS pod identity
        "fd00:ec2::254/128",  # AWS over IPv6
        "fd00:ec2::23/128",  # AWS EKS pod identity over IPv6
        "100.100.100.200/32",  # Alibaba Cloud
        "192.0.0.192/32",  # Oracle Cloud
        "168.63.129.16/32",  # Azure's wire server, a public address
    )
)
# Ranges no public service lives in, some of which the standard library calls global.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("100.64.0.0/10", "192.0.0.0/24", "64:ff9b:1::/48", "fec0::/10", "2001:db8::/32")
)
# IPv6 prefixes whose last 32 bits are the IPv4 address a packet is translated to: NAT64's
# well-known and local-use prefixes (RFC 6052, RFC 8215), and SIIT's IPv4-translated form.
_TRANSLATED = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96")
)
_COMPATIBLE = ipaddress.ip_network("::/96")


# -- the rule -------------------------------------------------------------------------------------


def parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`value` as an IP address, brackets and an IPv6 zone id dropped; None if it is not one."""
    text = str(value).strip().removeprefix("[").removesuffix("]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _carried(ip) -> tuple:
    """The IPv4 addresses a packet to `ip` is delivered to, when `ip` only carries IPv4."""
    if ip.version == 4:
        return ()
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.teredo is not None:
        return ip.teredo  # the relay and the client
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if _in(ip, _TRANSLATED) or (ip in _COMPATIBLE and int(ip) > 1):  # :: and ::1 are IPv6's own
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ()


def _in(ip, networks) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _public(ip) -> bool:
    return (
        ip.is_global
        and not ip.is_private
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_unspecified
        and not _in(ip, _NOT_PUBLIC)
    )


def is_metadata(address: str) -> bool:
    """True when `address` (in any form) reaches a cloud metadata service."""
    ip = parse_address(address)
    return ip is not None and any(_in(a, _METADATA) for a in (ip, *_carried(ip)))


def address_allowed(address: str, *, allow_private: bool = False, networks=()) -> bool:
    """Whether a connection to `address` may be made: THE address rule (see above).

    `allow_private` allows every address but a cloud metadata one; `networks` (ip_network
    objects) allow the addresses inside them, an IPv4-carrying IPv6 address by its IPv4 one.
    """
    ip = parse_address(address)
    if ip is None or is_metadata(address):
        return False
    if allow_private:
        return True
    judged = _carried(ip) or (ip,)
    if _in(ip, networks) or all(_in(a, networks) for a in judged):
        return True
    # A local-use NAT64 address reaches whatever the local translator maps: never public.
    return not _in(ip, _NOT_PUBLIC) and all(_public(a) for a in judged)


def address_listed(address: str, networks) -> bool:
    """True when `address` lies in one of `networks` (plain-text transports need that)."""
    ip = parse_address(address)
    if ip is None:
        return False
    return _in(ip, networks) or all(_in(a, networks) for a in _carried(ip) or (ip,))


def parse_networks(value) -> list:
    """An admin's `allow_private` list as networks; raises ValueError naming a bad entry."""
    if not isinstance(value, list):
        raise ValueError("'allow_private' must be a list of networks such as '127.0.0.1/32'.")
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError as exc:
            raise ValueError(f"'allow_private' entry '{item}' is not an IP network.") from exc
    return networks


def refusal(address: str) -> str:
    """Why `address` is refused, in words safe to show."""
    if is_metadata(address):
        return f"{address} is a cloud metadata address"
    return f"{address} is not a public address"


# -- TLS ------------------------------------------------------------------------------------------


def tls_context() -> ssl.SSLContext:
    """THE client TLS context of every outbound stack (the upstream client, aiohttp, httpx,
    requests): the operating system's trust store, plus OUTBOUND_CA_BUNDLE when it is set, so a
    certificate is trusted or refused the same way whichever library carries the request."""
    return _tls_context(settings.OUTBOUND_CA_BUNDLE or "")


@lru_cache(maxsize=4)
def _tls_context(bundle: str) -> ssl.SSLContext:
    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if bundle:
        context.load_verify_locations(cafile=bundle)
    return context


# -- proxies --------------------------------------------------------------------------------------


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy a request to `scheme://host` goes through: HTTPS_PROXY or HTTP_PROXY (either
    case) unless NO_PROXY names the host, read the same way for every stack. The proxy is the
    operator's and is not judged; the target still is, by whoever connects through it."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme)
    if not proxy or urllib.request.proxy_bypass_environment(_bare(host), proxies):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


# -- hosts ----------------------------------------------------------------------------------------


class HostRefused(Exception):
    """A host may not be connected to; `message` says why, `addresses` are the refused ones."""

    def __init__(self, message: str, *, host: str, addresses: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.host = host
        self.addresses = addresses


class HostUnresolvable(HostRefused):
    """The host has no address to judge (and so none to connect to)."""


def _bare(host: str) -> str:
    """`host` as the resolver takes it: no brackets, a URL's `%25` before a zone id decoded."""
    bare = str(host).strip().removeprefix("[").removesuffix("]")
    return bare.replace("%25", "%", 1) if ":" in bare else bare


def literal_address(host: str) -> str | None:
    """The address a host written as an address denotes, in any spelling the resolver reads
    (127.1, 2130706433, 0x7f.1, 0177.0.0.1, [::1], fe80::1%eth0), 127.0.0.1 for localhost;
    None for a name, which is judged when it is resolved."""
    bare = _bare(host)
    name = bare.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "127.0.0.1"
    ip = parse_address(bare)
    if ip is not None:
        return str(ip)
    try:
        infos = socket.getaddrinfo(bare, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return infos[0][4][0] if infos else None


def refused_literal(host: str, *, allow_private: bool = False, networks=()) -> str | None:
    """The refused address `host` is written as, or None (a name, or an allowed address)."""
    address = literal_address(host)
    if address is None or address_allowed(address, allow_private=allow_private, networks=networks):
        return None
    return address


def check_literal(host: str, *, networks) -> None:
    """Raises ValueError, in words for an admin, when `host` is written as a refused address.

    For settings that list their `allow_private` networks; a name passes, to be judged each time
    it is resolved.
    """
    address = refused_literal(host, networks=networks)
    if address is None:
        return
    named = f"'{host}'" if address == host else f"'{host}' ({address})"
    if is_metadata(address):
        raise ValueError(f"{named} is a cloud metadata address, which is never allowed.")
    raise ValueError(
        f"{named} is a private, loopback or link-local address; list its network in "
        "'allow_private' to allow it."
    )


def _judged(host, infos, *, allow_private, networks, listed_only) -> list[str]:
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise HostUnresolvable(f"{host} has no address", host=host)
    refused = tuple(
        a
        for a in addresses
        if not address_allowed(a, allow_private=allow_private, networks=networks)
    )
    if refused:
        raise HostRefused(
            f"{host} resolves to a refused address ({', '.join(refused)})",
            host=host,
            addresses=refused,
        )
    if listed_only:
        outside = tuple(a for a in addresses if not address_listed(a, networks))
        if outside:
            raise HostRefused(
                "an unencrypted connection is only allowed to an 'allow_private' network",
                host=host,
                addresses=outside,
            )
    return addresses


def resolve(
    host: str, port: int, *, allow_private: bool = False, networks=(), listed_only: bool = False
) -> list[str]:
    """Every address `host` resolves to, each allowed; raises HostRefused otherwise.

    `listed_only` (plain-text transports) demands that every address lie in `networks`.
    """
    try:
        infos = socket.getaddrinfo(_bare(host), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise HostUnresolvable(f"cannot resolve {host}", host=host) from exc
    return _judged(
        host, infos, allow_private=allow_private, networks=networks, listed_only=listed_only
    )


async def resolve_async(
    host: str, port: int, *, allow_private: bool = False, networks=(), listed_only: bool = False
) -> list[str]:
    """`resolve` without blocking the event loop."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(_bare(host), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise HostUnresolvable(f"cannot resolve {host}", host=host) from exc
    return _judged(
        host, infos, allow_private=allow_private, networks=networks, listed_only=listed_only
    )


def connect(
    host: str,
    port: int,
    *,
    timeout: float,
    allow_private: bool = False,
    networks=(),
    listed_only: bool = False,
) -> socket.socket:
    """A TCP connection to `host`, made only to allowed addresses, its peer checked again.

    Raises HostRefused, or the OSError of the last address tried.
    """
    rule = {"allow_private": allow_private, "networks": networks}
    addresses = resolve(host, port, listed_only=listed_only, **rule)
    failure: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            failure = exc
            continue
        peer = sock.getpeername()[0]
        if not address_allowed(peer, **rule):
            sock.close()
            raise HostRefused(f"refused: {refusal(peer)}", host=host, addresses=(peer,))
        return sock
    raise failure or OSError(f"no address of {host} could be reached")


# -- the requests session -------------------------------------------------------------------------


class _GuardedConnection:
    """Judges the host before connecting and the peer reached before anything is sent."""

    allow_private = False

    def _new_conn(self):
        try:
            resolve(self._dns_host, self.port, allow_private=self.allow_private)
        except HostUnresolvable:
            pass  # urllib3 reports a name that does not resolve the way it always does
        except HostRefused as exc:
            raise NewConnectionError(self, f"refused: {refusal(exc.addresses[0])}") from exc
        sock = super()._new_conn()
        address = sock.getpeername()[0]
        if not address_allowed(address, allow_private=self.allow_private):
            sock.close()
            raise NewConnectionError(self, f"refused: {refusal(address)}")
        return sock


def _guarded_pool(pool, connection, *, allow_private: bool):
    name = f"Guarded{connection.__name__}"
    guarded = type(name, (_GuardedConnection, connection), {"allow_private": allow_private})
    return type(f"Guarded{pool.__name__}", (pool,), {"ConnectionCls": guarded})


_POOLS = {
    allow: {
        "http": _guarded_pool(HTTPConnectionPool, HTTPConnection, allow_private=allow),
        "https": _guarded_pool(HTTPSConnectionPool, HTTPSConnection, allow_private=allow),
    }
    for allow in (False, True)
}


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, *, allow_private: bool, **kwargs):
        self._allow_private = allow_private  # read by init_poolmanager, called by __init__
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = tls_context()
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS[self._allow_private]

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        # The proxy is the operator's: its connection is not judged (the target was, first).
        proxy_kwargs["ssl_context"] = tls_context()
        return super().proxy_manager_for(proxy, **proxy_kwargs)


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


def _proxied(url: str, *, allow_private: bool) -> dict:
    """requests' `proxies` for `url`; through a proxy the target is judged here, since only the
    proxy connects to it (a name only the proxy can resolve is left to it)."""
    parts = urllib.parse.urlsplit(url)
    proxy = proxy_for(parts.scheme, parts.hostname or "")
    if proxy is None:
        return {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        resolve(parts.hostname or "", port, allow_private=allow_private)
    except HostUnresolvable:
        pass
    except HostRefused as exc:
        raise requests.ConnectionError(f"refused: {refusal(exc.addresses[0])}") from exc
    return {parts.scheme: proxy}


def guarded_session(
    *, timeout: float, max_bytes: int, allow_private: bool, who: str = "the server"
) -> requests.Session:
    """A requests session under the rule above; `who` names the far end in errors."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    adapter = _GuardedAdapter(allow_private=allow_private, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.hooks["response"].append(_bounded_body(max_bytes, who))
    plain_request = session.request

    def request(method, url, **kwargs):
        kwargs.setdefault("timeout", timeout)
        kwargs["allow_redirects"] = False
        kwargs["proxies"] = _proxied(url, allow_private=allow_private)
        return plain_request(method, url, **kwargs)

    session.request = request
    return session
