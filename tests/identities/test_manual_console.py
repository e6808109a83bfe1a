"""A person's own `manual` credential, set in the console end to end: a browser signs in to the
live platform, sets a token on "My upstream connections" (CSRF and all), and an SDK client's
call through the live gateway reaches the credential-checking upstream with it; the OAuth
consent page links to the same form and the form comes back to the consent."""

import asyncio
import html
import re

import httpx2
import pytest
from django.db import connection
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from identities.models import UpstreamCredential
from teams.models import ConfigChange
from tests.identities.browser import Browser, forms, query
from tests.identities.oauth_client import REDIRECT_URI, pkce

TOKEN = "bob-own-token-0123456789"


def _signed_in(brokered, user) -> Browser:
    browser = Browser(brokered.deployment.base)
    browser.sign_in(user.email)
    return browser


def _set_in_console(browser, brokered, page_url: str = "/w/acme/connections/", **fields):
    """Open `page_url`, fill in the assignment's form as a person would, and send it."""
    page = browser.http.get(page_url)
    assert page.status_code == 200, page.text
    action = f"/w/acme/connections/{brokered.assignment.pk}/credential/"
    (form,) = [f for f in forms(page.text) if f["action"] == action]
    assert "csrfmiddlewaretoken" in form["fields"]
    return browser.http.post(action, data={**form["fields"], "kind": "bearer", **fields})


def _status(browser, brokered) -> str:
    page = browser.http.get("/w/acme/connections/").text
    row = page.split(f'data-testid="manual-{brokered.assignment.pk}"', 1)[1].split("</p>", 1)[0]
    return re.search(r'<span class="badge[^"]*">([^<]+)</span>', row).group(1)


def test_a_token_set_in_the_console_reaches_the_upstream(brokered, bob):
    brokered.use_scheme("manual")
    pk = brokered.assignment.pk
    # Without one, the call says where to set it: the console form, and the API.
    _names, result = brokered.call(bob)
    assert result.is_error
    page_url = f"{brokered.deployment.base}/w/acme/connections/?assignment={pk}#manual-{pk}"
    assert page_url in result.content[0].text
    assert brokered.credentials_url in result.content[0].text

    browser = _signed_in(brokered, bob)
    assert _status(browser, brokered) == "not set"
    sent = _set_in_console(browser, brokered, page_url.split("#")[0], token=TOKEN)
    assert sent.status_code == 302, sent.text
    assert sent.headers["location"] == f"/w/acme/connections/?assignment={pk}#manual-{pk}"

    names, result = brokered.call(bob)
    assert "ids__whoami" in names
    assert result.content[0].text == f"Bearer {TOKEN}|-"
    page = browser.http.get("/w/acme/connections/").text
    assert _status(browser, brokered) == "your own token set"
    assert "••••6789" in page and TOKEN not in page

    # Stored encrypted: the clear text is nowhere in the row.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret, hint, details FROM identities_upstreamcredential WHERE owner_id = %s",
            [bob.pk],
        )
        (row,) = cursor.fetchall()
    assert row[0].startswith("f1:") and TOKEN not in " ".join(str(v) for v in row)
    change = ConfigChange.objects.get(action="credential.set")
    assert change.actor == bob and TOKEN not in str(change.detail)


def test_a_client_that_supports_url_elicitation_is_asked_to_open_the_form(brokered, bob):
    brokered.use_scheme("manual")
    token = brokered.deployment.token_for(bob)

    async def elicit(context, params):  # never called: the answer is an error to act on
        raise AssertionError("no elicitation request expected")

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        transport = streamable_http_client(brokered.deployment.url, http_client=http)
        async with Client(
            transport, mode="legacy", cache=None, elicitation_callback=elicit
        ) as client:
            with pytest.raises(MCPError) as asked:
                await client.call_tool("ids__whoami", {})
            return asked.value

    error = asyncio.run(scenario())
    assert error.code == -32042
    (request,) = error.error.data["elicitations"]
    pk = brokered.assignment.pk
    assert request["mode"] == "url"
    assert request["url"] == (
        f"{brokered.deployment.base}/w/acme/connections/?assignment={pk}#manual-{pk}"
    )
    assert "needs your own credential" in request["message"]


