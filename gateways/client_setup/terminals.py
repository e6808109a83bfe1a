"""Command-line clients: Claude Code, Codex CLI, Gemini CLI and the MCP Inspector.

The token variants name the variable rather than holding the token: the shell expands
``$GATEHOUSE_TOKEN`` in a command, Codex reads ``bearer_token_env_var`` and Gemini CLI expands
``${NAME}`` in its settings.
"""

import json
import re
from shlex import quote

from gateways.client_setup.model import TOKEN_ENV, ClientSetup, Variant, as_json, bearer

GROUP = "Command line"
# Double quotes, not shlex.quote: the shell must expand the variable.
HEADER_ARG = f'--header "Authorization: Bearer ${TOKEN_ENV}"'
_TOML_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    # A JSON string is a valid TOML basic string.
    return key if _TOML_BARE_KEY.fullmatch(key) else json.dumps(key)


def claude_code(*, name: str, url: str) -> ClientSetup:
    add = f"claude mcp add --transport http {quote(name)} {quote(url)}"
    return ClientSetup(
        key="claude-code",
        client="Claude Code",
        group=GROUP,
        oauth=Variant(
            "a terminal",
            f"{add}\n# then, in Claude Code: /mcp, choose {name}, Authenticate",
            "shell",
        ),
        token=Variant("a terminal", f"{add} {HEADER_ARG}", "shell"),
    )


def codex(*, name: str, url: str) -> ClientSetup:
    table = f"[mcp_servers.{_toml_key(name)}]\nurl = {json.dumps(url)}"
    return ClientSetup(
        key="codex",
        client="Codex CLI",
        group=GROUP,
        oauth=Variant(
            "~/.codex/config.toml",
            f"{table}\n# then sign in: codex mcp login {quote(name)}",
            "toml",
        ),
        token=Variant(
            "~/.codex/config.toml", f'{table}\nbearer_token_env_var = "{TOKEN_ENV}"', "toml"
        ),
    )


def gemini(*, name: str, url: str) -> ClientSetup:
    server = {"httpUrl": url}
    with_token = {**server, "headers": bearer(f"${{{TOKEN_ENV}}}")}
    return ClientSetup(
        key="gemini",
        client="Gemini CLI",
        group=GROUP,
        oauth=Variant(
            f"~/.gemini/settings.json (then sign in with /mcp auth {name})",
            as_json({"mcpServers": {name: server}}),
            "json",
        ),
        token=Variant(
            "~/.gemini/settings.json", as_json({"mcpServers": {name: with_token}}), "json"
        ),
    )


def inspector(*, name: str, url: str) -> ClientSetup:
    command = f"npx @modelcontextprotocol/inspector --cli {quote(url)} --transport http"
    return ClientSetup(
        key="inspector",
        client="MCP Inspector",
        group=GROUP,
        oauth=Variant(
            "a terminal (a browser opens to sign in)", f"{command} --method tools/list", "shell"
        ),
        token=Variant("a terminal", f"{command} {HEADER_ARG} --method tools/list", "shell"),
    )


def setups(*, name: str, url: str) -> list[ClientSetup]:
    return [
        claude_code(name=name, url=url),
        codex(name=name, url=url),
        gemini(name=name, url=url),
        inspector(name=name, url=url),
    ]
