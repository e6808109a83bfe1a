"""Per-address limits of the authorization server's open doors: registration, the token
endpoint, the consent page, console sign-in, and fetching client metadata documents."""

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import Client
from oauth2_provider.models import Application

from tests.identities.oauth_client import REDIRECT_URI
from tests.identities.test_oauth_server import _certificate, authorize_params, register

ELSEWHERE = "198.51.100.20"


@pytest.fixture
def web(db):
    return Client()


def test_registration_past_its_limit_is_429_for_that_address_only(web, settings):
    settings.RATE_LIMIT_OAUTH_REGISTER = "3/hour"
    codes = [register(web).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    refused = register(web)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    body = refused.json()
    assert body["error"] == "too_many_requests"
    assert "3/hour" in body["error_description"]
    assert Application.objects.count() == 3
    other = web.post(
        "/oauth/register",
        json.dumps({"client_name": "Other", "redirect_uris": [REDIRECT_URI]}),
        content_type="application/json",
        REMOTE_ADDR=ELSEWHERE,
    )
    assert other.status_code == 201


def test_the_token_endpoint_past_its_limit_is_429(web, settings):
    settings.RATE_LIMIT_OAUTH_TOKEN = "2/minute"
    form = {"grant_type": "authorization_code", "code": "nope", "client_id": "nobody"}
    codes = [web.post("/oauth/token/", form).status_code for _ in range(3)]
    assert 429 not in codes[:2]
    assert codes[2] == 429
    assert web.post("/oauth/token/", form, REMOTE_ADDR=ELSEWHERE).status_code != 429


def test_the_consent_page_past_its_limit_is_429(web, acme_gateway, bob, settings):
    settings.RATE_LIMIT_OAUTH_AUTHORIZE = "2/minute"
    client_id = register(web).json()["client_id"]
    web.force_login(bob)
    pages = [web.get("/oauth/authorize/", authorize_params(client_id)) for _ in range(3)]
    assert [p.status_code for p in pages] == [200, 200, 429]
    assert "Retry-After" in pages[2]


def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy(web, settings):
    settings.RATE_LIMIT_OAUTH_REGISTER = "1/hour"
    spoofed = {"HTTP_X_FORWARDED_FOR": "203.0.113.1"}
    assert register(web, **{}).status_code == 201
    # An untrusted peer cannot become someone else by naming an address.
    assert (
        web.post(
            "/oauth/register",
            json.dumps({"client_name": "x", "redirect_uris": [REDIRECT_URI]}),
            content_type="application/json",
            **spoofed,
        ).status_code
        == 429
    )
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert (
        web.post(
            "/oauth/register",
            json.dumps({"client_name": "x", "redirect_uris": [REDIRECT_URI]}),
            content_type="application/json",
            **spoofed,
        ).status_code
        == 201
    )


def test_console_sign_in_is_limited_per_address(web, bob, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login": "3/m/ip"}
    wrong = {"login": "bob@acme.test", "password": "not it"}
    codes = [
        web.post("/accounts/login/", wrong, REMOTE_ADDR=ELSEWHERE).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]


def test_failed_sign_ins_are_limited_per_address(web, bob, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "3/m/ip"}
    wrong = {"login": "bob@acme.test", "password": "not it"}
    pages = [web.post("/accounts/login/", wrong, REMOTE_ADDR="198.51.100.21") for _ in range(4)]
    assert "Too many failed login attempts" not in pages[2].content.decode()
    assert "Too many failed login attempts" in pages[3].content.decode()


# -- client metadata documents ----------------------------------------------------------------


@pytest.fixture
def counting_site(tmp_path, settings):
    """An https site on 127.0.0.1 serving a metadata document at every /client-<n>.json, and
    the paths it was asked for."""
    cert_path, key_path = _certificate(tmp_path)
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            asked.append(self.path)
            body = json.dumps(
                {
                    "client_id": f"{base}{self.path}",
                    "client_name": "Metadata client",
                    "redirect_uris": [REDIRECT_URI],
                    "token_endpoint_auth_method": "none",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "max-age=3600")
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
    settings.OUTBOUND_CA_BUNDLE = str(cert_path)
    base = f"https://127.0.0.1:{server.server_port}"
    yield base, asked
    server.shutdown()


def test_unknown_client_metadata_urls_are_fetched_at_most_the_limit(
    web, acme_gateway, bob, counting_site, settings
):
    settings.OAUTH_ALLOW_PRIVATE_CLIENT_METADATA = True
    settings.RATE_LIMIT_CLIENT_METADATA_FETCH = "2/hour"
    base, asked = counting_site
    web.force_login(bob)
    pages = [
        web.get("/oauth/authorize/", authorize_params(f"{base}/client-{n}.json")) for n in range(5)
    ]
    assert [p.status_code for p in pages] == [200, 200, 400, 400, 400]
    assert asked == ["/client-0.json", "/client-1.json"]
    # A document fetched once is kept: naming it again fetches nothing.
    again = web.get("/oauth/authorize/", authorize_params(f"{base}/client-0.json"))
    assert again.status_code == 200
    assert len(asked) == 2
    # The count is the caller's: another address may still name a new one.
    web.force_login(bob)
    other = web.get(
        "/oauth/authorize/", authorize_params(f"{base}/client-9.json"), REMOTE_ADDR=ELSEWHERE
    )
    assert other.status_code == 200
    assert asked[-1] == "/client-9.json"
