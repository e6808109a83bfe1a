"""One caller request in flight on a child, and what the child says about it until it answers."""

import asyncio
from typing import Any

from servers.supervisor.errors import ChildTimeout, SupervisorError

_MESSAGE, _FINAL, _ERROR = "message", "final", "error"


class Exchange:
    """A request forwarded to a child under a rewritten id.

    Notifications and server-to-client requests the child emits for it are queued in order,
    followed by exactly one final item: the child's response (with the caller's id restored) or
    a `SupervisorError`. Anything the child says about the request pushes the deadline back, so
    a long call that reports progress never times out.
    """

    def __init__(
        self,
        *,
        label: str,
        child_id: int,
        original_id: Any,
        method: str,
        progress_token: Any,
        generation: int,
        timeout: float,
        owner: Any,
    ):
        self.label = label
        self.child_id = child_id
        self.original_id = original_id
        self.method = method
        self.progress_token = progress_token
        self.generation = generation
        self.owner = owner
        self.done = False
        self._timeout = timeout
        self._queue: asyncio.Queue = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + timeout

    def touch(self) -> None:
        self._deadline = self._loop.time() + self._timeout

    def push(self, message: dict) -> None:
        if not self.done:
            self._queue.put_nowait((_MESSAGE, message))

    def finish(self, response: dict) -> None:
        if not self.done:
            self.done = True
            self._queue.put_nowait((_FINAL, {**response, "id": self.original_id}))

    def fail(self, error: SupervisorError) -> None:
        if not self.done:
            self.done = True
            self._queue.put_nowait((_ERROR, error))

    async def next(self) -> tuple[bool, dict]:
        """(is_final, message); raises the `SupervisorError` the request failed with."""
        while True:
            remaining = self._deadline - self._loop.time()
            if remaining <= 0 and self._queue.empty():
                raise ChildTimeout(
                    f"{self.label} did not answer {self.method} within {self._timeout:g}s"
                )
            try:
                kind, payload = await asyncio.wait_for(self._queue.get(), max(remaining, 0.001))
            except TimeoutError:
                # The deadline may have moved while waiting; the loop checks again.
                continue
            if kind == _ERROR:
                raise payload
            return kind == _FINAL, payload
