"""Gateway API token format: a recognisable prefix, random body, and a digest for storage.

`gth_` (and `gto_`/`gtr_` for OAuth access and refresh tokens, see identities/inbound/oauth/) lets
secret scanners (and our own rules) recognise a leaked token; the last six characters are a
checksum so a typo is refused without a database lookup.
"""

import hashlib
import hmac
import secrets
import string
import zlib

PREFIX = "gth_"
_ALPHABET = string.ascii_letters + string.digits
_BODY_LENGTH = 40


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode()) & 0xFFFFFFFF
    out = []
    for _ in range(6):
        value, rem = divmod(value, 62)
        out.append(_ALPHABET[rem])
    return "".join(out)


def generate(prefix: str = PREFIX) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    return f"{prefix}{body}{_checksum(body)}"


def is_well_formed(token: str, prefix: str = PREFIX) -> bool:
    if not token.startswith(prefix) or len(token) != len(prefix) + _BODY_LENGTH + 6:
        return False
    body, check = token[len(prefix) : -6], token[-6:]
    return hmac.compare_digest(_checksum(body), check)


def digest(token: str) -> str:
    # The token carries 238 bits of entropy, so a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    return token[: len(PREFIX) + 6]


def lookup_cache_key(token_digest: str) -> str:
    """The data plane's cache entry for the token with this digest; revoking deletes it."""
    return f"tok:{token_digest}"
