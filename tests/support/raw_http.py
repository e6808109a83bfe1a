"""An HTTP server of a few lines of asyncio that answers with exactly the bytes a test wants
(lengths, chunks, a body ended by closing, gzip, a dropped connection, a redirect, too many
headers), which no framework server would let a test choose."""

import asyncio
import functools
import ssl


def run_async(test):
    """A plain test function that runs the coroutine `test` on a fresh event loop."""

    @functools.wraps(test)
    def run():
        asyncio.run(test())

    return run


class RawServer:
    """Reads each request (head and Content-Length body) and answers with `respond(request)`:
    `(bytes to send, close afterwards)`; instead of bytes, a coroutine function that writes the
    answer itself (`await answer(writer)`), for answers that take time or never end.

    Counts the connections it accepted and the most open at once."""

    def __init__(self, respond, *, tls: ssl.SSLContext | None = None):
        self.respond = respond
        self.tls = tls
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[dict] = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/mcp"
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = {"line": lines[0], "headers": headers, "body": body}
                self.requests.append(request)
                answer, close = self.respond(request)
                if callable(answer):
                    await answer(writer)
                else:
                    writer.write(answer)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


def reply(body: bytes, *, status="200 OK", headers=(), length=True) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    if length:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
