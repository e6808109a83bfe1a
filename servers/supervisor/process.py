"""One stdio child of a managed server: started, initialised once, multiplexed, restarted.

The process slot outlives its children: when a child dies, every request in flight on it fails
at once, and the slot starts a new child with exponential backoff. Bridge sessions bound to the
slot stay valid across restarts, because they belong to the supervisor, not to the child.

Ids are rewritten on the way in (one counter per slot, never reused across restarts) so
requests of many sessions never collide, and progress tokens are rewritten to the same value so
the child's `notifications/progress` find their request again.
"""

import asyncio
import itertools
import logging
from typing import Any, Protocol

from django.conf import settings

from servers.supervisor import child
from servers.supervisor.errors import (
    ChildExited,
    RequestCancelled,
    ServerUnavailable,
    SupervisorError,
)
from servers.supervisor.exchange import Exchange
from servers.supervisor.spec import ProcessSpec

logger = logging.getLogger(__name__)

CLIENT_INFO = {"name": "gatehouse-supervisor", "version": "1"}
# Declared so that children can make these requests; the bridge relays them to the caller.
CLIENT_CAPABILITIES = {
    "sampling": {},
    "elicitation": {"form": {}, "url": {}},
    "roots": {"listChanged": True},
}
CHILD_PROTOCOL_VERSION = "2025-11-25"
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
BACKOFF_RESET_AFTER = 60.0
START_TIMEOUT_FLOOR = 60.0
# Requests during which a child plausibly asks the client something.
_INTERACTIVE_METHODS = {"tools/call", "prompts/get", "resources/read", "completion/complete"}


class Listener(Protocol):
    """A bridge session bound to a process: it receives what no single request can claim."""

    def deliver(self, process: "ManagedProcess", message: dict) -> None: ...

    def offer_request(self, process: "ManagedProcess", message: dict) -> bool: ...


