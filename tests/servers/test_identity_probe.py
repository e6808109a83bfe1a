"""The identity probe against live servers over real sockets: each answer a remote server can
give leads to its outcome, the proposed identity scheme and the evidence for it."""

import os

import pytest

from core.errors import ValidationFailed
from servers import services
from servers.identity_probe import probe
from servers.models import Server
from tests.support import node
from tests.support.processes import HOST, free_port, start_process


def _server(acme, alice, url, *, name="probed", transport="streamable_http"):
    return services.create_server(
        workspace=acme, name=name, url=url, transport=transport, actor=alice
    )


def test_a_server_that_answers_unauthenticated_needs_no_identity(
    acme, alice, catalog_server_url, catalog_handshake_url
):
    server = _server(acme, alice, catalog_server_url)
    result = services.probe_identity(server=server)
    assert (result.outcome, result.proposed_scheme) == ("none", "none")
    assert result.evidence["era"] == "modern" and result.evidence["status"] == 200
    assert result.evidence["server_name"] == "gatehouse-catalog-upstream"
    # Kept on the server row, so the page shows it without probing again.
    stored = Server.objects.get(pk=server.pk)
    assert stored.identity_probe["outcome"] == "none" and stored.identity_probed_at is not None

    handshake = probe(catalog_handshake_url)
    assert handshake.outcome == "none"
    assert (handshake.evidence["era"], handshake.evidence["protocol_version"]) == (
        "handshake",
        "2025-11-25",
    )


def test_an_open_http_sse_server_needs_no_identity(legacy_sse_url):
    result = probe(legacy_sse_url, transport="sse")
    assert result.outcome == "none", result.message
    assert result.evidence["era"] == "legacy-sse"


def test_oauth_with_dynamic_registration_needs_nothing_more(private_oauth, oauth_dynamic_upstream):
    upstream = oauth_dynamic_upstream
    result = probe(upstream.url)
    assert result.outcome == "oauth_dynamic", result.message
    assert (result.proposed_scheme, result.needs_client) == ("user_oauth", False)
    evidence = result.evidence
    assert evidence["status"] == 401
    assert "resource_metadata=" in evidence["www_authenticate"]
    assert evidence["resource_metadata_url"] == (
        f"{upstream.base}/.well-known/oauth-protected-resource/mcp"
    )
    assert evidence["resource"] == upstream.url
    assert evidence["authorization_server"] == upstream.base
    assert evidence["scopes_supported"] == ["mcp"]
    assert evidence["registration_endpoint"] == f"{upstream.base}/register"
    assert evidence["pkce_s256"] is True
    assert upstream.provider.clients == {}  # probing registers nothing


def test_oauth_without_registration_needs_a_client_entered(
    private_oauth, oauth_preregistered_upstream
):
    result = probe(oauth_preregistered_upstream.url)
    assert result.outcome == "oauth_preregistered", result.message
    assert (result.proposed_scheme, result.needs_client) == ("user_oauth", True)
    assert result.evidence["registration_endpoint"] == ""
    assert result.evidence["authorization_server"] == oauth_preregistered_upstream.base
    assert "client ID and secret" in result.message


def test_client_id_metadata_documents_need_nothing_more_once_the_platform_publishes_one(
    private_oauth, oauth_document_upstream, settings
):
    settings.OAUTH_ISSUER = ""
    unpublished = probe(oauth_document_upstream.url)
    assert unpublished.outcome == "oauth_preregistered", unpublished.message
    assert "set OAUTH_ISSUER" in unpublished.message

    settings.OAUTH_ISSUER = "https://gatehouse.example"
    published = probe(oauth_document_upstream.url)
    assert published.outcome == "oauth_dynamic", published.message
    assert (published.proposed_scheme, published.needs_client) == ("user_oauth", False)
    assert published.evidence["client_id_metadata_document_supported"] is True
    assert "https://gatehouse.example/oauth/upstream-client" in published.message


def test_a_refusal_without_oauth_metadata_asks_for_a_token(private_oauth, token_upstream):
    result = probe(token_upstream.url)
    assert result.outcome == "header_token", result.message
    assert (result.proposed_scheme, result.alternatives) == ("service_account", ["manual"])
    assert result.evidence["status"] == 401
    assert "resource_metadata_url" not in result.evidence

    legacy = probe(token_upstream.sse_url, transport="sse")
    assert legacy.outcome == "header_token", legacy.message


def test_without_private_addresses_allowed_the_well_known_guess_proves_nothing(
    settings, token_upstream
):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = False
    result = probe(token_upstream.url)
    assert result.outcome == "header_token"
    assert "not an https URL" in result.evidence["metadata_not_checked"]


def test_oauth_metadata_on_a_private_address_is_refused_unless_allowed(
    settings, oauth_dynamic_upstream
):
    settings.UPSTREAM_OAUTH_ALLOW_PRIVATE = False
    result = probe(oauth_dynamic_upstream.url)
    assert (result.outcome, result.proposed_scheme) == ("error", "")
    assert "not an https URL" in result.message
    assert "UPSTREAM_OAUTH_ALLOW_PRIVATE" in result.message

    https_loopback = oauth_dynamic_upstream.url.replace("http://", "https://")
    # The admin's own URL may be private; its TLS handshake fails against a plain http port.
    tls = probe(https_loopback)
    assert tls.outcome == "unreachable"
    assert tls.message.startswith("The TLS connection to 127.0.0.1 failed")


@pytest.mark.parametrize(
    ("url_fixture", "outcome", "message"),
    [
        ("closed_url", "unreachable", "refused the connection: nothing listens there"),
        ("web_page_url", "error", "HTTP 200 (text/html), which is not an MCP answer"),
    ],
)
def test_what_is_not_an_mcp_server_gets_a_clear_message(request, url_fixture, outcome, message):
    result = probe(request.getfixturevalue(url_fixture))
    assert result.outcome == outcome
    assert message in result.message
    assert result.proposed_scheme == ""


def test_a_host_name_that_does_not_resolve():
    result = probe("https://nowhere.invalid/mcp")
    assert result.outcome == "unreachable"
    assert result.message == "The host name nowhere.invalid does not resolve (DNS)."


def test_a_server_that_never_answers_times_out(settings, silent_url):
    settings.SERVER_PROBE_TIMEOUT_SECONDS = 0.5
    result = probe(silent_url)
    assert result.outcome == "unreachable"
    assert result.message == "127.0.0.1 did not answer within 0.5 s."


def test_only_remote_servers_are_probed(acme, alice):
    managed = services.create_server(
        workspace=acme, name="fs", kind="managed", command="mcp-fs", actor=alice
    )
    with pytest.raises(ValidationFailed, match="Only remote servers are probed"):
        services.probe_identity(server=managed)


@pytest.fixture(scope="module")
def everything_http_url():
    """The reference "everything" server over Streamable HTTP, whose answers are event streams."""
    port = free_port()
    argv = [node.node_executable(), str(node.SERVER_EVERYTHING), "streamableHttp"]
    if not node.SERVER_EVERYTHING.exists():
        pytest.skip("server-everything is not installed: run `make install`")
    process = start_process(argv, port=port, env={**os.environ, "PORT": str(port)})
    yield f"http://{HOST}:{port}/mcp"
    process.stop()


def test_an_answer_framed_as_an_event_stream_is_an_mcp_answer(everything_http_url):
    result = probe(everything_http_url)

    assert result.outcome == "none", result.message
    assert result.evidence["era"] == "handshake" and result.evidence["status"] == 200
    assert result.evidence["server_name"]
