"""Where a sink may connect: public addresses, or private ones an admin allowed by network.

A log stream carries everything the gateway saw, so a sink must not become a way to reach
internal services (SSRF). Every address a sink's host resolves to must be global, unless it
lies in one of the sink's `allow_private` networks (a collector on loopback or the LAN). The
connection then goes to the address that was checked, so a DNS answer that changes between
the check and the connect cannot redirect it.
"""

import ipaddress
import socket

from audit.sinks.base import SinkFailure


def parse_networks(value) -> list:
    """The `allow_private` list as networks; raises ValueError naming a bad entry."""
    if not isinstance(value, list):
        raise ValueError("'allow_private' must be a list of networks such as '127.0.0.1/32'.")
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError as exc:
            raise ValueError(f"'allow_private' entry '{item}' is not an IP network.") from exc
    return networks


def _ip(address: str):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip


def in_networks(address: str, networks) -> bool:
    ip = _ip(address)
    return any(ip in net for net in networks if net.version == ip.version)


def address_allowed(address: str, networks) -> bool:
    ip = _ip(address)
    return in_networks(address, networks) or (ip.is_global and not ip.is_multicast)


def literal_refused(host: str, networks) -> bool:
    """True when `host` is an IP literal (or localhost) that the networks do not allow."""
    literal = "127.0.0.1" if host.lower() == "localhost" else host
    try:
        ipaddress.ip_address(literal.strip("[]"))
    except ValueError:
        return False  # a name: checked when it is resolved, on every delivery
    return not address_allowed(literal.strip("[]"), networks)


def checked_address(host: str, port: int, networks, *, private_only: bool = False) -> str:
    """Resolve `host` and return an address to connect to, if every address is allowed.

    `private_only` (plain text transports) demands that every address be in an allowed network.
    """
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SinkFailure(f"cannot resolve {host}") from exc
    addresses = [info[4][0] for info in infos]
    refused = [a for a in addresses if not address_allowed(a, networks)]
    if refused or not addresses:
        raise SinkFailure(f"{host} resolves to a refused address ({', '.join(refused)})")
    if private_only and not all(in_networks(a, networks) for a in addresses):
        raise SinkFailure("an unencrypted connection is only allowed to an 'allow_private' network")
    return addresses[0]
