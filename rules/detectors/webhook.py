"""An external webhook decides: the call is POSTed to a service the workspace runs.

The service answers `{"decision": "pass" | "block" | "modify", "body": {...}, "reason": "..."}`
within the rule's time budget; `modify` replaces the payload with `body`. A timeout, an error
status, an unreadable answer or a refused address is a failure, and the rule's `fail` setting
says whether a failure lets the call through (`open`) or blocks it (`closed`).

Only HTTPS is used, and every address the host resolves to must pass the outbound address rule
of `core.outbound_http`: private, loopback, link-local and other non-global addresses are
refused unless the rule lists their network in `allow_private` (plain HTTP is accepted only
towards such an allow-listed network, e.g. a sidecar on loopback), and cloud metadata addresses
always are. The connection goes to the address that was checked, with the host name kept for
TLS, so a DNS answer that changes between check and connect cannot redirect it.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from typing import Any

import httpx

from core import outbound_http
from rules.detectors.base import CALL_ACTIONS, Detector, check_settings, fail
from rules.setting_fields import BOOL, CHOICE, NUMBER, STRINGS, TEXT, Setting

DECISIONS = ("pass", "block", "modify")
MAX_ANSWER_BYTES = 8 * 1024 * 1024
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class WebhookFailure(Exception):
    """The service could not be asked or did not answer usably; `reason` is safe to log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verdict:
    decision: str  # pass | block | modify
    body: Any = None
    reason: str = ""
    error: str = ""  # set when the service failed and the rule's fail setting decided


class WebhookDetector(Detector):
    key = "webhook"
    label = "External webhook"
    scope = "call"
    actions = CALL_ACTIONS
    settings = (
        Setting(
            "url",
            "Decision service URL",
            TEXT,
            help="The https:// address the call is POSTed to.",
            required=True,
            max_length=2000,
            missing="'url' is required: the HTTPS address of the decision service.",
        ),
        Setting(
            "timeout_ms",
            "Timeout (ms)",
            NUMBER,
            help="How long to wait for the answer.",
            default=1000,
            minimum=10,
            maximum=30_000,
        ),
        Setting(
            "fail",
            "When the service fails",
            CHOICE,
            default="closed",
            choices=(("closed", "Block the call"), ("open", "Let the call through")),
        ),
        Setting(
            "allow_private",
            "Private networks allowed",
            STRINGS,
            help="Networks (CIDR) the URL may reach although private, one per line, "
            "such as 127.0.0.1/32 for a sidecar.",
            default=[],
            max_length=1000,
        ),
        Setting("send_body", "Send the payload", BOOL, default=True),
    )
    is_async = True
    external = True

    @classmethod
    def clean_config(cls, config):
        config = check_settings(cls.settings, config)
        url = config["url"]
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise fail(f"'url' is not a valid URL: {exc}.", "url") from exc
        try:
            networks = outbound_http.parse_networks(config["allow_private"])
        except ValueError as exc:
            raise fail(str(exc), "allow_private") from exc
        if parsed.scheme not in ("https", "http") or not parsed.host:
            raise fail("'url' must be an https:// address.", "url")
        if parsed.scheme == "http" and not networks:
            raise fail(
                "'url' must use https (plain http only to an 'allow_private' network).", "url"
            )
        if parsed.userinfo:
            raise fail("'url' must not carry credentials.", "url")
        try:
            # A name passes: its addresses are checked on every call, when it is resolved.
            outbound_http.check_literal(parsed.host, networks=networks)
        except ValueError as exc:
            raise fail(str(exc), "url") from exc
        config["allow_private"] = [str(n) for n in networks]
        return config

    def __init__(self, config):
        super().__init__(config)
        self.url = httpx.URL(config["url"])
        self.timeout = config.get("timeout_ms", 1000) / 1000
        self.fail_open = config.get("fail", "closed") == "open"
        self.networks = outbound_http.parse_networks(list(config.get("allow_private") or ()))
        self.send_body = config.get("send_body", True)

    async def consult(self, envelope: dict) -> Verdict:
        """Ask the service; failures become the rule's fail-open or fail-closed verdict."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._ask(envelope)
        except TimeoutError:
            reason = f"no answer within {self.timeout * 1000:g} ms"
        except WebhookFailure as exc:
            reason = exc.reason
        except httpx.HTTPError as exc:
            reason = f"request failed: {type(exc).__name__}"
        return Verdict("pass" if self.fail_open else "block", error=reason)

    async def _address(self) -> str:
        port = self.url.port or (443 if self.url.scheme == "https" else 80)
        try:
            addresses = await outbound_http.resolve_async(
                self.url.host, port, networks=self.networks, listed_only=self.url.scheme == "http"
            )
        except outbound_http.HostRefused as exc:
            raise WebhookFailure(exc.message) from exc
        return addresses[0]

    async def _ask(self, envelope: dict) -> Verdict:
        address = await self._address()
        target = self.url.copy_with(host=address)
        host_header = self.url.netloc.decode("ascii")
        client = _client(outbound_http.proxy_for(self.url.scheme, self.url.host))
        async with client.stream(
            "POST",
            target,
            json=envelope,
            headers={"Host": host_header, "User-Agent": "Gatehouse-Rules/1"},
            extensions={"sni_hostname": self.url.host},
            timeout=self.timeout,
        ) as response:
            if response.status_code != 200:
                raise WebhookFailure(f"answered HTTP {response.status_code}")
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > MAX_ANSWER_BYTES:
                    raise WebhookFailure("answer too large")  # read no further
        try:
            answer = json.loads(content)
        except ValueError as exc:
            raise WebhookFailure("answer is not JSON") from exc
        decision = answer.get("decision") if isinstance(answer, dict) else None
        if decision not in DECISIONS:
            raise WebhookFailure("answer has no decision of pass, block or modify")
        body = answer.get("body")
        if decision == "modify" and not isinstance(body, dict):
            raise WebhookFailure("a 'modify' answer needs the modified body as an object")
        reason = answer.get("reason")
        return Verdict(decision, body, reason[:200] if isinstance(reason, str) else "")


def _client(proxy: str | None) -> httpx.AsyncClient:
    """One pooled client per event loop (clients cannot cross loops) and proxy, with the one
    trust store."""
    loop = asyncio.get_running_loop()
    clients = _clients.setdefault(loop, {})
    client = clients.get(proxy)
    if client is None:
        client = clients[proxy] = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            verify=outbound_http.tls_context(),
            proxy=proxy,
        )
    return client
