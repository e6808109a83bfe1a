"""The shapes of an upstream credential: checking what a person entered, and the headers it
becomes on the wire.

A credential is stored as `kind`, an encrypted payload (the secret parts) and clear `details`
(what is not secret: header names, token URL, client id, scope), plus a masked hint so people
can tell credentials apart without the secret ever being shown again.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import ValidationFailed

BEARER, HEADERS, CLIENT_CREDENTIALS = "bearer", "headers", "client_credentials"
# A pre-registered OAuth client of a `user_oauth` assignment: no headers of its own, it is what
# the platform authenticates as when each person connects.
OAUTH_CLIENT = "oauth_client"
KINDS = (BEARER, HEADERS, CLIENT_CREDENTIALS, OAUTH_CLIENT)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
_MAX_VALUE = 8192
_MAX_HEADERS = 20
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Headers the upstream client sets itself, or that would break the connection.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "accept",
        "connection",
        "transfer-encoding",
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    }
)


@dataclass(frozen=True)
class CheckedCredential:
    kind: str
    payload: dict  # encrypted before storage
    details: dict  # stored in clear
    hint: str


def mask(value: str) -> str:
    # The last four characters only when the value is long enough not to give much away.
    return f"••••{value[-4:]}" if len(value) >= 16 else "••••"


def _value(value, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"'{field}' must be a non-empty string.", field=field)
    value = value.strip()
    if len(value) > _MAX_VALUE:
        raise ValidationFailed(f"'{field}' is longer than {_MAX_VALUE} characters.", field=field)
    if any(ch in value for ch in "\r\n\0"):
        raise ValidationFailed(f"'{field}' must not contain line breaks.", field=field)
    return value


def _headers(headers) -> dict[str, str]:
    if not isinstance(headers, dict) or not headers:
        raise ValidationFailed(
            "'headers' must be a non-empty object of names to values.", field="headers"
        )
    if len(headers) > _MAX_HEADERS:
        raise ValidationFailed(f"At most {_MAX_HEADERS} headers.", field="headers")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ValidationFailed(f"'{name}' is not a valid header name.", field="headers")
        if name.lower() in RESERVED_HEADERS:
            raise ValidationFailed(f"The header '{name}' cannot be set.", field="headers")
        if name.lower() in {n.lower() for n in checked}:
            raise ValidationFailed(f"The header '{name}' is given twice.", field="headers")
        checked[name] = _value(value, f"headers.{name}")
    return checked


def _token_url(value) -> str:
    url = _value(value, "token_url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("'token_url' must be an http(s) URL.", field="token_url")
    return url


def check(data: dict, *, shared: bool) -> CheckedCredential:
    """Validate what was entered for a credential; raises ValidationFailed naming the field."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValidationFailed(f"'kind' must be one of {', '.join(KINDS)}.", field="kind")
    if kind == BEARER:
        token = _value(data.get("token"), "token")
        if token.lower().startswith("bearer "):
            token = token[7:].strip()  # people paste the whole header value
        return CheckedCredential(kind, {"token": token}, {}, mask(token))
    if kind == HEADERS:
        headers = _headers(data.get("headers"))
        hint = ", ".join(f"{name}: {mask(value)}" for name, value in headers.items())
        return CheckedCredential(kind, {"headers": headers}, {"names": list(headers)}, hint[:200])
    if not shared:
        what = "clients" if kind == OAUTH_CLIENT else "client credentials"
        raise ValidationFailed(
            f"OAuth {what} are a shared service account, not a personal credential.", field="kind"
        )
    if kind == OAUTH_CLIENT:
        client_id = _value(data.get("client_id"), "client_id")
        secret = data.get("client_secret") or ""
        secret = _value(secret, "client_secret") if secret else ""
        method = data.get("auth_method") or ("client_secret_basic" if secret else "none")
        if method not in AUTH_METHODS or (method == "none") != (not secret):
            raise ValidationFailed(
                "'auth_method' must be client_secret_basic or client_secret_post with a secret, "
                "none without one.",
                field="auth_method",
            )
        hint = f"{client_id[:60]}, secret {mask(secret)}" if secret else f"{client_id[:60]}, public"
        details = {"client_id": client_id, "auth_method": method}
        return CheckedCredential(kind, {"client_secret": secret}, details, hint)
    secret = _value(data.get("client_secret"), "client_secret")
    scope = data.get("scope") or ""
    if not isinstance(scope, str) or len(scope) > 1000:
        raise ValidationFailed("'scope' must be a space-separated string.", field="scope")
    details = {
        "token_url": _token_url(data.get("token_url")),
        "client_id": _value(data.get("client_id"), "client_id"),
        "scope": scope.strip(),
    }
    return CheckedCredential(kind, {"client_secret": secret}, details, mask(secret))


def static_headers(kind: str, payload: dict) -> dict[str, str]:
    """The headers a bearer or headers credential sends (client credentials need a token first)."""
    if kind == BEARER:
        return {"Authorization": f"Bearer {payload['token']}"}
    if kind == HEADERS:
        return dict(payload["headers"])
    return {}