class ManagedProcess:
    def __init__(self, spec: ProcessSpec, *, index: int):
        self.spec = spec
        self.index = index
        self.generation = 0
        self.restarts = 0
        self.initialize_result: dict | None = None
        self.listeners: set[Listener] = set()
        self._timeout = settings.MCP_UPSTREAM_TIMEOUT_SECONDS
        # Starting may download a package (npx, uvx) first, so it gets at least a minute.
        self._start_timeout = max(self._timeout, START_TIMEOUT_FLOOR)
        self._ids = itertools.count(1)
        self._exchanges: dict[int, Exchange] = {}
        self._server_requests: dict[Any, Exchange] = {}
        self._child: child.Child | None = None
        self._ready = False
        self._failure: str | None = None
        self._changed = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self._restart_now = asyncio.Event()
        self._demand = asyncio.Event()
        self._idle_after_failure = False
        self._stopping = False
        self._background: set[asyncio.Task] = set()

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child and self._ready else None

    @property
    def in_flight(self) -> int:
        return sum(1 for exchange in self._exchanges.values() if exchange.owner is not None)

    # Lifecycle

    async def ensure_running(self) -> None:
        """Wait until a child is initialised; a failed start raises `ServerUnavailable`."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name=self.label)
        elif self._idle_after_failure:
            # The last start failed and its backoff is over: this request pays for a new try.
            self._idle_after_failure = False
            self._failure = None
            self._demand.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout
        while not self._ready:
            if self._failure:
                raise ServerUnavailable(self._failure)
            if self._stopping:
                raise ServerUnavailable(f"{self.label} is shutting down")
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
            except TimeoutError:
                raise ServerUnavailable(
                    f"{self.label} did not start within {self._start_timeout:g}s"
                ) from None

    def replace_spec(self, spec: ProcessSpec) -> None:
        """Use a changed definition: a running child is replaced at once, without backoff."""
        self.spec = spec
        self._failure = None
        if self._child is not None and self._ready:
            # New requests wait for the replacement instead of reaching the child being stopped.
            self._ready = False
            self._state_changed()
            self._restart_now.set()
            self._child.terminate_soon()

    async def stop(self) -> None:
        self._stopping = True
        self._state_changed()
        if self._child is not None:
            await self._child.shutdown()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._fail_all(f"{self.label} was stopped")

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = BACKOFF_FIRST
        while not self._stopping:
            started_at = loop.time()
            came_up = await self._run_one_child()
            if self._stopping:
                return
            if self._restart_now.is_set():
                self._restart_now.clear()
                backoff = BACKOFF_FIRST
                continue
            if came_up and loop.time() - started_at >= BACKOFF_RESET_AFTER:
                backoff = BACKOFF_FIRST
            logger.warning("%s: next start in %.1fs", self.label, backoff)
            try:
                await asyncio.wait_for(self._restart_now.wait(), backoff)
                self._restart_now.clear()
                backoff = BACKOFF_FIRST
            except TimeoutError:
                backoff = min(backoff * 2, BACKOFF_MAX)
            if not came_up and not self._demand.is_set():
                # A child that never came up is retried on demand only: a broken command must
                # not spin while nobody is asking for it.
                self._idle_after_failure = True
                await self._demand.wait()
            self._demand.clear()
            self.restarts += 1

    async def _run_one_child(self) -> bool:
        """Start, initialise and watch one child; True if it ran until it exited."""
        self.generation += 1
        try:
            self._child = await child.Child.spawn(
                self.spec, on_message=self._dispatch, on_exit=self._on_exit
            )
        except ServerUnavailable as exc:
            self._start_failed(exc.message)
            return False
        except OSError as exc:
            self._start_failed(f"{self.label} could not be started: {exc}")
            return False
        try:
            await self._initialize()
        except SupervisorError as exc:
            await self._child.shutdown()
            if isinstance(exc, ChildExited):
                problem = f"exited (code {self._child.returncode}) during initialisation"
            else:
                problem = f"failed to initialise: {exc.message}"
            self._start_failed(f"{self.label} {problem}{self._child.exit_description()}")
            return False
        self._failure = None
        self._ready = True
        self._state_changed()
        logger.info("%s: started (pid %s)", self.label, self._child.pid)
        returncode = await self._child.wait()
        self._ready = False
        self._state_changed()
        logger.warning(
            "%s: exited with code %s%s", self.label, returncode, self._child.exit_description()
        )
        return True

    def _on_exit(self, returncode: int) -> None:
        self._ready = False
        self._state_changed()
        self._fail_all(f"{self.label} exited (code {returncode}) while handling this request")

    async def _initialize(self) -> None:
        params = {
            "protocolVersion": CHILD_PROTOCOL_VERSION,
            "capabilities": CLIENT_CAPABILITIES,
            "clientInfo": CLIENT_INFO,
        }
        exchange = await self._send(
            {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params},
            owner=None,
            timeout=self._start_timeout,
        )
        while True:
            final, message = await exchange.next()
            if final:
                break
        if "result" not in message:
            error = message.get("error") or {}
            raise ServerUnavailable(f"initialize was refused: {error.get('message', message)}")
        self.initialize_result = message["result"]
        await self._child.write({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _start_failed(self, reason: str) -> None:
        logger.error("%s", reason)
        self._failure = reason
        self._fail_all(reason)
        self._state_changed()

    def _state_changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _fail_all(self, reason: str) -> None:
        exchanges = list(self._exchanges.values())
        self._exchanges.clear()
        self._server_requests.clear()
        for exchange in exchanges:
            exchange.fail(ChildExited(reason))

    # Caller to child

    async def request(self, message: dict, *, owner: Any) -> Exchange:
        """Forward a caller's request under a fresh id; read the answer from the exchange."""
        await self.ensure_running()
        return await self._send(message, owner=owner)

    async def _send(self, message: dict, *, owner: Any, timeout: float | None = None) -> Exchange:
        child_id = next(self._ids)
        params = message.get("params")
        progress_token = None
        if isinstance(params, dict) and isinstance(params.get("_meta"), dict):
            progress_token = params["_meta"].get("progressToken")
            if progress_token is not None:
                params = {**params, "_meta": {**params["_meta"], "progressToken": child_id}}
        exchange = Exchange(
            label=self.label,
            child_id=child_id,
            original_id=message.get("id"),
            method=str(message.get("method")),
            progress_token=progress_token,
            generation=self.generation,
            timeout=timeout or self._timeout,
            owner=owner,
        )
        self._exchanges[child_id] = exchange
        forwarded = {**message, "id": child_id}
        if params is not None:
            forwarded["params"] = params
        await self._write_or_fail(forwarded, exchange)
        return exchange

    async def notify(self, message: dict) -> None:
        if self._ready and self._child is not None:
            await self._child.write(message)

    async def cancel(self, exchange: Exchange, reason: str) -> None:
        """Give up on a request: the child is told, the exchange ends as cancelled."""
        if exchange.done:
            return
        exchange.fail(RequestCancelled(reason))
        if self._exchanges.pop(exchange.child_id, None) is None:
            return
        if exchange.generation == self.generation:
            params = {"requestId": exchange.child_id, "reason": reason}
            await self.notify(
                {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
            )

    async def reply(self, *, generation: int, child_request_id: Any, payload: dict) -> None:
        """Answer a request the child made; answers meant for a previous child are dropped."""
        exchange = self._server_requests.pop(child_request_id, None)
        if exchange is not None:
            exchange.touch()
        if generation != self.generation:
            return
        await self.notify({"jsonrpc": "2.0", "id": child_request_id, **payload})

    async def _write_or_fail(self, message: dict, exchange: Exchange) -> None:
        try:
            await self._child.write(message)
        except (ConnectionError, RuntimeError, AttributeError):
            self._exchanges.pop(exchange.child_id, None)
            exchange.fail(ChildExited(f"{self.label} exited before the request could be sent"))

    # Child to caller

    def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict):
            logger.warning("%s: ignored a message that is not an object", self.label)
            return
        if "method" in message and "id" in message:
            self._on_request(message)
        elif "method" in message:
            self._on_notification(message)
        elif "id" in message:
            exchange = self._exchanges.pop(message["id"], None)
            if exchange is not None:
                exchange.finish(message)

    def _caller_exchanges(self) -> list[Exchange]:
        return [exchange for exchange in self._exchanges.values() if exchange.owner is not None]

    def _on_notification(self, message: dict) -> None:
        method = message["method"]
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "notifications/progress":
            exchange = self._exchanges.get(params.get("progressToken"))
            if exchange is not None and exchange.progress_token is not None:
                exchange.touch()
                params = {**params, "progressToken": exchange.progress_token}
                exchange.push({**message, "params": params})
            return
        if method == "notifications/cancelled":
            exchange = self._server_requests.pop(params.get("requestId"), None)
            if exchange is not None:
                exchange.push(message)
            return
        if method == "notifications/message":
            # stdio carries no request id; a lone request in flight is the only safe attribution.
            in_flight = self._caller_exchanges()
            if len(in_flight) == 1:
                in_flight[0].push(message)
                return
        for listener in list(self.listeners):
            listener.deliver(self, message)

    def _on_request(self, message: dict) -> None:
        if message["method"] == "ping":
            self._later(self.notify({"jsonrpc": "2.0", "id": message["id"], "result": {}}))
            return
        exchange = self._attribute(self._caller_exchanges())
        if exchange is not None:
            self._server_requests[message["id"]] = exchange
            exchange.touch()
            exchange.push(message)
            return
        if any(listener.offer_request(self, message) for listener in list(self.listeners)):
            return
        error = {
            "code": -32603,
            "message": f"No client is connected to answer {message['method']}.",
        }
        self._later(self.notify({"jsonrpc": "2.0", "id": message["id"], "error": error}))

    def _later(self, coroutine) -> None:
        # Routing runs in the read loop, which must not wait on the child's stdin.
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    def _attribute(in_flight: list[Exchange]) -> Exchange | None:
        if len(in_flight) <= 1:
            return in_flight[0] if in_flight else None
        interactive = [ex for ex in in_flight if ex.method in _INTERACTIVE_METHODS]
        # Newest first: a request that has just started is the likeliest to be asking.
        return (interactive or in_flight)[-1]
