"""Calling the API in tests the way a script does, with a token rather than a session, and
reading its errors, which all have one shape: `{type, errors: [{code, detail, attr}]}`."""

import re


def bearer(secret: str) -> dict:
    """The test client's keyword arguments that send `secret` as a bearer token."""
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def error(response) -> dict:
    """The one error of an error response, `{code, detail, attr}`, after checking the shape."""
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    assert len(body["errors"]) == 1, body
    assert set(body["errors"][0]) == {"code", "detail", "attr"}, body
    return body["errors"][0]


def _named(response, code: str, pattern: str) -> str:
    refused = error(response)
    assert refused["code"] == code, refused
    return re.search(pattern, refused["detail"]).group(1)


def refused_capability(response) -> str:
    """The capability a 403 says the caller's role lacks."""
    return _named(response, "capability_required", r"needs the '([^']+)' capability")


def refused_scope(response) -> str:
    """The scope a 403 says the caller's API token lacks."""
    return _named(response, "scope_required", r"do not include '([^']+)'")
