"""Binding a server's listening socket before the server starts, so a taken address is a
one-line reason from the command rather than a traceback from inside the server."""

import errno
import os
import socket
import stat


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


def bind_unix(path: str) -> socket.socket:
    """A unix socket bound at `path` with mode 0600, not yet listening; AddressUnavailable if it
    cannot be. A directory it creates gets mode 0700; a socket file nobody listens on any more
    is replaced, one a live process listens on is refused."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        try:
            os.makedirs(directory, mode=0o700)
        except OSError as exc:
            raise AddressUnavailable(f"{directory} cannot be created ({exc.strerror})") from exc
    if os.path.lexists(path):
        _remove_stale_socket(path)
    listener = socket.socket(socket.AF_UNIX)
    # No moment where another user could connect: the socket is created 0600.
    previous = os.umask(0o177)
    try:
        listener.bind(path)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressUnavailable(f"{path} is in use") from exc
        raise AddressUnavailable(f"{path} cannot be used ({exc.strerror or exc})") from exc
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    return listener


def _remove_stale_socket(path: str) -> None:
    if not stat.S_ISSOCK(os.lstat(path).st_mode):
        raise AddressUnavailable(f"{path} exists and is not a socket")
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)  # left by a process that is gone
            return
        except OSError as exc:
            raise AddressUnavailable(f"{path} cannot be used ({exc.strerror})") from exc
    raise AddressUnavailable(f"{path} is held by a running process")


def remove_unix(path: str, inode: int) -> None:
    """Remove the socket file bound as `inode` on the way out, unless another process
    replaced it."""
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass
