"""Editors with an MCP config file: Cursor, VS Code and Windsurf.

The token variants read the token when the editor starts the server: Cursor and Windsurf
interpolate ``${env:NAME}`` in headers, VS Code asks once through a password input.
"""

from gateways.client_setup.links import cursor_install_link, vscode_install_link
from gateways.client_setup.model import TOKEN_ENV, ClientSetup, Variant, as_json, bearer

GROUP = "Editors"
VSCODE_INPUT = "gatehouse-token"


def cursor(*, name: str, url: str) -> ClientSetup:
    server = {"url": url}
    with_token = {**server, "headers": bearer(f"${{env:{TOKEN_ENV}}}")}
    where = "~/.cursor/mcp.json (or .cursor/mcp.json in a project)"
    return ClientSetup(
        key="cursor",
        client="Cursor",
        group=GROUP,
        oauth=Variant(where, as_json({"mcpServers": {name: server}}), "json"),
        token=Variant(where, as_json({"mcpServers": {name: with_token}}), "json"),
        install_link=cursor_install_link(name, server),
    )


def vscode(*, name: str, url: str) -> ClientSetup:
    server = {"type": "http", "url": url}
    prompt = {
        "type": "promptString",
        "id": VSCODE_INPUT,
        "description": "Gatehouse gateway token",
        "password": True,
    }
    with_token = {**server, "headers": bearer(f"${{input:{VSCODE_INPUT}}}")}
    return ClientSetup(
        key="vscode",
        client="VS Code",
        group=GROUP,
        oauth=Variant(".vscode/mcp.json", as_json({"servers": {name: server}}), "json"),
        token=Variant(
            ".vscode/mcp.json (VS Code asks for the token once and stores it)",
            as_json({"inputs": [prompt], "servers": {name: with_token}}),
            "json",
        ),
        install_link=vscode_install_link(name, server),
    )


def windsurf(*, name: str, url: str) -> ClientSetup:
    server = {"serverUrl": url}
    with_token = {**server, "headers": bearer(f"${{env:{TOKEN_ENV}}}")}
    where = "~/.codeium/windsurf/mcp_config.json"
    return ClientSetup(
        key="windsurf",
        client="Windsurf",
        group=GROUP,
        oauth=Variant(where, as_json({"mcpServers": {name: server}}), "json"),
        token=Variant(where, as_json({"mcpServers": {name: with_token}}), "json"),
    )


def setups(*, name: str, url: str) -> list[ClientSetup]:
    return [cursor(name=name, url=url), vscode(name=name, url=url), windsurf(name=name, url=url)]
