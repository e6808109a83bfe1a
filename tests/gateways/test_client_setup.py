"""Client set-up snippets: each parses in its client's format, install links decode back to the
OAuth config, OAuth variants carry no token, and the SDK snippets run against a live gateway."""

import base64
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from gateways.client_setup import TOKEN_ENV, TOKEN_PLACEHOLDER, ClientSetup, Variant, client_setups

NAME, URL = "gatehouse-dev", "https://gw.example.com/mcp/acme/dev"
CLIENTS = {
    "claude": "Claude.ai and Claude Desktop",
    "chatgpt": "ChatGPT",
    "cursor": "Cursor",
    "vscode": "VS Code",
    "windsurf": "Windsurf",
    "claude-code": "Claude Code",
    "codex": "Codex CLI",
    "gemini": "Gemini CLI",
    "inspector": "MCP Inspector",
    "python": "Python SDK",
    "typescript": "TypeScript SDK",
}
ROOT = Path(__file__).resolve().parents[2]


def setups(name=NAME, url=URL) -> dict[str, ClientSetup]:
    return {setup.key: setup for setup in client_setups(name=name, url=url)}


def parsed(variant: Variant):
    return json.loads(variant.text) if variant.language == "json" else tomllib.loads(variant.text)


def test_every_client_is_set_up_and_oauth_comes_first():
    found = setups()
    assert {key: s.client for key, s in found.items()} == CLIENTS
    for setup in found.values():
        kinds = [kind for kind, _ in setup.variants]
        assert kinds in (["oauth", "token"], ["oauth"], ["token"]), setup.key
    # Only the SDKs lack OAuth; only the connector apps lack a token.
    assert [k for k, s in found.items() if s.oauth is None] == ["python", "typescript"]
    assert [k for k, s in found.items() if s.token is None] == ["chatgpt"]


def test_a_client_needs_a_way_to_connect():
    with pytest.raises(ValueError, match="at least one way"):
        ClientSetup(key="x", client="X", group="G", oauth=None, token=None)


def test_oauth_variants_carry_no_token_and_token_variants_no_secret_in_a_url():
    for setup in setups().values():
        if setup.oauth:
            text = setup.oauth.text
            for marker in (TOKEN_ENV, TOKEN_PLACEHOLDER, "Bearer", "Authorization", "token"):
                assert marker not in text, (setup.key, marker)
            assert URL in text
        if setup.token:
            # The token is read from the environment or a prompt, never written in a URL.
            assert (
                TOKEN_ENV in setup.token.text
                or "${input:" in setup.token.text
                or (setup.key == "claude" and TOKEN_PLACEHOLDER in setup.token.text)
            )
            assert f"{URL}?" not in setup.token.text
        assert "token" not in setup.install_link.lower()


def test_json_and_toml_snippets_parse_into_each_clients_format():
    found = setups()
    configs = {
        (key, kind): parsed(variant)
        for key, setup in found.items()
        for kind, variant in setup.variants
        if variant.language in ("json", "toml")
    }
    env = f"Bearer ${{env:{TOKEN_ENV}}}"
    assert configs["cursor", "oauth"] == {"mcpServers": {NAME: {"url": URL}}}
    assert configs["cursor", "token"] == {
        "mcpServers": {NAME: {"url": URL, "headers": {"Authorization": env}}}
    }
    assert configs["windsurf", "oauth"] == {"mcpServers": {NAME: {"serverUrl": URL}}}
    assert configs["windsurf", "token"]["mcpServers"][NAME]["headers"] == {"Authorization": env}
    assert configs["gemini", "oauth"] == {"mcpServers": {NAME: {"httpUrl": URL}}}
    assert configs["gemini", "token"]["mcpServers"][NAME]["headers"] == {
        "Authorization": f"Bearer ${{{TOKEN_ENV}}}"
    }
    assert configs["vscode", "oauth"] == {"servers": {NAME: {"type": "http", "url": URL}}}
    vscode = configs["vscode", "token"]
    (prompt,) = vscode["inputs"]
    assert prompt["type"] == "promptString" and prompt["password"] is True
    assert vscode["servers"][NAME]["headers"] == {
        "Authorization": f"Bearer ${{input:{prompt['id']}}}"
    }
    assert configs["codex", "oauth"] == {"mcp_servers": {NAME: {"url": URL}}}
    assert f"codex mcp login {NAME}" in found["codex"].oauth.text
    assert configs["codex", "token"] == {
        "mcp_servers": {NAME: {"url": URL, "bearer_token_env_var": TOKEN_ENV}}
    }
    bridge = configs["claude", "token"]["mcpServers"][NAME]
    assert bridge["args"] == ["-y", "mcp-remote", URL, "--header", "Authorization:${AUTH_HEADER}"]
    assert bridge["env"] == {"AUTH_HEADER": f"Bearer {TOKEN_PLACEHOLDER}"}


