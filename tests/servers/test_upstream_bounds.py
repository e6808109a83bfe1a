"""What one upstream may take of a worker, against misbehaving servers on real sockets: headers,
reply size (JSON, SSE, compressed), connections per origin; and how upstream connections are
made: the outbound address rule, the environment's proxy, the one trust store."""

import asyncio
import gzip
import json
import ssl
import tracemalloc

import pytest

from dataplane import snapshot
from servers import http_client
from servers.models import Server
from servers.upstream import (
    UpstreamReplyTooLarge,
    UpstreamSession,
    UpstreamUnavailable,
    close_http_session,
)
from servers.upstream_pool import UpstreamPool
from tests.support.certificates import issue_certificates
from tests.support.counting_proxy import CountingProxy
from tests.support.raw_http import RawServer, reply

MB = 1024 * 1024
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def post(url, *, limit=10 * MB):
    async with http_client.post(url, b"{}", {}, max_reply_bytes=limit) as response:
        return response.status, await response.read()


def _result(message_id, text: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": message_id, "result": {"content": [{"text": text}]}}
    ).encode()


def _mcp(big: bytes | None = None, *, sse=False):
    """An upstream that does the handshake, then answers tools/call with `big` when given."""

    def respond(request):
        message = json.loads(request["body"])
        if "id" not in message:
            return reply(b"", status="202 Accepted"), False
        if message["method"] != "tools/call" or big is None:
            result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {}}
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result})
            return reply(body.encode()), False
        if sse:
            events = b"".join(
                b'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message",'
                b'"params":{"data":"%s"}}\n\n' % big[i : i + 1000]
                for i in range(0, len(big), 1000)
            )
            events += b"event: message\ndata: %s\n\n" % _result(message["id"], "done")
            head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            return f"{head}Content-Length: {len(events)}\r\n\r\n".encode() + events, False
        return reply(_result(message["id"], big.decode())), False

    return respond


# -- headers --------------------------------------------------------------------------------------


def test_a_reply_with_20002_headers_is_refused():
    many = "".join(f"X-Header-{n}: {'v' * 990}\r\n" for n in range(20_002))  # 20 MB of head

    async def calls():
        answer = f"HTTP/1.1 200 OK\r\n{many}Content-Length: 2\r\n\r\n{{}}".encode()
        async with RawServer(lambda request: (answer, False)) as server:
            with pytest.raises(http_client.ReplyTooLarge, match="headers"):
                await post(server.url)
            few = b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 20_002 + b"Content-Length: 2\r\n\r\n{}"
            server.respond = lambda request: (few, False)
            with pytest.raises(http_client.ReplyTooLarge, match="more than 100 headers"):
                await post(server.url)
            session = UpstreamSession(server.url, {})
            with pytest.raises(UpstreamReplyTooLarge, match="more than 100 headers"):
                await session.request("tools/list", {}, timeout=5)
        http_client.close_pool()

    asyncio.run(calls())


def test_one_endless_header_is_refused_by_its_size():
    async def endless(writer):
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        for _ in range(320):  # 20 MB, never a line end
            writer.write(b"v" * 65536)
            await writer.drain()

    async def calls():
        async with RawServer(lambda request: (endless, True)) as server:
            with pytest.raises(http_client.ReplyTooLarge, match="exceed 65536 bytes"):
                await post(server.url)
        http_client.close_pool()

    asyncio.run(calls())


# -- reply size -----------------------------------------------------------------------------------


