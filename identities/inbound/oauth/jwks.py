"""An enterprise identity provider's signing keys (JWKS), fetched through the SSRF guard.

The JWKS URL is an admin's input, so it is fetched like any identity provider document
(teams/sso/fetch.py: public addresses only unless SSO_ALLOW_PRIVATE_ISSUERS, no redirects,
bounded bodies). The key set is kept in the shared cache for JWKS_CACHE_SECONDS; an assertion
signed with a key id not in it fetches the set again at once, so a rotated key works at its
first use; at most once per REFETCH_SECONDS, so assertions naming made-up key ids cannot make
the platform hammer the identity provider.
"""

import hashlib

import jwt
import requests
from django.core.cache import cache

from teams.sso.fetch import guarded_session

JWKS_CACHE_SECONDS = 300
REFETCH_SECONDS = 10
FETCH_TIMEOUT_SECONDS = 5


class KeysUnavailable(Exception):
    """The key set could not be read, or holds no key the assertion names."""


def _cache_key(url: str, what: str = "jwks") -> str:
    return f"idjag:{what}:" + hashlib.sha256(url.encode()).hexdigest()


def _fetch(url: str) -> dict:
    try:
        response = guarded_session(FETCH_TIMEOUT_SECONDS).get(url)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise KeysUnavailable(f"The identity provider's keys could not be read: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeysUnavailable("The identity provider's JWKS document has no `keys` list.")
    cache.set(_cache_key(url), document, JWKS_CACHE_SECONDS)
    return document


def _find(document: dict, kid: str | None):
    try:
        keys = jwt.PyJWKSet.from_dict(document).keys
    except jwt.PyJWTError:
        return None
    signing = [k for k in keys if k.public_key_use in (None, "sig")]
    if kid is None:
        # Without a key id only an unambiguous set will do.
        return signing[0] if len(signing) == 1 else None
    return next((k for k in signing if k.key_id == kid), None)


def signing_key(url: str, kid: str | None) -> jwt.PyJWK:
    """The key `kid` of the set at `url`; KeysUnavailable when there is none."""
    document = cache.get(_cache_key(url))
    if document is None:
        key = _find(_fetch(url), kid)
    else:
        key = _find(document, kid)
        if key is None and cache.add(_cache_key(url, "refetched"), 1, REFETCH_SECONDS):
            key = _find(_fetch(url), kid)
    if key is None:
        raise KeysUnavailable("No key of the identity provider matches the assertion's key id.")
    return key
