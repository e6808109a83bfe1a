"""The authorization server through its HTTP surface: discovery, registration, authorization."""

import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client
from oauth2_provider.models import Application, Grant

from core.outbound_http import address_allowed
from tests.identities.browser import form_fields, query
from tests.identities.oauth_client import REDIRECT_URI, pkce

RESOURCE = "http://testserver/mcp/acme/dev"


@pytest.fixture
def web(db):
    return Client()


def register(web, **metadata):
    body = {"client_name": "Editor", "redirect_uris": [REDIRECT_URI], **metadata}
    return web.post("/oauth/register", json.dumps(body), content_type="application/json")


def authorize_params(client_id, **extra):
    _verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": RESOURCE,
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def test_authorization_server_metadata(web):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        data = web.get(path).json()
        assert data["issuer"] == "http://testserver"
        assert data["authorization_endpoint"] == "http://testserver/oauth/authorize/"
        assert data["token_endpoint"] == "http://testserver/oauth/token/"
        assert data["registration_endpoint"] == "http://testserver/oauth/register"
        assert data["revocation_endpoint"] == "http://testserver/oauth/revoke/"
        assert data["code_challenge_methods_supported"] == ["S256"]
        assert data["grant_types_supported"] == [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ]
        assert data["response_types_supported"] == ["code"]
        assert "none" in data["token_endpoint_auth_methods_supported"]
        assert data["client_id_metadata_document_supported"] is True
        assert data["authorization_response_iss_parameter_supported"] is True


def test_protected_resource_metadata_per_gateway(web, acme_gateway):
    response = web.get("/.well-known/oauth-protected-resource/mcp/acme/dev")
    assert response.status_code == 200
    data = response.json()
    assert data["resource"] == RESOURCE
    assert data["authorization_servers"] == ["http://testserver"]
    assert data["scopes_supported"] == ["mcp"]
    assert data["resource_name"] == "Developer tools"
    missing = web.get("/.well-known/oauth-protected-resource/mcp/acme/nope")
    assert missing.status_code == 404


def test_registration_of_public_and_secret_post_clients(web):
    public = register(web, token_endpoint_auth_method="none")
    assert public.status_code == 201
    assert public.json()["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in public.json()
    confidential = register(web, token_endpoint_auth_method="client_secret_post")
    assert confidential.status_code == 201
    assert confidential.json()["token_endpoint_auth_method"] == "client_secret_post"
    secret = confidential.json()["client_secret"]
    stored = Application.objects.get(client_id=confidential.json()["client_id"])
    assert stored.client_secret != secret  # hashed
    bad = web.post("/oauth/register", "{not json", content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client_metadata"


def test_authorize_sends_the_person_to_sign_in_first(web, acme_gateway):
    client_id = register(web, token_endpoint_auth_method="none").json()["client_id"]
    response = web.get("/oauth/authorize/", authorize_params(client_id))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/oauth/authorize/")


def test_consent_names_client_and_gateway_and_omitted_scope_is_tolerated(web, acme_gateway, bob):
    client_id = register(web, token_endpoint_auth_method="none").json()["client_id"]
    web.force_login(bob)
    page = web.get("/oauth/authorize/", authorize_params(client_id))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Editor" in html and "Developer tools" in html and "acme/dev" in html
    fields = form_fields(html)
    assert fields["scope"] == "mcp"
    answer = web.post("/oauth/authorize/?" + page.request["QUERY_STRING"], {**fields, "allow": "1"})
    assert answer.status_code == 302
    params = query(answer["Location"])
    assert answer["Location"].startswith(REDIRECT_URI)
    assert params["state"] == "xyz" and params["iss"] == "http://testserver" and params["code"]


def test_a_person_not_provisioned_is_told_and_cannot_allow(web, acme_gateway, carol):
    client_id = register(web, token_endpoint_auth_method="none").json()["client_id"]
    web.force_login(carol)
    page = web.get("/oauth/authorize/", authorize_params(client_id))
    assert page.status_code == 200
    assert "not provisioned" in page.content.decode()
    fields = form_fields(page.content.decode())
    answer = web.post("/oauth/authorize/", {**fields, "allow": "1"})
    assert answer.status_code == 403
    assert not Grant.objects.exists()


def test_pkce_is_required_and_plain_is_refused(web, acme_gateway, bob):
    client_id = register(web, token_endpoint_auth_method="none").json()["client_id"]
    web.force_login(bob)
    missing = web.get(
        "/oauth/authorize/",
        authorize_params(client_id, code_challenge=None, code_challenge_method=None),
    )
    assert missing.status_code == 302
    assert query(missing["Location"])["error"] == "invalid_request"
    page = web.get("/oauth/authorize/", authorize_params(client_id, code_challenge_method="plain"))
    answer = web.post("/oauth/authorize/", {**form_fields(page.content.decode()), "allow": "1"})
    assert answer.status_code == 302
    assert query(answer["Location"])["error"] == "invalid_request"
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "resource",
    [None, "http://testserver/mcp/acme/nope", "https://elsewhere.example/mcp/acme/dev"],
)
def test_the_resource_must_name_one_gateway_here(web, acme_gateway, bob, resource):
    client_id = register(web, token_endpoint_auth_method="none").json()["client_id"]
    web.force_login(bob)
    params = authorize_params(client_id)
    params.pop("resource")
    if resource:
        params["resource"] = resource
    response = web.get("/oauth/authorize/", params)
    assert response.status_code == 302
    assert query(response["Location"])["error"] == "invalid_target"


# -- client ID metadata documents --------------------------------------------------------------


def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def metadata_site(tmp_path, settings):
    """An https site on 127.0.0.1 serving a client's metadata document at /client.json."""
    cert_path, key_path = _certificate(tmp_path)
    documents = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The fetch trusts this site's certificate, and only it.
    settings.OUTBOUND_CA_BUNDLE = str(cert_path)
    client_id = f"https://127.0.0.1:{server.server_port}/client.json"
    documents["/client.json"] = {
        "client_id": client_id,
        "client_name": "Metadata client",
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
    }
    yield client_id
    server.shutdown()


def test_a_client_id_at_a_private_address_is_refused(web, acme_gateway, bob, metadata_site, caplog):
    web.force_login(bob)
    with caplog.at_level("INFO", logger="oauth2_provider.cimd"):
        response = web.get("/oauth/authorize/", authorize_params(metadata_site))
    assert response.status_code == 400
    assert "Invalid client_id" in response.content.decode()
    assert "non-public address" in caplog.text
    assert not Application.objects.filter(client_id=metadata_site).exists()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("2606:4700::1111", True),
    ],
)
def test_only_public_addresses_pass(address, public):
    assert address_allowed(address) is public


def test_a_client_metadata_document_is_fetched_when_allowed(
    web, acme_gateway, bob, metadata_site, settings
):
    settings.OAUTH_ALLOW_PRIVATE_CLIENT_METADATA = True
    web.force_login(bob)
    page = web.get("/oauth/authorize/", authorize_params(metadata_site))
    assert page.status_code == 200, page.content
    assert "Metadata client" in page.content.decode()
    application = Application.objects.get(client_id=metadata_site)
    assert application.client_type == Application.CLIENT_PUBLIC
    # A redirect URI the document does not list is refused.
    other = web.get(
        "/oauth/authorize/", authorize_params(metadata_site, redirect_uri="http://evil.test/cb")
    )
    assert other.status_code == 400
