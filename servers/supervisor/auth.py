"""Mutual challenge-response between gateway workers and the supervisor: no secret on the wire.

Both sides derive one key from SECRET_KEY (an HMAC under a purpose string) and neither ever sends
it. A request carries `REQUEST_HEADER: <unix time> <nonce> <signature>`, the signature an HMAC
over the method, the path, the body's SHA-256, the time and a fresh random nonce; the supervisor
takes it within `WINDOW_SECONDS` of its own clock and only once (`ReplayGuard` remembers nonces
for the window). Its answer carries `PROOF_HEADER`, an HMAC over the gateway's nonce under the
supervisor's own label, which the gateway checks before it trusts the answer: a process holding
the supervisor's address sees only values bound to one request, and cannot pass for it either.
"""

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict
from functools import lru_cache

from django.conf import settings

REQUEST_HEADER = "X-Gatehouse-Supervisor-Auth"
PROOF_HEADER = "X-Gatehouse-Supervisor-Proof"
WINDOW_SECONDS = 30
# Not the label of the token earlier releases sent in clear: a captured one proves nothing.
_PURPOSE = b"gatehouse-supervisor-key-v2"
_REQUEST_LABEL = b"gatehouse-supervisor-request"
_PROOF_LABEL = b"gatehouse-supervisor-proof"
_EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()


class RequestRefused(Exception):
    """The request's authentication is missing, stale, replayed or wrong; the message says which."""


@lru_cache(maxsize=4)
def _key_for(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _PURPOSE, hashlib.sha256).digest()


def _key() -> bytes:
    """HMAC-SHA256(SECRET_KEY, _PURPOSE): the key both sides hold, never sent."""
    return _key_for(settings.SECRET_KEY)


def _signature(key: bytes, method: str, path: str, body: bytes, stamp: str, nonce: str) -> str:
    digest = hashlib.sha256(body).hexdigest() if body else _EMPTY_DIGEST
    fields = (_REQUEST_LABEL, method.encode(), path.encode(), digest.encode())
    message = b"\n".join((*fields, stamp.encode(), nonce.encode()))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _proof(key: bytes, nonce: str) -> str:
    return hmac.new(key, _PROOF_LABEL + b"\n" + nonce.encode(), hashlib.sha256).hexdigest()


def sign_request(
    method: str, path: str, body: bytes, *, now: float | None = None
) -> tuple[str, str]:
    """(the `REQUEST_HEADER` value for this one request, its nonce to check the proof with)."""
    nonce = secrets.token_hex(16)
    stamp = str(int(time.time() if now is None else now))
    return f"{stamp} {nonce} {_signature(_key(), method, path, body, stamp, nonce)}", nonce


def proof_is_valid(nonce: str, presented: str | None) -> bool:
    """Whether an answer's `PROOF_HEADER` shows it comes from a holder of the key."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), _proof(_key(), nonce).encode())


def proof_for(nonce: str) -> str:
    """The supervisor's `PROOF_HEADER` value for an authenticated request's nonce."""
    return _proof(_key(), nonce)


class ReplayGuard:
    """The supervisor's check of `REQUEST_HEADER`: signature, time window, each nonce once."""

    def __init__(self, *, window: int = WINDOW_SECONDS):
        self.window = window
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> when it may be forgotten

    def check(self, header: str | None, *, method: str, path: str, body: bytes) -> str:
        """The request's nonce, once its header is proven; RequestRefused otherwise."""
        if not header:
            raise RequestRefused(f"A {REQUEST_HEADER} header is required.")
        parts = header.split(" ")
        if len(parts) != 3 or not parts[0].isdigit() or not 16 <= len(parts[1]) <= 64:
            raise RequestRefused(f"The {REQUEST_HEADER} header is malformed.")
        stamp, nonce, presented = parts
        expected = _signature(_key(), method, path, body, stamp, nonce)
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise RequestRefused(f"The {REQUEST_HEADER} signature is not valid.")
        now = time.time()
        if abs(now - int(stamp)) > self.window:
            raise RequestRefused(f"The {REQUEST_HEADER} header is outside its time window.")
        self._forget_expired(now)
        if nonce in self._seen:
            raise RequestRefused(f"The {REQUEST_HEADER} header was already used.")
        # Kept past the window on both sides of the stamp, so a replay is refused by time after.
        self._seen[nonce] = int(stamp) + self.window + 1
        return nonce

    def _forget_expired(self, now: float) -> None:
        while self._seen:
            nonce, until = next(iter(self._seen.items()))
            if until > now:
                break
            del self._seen[nonce]


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
