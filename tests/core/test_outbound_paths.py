"""Every outbound path refuses every spelling of a refused address, through its own surface.

Each path is driven as its callers drive it (the API, the service, the delivery, the detector,
the fetcher) with a host in each form, and must answer its own refusal naming the address the
form stands for. The loopback forms point at a tripwire listening on 127.0.0.1 and ::1: a form
that slipped through would have connected to it.
"""

import asyncio
import ipaddress
import re

import pytest
import requests
from oauth2_provider.cimd import CIMDError

from audit.log.recorder import write_entries
from audit.models import AlertWebhook, LogSink
from audit.sinks import services as sink_services
from audit.sinks.delivery import deliver_sink
from core.outbound_http import parse_address
from identities.inbound.oauth.client_metadata import ClientMetadataFetcher
from rules.detectors.webhook import WebhookDetector
from rules.errors import InvalidRule
from servers import oauth_discovery
from servers.upstream import UpstreamSession, UpstreamUnavailable, close_http_session
from teams.sso import fetch as sso_fetch
from tests.support.api import error
from tests.support.audit_entries import call_hops
from tests.support.rules import rule

W = "/api/v1/workspaces/acme"

# (host as written in a URL, the address the resolver makes of it)
FORMS = [
    pytest.param("127.0.0.1", "127.0.0.1", id="ipv4"),
    pytest.param("2130706433", "127.0.0.1", id="decimal"),
    pytest.param("0x7f.1", "127.0.0.1", id="hex-short"),
    pytest.param("127.1", "127.0.0.1", id="short"),
    pytest.param("[::1]", "::1", id="ipv6"),
    pytest.param("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", id="ipv4-mapped"),
    pytest.param("[::127.0.0.1]", "::127.0.0.1", id="ipv4-compatible"),
    pytest.param("[64:ff9b::7f00:1]", "64:ff9b::7f00:1", id="nat64"),
    pytest.param("[2002:7f00:1::]", "2002:7f00:1::", id="6to4"),
    pytest.param(
        "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        id="teredo",
    ),
    pytest.param("[fe80::1%25lo]", "fe80::1", id="zone-id"),
    pytest.param("169.254.169.254", "169.254.169.254", id="metadata"),
    pytest.param("[fd00:ec2::254]", "fd00:ec2::254", id="metadata-ipv6"),
]
OCTAL = pytest.param("0177.0.0.1", "127.0.0.1", id="octal")
# httpx (sinks, alert and rule webhooks) refuses a leading-zero IPv4 host as an invalid URL, so
# there the octal form is refused when the URL is read, before any address is judged.
INVALID_FOR_HTTPX = pytest.param("0177.0.0.1", None, id="octal")
METADATA_FORMS = [
    pytest.param("169.254.169.254", "169.254.169.254", id="metadata"),
    pytest.param("[::ffff:169.254.169.254]", "::ffff:169.254.169.254", id="metadata-mapped"),
    pytest.param("[fd00:ec2::254]", "fd00:ec2::254", id="metadata-ipv6"),
    pytest.param("100.100.100.200", "100.100.100.200", id="metadata-alibaba"),
]


def names(message: str, address: str) -> bool:
    """True when `message` names `address`, in whatever spelling."""
    want = ipaddress.ip_address(address)
    return any(
        parse_address(token.rstrip(".")) == want
        for token in re.findall(r"[0-9A-Fa-f:.]{2,}", message)
    )


def assert_refused(message: str, address: str | None, *phrases: str) -> None:
    if address is None:
        assert "Invalid IPv4 address" in message, message
        return
    assert names(message, address), message
    assert any(phrase in message for phrase in phrases), message


def url_host(host: str) -> str:
    """The host as a syslog endpoint writes it: brackets, and a zone id not URL-encoded."""
    return host.replace("%25", "%")


# -- upstream OAuth discovery ---------------------------------------------------------------------


@pytest.mark.parametrize(("host", "address"), [*FORMS, OCTAL])
def test_upstream_oauth_discovery_refuses_every_form(settings, tripwire, host, address):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = False
    with pytest.raises(oauth_discovery.OAuthFailed) as failed:
        oauth_discovery.discover(f"https://{host}:{tripwire.port}/mcp")
    assert_refused(
        failed.value.message, address, "is not a public address", "is a cloud metadata address"
    )
    assert not tripwire.touched


