"""A webhook receiver for the SIEM sink and alert webhook tests: a real HTTP server on a free
loopback port, and the check of the signature a request carries."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The receiver is on loopback, which sinks and webhooks refuse unless it is allowed.
LOOPBACK = ["127.0.0.1/32"]


class Receiver:
    """An HTTP server on a free port that answers `status`, or is down after `stop()`."""

    def __init__(self):
        self.status = 200
        self.delay = 0.0
        self.attempts = 0
        self.lock = threading.Lock()
        self.accepted = []  # (path, headers, body) of every request answered 2xx
        self.port = 0
        self._server = None
        self.start()

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # The answer is fixed when the attempt is counted: a test that changes `status`
                # once it sees an attempt changes the next one, never the one in progress.
                with receiver.lock:
                    status = receiver.status
                    receiver.attempts += 1
                time.sleep(receiver.delay)
                if 200 <= status < 300:
                    receiver.accepted.append((self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def entries(self):
        return [e for _, _, body in self.accepted for e in json.loads(body)["entries"]]


def signed(key: str, headers: dict, body: bytes) -> bool:
    """Whether `key` signed `body` as the headers of its request say."""
    timestamp = headers["X-Gatehouse-Timestamp"]
    expected = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(headers["X-Gatehouse-Signature"], "sha256=" + expected.hexdigest())
