"""A `user_oauth` assignment of the OAuth-protected upstream (tests/identities/oauth_upstream.py)
on the live gateway, and a person connecting, calling and disconnecting through the console."""

import httpx

from gateways import services as gateway_services
from identities.models import UpstreamConnection
from servers import services as server_services
from tests.identities.browser import Browser, form_fields, forms
from tests.support.live_gateway import connect, run_client


class Accounts:
    """Gateway `acme/dev` with assignment `acct` of the OAuth-protected upstream, user_oauth."""

    def __init__(self, deployment, upstream):
        self.deployment, self.upstream = deployment, upstream
        alice = deployment.alice
        server = server_services.create_server(
            workspace=deployment.acme, name="accounts", url=upstream.url, actor=alice
        )
        assignment = gateway_services.assign_server(
            gateway=deployment.gateway, server=server, namespace="acct", actor=alice
        )
        self.assignment = gateway_services.update_assignment(
            assignment=assignment, identity_scheme="user_oauth", actor=alice
        )
        self.page = "/w/acme/connections/"

    def connect(self, user, subject: str | None = None) -> Browser:
        """Sign `user` in to the console, press Connect, consent at the authorization server
        as `subject`, and follow the way back; the browser, on the connections page."""
        browser = Browser(self.deployment.base)
        browser.sign_in(user.email)
        page = browser.http.get(self.page)
        action = f"{self.page}{self.assignment.pk}/connect/"
        form = next(f for f in forms(page.text) if f["action"] == action)
        sent = browser.http.post(action, data=form["fields"])
        assert sent.status_code == 302, sent.text
        at_server = httpx.get(sent.headers["location"])  # the authorization endpoint
        assert at_server.status_code == 302, at_server.text
        consent = httpx.get(at_server.headers["location"])
        fields = form_fields(consent.text)
        fields["user"] = subject or user.email.split("@")[0]
        back = httpx.post(f"{self.upstream.base}/consent", data=fields)
        assert back.status_code == 302, back.text
        location = back.headers["location"]
        assert location.startswith(self.deployment.base), location
        # Back at the platform: the workspace's callback, maybe by way of the client document's.
        for _hop in range(3):
            done = browser.http.get(location)
            assert done.status_code == 302, done.text
            location = done.headers["location"]
            if location == self.page:
                break
        assert location == self.page, location
        page = browser.http.get(self.page).text
        assert "is connected to" in page, page
        return browser

    def disconnect(self, browser: Browser) -> None:
        url = f"{self.page}{self.assignment.pk}/disconnect/"
        confirm = browser.http.get(url)
        assert confirm.status_code == 200, confirm.text
        done = browser.http.post(url, data=forms(confirm.text)[-1]["fields"])
        assert done.status_code == 302 and done.headers["location"] == self.page, done.text

    def call(self, user, tool: str = "acct__whoami", **client_options):
        token = self.deployment.token_for(user)

        async def scenario():
            async with connect(self.deployment, token, "legacy", **client_options) as client:
                return await client.call_tool(tool, {})

        return run_client(scenario())

    def connection_of(self, user) -> UpstreamConnection:
        return UpstreamConnection.objects.get(assignment=self.assignment, owner=user)