def test_a_reply_over_the_cap_is_refused_without_reading_it_on():
    sent = []

    async def huge(writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n" % (64 * MB))
        for _ in range(1024):  # 64 MB
            writer.write(b"x" * 65536)
            await writer.drain()
            sent.append(65536)

    async def calls():
        async with RawServer(lambda request: (huge, True)) as server:
            tracemalloc.start()
            try:
                with pytest.raises(http_client.ReplyTooLarge, match=f"exceeds {MB} bytes"):
                    await post(server.url, limit=MB)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            await asyncio.sleep(0.2)
            assert peak < 4 * MB  # the 64 MB reply was not held
            assert sum(sent) < 32 * MB  # the connection was closed: the server stopped
        http_client.close_pool()

    asyncio.run(calls())


def test_a_compressed_reply_is_bounded_by_its_decoded_size():
    bomb = gzip.compress(b"0" * (64 * MB))  # 64 KB on the wire

    async def calls():
        answer = reply(bomb, headers=("Content-Encoding: gzip",))
        async with RawServer(lambda request: (answer, False)) as server:
            tracemalloc.start()
            try:
                with pytest.raises(http_client.ReplyTooLarge, match=f"exceeds {MB} bytes"):
                    await post(server.url, limit=MB)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert peak < 4 * MB
        http_client.close_pool()

    asyncio.run(calls())


@pytest.mark.parametrize("sse", [False, True], ids=["json", "sse"])
def test_a_call_whose_reply_exceeds_the_setting_gets_an_error_naming_it(settings, sse):
    settings.UPSTREAM_MAX_REPLY_BYTES = 200_000

    async def calls():
        async with RawServer(_mcp(b"y" * 300_000, sse=sse)) as server:
            session = UpstreamSession(server.url, {})
            with pytest.raises(UpstreamReplyTooLarge) as refused:
                await session.request("tools/call", {"name": "t", "arguments": {}}, timeout=5)
            assert "exceeds 200000 bytes (UPSTREAM_MAX_REPLY_BYTES)" in str(refused.value)
            connections = server.connections
            # Below the cap the same session works, on a new connection: the refused one closed.
            server.respond = _mcp(b"z" * 1000, sse=sse)
            await session.request("tools/call", {"name": "t", "arguments": {}}, timeout=5)
            assert server.connections == connections + 1
        http_client.close_pool()
        await close_http_session()

    asyncio.run(calls())


def test_a_redirected_reply_read_by_aiohttp_is_bounded_too(settings):
    settings.UPSTREAM_MAX_REPLY_BYTES = 200_000

    def respond(request):
        if request["line"].startswith("POST /mcp "):
            return reply(b"", status="307 Temporary Redirect", headers=("Location: /mcp/",)), False
        return _mcp(b"y" * 300_000)(request)

    async def calls():
        async with RawServer(respond) as server:
            session = UpstreamSession(server.url, {})
            with pytest.raises(UpstreamReplyTooLarge, match="UPSTREAM_MAX_REPLY_BYTES"):
                await session.request("tools/call", {"name": "t", "arguments": {}}, timeout=5)
        http_client.close_pool()
        await close_http_session()

    asyncio.run(calls())


# -- connections per origin -----------------------------------------------------------------------


def _slow(seconds: float):
    async def answer(writer):
        await asyncio.sleep(seconds)
        writer.write(reply(b'{"ok":1}'))

    return lambda request: (answer, False)


def test_calls_beyond_the_connection_cap_wait_for_a_free_connection(settings):
    settings.UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN = 3

    async def calls():
        async with RawServer(_slow(0.1)) as server:
            answers = await asyncio.gather(*(post(server.url) for _ in range(12)))
            assert answers == [(200, b'{"ok":1}')] * 12
            assert server.most_open == 3
            assert server.connections == 3
        http_client.close_pool()

    asyncio.run(calls())


def test_a_call_that_waits_too_long_for_a_connection_gets_a_clear_error(settings):
    settings.UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN = 1
    settings.UPSTREAM_CONNECTION_WAIT_SECONDS = 0.2

    async def calls():
        async with RawServer(_slow(1)) as server:
            first = asyncio.create_task(post(server.url))
            await asyncio.sleep(0.05)
            with pytest.raises(http_client.ConnectionsBusy) as busy:
                await post(server.url)
            assert "all 1 connections" in str(busy.value)
            assert "UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN" in str(busy.value)
            assert await first == (200, b'{"ok":1}')
            assert server.connections == 1
        http_client.close_pool()

    asyncio.run(calls())


# -- the address rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::]", "[::ffff:169.254.169.254]"],
)
def test_an_upstream_at_a_metadata_address_is_never_connected_to(host):
    async def calls():
        session = UpstreamSession(f"http://{host}/mcp", {})
        with pytest.raises(UpstreamUnavailable, match="cloud metadata address"):
            await session.request("tools/list", {}, timeout=5)
        http_client.close_pool()

    asyncio.run(calls())


def test_a_redirect_to_a_metadata_address_is_not_followed():
    def respond(request):
        location = "Location: http://[64:ff9b::a9fe:a9fe]/latest/meta-data/"
        return reply(b"", status="307 Temporary Redirect", headers=(location,)), False

    async def calls():
        async with RawServer(respond) as server:
            session = UpstreamSession(server.url, {})
            with pytest.raises(UpstreamUnavailable, match="cloud metadata address"):
                await session.request("tools/list", {}, timeout=5)
        http_client.close_pool()
        await close_http_session()

    asyncio.run(calls())


# -- proxies and the trust store ------------------------------------------------------------------


def test_plain_http_calls_go_through_the_proxy_in_absolute_form(monkeypatch):
    async def calls():
        async with RawServer(_mcp(b"hello")) as server, CountingProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            session = UpstreamSession(server.url, {})
            result = await session.request("tools/call", {"name": "t"}, timeout=5)
            assert result["content"][0]["text"] == "hello"
            # Both stacks went through it: the lean client's calls, aiohttp's notification.
            assert len(proxy.forwarded) == server.connections == 2
            assert set(proxy.forwarded) == {server.url}
            assert all(r["line"] == f"POST {server.url} HTTP/1.1" for r in server.requests)
        http_client.close_pool()
        await close_http_session()

    asyncio.run(calls())


