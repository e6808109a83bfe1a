"""Checks that a server definition is complete for its kind, and allowed on this platform."""

from urllib.parse import urlsplit

from django.conf import settings

from core import outbound_http
from core.errors import ValidationFailed


def check_managed_command(command: str) -> None:
    """Refuse a managed server's command the operator has not listed in MANAGED_ALLOWED_COMMANDS."""
    allowed = settings.MANAGED_ALLOWED_COMMANDS
    if command in allowed:
        return
    if not allowed:
        raise ValidationFailed(
            "This platform runs no managed servers: the operator has allowed no command "
            "(MANAGED_ALLOWED_COMMANDS).",
            field="command",
        )
    raise ValidationFailed(
        f"'{command}' is not a command managed servers may run here; allowed: "
        f"{', '.join(allowed)} (MANAGED_ALLOWED_COMMANDS).",
        field="command",
    )


def normalise_server_fields(
    *, kind: str, transport: str | None, url: str, command: str, args, env, network: bool = True
):
    """Return (transport, url, command, args, env) consistent with `kind`, or raise."""
    args = list(args or [])
    env = dict(env or {})
    if not all(isinstance(a, str) for a in args):
        raise ValidationFailed("Every argument must be a string.", field="args")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ValidationFailed("Environment names and values must be strings.", field="env")
    if not network and kind != "managed":
        raise ValidationFailed(
            "Only a managed server runs in the platform's sandbox; only its network can be off.",
            field="network",
        )
    if kind == "remote":
        if not url:
            raise ValidationFailed("A remote server needs a URL.", field="url")
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValidationFailed(f"'{url}' is not an http(s) URL.", field="url")
        # Upstream servers may be private (an internal service), never a cloud metadata one;
        # a name is judged each time it is resolved (servers/http_client.py).
        address = outbound_http.refused_literal(parts.hostname, allow_private=True)
        if address is not None:
            raise ValidationFailed(
                f"'{url}' points at {outbound_http.refusal(address)}, which is never allowed.",
                field="url",
            )
        if command:
            raise ValidationFailed("A remote server has no command.", field="command")
        transport = transport or "streamable_http"
        if transport not in {"streamable_http", "sse"}:
            raise ValidationFailed(
                "A remote server speaks streamable_http or sse.", field="transport"
            )
        return transport, url, "", [], {}
    if kind in {"managed", "workstation"}:
        if not command:
            raise ValidationFailed(f"A {kind} server needs a command.", field="command")
        if url:
            raise ValidationFailed(f"A {kind} server has no URL.", field="url")
        if kind == "managed":
            check_managed_command(command)
        return "stdio", "", command, args, env
    raise ValidationFailed(f"Unknown server kind '{kind}'.", field="kind")
