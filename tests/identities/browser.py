"""A person at a web browser, driven with httpx: the real sign-in form and consent page."""

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx

PASSWORD = "correct horse battery"


def _is_value(attrs: dict) -> bool:
    # Hidden fields carry the form's state; buttons and typed-in fields are the person's part.
    return attrs.get("type") in ("hidden", None)


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name") and _is_value(attrs):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


def forms(html: str) -> list[dict]:
    """Every form of the page: its action and the values it would send."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def form_fields(html: str, index: int = -1) -> dict:
    parser = _Forms()
    parser.feed(html)
    return parser.forms[index]["fields"]


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)

    def sign_in(self, email: str, next_url: str | None = None) -> httpx.Response:
        params = {"next": next_url} if next_url else {}
        page = self.http.get("/accounts/login/", params=params)
        assert page.status_code == 200, page.text
        fields = form_fields(page.text)
        fields.update(login=email, password=PASSWORD)
        response = self.http.post("/accounts/login/", params=params, data=fields)
        assert response.status_code == 302, response.text
        return response

    def open_consent(self, authorize_url: str, email: str) -> httpx.Response:
        """Follow the authorization URL, signing in on the way; the consent page (or error)."""
        response = self.http.get(authorize_url)
        if response.status_code == 302 and "/accounts/login/" in response.headers["location"]:
            next_url = query(response.headers["location"])["next"]
            signed_in = self.sign_in(email, next_url=next_url)
            response = self.http.get(signed_in.headers["location"])
        return response

    def consent(self, page: httpx.Response, allow: bool = True, **choices) -> httpx.Response:
        """Answer the consent page; `choices` are the person's picks (`gateway="dev"`)."""
        fields = {**form_fields(page.text), **choices}
        if allow:
            fields["allow"] = "Authorize"
        return self.http.post(str(page.url), data=fields)

    def authorize(self, authorize_url: str, email: str) -> dict:
        """Sign in, allow, and return the parameters of the redirect to the client."""
        page = self.open_consent(authorize_url, email)
        assert page.status_code == 200, page.text
        answer = self.consent(page)
        assert answer.status_code == 302, answer.text
        return query(answer.headers["location"])
