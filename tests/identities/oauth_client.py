"""An OAuth client of the gateway's authorization server, run by hand: dynamic registration,
then authorization code with PKCE."""

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import httpx

from tests.identities.browser import Browser

REDIRECT_URI = "http://127.0.0.1:8976/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


class OAuthClient:
    """A client registered dynamically, that runs authorization code + PKCE by hand."""

    def __init__(self, base: str, **metadata):
        self.base = base
        body = {
            "client_name": "Test client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            **metadata,
        }
        response = httpx.post(f"{base}/oauth/register", json=body)
        assert response.status_code == 201, response.text
        self.registration = response.json()
        self.client_id = self.registration["client_id"]

    def authorize_url(self, resource: str | None, challenge: str, **extra) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        if resource:
            params["resource"] = resource
        return f"{self.base}/oauth/authorize/?{urlencode(params)}"

    def token(self, **data) -> httpx.Response:
        return httpx.post(f"{self.base}/oauth/token/", data={"client_id": self.client_id, **data})

    def tokens_for(self, email: str, resource: str) -> dict:
        """Run the whole flow as `email` for the gateway at `resource`; the token response."""
        verifier, challenge = pkce()
        answer = Browser(self.base).authorize(self.authorize_url(resource, challenge), email)
        response = self.token(
            grant_type="authorization_code",
            code=answer["code"],
            redirect_uri=REDIRECT_URI,
            code_verifier=verifier,
            resource=resource,
        )
        assert response.status_code == 200, response.text
        return response.json()
