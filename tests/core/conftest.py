"""Fixtures of the outbound guard tests: a tripwire that records any connection that was made."""

import socket
import threading
import time

import pytest


class Tripwire:
    """Listens on one port of 127.0.0.1 and ::1 and records every connection and byte it gets.

    A refused form of a loopback address must leave it untouched: had the guard let the form
    through, the connection would have landed here.
    """

    def __init__(self):
        self.connections = 0
        self.received = b""
        self._sockets = []
        self._open()
        for sock in self._sockets:
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _open(self):
        for _ in range(20):
            first = socket.create_server(("127.0.0.1", 0))
            self.port = first.getsockname()[1]
            try:
                second = socket.create_server(("::1", self.port), family=socket.AF_INET6)
            except OSError:
                first.close()  # the port is taken on ::1; try another
                continue
            self._sockets = [first, second]
            return
        raise RuntimeError("no port free on both 127.0.0.1 and ::1")

    def _accept(self, sock):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed
            self.connections += 1
            conn.settimeout(1)
            try:
                while chunk := conn.recv(4096):
                    self.received += chunk
            except OSError:
                pass
            finally:
                conn.close()

    @property
    def touched(self) -> bool:
        time.sleep(0.05)  # a connection that was made has been accepted by then
        return bool(self.connections or self.received)

    def close(self):
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def tripwire():
    wire = Tripwire()
    yield wire
    wire.close()
