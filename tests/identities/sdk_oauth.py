"""The `mcp` SDK's OAuth client provider, with a person at a browser (browser.py)."""

from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.shared.auth import OAuthClientMetadata

from tests.identities.browser import Browser, query
from tests.identities.oauth_client import REDIRECT_URI


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def sdk_provider(
    deployment, email, storage, *, server_url=None, at_consent=None, choose=None, pages=None
):
    """A provider for `server_url` (the gateway's URL unless given). At the consent page (whose
    text is added to `pages`) the person does `at_consent(browser, page)` first if given (it
    returns the page to answer on), picks the gateway `choose` (for a workspace URL), then
    allows."""
    browser = Browser(deployment.base)
    redirects = []

    async def redirect_handler(authorization_url: str) -> None:
        # The person signs in through the real login form and allows on the consent page.
        page = browser.open_consent(authorization_url, email)
        assert page.status_code == 200, page.text
        assert "Test client" in page.text
        if pages is not None:
            pages.append(page.text)
        if at_consent is not None:
            page = at_consent(browser, page)
        extra = {"gateway": choose} if choose else {}
        answer = browser.consent(page, **extra)
        assert answer.status_code == 302, answer.text
        redirects.append(answer.headers["location"])

    async def callback_handler() -> AuthorizationCodeResult:
        params = query(redirects[-1])
        return AuthorizationCodeResult(
            code=params["code"], state=params.get("state"), iss=params.get("iss")
        )

    metadata = OAuthClientMetadata(
        client_name="Test client",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(
        server_url=server_url or deployment.url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    return provider, redirects
