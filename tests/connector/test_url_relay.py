"""A workstation server reached by url: the connector relays to a Streamable HTTP MCP server."""

import time

import pytest
from mcp.server.mcpserver import MCPServer

from tests.connector.conftest import write_config
from tests.connector.test_connector import call_tool, initialize
from tests.support.live import ThreadedServer


class Recorder:
    """ASGI middleware that notes each request's method and MCP headers."""

    def __init__(self, app):
        self.app = app
        self.requests: list[tuple[str, str | None, str | None]] = []
        self.content_types: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            self.requests.append(
                (
                    scope["method"],
                    headers.get("mcp-session-id"),
                    headers.get("mcp-protocol-version"),
                )
            )

        async def noting_send(event):
            if event["type"] == "http.response.start":
                headers = {k.decode().lower(): v.decode() for k, v in event["headers"]}
                self.content_types.append(headers.get("content-type", ""))
            await send(event)

        await self.app(scope, receive, noting_send)


def notes_app(*, json_response: bool):
    server = MCPServer("notes-http")

    @server.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text

    return Recorder(server.streamable_http_app(json_response=json_response))


@pytest.mark.parametrize("json_response", [False, True], ids=["sse", "json"])
def test_a_url_server_is_relayed(platforms, connectors, config, json_response):
    recorder = notes_app(json_response=json_response)
    upstream = ThreadedServer(recorder).start()
    try:
        url = f"{upstream.url}/mcp"
        spec = {"name": "notes", "command": None, "args": [], "env_keys": [], "url": url}
        write_config(config, {"notes": {"url": url}})
        platform = platforms(offered=[{**spec, "scope": "personal"}])
        connector = connectors(platform.url, config=config, args=["--no-prompt"])
        connection = platform.next_connection()
        assert connection.next("hello")["servers"] == ["notes"]

        connection.send({"type": "open", "session": "h1", "server": spec})
        connection.next("opened", session="h1")
        answer = initialize(connection, "h1")
        assert answer["result"]["serverInfo"]["name"] == "notes-http"
        version = answer["result"]["protocolVersion"]
        message = call_tool(2, "echo", {"text": "through the tunnel"})
        connection.send({"type": "message", "session": "h1", "message": message})
        result = connection.reply("h1", 2)["result"]
        assert result["content"][0]["text"] == "through the tunnel"

        framing = "application/json" if json_response else "text/event-stream"
        assert recorder.content_types[0].startswith(framing)
        assert recorder.content_types[2].startswith(framing)  # the tools/call answer
        # initialize carries no session; what follows carries the one it settled.
        (first, *later) = recorder.requests
        assert first == ("POST", None, None)
        session_id = later[0][1]
        assert session_id and all(r == ("POST", session_id, version) for r in later)
        # The 202 of notifications/initialized relays nothing.
        assert not [
            f for f in connection.received if f["type"] == "message" and "id" not in f["message"]
        ]

        connection.send({"type": "close", "session": "h1"})
        deadline = time.monotonic() + 5
        while recorder.requests[-1][0] != "DELETE" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert recorder.requests[-1] == ("DELETE", session_id, version)
        assert connector.stop() == 0
    finally:
        upstream.stop()


def test_a_url_that_changed_is_refused(platforms, connectors, config):
    write_config(config, {"notes": {"url": "http://127.0.0.1:9/mcp"}})
    spec = {"name": "notes", "command": None, "args": [], "env_keys": [], "url": "http://evil/mcp"}
    platform = platforms(offered=[spec])
    connector = connectors(platform.url, config=config, args=["--no-prompt"])
    connection = platform.next_connection()
    connection.next("hello")
    connection.send({"type": "open", "session": "h1", "server": spec})
    assert "changed" in connection.next("closed", session="h1")["reason"]
    assert connector.stop() == 0
