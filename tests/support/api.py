"""Calling the API in tests the way a script does, with a token rather than a session."""


def bearer(secret: str) -> dict:
    """The test client's keyword arguments that send `secret` as a bearer token."""
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
