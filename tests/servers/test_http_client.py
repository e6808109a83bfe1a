"""The lean upstream HTTP client against a real HTTP server on a real socket.

The server is a few lines of asyncio that answer with exactly the bytes each test wants
(lengths, chunks, a body ended by closing, gzip, a dropped connection, a redirect), which no
framework server would let a test choose.
"""

import asyncio
import gzip
import json
import ssl

import pytest

from servers import http_client
from servers.upstream import UpstreamSession, UpstreamUnavailable, close_http_session
from tests.support.certificates import issue_certificates
from tests.support.raw_http import RawServer, reply, run_async

LIMIT = 10 * 1024 * 1024


async def post(url, body=b"{}", headers=None, *, limit=LIMIT):
    headers = headers or {"Content-Type": "application/json"}
    async with http_client.post(url, body, headers, max_reply_bytes=limit) as r:
        return r.status, r.headers, await r.read()


@run_async
async def test_keeps_the_connection_alive_and_sends_the_request_as_given():
    async with RawServer(lambda request: (reply(b'{"ok":1}'), False)) as server:
        for n in range(3):
            status, headers, body = await post(server.url, b'{"n":%d}' % n, {"X-Api-Key": "k"})
            assert (status, body) == (200, b'{"ok":1}')
            assert headers["content-type"] == "application/json"
        assert server.connections == 1
        first = server.requests[0]
        assert first["line"] == "POST /mcp HTTP/1.1"
        assert first["headers"]["host"] == f"127.0.0.1:{server.port}"
        assert first["headers"]["x-api-key"] == "k"
        assert [r["body"] for r in server.requests] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
        http_client.close_pool()


@run_async
async def test_reads_chunked_gzip_and_close_delimited_bodies():
    payload = json.dumps({"text": "x" * 5000}).encode()
    packed = gzip.compress(payload)
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(packed[i : i + 700]), packed[i : i + 700])
        for i in range(0, len(packed), 700)
    )

    def respond(request):
        kind = json.loads(request["body"])["kind"]
        if kind == "chunked-gzip":
            return reply(
                chunked + b"0\r\n\r\n",
                headers=("Transfer-Encoding: chunked", "Content-Encoding: gzip"),
                length=False,
            ), False
        return reply(payload, headers=("Connection: close",), length=False), True

    async with RawServer(respond) as server:
        for kind in ("chunked-gzip", "until-close", "chunked-gzip"):
            status, _, body = await post(server.url, json.dumps({"kind": kind}).encode())
            assert (status, body) == (200, payload), kind
        # The body ended by closing could not keep its connection; the chunked ones could.
        assert server.connections == 2
        http_client.close_pool()


@run_async
async def test_a_pooled_connection_the_server_closed_is_not_used_again():
    async with RawServer(lambda request: (reply(b'{"ok":1}'), True)) as server:
        assert (await post(server.url))[0] == 200
        await asyncio.sleep(0.05)
        assert (await post(server.url))[0] == 200
        assert server.connections == 2
        assert len(server.requests) == 2
        http_client.close_pool()


def _drops_second_request_on_first_connection():
    seen = []

    def respond(request):
        seen.append(request)
        if len(seen) == 2:
            return b"", True  # the server's idle timeout crossed the request: no answer
        return reply(b'{"ok":1}'), False

    return respond


@run_async
async def test_a_request_crossing_the_idle_timeout_is_sent_again_on_a_new_connection():
    async with RawServer(_drops_second_request_on_first_connection()) as server:
        assert (await post(server.url))[0] == 200
        await asyncio.sleep(0.6)
        assert (await post(server.url, b'{"again":1}'))[0] == 200
        assert server.connections == 2
        assert [r["body"] for r in server.requests] == [b"{}", b'{"again":1}', b'{"again":1}']
        http_client.close_pool()


@run_async
async def test_a_connection_in_use_that_drops_a_request_is_an_error_not_a_resend():
    # Used a moment ago, so the server did not time it out: it may have acted on the request.
    async with RawServer(_drops_second_request_on_first_connection()) as server:
        assert (await post(server.url))[0] == 200
        with pytest.raises(http_client.HttpClientError, match="closed the connection"):
            await post(server.url, b'{"once":1}')
        assert [r["body"] for r in server.requests] == [b"{}", b'{"once":1}']
        http_client.close_pool()


