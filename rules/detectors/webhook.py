"""An external webhook decides: the call is POSTed to a service the workspace runs.

The service answers `{"decision": "pass" | "block" | "modify", "body": {...}, "reason": "..."}`
within the rule's time budget; `modify` replaces the payload with `body`. A timeout, an error
status, an unreadable answer or a refused address is a failure, and the rule's `fail` setting
says whether a failure lets the call through (`open`) or blocks it (`closed`).

Only HTTPS is used, and every address the host resolves to must be public: private, loopback,
link-local and other non-global addresses are refused unless the rule lists their network in
`allow_private` (plain HTTP is accepted only towards such an allow-listed network, e.g. a sidecar
on loopback). The connection goes to the address that was checked, with the host name kept for
TLS, so a DNS answer that changes between check and connect cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import weakref
from dataclasses import dataclass
from typing import Any

import httpx

from rules.detectors.base import CALL_ACTIONS, Detector, boolean, check_keys, fail, number

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


def _networks(config) -> list:
    value = config.get("allow_private") or []
    if not isinstance(value, list):
        raise fail("'allow_private' must be a list of networks such as '127.0.0.1/32'.")
    out = []
    for item in value:
        try:
            out.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError as exc:
            raise fail(f"'allow_private' entry '{item}' is not an IP network.") from exc
    return out


def _address_allowed(address: str, networks) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in networks if net.version == ip.version):
        return True
    return ip.is_global and not ip.is_multicast


class WebhookDetector(Detector):
    key = "webhook"
    label = "External webhook"
    scope = "call"
    actions = CALL_ACTIONS
    is_async = True
    external = True

    @classmethod
    def clean_config(cls, config):
        config = check_keys(
            config,
            {
                "url": None,
                "timeout_ms": 1000,
                "fail": "closed",
                "allow_private": [],
                "send_body": True,
            },
        )
        url = config["url"]
        if not isinstance(url, str) or not url:
            raise fail("'url' is required: the HTTPS address of the decision service.")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise fail(f"'url' is not a valid URL: {exc}.") from exc
        networks = _networks(config)
        if parsed.scheme not in ("https", "http") or not parsed.host:
            raise fail("'url' must be an https:// address.")
        if parsed.scheme == "http" and not networks:
            raise fail("'url' must use https (plain http only to an 'allow_private' network).")
        if parsed.userinfo:
            raise fail("'url' must not carry credentials.")
        host = parsed.host
        literal = "127.0.0.1" if host == "localhost" else host
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            pass  # a name: its addresses are checked on every call, when it is resolved
        else:
            if not _address_allowed(literal, networks):
                raise fail(
                    f"'{host}' is a private, loopback or link-local address; list its network "
                    "in 'allow_private' to allow it."
                )
        config["timeout_ms"] = number(config, "timeout_ms", minimum=10, maximum=30_000)
        if config["fail"] not in ("open", "closed"):
            raise fail("'fail' must be 'open' (let the call through) or 'closed' (block it).")
        config["send_body"] = boolean(config, "send_body")
        config["allow_private"] = [str(n) for n in networks]
        return config

    def __init__(self, config):
        super().__init__(config)
        self.url = httpx.URL(config["url"])
        self.timeout = config.get("timeout_ms", 1000) / 1000
        self.fail_open = config.get("fail", "closed") == "open"
        self.networks = [ipaddress.ip_network(n) for n in config.get("allow_private") or ()]
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
        host = self.url.host
        port = self.url.port or (443 if self.url.scheme == "https" else 80)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise WebhookFailure(f"cannot resolve {host}") from exc
        addresses = [info[4][0] for info in infos]
        refused = [a for a in addresses if not _address_allowed(a, self.networks)]
        if refused or not addresses:
            raise WebhookFailure(f"{host} resolves to a refused address ({', '.join(refused)})")
        if self.url.scheme == "http" and not all(
            any(ipaddress.ip_address(a.split("%", 1)[0]) in n for n in self.networks)
            for a in addresses
        ):
            raise WebhookFailure("plain http is only allowed to an 'allow_private' network")
        return addresses[0]

    async def _ask(self, envelope: dict) -> Verdict:
        address = await self._address()
        target = self.url.copy_with(host=address)
        host_header = self.url.netloc.decode("ascii")
        response = await _client().post(
            target,
            json=envelope,
            headers={"Host": host_header, "User-Agent": "Gatehouse-Rules/1"},
            extensions={"sni_hostname": self.url.host},
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise WebhookFailure(f"answered HTTP {response.status_code}")
        if len(response.content) > MAX_ANSWER_BYTES:
            raise WebhookFailure("answer too large")
        try:
            answer = response.json()
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


def _client() -> httpx.AsyncClient:
    """One pooled client per event loop (clients cannot cross loops)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        _clients[loop] = client
    return client