@pytest.mark.parametrize(("host", "address"), METADATA_FORMS)
def test_upstream_oauth_discovery_refuses_metadata_even_when_private_is_allowed(
    settings, host, address
):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = True
    with pytest.raises(oauth_discovery.OAuthFailed) as failed:
        oauth_discovery.discover(f"http://{host}/mcp")
    assert_refused(failed.value.message, address, "is a cloud metadata address")


# -- single sign-on -------------------------------------------------------------------------------


def _sso_body(issuer: str) -> dict:
    return {
        "issuer": issuer,
        "client_id": "cid",
        "client_secret": "s3cret-value-xyz",
        "domains": ["acme.test"],
        "default_role": "member",
    }


@pytest.mark.parametrize(("host", "address"), [*FORMS, OCTAL])
def test_an_sso_issuer_in_any_form_is_refused_when_saved(api, acme, alice, tripwire, host, address):
    response = api.as_(alice).put(
        f"{W}/sso/", _sso_body(f"https://{host}:{tripwire.port}/"), format="json"
    )
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == "issuer"
    assert_refused(error(response)["detail"], address, "resolves to a non-public address")
    assert not tripwire.touched


@pytest.mark.parametrize(("host", "address"), METADATA_FORMS)
def test_an_sso_issuer_at_a_metadata_address_is_refused_even_when_private_is_allowed(
    api, acme, alice, settings, host, address
):
    settings.SSO_ALLOW_PRIVATE_ISSUERS = True
    response = api.as_(alice).put(f"{W}/sso/", _sso_body(f"http://{host}/"), format="json")
    assert response.status_code == 400, response.content
    assert_refused(error(response)["detail"], address, "resolves to a non-public address")


@pytest.mark.parametrize(("host", "address"), [*FORMS, OCTAL])
def test_sso_metadata_is_not_fetched_from_any_form(settings, tripwire, host, address):
    settings.SSO_ALLOW_PRIVATE_ISSUERS = False
    session = sso_fetch.guarded_session(timeout=2)
    with session, pytest.raises(requests.ConnectionError) as failed:
        session.get(f"https://{host}:{tripwire.port}/.well-known/openid-configuration")
    assert_refused(
        str(failed.value), address, "is not a public address", "is a cloud metadata address"
    )
    assert not tripwire.touched


# -- SIEM sinks ------------------------------------------------------------------------------------


def _endpoint(kind: str, host: str, port: int) -> str:
    if kind == "syslog":
        return f"{url_host(host)}:{port}"
    return f"https://{host}:{port}/in"