def test_a_name_that_is_no_bare_toml_key_is_quoted():
    codex = setups(name="gate house.dev")["codex"]
    assert parsed(codex.token)["mcp_servers"] == {
        "gate house.dev": {"url": URL, "bearer_token_env_var": TOKEN_ENV}
    }


def test_install_links_decode_back_to_the_oauth_config():
    found = setups()
    cursor = urlsplit(found["cursor"].install_link)
    assert (cursor.scheme, cursor.netloc, cursor.path) == (
        "cursor",
        "anysphere.cursor-deeplink",
        "/mcp/install",
    )
    query = parse_qs(cursor.query)
    assert query["name"] == [NAME]
    assert json.loads(base64.b64decode(query["config"][0])) == {"url": URL}
    vscode = found["vscode"].install_link
    prefix = "vscode:mcp/install?"
    assert vscode.startswith(prefix)
    assert json.loads(unquote(vscode.removeprefix(prefix))) == {
        "name": NAME,
        "type": "http",
        "url": URL,
    }
    assert [k for k, s in found.items() if s.install_link] == ["cursor", "vscode"]


def test_connector_steps_name_the_url_and_oauth():
    found = setups()
    assert "Add custom connector" in found["claude"].oauth.text
    assert "Developer mode" in found["chatgpt"].oauth.text
    assert "Authentication: OAuth" in found["chatgpt"].oauth.text
    assert f"claude mcp add --transport http {NAME} {URL}" in found["claude-code"].oauth.text


def _run(command, *, cwd, token, env_extra=None):
    env = {**os.environ, TOKEN_ENV: token, **(env_extra or {})}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_the_python_snippet_lists_the_gateways_tools(deployment, bob, fresh_cache, tmp_path):
    script = tmp_path / "client.py"
    script.write_text(setups(url=deployment.url)["python"].token.text)
    done = _run([sys.executable, str(script)], cwd=tmp_path, token=deployment.token_for(bob))
    assert done.returncode == 0, done.stderr
    assert "notes__echo" in done.stdout and "ro__echo" in done.stdout
    # Without the token the gateway refuses the snippet.
    refused = _run([sys.executable, str(script)], cwd=tmp_path, token="gth_not_a_token")
    assert refused.returncode != 0 and "notes__echo" not in refused.stdout


def test_the_typescript_snippet_lists_the_gateways_tools(deployment, bob, fresh_cache, tmp_path):
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    script = tmp_path / "client.mjs"
    script.write_text(setups(url=deployment.url)["typescript"].token.text)
    done = _run(["node", str(script)], cwd=tmp_path, token=deployment.token_for(bob))
    assert done.returncode == 0, done.stderr
    assert "notes__echo" in done.stdout and "ro__echo" in done.stdout


def test_the_inspector_commands_reach_the_gateway(deployment, bob, fresh_cache, tmp_path):
    inspector = setups(url=deployment.url)["inspector"]
    # The package's own binary instead of npx, which would fetch it.
    local = str(ROOT / "node_modules" / ".bin" / "mcp-inspector")

    def run(variant, *extra):
        command = variant.text.replace("npx @modelcontextprotocol/inspector", local)
        # HOME: the Inspector keeps its OAuth store there.
        return _run(
            ["bash", "-c", " ".join([command, *extra])],
            cwd=tmp_path,
            token=deployment.token_for(bob),
            env_extra={"HOME": str(tmp_path)},
        )

    listed = run(inspector.token)
    assert listed.returncode == 0, listed.stderr
    assert "notes__echo" in listed.stdout
    # The OAuth command carries no token: the gateway asks it to sign in.
    unsigned = run(inspector.oauth, "--stored-auth-only")
    assert unsigned.returncode != 0 and "notes__echo" not in unsigned.stdout
    assert "auth_required" in unsigned.stdout + unsigned.stderr
