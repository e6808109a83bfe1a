"""Checks that a server definition is complete for its kind, and allowed on this platform."""

import re
import unicodedata
from typing import NamedTuple
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


# The names a workstation's environment may pass to a server: portable environment names.
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ENV_KEYS = 50
SCOPES = ("personal", "shared")


class ServerFields(NamedTuple):
    transport: str
    url: str
    command: str
    args: list
    env: dict
    scope: str
    env_keys: list


def check_env_keys(env_keys) -> list[str]:
    """The names a workstation server takes from the workstation's environment, or raise."""
    if env_keys is None:
        return []
    if not isinstance(env_keys, list | tuple) or not all(isinstance(k, str) for k in env_keys):
        raise ValidationFailed(
            "env_keys is a list of environment variable names.", field="env_keys"
        )
    bad = [k for k in env_keys if not ENV_KEY.match(k)]
    if bad:
        raise ValidationFailed(
            f"'{bad[0]}' is not an environment variable name (letters, digits and _, "
            "not starting with a digit).",
            field="env_keys",
        )
    unique = list(dict.fromkeys(env_keys))
    if len(unique) > MAX_ENV_KEYS:
        raise ValidationFailed(
            f"A server takes at most {MAX_ENV_KEYS} env_keys; {len(unique)} given.",
            field="env_keys",
        )
    return unique


def _check_http_url(url: str):
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationFailed(f"'{url}' is not an http(s) URL.", field="url")
    return parts


def _refuse_control_characters(field: str, values) -> None:
    """A workstation shows what it is asked to run before running it: control and format
    characters (a carriage return, an escape sequence, a bidi override) could disguise it."""
    for value in values:
        hidden = next((c for c in str(value) if unicodedata.category(c) in ("Cc", "Cf")), None)
        if hidden is not None:
            raise ValidationFailed(
                f"The {field} of a workstation server may not hold control characters "
                f"({ascii(hidden)} found).",
                field=field,
            )


def _workstation_fields(*, transport, url, command, args, env, scope, env_keys) -> ServerFields:
    _refuse_control_characters("command", [command or ""])
    _refuse_control_characters("args", args or [])
    _refuse_control_characters("url", [url or ""])
    if env:
        raise ValidationFailed(
            "A workstation server takes no env values from the platform: its secrets stay on "
            "the workstation. Name the variables it needs in env_keys; the connector passes "
            "them from the workstation's environment.",
            field="env",
        )
    scope = scope or "personal"
    if scope not in SCOPES:
        raise ValidationFailed(f"Unknown scope '{scope}'; use personal or shared.", field="scope")
    env_keys = check_env_keys(env_keys)
    if command and url:
        raise ValidationFailed(
            "A workstation server runs a command or relays to a URL, not both.", field="url"
        )
    if url:
        # Resolved and reached on the workstation, never by the platform: private and loopback
        # addresses are what such a server usually listens on.
        _check_http_url(url)
        if args or env_keys:
            field = "args" if args else "env_keys"
            raise ValidationFailed(
                f"A workstation server reached by URL has no {field}; only a command takes them.",
                field=field,
            )
        if transport and transport != "streamable_http":
            raise ValidationFailed(
                "A workstation server reached by URL speaks streamable_http.", field="transport"
            )
        return ServerFields("streamable_http", url, "", [], {}, scope, [])
    if not command:
        raise ValidationFailed(
            "A workstation server needs a command (a stdio server the connector starts) or a "
            "url (an HTTP MCP server on the workstation's network).",
            field="command",
        )
    if transport and transport != "stdio":
        raise ValidationFailed(
            "A workstation server with a command speaks stdio.", field="transport"
        )
    return ServerFields("stdio", "", command, args, {}, scope, env_keys)


def _refuse_workstation_fields(kind: str, scope, env_keys) -> None:
    # Refused rather than ignored: a value that is silently dropped reads back differently
    # from what was sent, and hides a definition that meant to be a workstation server.
    if scope not in (None, "", "personal"):
        raise ValidationFailed(
            f"Only workstation servers have a scope; a {kind} server is served by the platform.",
            field="scope",
        )
    if env_keys:
        raise ValidationFailed(
            f"Only workstation servers take env_keys; a {kind} server takes env values.",
            field="env_keys",
        )


def normalise_server_fields(
    *,
    kind: str,
    transport: str | None,
    url: str,
    command: str,
    args,
    env,
    network: bool = True,
    scope: str | None = None,
    env_keys=None,
) -> ServerFields:
    """Return the fields consistent with `kind`, or raise."""
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
    if kind == "workstation":
        return _workstation_fields(
            transport=transport,
            url=url,
            command=command,
            args=args,
            env=env,
            scope=scope,
            env_keys=env_keys,
        )
    if kind in {"remote", "managed"}:
        _refuse_workstation_fields(kind, scope, env_keys)
    if kind == "remote":
        if not url:
            raise ValidationFailed("A remote server needs a URL.", field="url")
        parts = _check_http_url(url)
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
        return ServerFields(transport, url, "", [], {}, "personal", [])
    if kind == "managed":
        if not command:
            raise ValidationFailed("A managed server needs a command.", field="command")
        if url:
            raise ValidationFailed("A managed server has no URL.", field="url")
        check_managed_command(command)
        return ServerFields("stdio", "", command, args, env, "personal", [])
    raise ValidationFailed(f"Unknown server kind '{kind}'.", field="kind")