@pytest.mark.parametrize("kind", ["webhook", "otlp_http", "syslog"])
@pytest.mark.parametrize(("host", "address"), [*FORMS, OCTAL])
def test_a_sink_endpoint_in_any_form_is_refused_when_saved(
    api, acme, alice, tripwire, kind, host, address
):
    if kind != "syslog" and host == "0177.0.0.1":
        address = None  # read by httpx: see INVALID_FOR_HTTPX
    response = api.as_(alice).post(
        f"{W}/sinks/",
        {"name": "evil", "kind": kind, "endpoint": _endpoint(kind, host, tripwire.port)},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == "endpoint"
    assert_refused(
        error(response)["detail"],
        address,
        "is a private, loopback or link-local address",
        "is a cloud metadata address",
    )
    assert not LogSink.objects.exists()
    assert not tripwire.touched


# An octal host in an http(s) URL is not a URL httpx reads: it can be neither stored (refused when
# saved, above) nor posted to, so only syslog, which resolves the host itself, delivers to one.
DELIVERY_CASES = [
    pytest.param(kind, *form.values, id=f"{kind}-{form.id}")
    for kind in ("webhook", "otlp_http", "syslog")
    for form in (FORMS + [OCTAL] if kind == "syslog" else FORMS)
]


@pytest.mark.parametrize(("kind", "host", "address"), DELIVERY_CASES)
def test_a_sink_delivers_nothing_to_any_form(settings, acme, alice, tripwire, kind, host, address):
    settings.SIEM_TIMEOUT_SECONDS = 2
    sink, _ = sink_services.create_sink(
        workspace=acme, actor=alice, name="siem", kind=kind, endpoint=_endpoint(kind, "x.test", 1)
    )
    # A sink stored before its address was refused (the rule is judged again on each delivery).
    LogSink.objects.filter(pk=sink.pk).update(endpoint=_endpoint(kind, host, tripwire.port))
    write_entries(call_hops(acme))
    result = deliver_sink(sink.pk)
    assert_refused(result.error, address, "resolves to a refused address")
    assert LogSink.objects.get(pk=sink.pk).cursor_seq == 0
    assert not tripwire.touched


# -- the alert webhook ----------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "address"), [*FORMS, INVALID_FOR_HTTPX])
def test_an_alert_webhook_in_any_form_is_refused_when_saved(
    api, acme, alice, tripwire, host, address
):
    response = api.as_(alice).put(
        f"{W}/alert-webhook/",
        {"endpoint": f"https://{host}:{tripwire.port}/alerts"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert error(response)["attr"] == "endpoint"
    assert_refused(
        error(response)["detail"],
        address,
        "is a private, loopback or link-local address",
        "is a cloud metadata address",
    )
    assert not AlertWebhook.objects.exists()
    assert not tripwire.touched


@pytest.mark.parametrize(("host", "address"), FORMS)
def test_an_alert_webhook_posts_nothing_to_any_form(
    settings, api, acme, alice, tripwire, host, address
):
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 2
    client = api.as_(alice)
    created = client.put(
        f"{W}/alert-webhook/", {"endpoint": "https://alerts.example.com/in"}, format="json"
    )
    assert created.status_code == 201, created.content
    # A webhook stored before its address was refused (the rule is judged again on each post).
    AlertWebhook.objects.filter(workspace=acme).update(
        endpoint=f"https://{host}:{tripwire.port}/alerts"
    )
    answer = client.post(f"{W}/alert-webhook/test/").json()
    assert answer["ok"] is False
    assert_refused(answer["error"], address, "resolves to a refused address")
    assert not tripwire.touched


# -- the rule webhook detector --------------------------------------------------------------------


@pytest.mark.parametrize(("host", "address"), [*FORMS, INVALID_FOR_HTTPX])
def test_a_rule_webhook_in_any_form_is_refused_when_saved(host, address):
    with pytest.raises(InvalidRule) as refused:
        rule("hook", "webhook", "block", detector_config={"url": f"https://{host}/decide"})
    assert_refused(
        str(refused.value),
        address,
        "is a private, loopback or link-local address",
        "is a cloud metadata address",
    )


@pytest.mark.parametrize(("host", "address"), FORMS)
def test_a_rule_webhook_asks_nothing_of_any_form(tripwire, host, address):
    # A rule stored before its address was refused: the detector judges it again on each call.
    detector = WebhookDetector(
        {"url": f"https://{host}:{tripwire.port}/decide", "fail": "closed", "timeout_ms": 2000}
    )
    verdict = asyncio.run(detector.consult({"body": {}}))
    assert verdict.decision == "block"
    assert_refused(verdict.error, address, "resolves to a refused address")
    assert not tripwire.touched


# -- client ID metadata documents -----------------------------------------------------------------


@pytest.mark.parametrize(("host", "address"), [*FORMS, OCTAL])
def test_a_client_metadata_document_is_not_fetched_from_any_form(settings, tripwire, host, address):
    settings.OAUTH_ALLOW_PRIVATE_CLIENT_METADATA = False
    with pytest.raises(CIMDError) as refused:
        ClientMetadataFetcher().fetch(f"https://{host}:{tripwire.port}/client.json")
    assert_refused(str(refused.value), address, "resolves to a non-public address")
    assert not tripwire.touched


@pytest.mark.parametrize(("host", "address"), METADATA_FORMS)
def test_a_client_metadata_document_at_a_metadata_address_is_refused_even_when_allowed(
    settings, host, address
):
    settings.OAUTH_ALLOW_PRIVATE_CLIENT_METADATA = True
    with pytest.raises(CIMDError) as refused:
        ClientMetadataFetcher().fetch(f"https://{host}/client.json")
    assert_refused(str(refused.value), address, "resolves to a non-public address")


# -- IPv4 carried in IPv6: the metadata address on every path, however widely private is allowed --

# 169.254.169.254 as NAT64 (well-known and local-use prefixes), 6to4, SIIT and IPv4-compatible.
CARRIED_METADATA = [
    pytest.param("[64:ff9b::a9fe:a9fe]", id="nat64"),
    pytest.param("[64:ff9b:1::a9fe:a9fe]", id="nat64-local"),
    pytest.param("[2002:a9fe:a9fe::]", id="6to4"),
    pytest.param("[::ffff:0:a9fe:a9fe]", id="siit"),
    pytest.param("[::a9fe:a9fe]", id="ipv4-compatible"),
]
EVERYWHERE = ["0.0.0.0/0", "::/0"]


def _carries_metadata(message: str) -> None:
    assert "cloud metadata address" in message or "refused address" in message, message


@pytest.mark.parametrize("host", CARRIED_METADATA)
def test_carried_metadata_is_refused_by_every_save(api, acme, alice, host):
    client = api.as_(alice)
    sink = client.post(
        f"{W}/sinks/",
        {
            "name": "evil",
            "kind": "webhook",
            "endpoint": f"https://{host}/in",
            "allow_private": EVERYWHERE,
        },
        format="json",
    )
    assert sink.status_code == 400 and "cloud metadata address" in error(sink)["detail"]
    webhook = client.put(
        f"{W}/alert-webhook/",
        {"endpoint": f"https://{host}/alerts", "allow_private": EVERYWHERE},
        format="json",
    )
    assert webhook.status_code == 400 and "cloud metadata address" in error(webhook)["detail"]
    with pytest.raises(InvalidRule, match="cloud metadata address"):
        config = {"url": f"https://{host}/decide", "allow_private": EVERYWHERE}
        rule("hook", "webhook", "block", detector_config=config)
    server = client.post(
        f"{W}/servers/", {"name": "evil", "url": f"http://{host}/mcp"}, format="json"
    )
    assert server.status_code == 400, server.content
    assert error(server)["attr"] == "url"
    assert "cloud metadata address" in error(server)["detail"]


@pytest.mark.parametrize("host", CARRIED_METADATA)
def test_carried_metadata_is_refused_by_every_connection(settings, api, acme, alice, host):
    settings.SIEM_TIMEOUT_SECONDS = settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 2
    sink, _ = sink_services.create_sink(
        workspace=acme,
        actor=alice,
        name="siem",
        kind="webhook",
        endpoint="https://x.test/in",
        allow_private=EVERYWHERE,
    )
    LogSink.objects.filter(pk=sink.pk).update(endpoint=f"https://{host}/in")
    write_entries(call_hops(acme))
    _carries_metadata(deliver_sink(sink.pk).error)

    client = api.as_(alice)
    created = client.put(
        f"{W}/alert-webhook/",
        {"endpoint": "https://alerts.example.com/in", "allow_private": EVERYWHERE},
        format="json",
    )
    assert created.status_code == 201, created.content
    AlertWebhook.objects.filter(workspace=acme).update(endpoint=f"https://{host}/alerts")
    answer = client.post(f"{W}/alert-webhook/test/").json()
    assert answer["ok"] is False
    _carries_metadata(answer["error"])

    detector = WebhookDetector(
        {"url": f"https://{host}/decide", "allow_private": EVERYWHERE, "timeout_ms": 2000}
    )
    verdict = asyncio.run(detector.consult({"body": {}}))
    assert verdict.decision == "block"
    _carries_metadata(verdict.error)

    async def upstream_call():
        with pytest.raises(UpstreamUnavailable, match="cloud metadata address"):
            await UpstreamSession(f"http://{host}/mcp", {}).request("tools/list", {}, timeout=5)
        await close_http_session()

    asyncio.run(upstream_call())
