"""The tasks extension (SEP-2663, ``io.modelcontextprotocol/tasks``) of the conformance server.

The 0.2 suite's ``tasks-*`` scenarios call the fixtures named here: ``greet`` (never a task),
``slow_compute`` (a task when the client declared the extension, else answered at once),
``failing_job``, ``protocol_error_job``, ``confirm_delete``, ``multi_input`` and
``test_tool_with_task`` (tasks only: a client without the extension gets -32021).

A task runs on the server's event loop after ``tools/call`` has answered with a flat
``CreateTaskResult``; ``tasks/get`` reports it (the result or error inlined once it ends, the
pending input requests while it waits for the client), ``tasks/update`` delivers answers to those
requests and ``tasks/cancel`` stops it. Tasks live in this process's memory, which is all a test
upstream needs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding, ToolBinding
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value
from mcp_types import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequest,
    InputRequiredResult,
    RequestParams,
    TextContent,
)
from pydantic import Field

TASKS = "io.modelcontextprotocol/tasks"
MODERN = frozenset({"2026-07-28"})
TTL_MS = 3_600_000
POLL_INTERVAL_MS = 200
TERMINAL = {"completed", "failed", "cancelled"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(text: str, *, is_error: bool = False) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=is_error)


def _ask(message: str, **fields: str) -> ElicitRequest:
    schema = {
        "type": "object",
        "properties": {name: {"type": kind} for name, kind in fields.items()},
        "required": list(fields),
    }
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


@dataclass
class TaskRun:
    """One task: its status for ``tasks/get``, and the input it is waiting for."""

    task_id: str
    status: str = "working"
    created_at: str = field(default_factory=_now)
    last_updated_at: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.last_updated_at = self.created_at

    def set_status(self, status: str) -> None:
        self.status = status
        self.last_updated_at = _now()

    async def ask(self, requests: Mapping[str, InputRequest]) -> dict[str, Any]:
        """Park the task on ``input_required`` until every request has an answer."""
        self.pending = {
            key: request.model_dump(by_alias=True, mode="json", exclude_none=True)
            for key, request in requests.items()
        }
        self.answers = {}
        self.set_status("input_required")
        while self.pending:
            self.answered.clear()
            await self.answered.wait()
        self.set_status("working")
        return self.answers

    def answer(self, responses: Mapping[str, Any]) -> None:
        # Keys the task did not ask for are ignored; answered keys leave the pending map.
        for key, response in responses.items():
            if key in self.pending:
                del self.pending[key]
                self.answers[key] = response
        self.answered.set()

    def envelope(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "status": self.status,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
            "ttlMs": TTL_MS,
            "pollIntervalMs": POLL_INTERVAL_MS,
        }

    def detailed(self) -> dict[str, Any]:
        """The DetailedTask ``tasks/get`` answers: the envelope plus what the status carries."""
        detail = self.envelope()
        if self.status == "completed" and self.result is not None:
            detail["result"] = self.result
        elif self.status == "failed" and self.error is not None:
            detail["error"] = self.error
        elif self.status == "input_required":
            detail["inputRequests"] = dict(self.pending)
        return detail


TaskWork = Callable[[dict[str, Any], TaskRun], Awaitable[CallToolResult]]


# -- what each task-supporting tool does once it runs as a task ------------------------------------


async def _slow_compute(arguments: dict[str, Any], run: TaskRun) -> CallToolResult:
    seconds = float(arguments.get("seconds", 0))
    await asyncio.sleep(seconds)
    return _text(f"Computed {arguments.get('label', '')} in {seconds:g}s")


async def _failing_job(arguments: dict[str, Any], run: TaskRun) -> CallToolResult:
    await asyncio.sleep(0.5)
    return _text("failing_job failed, as it always does", is_error=True)


async def _protocol_error_job(arguments: dict[str, Any], run: TaskRun) -> CallToolResult:
    raise MCPError(code=INTERNAL_ERROR, message="protocol_error_job broke on purpose")


def _confirmed(answer: Any) -> bool:
    return isinstance(answer, dict) and bool((answer.get("content") or {}).get("confirm"))


async def _confirm_delete(arguments: dict[str, Any], run: TaskRun) -> CallToolResult:
    filename = arguments.get("filename", "")
    answers = await run.ask({"confirm": _ask(f"Delete {filename}?", confirm="boolean")})
    verdict = "deleted" if _confirmed(answers.get("confirm")) else "kept"
    return _text(f"{filename} {verdict}")


async def _multi_input(arguments: dict[str, Any], run: TaskRun) -> CallToolResult:
    answers = await run.ask(
        {
            "name": _ask("What is your name?", name="string"),
            "confirm": _ask("Go on?", confirm="boolean"),
        }
    )
    return _text(f"Received {sorted(answers)}")


def _greet_later(name: str) -> TaskWork:
    async def work(arguments: dict[str, Any], run: TaskRun) -> CallToolResult:
        return _text(f"Hello, {name}!")

    return work


# -- the tools as tools/list shows them, and their synchronous answers -----------------------------


def greet(name: str) -> str:
    """Greets by name; never a task."""
    return f"Hello, {name}!"


async def slow_compute(seconds: float = 0, label: str = "") -> str:
    """Sleeps for the given seconds, then answers (a task when the client supports tasks)."""
    await asyncio.sleep(seconds)
    return f"Computed {label} in {seconds:g}s"


def _only_as_a_task(name: str) -> MCPError:
    # The extension answers these tools before they run: with a task, or -32021 to a client
    # without the extension. Reaching the body means that check was bypassed.
    return MCPError(code=INTERNAL_ERROR, message=f"{name} runs only as a task")


def failing_job() -> str:
    """Runs as a task and ends with a tool error (status completed, isError true)."""
    raise _only_as_a_task("failing_job")


def protocol_error_job() -> str:
    """Runs as a task and ends with a protocol error (status failed)."""
    raise _only_as_a_task("protocol_error_job")


def confirm_delete(filename: str) -> str:
    """Runs as a task that asks the client to confirm the deletion."""
    raise _only_as_a_task("confirm_delete")


def multi_input() -> str:
    """Runs as a task that asks two questions at once."""
    raise _only_as_a_task("multi_input")


def test_tool_with_task() -> str:
    """Asks for a name (input required), then greets in a task."""
    raise _only_as_a_task("test_tool_with_task")


TOOLS = (
    greet,
    slow_compute,
    failing_job,
    protocol_error_job,
    confirm_delete,
    multi_input,
    test_tool_with_task,
)
# Tools that become tasks, and whether a client without the extension may still call them.
OPTIONAL_TASKS: dict[str, TaskWork] = {"slow_compute": _slow_compute}
REQUIRED_TASKS: dict[str, TaskWork] = {
    "failing_job": _failing_job,
    "protocol_error_job": _protocol_error_job,
    "confirm_delete": _confirm_delete,
    "multi_input": _multi_input,
}


class TaskIdParams(RequestParams):
    task_id: str = Field(alias="taskId")


class TaskUpdateParams(TaskIdParams):
    input_responses: dict[str, Any] | None = Field(default=None, alias="inputResponses")


def _declares_tasks(ctx: ServerRequestContext[Any, Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and TASKS in capabilities.extensions)


class TasksExtension(Extension):
    """SEP-2663 tasks over this process's memory."""

    identifier = TASKS

    def __init__(self) -> None:
        self._tasks: dict[str, TaskRun] = {}
        self._ids = itertools.count(1)

    def tools(self) -> Sequence[ToolBinding]:
        return [ToolBinding(fn) for fn in TOOLS]

    def methods(self) -> Sequence[MethodBinding]:
        return [
            MethodBinding("tasks/get", TaskIdParams, self._get, MODERN),
            MethodBinding("tasks/update", TaskUpdateParams, self._update, MODERN),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel, MODERN),
        ]

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        name = params.name
        required = name in REQUIRED_TASKS or name == "test_tool_with_task"
        if name not in OPTIONAL_TASKS and not required:
            return await call_next(ctx)
        if not _declares_tasks(ctx):
            if required:
                require_client_extension(ctx, TASKS)
            return await call_next(ctx)
        if name == "test_tool_with_task":
            # Gather the name synchronously (SEP-2322), then hand the work to a task.
            answer = (params.input_responses or {}).get("user_name")
            if not (isinstance(answer, ElicitResult) and answer.action == "accept"):
                request = _ask("What is your name?", name="string")
                return InputRequiredResult(input_requests={"user_name": request})
            work = _greet_later(str((answer.content or {}).get("name", "")))
        else:
            work = OPTIONAL_TASKS.get(name) or REQUIRED_TASKS[name]
        run = TaskRun(task_id=f"task-{next(self._ids)}")
        # Stored before the answer leaves, so a tasks/get right after it finds the task.
        self._tasks[run.task_id] = run
        run.runner = asyncio.create_task(self._execute(run, work, dict(params.arguments or {})))
        return {"resultType": "task", **run.envelope()}

    async def _execute(self, run: TaskRun, work: TaskWork, arguments: dict[str, Any]) -> None:
        try:
            result = await work(arguments, run)
        except asyncio.CancelledError:
            return
        except MCPError as exc:
            run.error = {"code": exc.error.code, "message": exc.error.message}
            run.set_status("failed")
            return
        run.result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        run.set_status("completed")

    def _task(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> TaskRun:
        require_client_extension(ctx, TASKS)
        headers = getattr(ctx.request, "headers", None)
        # SEP-2663 mirrors the task id in Mcp-Name, as tools/call mirrors the tool name.
        if (
            headers is not None
            and decode_header_value(headers.get(MCP_NAME_HEADER)) != params.task_id
        ):
            raise MCPError(code=HEADER_MISMATCH, message="Mcp-Name header does not match taskId")
        run = self._tasks.get(params.task_id)
        if run is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown task {params.task_id!r}")
        return run

    async def _get(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> HandlerResult:
        return self._task(ctx, params).detailed()

    async def _update(
        self, ctx: ServerRequestContext[Any, Any], params: TaskUpdateParams
    ) -> HandlerResult:
        self._task(ctx, params).answer(params.input_responses or {})
        return {}

    async def _cancel(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> HandlerResult:
        run = self._task(ctx, params)
        if run.status not in TERMINAL:
            if run.runner is not None:
                run.runner.cancel()
            run.set_status("cancelled")
        # Cancelling a task that already ended is acknowledged the same way (idempotent).
        return {}
