"""Client ID metadata documents: fetching a client's own description from its https client id.

The URL is named by whoever starts an authorization, so the fetch is guarded against SSRF:
https only, every resolved address must pass the outbound address rule of core/outbound_http.py
(public; private ones too if the admin set OAUTH_ALLOW_PRIVATE_CLIENT_METADATA; a cloud metadata
address never), the connection goes to the address that was checked (no second lookup to
rebind; through the environment's proxy, the CONNECT tunnel goes to that address), no redirects
are followed, and the body and the time are bounded (CIMD_MAX_DOCUMENT_SIZE,
CIMD_FETCH_TIMEOUT_SECONDS).
Each fetch counts against the address of the caller that named the URL
(RATE_LIMIT_CLIENT_METADATA_FETCH): past it, no request leaves the platform. A document fetched
once is kept by django-oauth-toolkit as the client's row until its max-age, so only unknown or
stale URLs are fetched at all.
django-oauth-toolkit then checks that the document's `client_id` equals the URL and registers
its redirect URIs, against which the authorization request is matched.
"""

import time
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.settings import oauth2_settings

from core import outbound_http, rate_limiting


def _checked_url(client_id: str):
    try:
        parts = urlsplit(client_id)
        port = parts.port or 443
    except ValueError as exc:
        raise CIMDError("the client id is not a valid URL") from exc
    if parts.scheme != "https" or not parts.hostname:
        raise CIMDError("the client id must be an https URL")
    if parts.username or parts.password or parts.fragment:
        raise CIMDError("the client id must not carry credentials or a fragment")
    if not parts.path.strip("/") or any(s in (".", "..") for s in parts.path.split("/")):
        raise CIMDError("the client id must have a plain path")
    return parts, port


def _addresses(hostname: str, port: int) -> list[str]:
    # One refused address refuses the host: a mixed answer must not pick the internal one.
    try:
        return outbound_http.resolve(
            hostname, port, allow_private=settings.OAUTH_ALLOW_PRIVATE_CLIENT_METADATA
        )
    except outbound_http.HostUnresolvable as exc:
        raise CIMDError(f"could not resolve {hostname}") from exc
    except outbound_http.HostRefused as exc:
        raise CIMDError(
            f"{hostname} resolves to a non-public address ({exc.addresses[0]})"
        ) from exc


def _pool(address: str, port: int, hostname: str, remaining: float):
    """A pool to the checked address, directly or through the proxy; SNI and the certificate
    check use the name."""
    options = {
        "timeout": urllib3.Timeout(total=remaining),
        "retries": False,
        "maxsize": 1,
        "ssl_context": outbound_http.tls_context(),
        "server_hostname": hostname,
        "assert_hostname": hostname,
    }
    proxy = outbound_http.proxy_for("https", hostname)
    if proxy is None:
        return urllib3.HTTPSConnectionPool(host=address, port=port, **options)
    manager = urllib3.ProxyManager(proxy)
    return manager.connection_from_host(address, port, scheme="https", pool_kwargs=options)


class ClientMetadataFetcher(SafeMetadataFetcher):
    def fetch(self, client_id):
        parts, port = _checked_url(client_id)
        caller = rate_limiting.current_ip.get() or "unknown"
        refusal = rate_limiting.hit(
            settings.RATE_LIMIT_CLIENT_METADATA_FETCH, "client-metadata", caller
        )
        if refusal is not None:
            raise CIMDError(
                f"too many client metadata documents fetched for your address (limit "
                f"{refusal.rate}); retry in {refusal.retry_after} seconds"
            )
        addresses = _addresses(parts.hostname, port)
        timeout = oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        deadline = time.monotonic() + timeout
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        failure = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Connect to the checked address; SNI, certificate and Host use the name.
            pool = _pool(address, port, parts.hostname, remaining)
            try:
                response = pool.urlopen(
                    "GET", path, headers=headers, redirect=False, preload_content=False
                )
                try:
                    # Status 200 only (so no redirect), JSON only, at most CIMD_MAX_DOCUMENT_SIZE.
                    return self._read_document(response)
                finally:
                    response.release_conn()
            except urllib3.exceptions.HTTPError as exc:
                failure = exc
            finally:
                pool.close()
        raise CIMDError(f"could not fetch the client metadata document: {failure}")
