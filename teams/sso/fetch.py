"""Fetching from a workspace's identity provider, guarded against SSRF.

A workspace admin names the issuer URL (or a SAML metadata URL), and the OpenID Connect
discovery document names the token, userinfo and key URLs, so every such request goes through
`guarded_session`: the address a connection actually reached must be public (checked on the
connected socket, so a second DNS answer cannot rebind it) unless SSO_ALLOW_PRIVATE_ISSUERS is
set, no redirects are followed, no proxy from the environment is used, and bodies are bounded by
SSO_MAX_DOCUMENT_BYTES (the machinery is core/outbound_http.py). `check_fetch_url` applies
the same address rule when the issuer or metadata URL is saved.
"""

from urllib.parse import urlsplit

import requests
from django.conf import settings

from core import outbound_http
from core.errors import ValidationFailed


def check_issuer(url: str) -> str:
    """The issuer URL, normalised; ValidationFailed when it may not be used."""
    return check_fetch_url((url or "").strip().rstrip("/"), field="issuer", what="The issuer")


def check_fetch_url(url: str, *, field: str, what: str) -> str:
    """A URL of the identity provider that the platform fetches, checked."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValidationFailed(f"{what} is not a valid URL.", field=field) from exc
    if parts.scheme not in allowed_schemes() or not parts.hostname:
        raise ValidationFailed(f"{what} must be an https URL.", field=field)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationFailed(
            f"{what} must not carry credentials, a query or a fragment.", field=field
        )
    try:
        outbound_http.resolve(
            parts.hostname, port, allow_private=settings.SSO_ALLOW_PRIVATE_ISSUERS
        )
    except outbound_http.HostUnresolvable as exc:
        raise ValidationFailed(f"Could not resolve {parts.hostname}.", field=field) from exc
    except outbound_http.HostRefused as exc:
        raise ValidationFailed(
            f"{parts.hostname} resolves to a non-public address ({exc.addresses[0]}).",
            field=field,
        ) from exc
    return url


def allowed_schemes() -> set[str]:
    return {"https", "http"} if settings.SSO_ALLOW_PRIVATE_ISSUERS else {"https"}


def guarded_session(timeout: float) -> requests.Session:
    return outbound_http.guarded_session(
        timeout=timeout,
        max_bytes=settings.SSO_MAX_DOCUMENT_BYTES,
        allow_private=settings.SSO_ALLOW_PRIVATE_ISSUERS,
        who="the identity provider",
    )
