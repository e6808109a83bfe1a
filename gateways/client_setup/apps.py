"""Chat apps, which add a remote server as a connector in their settings, by URL, with OAuth.

Claude Desktop does not connect to remote servers written in claude_desktop_config.json; a token
reaches the gateway there only through a local bridge (mcp-remote) that the file starts. Claude.ai
and ChatGPT take no bearer token for a custom connector, so they have no token variant.
"""

from gateways.client_setup.model import TOKEN_PLACEHOLDER, ClientSetup, Variant, as_json

GROUP = "Chat apps"


def _steps(*lines: str) -> str:
    return "\n".join(f"{number}. {line}" for number, line in enumerate(lines, start=1))


def claude(*, name: str, url: str) -> ClientSetup:
    oauth = _steps(
        "Open Settings > Connectors (Customize > Connectors in newer apps).",
        "Choose Add custom connector.",
        f"Name: {name}\n   URL: {url}",
        "Choose Add, then Connect, and sign in to Gatehouse.",
    )
    # mcp-remote's documented form: the header value comes from env, which keeps the space in
    # "Bearer <token>" out of the argument list.
    bridge = {
        "mcpServers": {
            name: {
                "command": "npx",
                "args": ["-y", "mcp-remote", url, "--header", "Authorization:${AUTH_HEADER}"],
                "env": {"AUTH_HEADER": f"Bearer {TOKEN_PLACEHOLDER}"},
            }
        }
    }
    return ClientSetup(
        key="claude",
        client="Claude.ai and Claude Desktop",
        group=GROUP,
        oauth=Variant(
            "Claude settings (Team and Enterprise: an owner adds it first)", oauth, "steps"
        ),
        token=Variant(
            "claude_desktop_config.json (Claude Desktop, through a local bridge)",
            as_json(bridge),
            "json",
        ),
    )


def chatgpt(*, name: str, url: str) -> ClientSetup:
    oauth = _steps(
        "Open Settings > Apps (Connectors on some plans) > Advanced settings and turn on "
        "Developer mode.",
        "Back in Settings > Apps, choose Create app.",
        f"Name: {name}\n   MCP Server URL: {url}\n   Authentication: OAuth",
        "Confirm that you trust the app, choose Create, and sign in to Gatehouse.",
    )
    return ClientSetup(
        key="chatgpt",
        client="ChatGPT",
        group=GROUP,
        oauth=Variant("ChatGPT settings (developer mode)", oauth, "steps"),
        token=None,
    )


def setups(*, name: str, url: str) -> list[ClientSetup]:
    return [claude(name=name, url=url), chatgpt(name=name, url=url)]
