"""HTTPS webhook: each batch is one signed JSON POST.

Body: `{"workspace": <slug>, "sink": <name>, "entries": [<JSON Lines export rows>]}`, entries in
chain order, so a receiver gets what an export gives (digests included) and can dedupe on
`seq` (delivery is at-least-once). Headers: `X-Gatehouse-Timestamp` (Unix seconds) and
`X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the signing key>`.
The timestamp is inside the signature so a receiver can refuse replays of an old body.
"""

import hashlib
import hmac
import json
import time

from audit.sinks import http
from audit.sinks.base import SinkFailure, Transport
from core import outbound_http


def signature(key: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_post(url: str, payload: dict, *, key: str, networks: list, timeout: float) -> None:
    """POST `payload` as JSON, signed under `key`; raises SinkFailure unless answered 2xx.

    The alert webhook posts through here too, so both are signed and checked the same way.
    """
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    http.post(
        url,
        body,
        headers={
            "Content-Type": "application/json",
            "X-Gatehouse-Timestamp": timestamp,
            "X-Gatehouse-Signature": signature(key, timestamp, body),
        },
        networks=networks,
        timeout=timeout,
    )


class WebhookTransport(Transport):
    kind = "webhook"

    @classmethod
    def clean_endpoint(cls, endpoint, networks, *, tls):
        return http.clean_url(endpoint, networks)

    def send(self, records):
        key = self.secret.get("signing_key")
        if not key:
            raise SinkFailure("the webhook has no signing key")
        signed_post(
            self.sink.endpoint,
            {"workspace": self.sink.workspace.slug, "sink": self.sink.name, "entries": records},
            key=key,
            networks=outbound_http.parse_networks(self.sink.allow_private),
            timeout=self.timeout,
        )