def test_https_calls_tunnel_through_the_proxy(tmp_path, settings, monkeypatch):
    ca_pem, chain = issue_certificates(tmp_path)
    bundle = tmp_path / "ca.pem"
    bundle.write_text(ca_pem)
    settings.OUTBOUND_CA_BUNDLE = str(bundle)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(chain)

    async def calls():
        async with RawServer(_mcp(b"secret"), tls=server_tls) as server, CountingProxy() as proxy:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            session = UpstreamSession(server.url, {})
            result = await session.request("tools/call", {"name": "t"}, timeout=5)
            assert result["content"][0]["text"] == "secret"
            assert len(proxy.tunnels) == server.connections == 2
            assert set(proxy.tunnels) == {f"127.0.0.1:{server.port}"}
        http_client.close_pool()
        await close_http_session()

    asyncio.run(calls())


def test_no_proxy_names_hosts_reached_directly(monkeypatch):
    async def calls():
        async with RawServer(_mcp(b"direct")) as server, CountingProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            session = UpstreamSession(server.url, {})
            await session.request("tools/call", {"name": "t"}, timeout=5)
            assert proxy.forwarded == proxy.tunnels == []
        http_client.close_pool()
        await close_http_session()

    asyncio.run(calls())


def test_through_a_proxy_a_metadata_address_is_still_refused(monkeypatch):
    async def calls():
        async with CountingProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            session = UpstreamSession("http://[2002:a9fe:a9fe::]/mcp", {})
            with pytest.raises(UpstreamUnavailable, match="cloud metadata address"):
                await session.request("tools/list", {}, timeout=5)
            assert proxy.forwarded == proxy.tunnels == []
        http_client.close_pool()

    asyncio.run(calls())


# -- a server's own bound -------------------------------------------------------------------------


def test_a_server_may_set_its_own_reply_bound(api, acme, alice):
    client = api.as_(alice)
    body = {"name": "wiki", "url": "https://wiki.test/mcp", "max_reply_bytes": 2048}
    created = client.post("/api/v1/workspaces/acme/servers/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["max_reply_bytes"] == 2048
    server = Server.objects.for_workspace(acme).get(name="wiki")
    assert snapshot._upstream(server).max_reply_bytes == 2048
    refused = client.patch(
        "/api/v1/workspaces/acme/servers/wiki/", {"max_reply_bytes": 0}, format="json"
    )
    assert refused.status_code == 400


def test_the_pool_applies_the_servers_bound_over_the_setting(settings):
    settings.UPSTREAM_MAX_REPLY_BYTES = 10 * MB

    async def calls():
        pool = UpstreamPool()
        async with RawServer(_mcp(b"y" * 5000)) as server:
            session = pool.get(("a", "b"), server.url, {}, max_reply_bytes=4000)
            with pytest.raises(UpstreamReplyTooLarge, match="exceeds 4000 bytes"):
                await session.request("tools/call", {"name": "t"}, timeout=5)
            session = pool.get(("a", "b"), server.url, {})
            result = await session.request("tools/call", {"name": "t"}, timeout=5)
            assert len(result["content"][0]["text"]) == 5000
        http_client.close_pool()
        await close_http_session()

    asyncio.run(calls())


def test_the_managed_server_supervisor_is_never_reached_through_the_proxy(settings, monkeypatch):
    async def calls():
        async with RawServer(_mcp(b"managed")) as server, CountingProxy() as proxy:
            settings.MANAGED_SUPERVISOR_URL = f"http://127.0.0.1:{server.port}"
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            session = UpstreamSession(f"http://127.0.0.1:{server.port}/managed/1/mcp", {})
            result = await session.request("tools/call", {"name": "t"}, timeout=5)
            assert result["content"][0]["text"] == "managed"
            assert proxy.forwarded == [] and server.connections == 2
        http_client.close_pool()
        await close_http_session()

    asyncio.run(calls())


def test_open_event_streams_leave_the_capped_connections_to_exchanges(settings, upstream_url):
    """Each upstream session keeps a GET stream open for its life; those streams must not take
    the places under the per-origin cap that sessions need for their exchanges."""
    settings.UPSTREAM_MAX_CONNECTIONS_PER_ORIGIN = 1

    async def sessions():
        async def on_event(message):
            pass

        opened = []
        try:
            for _ in range(3):
                session = UpstreamSession(upstream_url, {}, on_event=on_event)
                opened.append(session)
                async with asyncio.timeout(5):
                    await session.ensure_ready(timeout=5)
                result = await session.request(
                    "tools/call", {"name": "echo", "arguments": {"text": "hi"}}, timeout=5
                )
                assert result["content"][0]["text"] == "hi"
        finally:
            for session in opened:
                await session.close()
            await close_http_session()

    asyncio.run(sessions())
