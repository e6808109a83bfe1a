"""Posting a batch over HTTP(S), shared by the webhook and OTLP sinks.

Only HTTPS, except plain HTTP towards an `allow_private` network (a collector on loopback).
Every address of the host must pass the outbound address rule (`core.outbound_http`), and the
request goes to an address it approved, with the host name kept for the Host header and for
TLS; redirects are not followed: a 3xx is a failure, like any answer outside 2xx. The
certificate is checked against the one trust store, the request goes through the proxy the
environment names (`outbound_http.proxy_for`), and the answer's body is never read.
"""

import httpx

from audit.sinks.base import SinkFailure
from core import outbound_http

USER_AGENT = "Gatehouse-SIEM/1"


def clean_url(endpoint: str, networks: list) -> str:
    try:
        url = httpx.URL(endpoint)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"'endpoint' is not a valid URL: {exc}.") from exc
    if url.scheme not in ("https", "http") or not url.host:
        raise ValueError("'endpoint' must be an https:// URL.")
    if url.scheme == "http" and not networks:
        raise ValueError(
            "'endpoint' must use https (plain http only to an 'allow_private' network)."
        )
    if url.userinfo:
        raise ValueError("'endpoint' must not carry credentials.")
    outbound_http.check_literal(url.host, networks=networks)
    return str(url)


def post(url: str, body: bytes, *, headers: dict, networks: list, timeout: float) -> None:
    """POST `body`; returns when the server answered 2xx, raises SinkFailure otherwise."""
    target = httpx.URL(url)
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        address = outbound_http.resolve(
            target.host, port, networks=networks, listed_only=target.scheme == "http"
        )[0]
    except outbound_http.HostRefused as exc:
        raise SinkFailure(exc.message) from exc
    host_header = target.netloc.decode("ascii")
    client = httpx.Client(
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
        verify=outbound_http.tls_context(),
        proxy=outbound_http.proxy_for(target.scheme, target.host),
    )
    try:
        with (
            client,
            client.stream(
                "POST",
                target.copy_with(host=address),
                content=body,
                headers={**headers, "Host": host_header, "User-Agent": USER_AGENT},
                extensions={"sni_hostname": target.host},
            ) as response,
        ):
            pass  # only the status matters; the body is never read
    except httpx.HTTPError as exc:
        raise SinkFailure(f"request failed: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise SinkFailure(f"answered HTTP {response.status_code}")
