"""Small state sealed into a string a client carries (a session id, a task id): JSON encrypted
and authenticated with AES-GCM under a key derived from SECRET_KEY for each purpose, so any
worker can read it back without a lookup, and nobody else can forge or read it."""

import base64
import json
import os
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@cache
def _cipher(purpose: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gatehouse", info=purpose).derive(
        settings.SECRET_KEY.encode()
    )
    return AESGCM(key)


def seal(values: list, *, purpose: bytes, aad: bytes) -> str:
    """`values` as an opaque URL-safe string; `purpose` names the key, `aad` the kind."""
    payload = json.dumps(values, separators=(",", ":")).encode()
    nonce = os.urandom(12)
    sealed = nonce + _cipher(purpose).encrypt(nonce, payload, aad)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def unseal(token: str, *, purpose: bytes, aad: bytes):
    """The values sealed in `token`, or None if it is forged, garbled or of another kind."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return json.loads(_cipher(purpose).decrypt(raw[:12], raw[12:], aad))
    except (ValueError, InvalidTag, TypeError):
        return None
