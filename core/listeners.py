"""Binding a server's listening socket before the server starts, so a taken address is a
one-line reason from the command rather than a traceback from inside the server."""

import errno
import socket


class AddressUnavailable(Exception):
    """The address cannot be bound; the message says why in a few words."""


def bind_tcp(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening; AddressUnavailable if it cannot be."""
    if not 0 < port < 65536:
        raise AddressUnavailable(f"{port} is not a TCP port")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressUnavailable(f"{host}:{port} is in use") from exc
        raise AddressUnavailable(f"{host}:{port} cannot be used ({exc.strerror})") from exc
    return listener
