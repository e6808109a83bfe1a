"""Fetching from a workspace's identity provider, guarded against SSRF.

A workspace admin names the issuer URL, and the discovery document names the token, userinfo
and key URLs, so every request allauth makes for single sign-on goes through `guarded_session`:
the address a connection actually reached must be public (checked on the connected socket, so a
second DNS answer cannot rebind it) unless SSO_ALLOW_PRIVATE_ISSUERS is set, no redirects are
followed, no proxy from the environment is used, and bodies are bounded by
SSO_MAX_DOCUMENT_BYTES. `check_issuer` applies the same address rule when the issuer is saved.
"""

import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from identities.oauth.client_metadata import address_is_public
from teams.errors import ValidationFailed


def address_allowed(address: str) -> bool:
    return settings.SSO_ALLOW_PRIVATE_ISSUERS or address_is_public(address)


def check_issuer(url: str) -> str:
    """The issuer URL, normalised; ValidationFailed when it may not be used."""
    url = (url or "").strip().rstrip("/")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValidationFailed("The issuer is not a valid URL.", field="issuer") from exc
    allowed_schemes = {"https", "http"} if settings.SSO_ALLOW_PRIVATE_ISSUERS else {"https"}
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise ValidationFailed("The issuer must be an https URL.", field="issuer")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationFailed(
            "The issuer must not carry credentials, a query or a fragment.", field="issuer"
        )
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationFailed(f"Could not resolve {parts.hostname}.", field="issuer") from exc
    for info in infos:
        if not address_allowed(info[4][0]):
            raise ValidationFailed(
                f"{parts.hostname} resolves to a non-public address ({info[4][0]}).",
                field="issuer",
            )
    return url


class _PublicPeer:
    """Refuses a connection whose peer address is not allowed, before anything is sent."""

    def _new_conn(self):
        sock = super()._new_conn()
        address = sock.getpeername()[0]
        if not address_allowed(address):
            sock.close()
            raise NewConnectionError(self, f"refused: {address} is not a public address")
        return sock


class _HTTPConnection(_PublicPeer, HTTPConnection):
    pass


class _HTTPSConnection(_PublicPeer, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class DocumentTooLarge(requests.RequestException):
    pass


def _bounded_body(response, *args, **kwargs):
    # Runs before requests reads the body, so at most the limit (plus one byte) is read.
    if response.is_redirect:
        response.close()
        raise requests.TooManyRedirects("the identity provider answered with a redirect")
    limit = settings.SSO_MAX_DOCUMENT_BYTES
    data = response.raw.read(limit + 1, decode_content=True)
    if len(data) > limit:
        response.close()
        raise DocumentTooLarge(f"the identity provider's answer exceeds {limit} bytes")
    response._content = data
    response._content_consumed = True
    return response


def guarded_session(timeout: float) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    adapter = _GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.hooks["response"].append(_bounded_body)
    plain_request = session.request

    def request(method, url, **kwargs):
        kwargs.setdefault("timeout", timeout)
        kwargs["allow_redirects"] = False
        return plain_request(method, url, **kwargs)

    session.request = request
    return session