def test_replacing_and_removing_take_effect_on_the_next_call(brokered, alice, bob):
    brokered.use_scheme("manual")
    browser = _signed_in(brokered, bob)
    assert _set_in_console(browser, brokered, token=TOKEN).status_code == 302
    assert brokered.call(bob)[1].content[0].text == f"Bearer {TOKEN}|-"

    replaced = _set_in_console(browser, brokered, kind="headers", headers="X-Api-Key: key-123")
    assert replaced.status_code == 302, replaced.text
    assert brokered.call(bob)[1].content[0].text == "-|key-123"
    assert UpstreamCredential.objects.filter(owner=bob).count() == 1

    # Removing falls back to the shared credential, once an admin has set one...
    brokered.set_credential(alice, {"shared": True, "kind": "bearer", "token": "service-token"})
    assert brokered.call(bob)[1].content[0].text == "-|key-123"
    remove = f"/w/acme/connections/{brokered.assignment.pk}/credential/remove/"
    confirm = browser.http.get(remove)
    assert "Remove your own token for ids?" in confirm.text
    assert "will present the shared credential instead" in confirm.text
    (form,) = [f for f in forms(confirm.text) if f["action"] is None]
    assert browser.http.post(remove, data=form["fields"]).status_code == 302
    assert brokered.call(bob)[1].content[0].text == "Bearer service-token|-"
    assert _status(browser, brokered) == "using the shared credential"

    # ...and to the error saying where to set one, without.
    shared = UpstreamCredential.objects.get(owner__isnull=True)
    assert brokered.api.as_(alice).delete(f"{brokered.credentials_url}{shared.pk}/").status_code
    _names, result = brokered.call(bob)
    assert result.is_error and "needs your own credential" in result.content[0].text
    assert _status(browser, brokered) == "not set"


def test_bad_headers_are_a_form_error_and_nothing_changes(brokered, bob):
    brokered.use_scheme("manual")
    browser = _signed_in(brokered, bob)
    assert _set_in_console(browser, brokered, token=TOKEN).status_code == 302
    refused = _set_in_console(browser, brokered, kind="headers", headers="Content-Type: key-123")
    assert refused.status_code == 400
    assert "The header &#x27;Content-Type&#x27; cannot be set." in refused.text
    assert "key-123" not in refused.text
    assert brokered.call(bob)[1].content[0].text == f"Bearer {TOKEN}|-"


def _call_with_token(url: str, token: str):
    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            return await client.call_tool("ids__whoami", {})

    return asyncio.run(scenario())


def test_consent_links_to_the_form_which_comes_back_to_consent(brokered, oauth_client, bob):
    brokered.use_scheme("manual")
    deployment = brokered.deployment
    verifier, challenge = pkce()
    browser = Browser(deployment.base)
    consent = browser.open_consent(oauth_client.authorize_url(deployment.url, challenge), bob.email)
    assert consent.status_code == 200, consent.text
    row = consent.text.split(f'data-testid="manual-{brokered.assignment.pk}"', 1)[1]
    row = row.split("</tr>", 1)[0]
    assert ">not set</span>" in row and ">Set token</a>" in row
    link = html.unescape(re.search(r'href="([^"]+)"', row).group(1))
    back = query(link)["next"]
    assert back.startswith("/oauth/authorize/?") and query(back)["resource"] == deployment.url

    sent = _set_in_console(browser, brokered, link.split("#")[0], token=TOKEN)
    assert sent.status_code == 302, sent.text
    assert sent.headers["location"] == back
    again = browser.http.get(back)
    assert again.status_code == 200, again.text
    assert ">your own token set</span>" in again.text
    assert "is set." in again.text  # the message of the form, shown on the consent page

    answer = browser.consent(again)
    assert answer.status_code == 302, answer.text
    tokens = oauth_client.token(
        grant_type="authorization_code",
        code=query(answer.headers["location"])["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
        resource=deployment.url,
    )
    assert tokens.status_code == 200, tokens.text
    result = _call_with_token(deployment.url, tokens.json()["access_token"])
    assert result.content[0].text == f"Bearer {TOKEN}|-"
