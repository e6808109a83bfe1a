"""Encryption at rest of upstream credentials: Fernet (AES-128-CBC with HMAC-SHA256).

Keys come from `CREDENTIALS_KEYS`, comma-separated. The first key encrypts; every key decrypts,
so a key is rotated by putting a new one first and running `rotate_credentials`, which
re-encrypts every stored secret with it. A value that is not a Fernet key (32 url-safe base64
bytes) is stretched into one with SHA-256, so a long random passphrase also works. Without the
setting a single key is derived from SECRET_KEY, which keeps a first run working but ties the
credentials to SECRET_KEY: set CREDENTIALS_KEYS in production.
"""

import base64
import binascii
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

# Marks what the stored text is, so a future format can be told apart.
VERSION_PREFIX = "f1:"


class UndecryptableSecret(Exception):
    """None of the configured keys opens the stored value (keys were lost or replaced)."""


def _as_fernet_key(value: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(value.encode())) == 32:
            return value.encode()
    except (binascii.Error, ValueError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest())


def configured_keys() -> tuple[str, ...]:
    keys = tuple(settings.CREDENTIALS_KEYS or ())
    if keys:
        return keys
    # Domain-separated so the credentials key is not SECRET_KEY itself.
    return (f"gatehouse.credentials:{settings.SECRET_KEY}",)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_as_fernet_key(k)) for k in keys])


def _cipher() -> MultiFernet:
    return _fernet(configured_keys())


def encrypt(payload: dict) -> str:
    """The JSON of `payload`, encrypted with the first key."""
    data = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return VERSION_PREFIX + _cipher().encrypt(data).decode()


def decrypt(stored: str) -> dict:
    if not stored.startswith(VERSION_PREFIX):
        raise UndecryptableSecret("unknown format")
    try:
        data = _cipher().decrypt(stored[len(VERSION_PREFIX) :].encode())
    except InvalidToken as exc:
        raise UndecryptableSecret("no configured key decrypts this value") from exc
    return json.loads(data)


def rotate(stored: str) -> str:
    """`stored` re-encrypted with the first key (raises UndecryptableSecret if no key opens it)."""
    if not stored.startswith(VERSION_PREFIX):
        raise UndecryptableSecret("unknown format")
    try:
        token = _cipher().rotate(stored[len(VERSION_PREFIX) :].encode())
    except InvalidToken as exc:
        raise UndecryptableSecret("no configured key decrypts this value") from exc
    return VERSION_PREFIX + token.decode()