@run_async
async def test_a_connection_dropped_mid_body_is_an_error_and_not_reused():
    def respond(request):
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        return head + b'{"partial":', True

    async with RawServer(respond) as server:
        with pytest.raises(http_client.HttpClientError, match="closed the connection"):
            await post(server.url)
        http_client.close_pool()


@run_async
async def test_refused_connections_and_forbidden_header_characters_fail_clearly():
    async with RawServer(lambda request: (reply(b"{}"), False)) as server:
        url = server.url
    with pytest.raises(http_client.ConnectFailed):
        await post(url)
    async with RawServer(lambda request: (reply(b"{}"), False)) as server:
        with pytest.raises(http_client.HttpClientError, match="does not allow"):
            await post(server.url, headers={"X-Token": "a\r\nX-Injected: 1"})
        assert server.requests == []
        http_client.close_pool()


@run_async
async def test_an_event_stream_is_read_line_by_line():
    events = b'event: message\ndata: {"a":1}\n\n: ping\n\nevent: message\ndata: {"b":2}\n\n'

    def respond(request):
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        return head.encode() + events, True

    async with RawServer(respond) as server:
        async with http_client.post(server.url, b"{}", {}, max_reply_bytes=LIMIT) as response:
            lines = [line async for line in response.content]
        assert b"".join(lines) == events
        http_client.close_pool()


def _mcp(request):
    """A stateless 2026-07-28 upstream with one tool, behind a redirect from /mcp."""
    if request["line"].startswith("POST /mcp "):
        return reply(b"", status="307 Temporary Redirect", headers=("Location: /mcp/",)), False
    message = json.loads(request["body"])
    if "id" not in message:
        return b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", False
    if message["method"] == "initialize":
        error = {"code": -32601, "message": "stateless: use server/discover"}
        body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": error}).encode()
        return reply(body), False
    if message["method"] == "server/discover":
        result = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}}
    elif message["method"] == "tools/call":
        result = {"content": [{"type": "text", "text": message["params"]["arguments"]["t"]}]}
    else:
        result = {}
    body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
    return reply(body), False


@run_async
async def test_the_upstream_session_calls_through_it_and_follows_redirects_with_aiohttp():
    async with RawServer(_mcp) as server:
        direct = UpstreamSession(server.url + "/", {"Authorization": "Bearer up"})
        result = await direct.request(
            "tools/call", {"name": "t", "arguments": {"t": "hi"}}, timeout=5
        )
        assert result["content"][0]["text"] == "hi"
        call = server.requests[-1]
        assert call["headers"]["authorization"] == "Bearer up"
        assert call["headers"]["mcp-method"] == "tools/call"
        assert call["headers"]["mcp-name"] == "t"

        redirected = UpstreamSession(server.url, {})
        result = await redirected.request(
            "tools/call", {"name": "t", "arguments": {"t": "yo"}}, timeout=5
        )
        assert result["content"][0]["text"] == "yo"
        assert server.requests[-2]["line"] == "POST /mcp HTTP/1.1"
        assert server.requests[-1]["line"] == "POST /mcp/ HTTP/1.1"
    http_client.close_pool()
    await close_http_session()


@run_async
async def test_the_upstream_session_reports_an_unreachable_upstream():
    async with RawServer(_mcp) as server:
        url = server.url + "/"
    with pytest.raises(UpstreamUnavailable, match="connection refused"):
        await UpstreamSession(url, {}).request("tools/list", {}, timeout=5)


def test_https_verifies_the_certificate_against_the_one_trust_store(tmp_path, settings):
    ca_pem, chain = issue_certificates(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(chain)

    async def calls():
        async with RawServer(lambda request: (reply(b'{"ok":1}'), False), tls=server_tls) as server:
            # The test CA is not among the system's: refused before anything is sent.
            with pytest.raises(http_client.ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await post(server.url)
            assert server.requests == []
            # Trusted once the operator adds the CA to the one trust store.
            bundle = tmp_path / "extra-ca.pem"
            bundle.write_text(ca_pem)
            settings.OUTBOUND_CA_BUNDLE = str(bundle)
            for _ in range(2):
                status, _, body = await post(server.url, b'{"over":"tls"}')
                assert (status, body) == (200, b'{"ok":1}')
            assert server.connections == 1  # the refused handshake never became one
            assert server.requests[0]["headers"]["host"] == f"127.0.0.1:{server.port}"
            http_client.close_pool()

    asyncio.run(calls())
