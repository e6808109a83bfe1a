"""One-click install links, which open the client on the OAuth set-up (never a token)."""

import base64
import json
from urllib.parse import quote, urlencode


def cursor_install_link(name: str, server: dict) -> str:
    """Cursor's deeplink: the server's mcp.json entry, JSON then base64, as `config`."""
    config = base64.b64encode(json.dumps(server).encode()).decode()
    return "cursor://anysphere.cursor-deeplink/mcp/install?" + urlencode(
        {"name": name, "config": config}
    )


def vscode_install_link(name: str, server: dict) -> str:
    """VS Code's URL handler: the `--add-mcp` object (name plus the server entry), URL-encoded."""
    return "vscode:mcp/install?" + quote(json.dumps({"name": name, **server}), safe="")
