"""Syslog over TCP, optionally TLS: RFC 5424 messages with octet-counting framing.

Each entry is one message `<PRI>1 TIMESTAMP HOSTNAME gatehouse - HOP - BOM{export row JSON}`,
framed as `LENGTH SP MESSAGE` (RFC 6587 octet counting, the framing RFC 5425 requires over
TLS). Facility 13 (log audit); severity informational for ok, warning for blocked, error for
errors. The structured data is left empty: the row JSON carries every field, and SD-IDs of our
own would need a registered enterprise number.

A batch is one connection. It counts as accepted only once every byte was written and the
connection was closed in order: over TLS our close_notify went out after the data and the
receiver closed in turn; over TCP we half-close and wait for the receiver's end of stream. A
reset or a timeout on the way leaves the cursor where it was, so the batch is sent again.
Plain TCP is allowed only towards an `allow_private` network; over TLS the certificate is
checked against the system's CAs, or only against `ca_pem` when the sink sets one. The
connection is made by `core.outbound_http.connect`, under the outbound address rule.
"""

import contextlib
import json
import socket
import ssl

from audit.sinks.base import SinkFailure, Transport
from core import outbound_http

FACILITY = 13  # log audit
SEVERITIES = {"ok": 6, "blocked": 4, "error": 3}
BOM = "\ufeff"


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("'endpoint' must be host:port for syslog, e.g. 'siem.example.com:6514'.")
    return host.strip("[]"), int(port)


def _hostname() -> str:
    name = "".join(c for c in socket.gethostname() if 33 <= ord(c) <= 126)[:255]
    return name or "-"


def message(record: dict, *, hostname: str) -> bytes:
    priority = FACILITY * 8 + SEVERITIES.get(record.get("outcome"), 6)
    msgid = "".join(c for c in (record.get("hop") or "") if 33 <= ord(c) <= 126)[:32] or "-"
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    head = f"<{priority}>1 {record['at']} {hostname} gatehouse - {msgid} - "
    return (head + BOM + text).encode()


def frame(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b" " + payload


def _await_end_of_stream(sock: socket.socket) -> None:
    while sock.recv(4096):
        pass  # a receiver has nothing to say; whatever it sends is ignored


class SyslogTransport(Transport):
    kind = "syslog"

    @classmethod
    def clean_endpoint(cls, endpoint, networks, *, tls):
        host, port = split_endpoint(endpoint)
        if not tls and not networks:
            raise ValueError("plain TCP syslog is only allowed to an 'allow_private' network.")
        outbound_http.check_literal(host, networks=networks)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _context(self) -> ssl.SSLContext:
        if not self.sink.ca_pem and self.sink.tls_verify:
            return outbound_http.tls_context()  # the one trust store, shared: never altered
        try:
            context = ssl.create_default_context(cadata=self.sink.ca_pem or None)
        except ssl.SSLError as exc:
            raise SinkFailure("the sink's CA certificates cannot be read") from exc
        if not self.sink.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def send(self, records):
        host, port = split_endpoint(self.sink.endpoint)
        tls = self.sink.tls
        networks = outbound_http.parse_networks(self.sink.allow_private)
        hostname = _hostname()
        data = b"".join(frame(message(r, hostname=hostname)) for r in records)
        try:
            with outbound_http.connect(
                host, port, timeout=self.timeout, networks=networks, listed_only=not tls
            ) as raw:
                if tls:
                    self._send_tls(raw, host, data)
                else:
                    raw.sendall(data)
                    raw.shutdown(socket.SHUT_WR)
                    _await_end_of_stream(raw)
        except outbound_http.HostRefused as exc:
            raise SinkFailure(exc.message) from exc
        except ssl.SSLCertVerificationError as exc:
            raise SinkFailure(f"TLS certificate refused: {exc.verify_message}") from exc
        except (OSError, ssl.SSLError) as exc:
            raise SinkFailure(f"syslog connection failed: {type(exc).__name__}") from exc

    def _send_tls(self, raw: socket.socket, host: str, data: bytes) -> None:
        with self._context().wrap_socket(raw, server_hostname=host) as sock:
            sock.sendall(data)
            # A receiver may read up to our close_notify and close without sending its own.
            with contextlib.suppress(ssl.SSLEOFError):
                sock.unwrap()
