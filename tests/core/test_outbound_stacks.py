"""Every outbound stack trusts the one trust store and goes through the environment's proxy:
httpx (sinks, alert webhooks), httpx async (rule webhooks), requests (OAuth and SSO fetches) and
urllib3 (client metadata documents),
against a local TLS server whose CA only OUTBOUND_CA_BUNDLE makes trusted, and a counting proxy.
(The upstream client and aiohttp: tests/servers/test_upstream_bounds.py.)"""

import asyncio
import ipaddress
import ssl
import threading

import pytest
import requests
from oauth2_provider.cimd import CIMDError

from audit.sinks import http as sink_http
from audit.sinks.base import SinkFailure
from core import outbound_http
from identities.inbound.oauth.client_metadata import ClientMetadataFetcher
from rules.detectors.webhook import WebhookDetector
from tests.support.certificates import issue_certificates
from tests.support.counting_proxy import CountingProxy
from tests.support.raw_http import RawServer, reply

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]
ANSWER = reply(b'{"decision":"pass","client_id":"x"}')


class InThread:
    """Runs an async context manager (a test server, a proxy) on a loop of its own thread, for
    the synchronous clients."""

    def __init__(self, manager):
        self.manager = manager
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self.manager.__aenter__(), self.loop).result()

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._stop(exc), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    async def _stop(self, exc):
        await self.manager.__aexit__(*exc)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def tls_server(tmp_path):
    """A local HTTPS server, and the CA bundle that makes it trusted."""
    ca_pem, chain = issue_certificates(tmp_path)
    bundle = tmp_path / "ca.pem"
    bundle.write_text(ca_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    with InThread(RawServer(lambda request: (ANSWER, False), tls=context)) as server:
        yield server, str(bundle)


def _sink_post(url):
    sink_http.post(url, b"{}", headers={}, networks=LOOPBACK, timeout=5)


def _requests_get(url):
    with outbound_http.guarded_session(timeout=5, max_bytes=1024, allow_private=True) as session:
        return session.get(url).status_code


def _rule_webhook(url):
    detector = WebhookDetector({"url": url, "allow_private": ["127.0.0.1/32"], "timeout_ms": 5000})
    return asyncio.run(detector.consult({"body": {}}))


def _client_metadata(url):
    document, _ = ClientMetadataFetcher().fetch(url.replace("/mcp", "/client.json"))
    return document


@pytest.fixture(autouse=True)
def _private_client_metadata(settings):
    settings.OAUTH_ALLOW_PRIVATE_CLIENT_METADATA = True


def test_every_stack_trusts_the_ca_bundle_and_only_then(tls_server, settings):
    server, bundle = tls_server
    settings.OUTBOUND_CA_BUNDLE = ""
    with pytest.raises(SinkFailure, match="ConnectError"):
        _sink_post(server.url)
    with pytest.raises(requests.exceptions.SSLError):
        _requests_get(server.url)
    verdict = _rule_webhook(server.url)
    assert verdict.decision == "block" and "ConnectError" in verdict.error
    with pytest.raises(CIMDError, match="CERTIFICATE_VERIFY_FAILED"):
        _client_metadata(server.url)
    assert server.requests == []  # no handshake got as far as a request

    settings.OUTBOUND_CA_BUNDLE = bundle
    _sink_post(server.url)
    assert _requests_get(server.url) == 200
    assert _rule_webhook(server.url).decision == "pass"
    assert _client_metadata(server.url)["client_id"] == "x"
    assert len(server.requests) == 4


def test_every_stack_goes_through_the_proxy(tls_server, settings, monkeypatch):
    server, bundle = tls_server
    settings.OUTBOUND_CA_BUNDLE = bundle
    with InThread(CountingProxy()) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        _sink_post(server.url)
        assert _requests_get(server.url) == 200
        assert _rule_webhook(server.url).decision == "pass"
        assert _client_metadata(server.url)["client_id"] == "x"
        assert proxy.tunnels == [f"127.0.0.1:{server.port}"] * 4
        assert len(server.requests) == 4

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        _sink_post(server.url)
        assert len(proxy.tunnels) == 4 and len(server.requests) == 5


def test_through_the_proxy_the_target_is_still_judged(settings, monkeypatch):
    with InThread(CountingProxy()) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with pytest.raises(SinkFailure, match="refused address"):
            sink_http.post(
                "https://[2002:a9fe:a9fe::]/in", b"{}", headers={}, networks=[], timeout=2
            )
        with pytest.raises(requests.ConnectionError, match="cloud metadata address"):
            _requests_get("https://[64:ff9b::a9fe:a9fe]/")
        verdict = _rule_webhook("https://[64:ff9b::a9fe:a9fe]/decide")
        assert verdict.decision == "block" and "refused address" in verdict.error
        assert proxy.tunnels == proxy.forwarded == []
