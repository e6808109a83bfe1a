"""Ready-to-paste set-up of a gateway in the MCP clients people use, for the console.

Each client wants the same three facts (a name, the gateway URL, the bearer token) in its own
shape; building them here keeps the console templates free of JSON and shell quoting.
"""

import json
from dataclasses import dataclass

TOKEN_PLACEHOLDER = "<your gateway token>"


@dataclass(frozen=True)
class Snippet:
    key: str
    client: str
    where: str
    text: str


def _json(value) -> str:
    return json.dumps(value, indent=2)


def client_snippets(*, name: str, url: str, token: str = "") -> list[Snippet]:
    """Set-up for Claude Desktop, Claude Code, Cursor, VS Code and the MCP Inspector CLI."""
    header = f"Bearer {token or TOKEN_PLACEHOLDER}"
    auth = {"Authorization": header}
    # Slugs, URLs and tokens hold no shell metacharacters, so double quotes are enough.
    header_arg = f'"Authorization: {header}"'
    return [
        Snippet(
            "claude-desktop",
            "Claude Desktop",
            "claude_desktop_config.json",
            _json({"mcpServers": {name: {"type": "http", "url": url, "headers": auth}}}),
        ),
        Snippet(
            "claude-code",
            "Claude Code",
            "a terminal",
            f"claude mcp add --transport http {name} {url} --header {header_arg}",
        ),
        Snippet(
            "cursor",
            "Cursor",
            "~/.cursor/mcp.json",
            _json({"mcpServers": {name: {"url": url, "headers": auth}}}),
        ),
        Snippet(
            "vscode",
            "VS Code",
            ".vscode/mcp.json",
            _json({"servers": {name: {"type": "http", "url": url, "headers": auth}}}),
        ),
        Snippet(
            "inspector",
            "MCP Inspector",
            "a terminal",
            f"npx @modelcontextprotocol/inspector --cli {url} --transport http "
            f"--header {header_arg} --method tools/list",
        ),
    ]
