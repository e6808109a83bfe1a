"""What real MCP clients send to `/oauth/register` (RFC 7591), one body per client, and the
redirect URI each then authorizes with.

Claude Code and VS Code listen on loopback: Claude Code registers `localhost` with the port it
picked then, and a later sign-in may pick another (RFC 8252 7.3), which `authorize_with` shows.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientRegistration:
    name: str
    body: dict
    # The redirect URI of the authorization request (and of the code exchange).
    authorize_with: str


CLAUDE_AI = ClientRegistration(
    name="Claude.ai",
    body={
        "client_name": "claudeai",
        "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
        "scope": "mcp",
    },
    authorize_with="https://claude.ai/api/mcp/auth_callback",
)

CLAUDE_CODE = ClientRegistration(
    name="Claude Code",
    body={
        "client_name": "Claude Code (gatehouse-dev)",
        "redirect_uris": ["http://localhost:54212/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    },
    # A later sign-in, on the port free this time.
    authorize_with="http://localhost:61873/callback",
)

CHATGPT = ClientRegistration(
    name="ChatGPT",
    body={
        "client_name": "ChatGPT",
        "redirect_uris": ["https://chatgpt.com/connector_platform_oauth_redirect"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    },
    authorize_with="https://chatgpt.com/connector_platform_oauth_redirect",
)

CURSOR = ClientRegistration(
    name="Cursor",
    body={
        "client_name": "Cursor",
        "redirect_uris": ["cursor://anysphere.cursor-retrieval/oauth/user-MCP/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    },
    authorize_with="cursor://anysphere.cursor-retrieval/oauth/user-MCP/callback",
)

VS_CODE = ClientRegistration(
    name="VS Code",
    body={
        "client_name": "Visual Studio Code",
        "redirect_uris": ["http://127.0.0.1:33418", "https://vscode.dev/redirect"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    },
    authorize_with="http://127.0.0.1:33418",
)

ALL = [CLAUDE_AI, CLAUDE_CODE, CHATGPT, CURSOR, VS_CODE]
