"""A load balancer for tests: a TCP proxy on loopback that sends each new connection to the
next backend in turn, with no stickiness, as a plain L4 balancer in front of several hosts
would; a test may choose where the next connection goes (`send_next_to`). It runs in a thread
of the test process."""

from __future__ import annotations

import asyncio
import itertools
import threading

from tests.support.live import free_port


class RoundRobin:
    def __init__(self, backends: list[tuple[str, int]]):
        self.port = free_port()
        self.connections: list[int] = []  # the backend index each connection went to
        self._backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._pipes: set[asyncio.Task] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RoundRobin:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the balancer did not start")
        return self

    def send_next_to(self, index: int) -> None:
        """The next connection goes to backend `index`, and the turns go on from there."""
        count = len(self._backends)
        self._next = itertools.cycle([*range(index, count), *range(index)])

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, client_reader, client_writer) -> None:
        task = asyncio.current_task()
        self._pipes.add(task)
        try:
            await self._relay(client_reader, client_writer)
        finally:
            self._pipes.discard(task)

    async def _relay(self, client_reader, client_writer) -> None:
        index = next(self._next)
        self.connections.append(index)
        host, port = self._backends[index]
        try:
            backend_reader, backend_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer)
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()
