"""A 2026-07-28 upstream whose tools answer with tasks (the `io.modelcontextprotocol/tasks`
extension, SEP-2663), built with the SDK's `Extension` interface.

Run it with ``python tests/upstreams/tasks_server.py --port N``; it serves Streamable HTTP at
``http://127.0.0.1:N/mcp``, 2026-07-28 only (the SDK has no tasks helpers, and the extension is
carried in per-request capabilities), or with ``--era both`` the handshake too, where its tools
answer directly.

To a client that declares the extension on its request, every tool answers with a task:

* ``report(topic)``: completes at once with a text that holds a secret-looking key, so a
  response rule has something to redact;
* ``interview(topic)``: asks for the person's name (``input_required`` with an elicitation in
  ``inputRequests``), then completes with it once ``tasks/update`` brings the answer;
* ``long_job()``: keeps working until ``tasks/cancel``;
* ``rogue()``: answers with a task even without the declaration, against the spec.

Without the declaration the other tools answer directly, as the spec requires. The task store
is this process's memory: the gateway's workers all reach the one upstream.
"""

from __future__ import annotations

import argparse
import datetime
import uuid
from typing import Any

import uvicorn
from catalog_server import EraGate
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, RequestParams
from mcp_types import CallToolRequestParams as CallParams

TASKS = "io.modelcontextprotocol/tasks"
CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
SECRET = "ghp_" + "Tk4" * 12


class TaskParams(RequestParams):
    taskId: str


class UpdateParams(RequestParams):
    taskId: str
    inputResponses: dict[str, Any] = {}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class TasksExtension(Extension):
    identifier = TASKS

    def __init__(self) -> None:
        self.tasks: dict[str, dict] = {}

    def methods(self):
        return (
            MethodBinding("tasks/get", TaskParams, self._get),
            MethodBinding("tasks/update", UpdateParams, self._update),
            MethodBinding("tasks/cancel", TaskParams, self._cancel),
        )

    async def intercept_tool_call(self, params: CallParams, ctx, call_next):
        meta = dict(ctx.meta or {})
        declared = TASKS in ((meta.get(CAPABILITIES) or {}).get("extensions") or {})
        topic = (params.arguments or {}).get("topic", "")
        if not declared and params.name != "rogue":
            return await call_next(ctx)
        task = {
            "taskId": uuid.uuid4().hex,
            "status": "working",
            "createdAt": _now(),
            "lastUpdatedAt": _now(),
            "ttlMs": 60000,
            "pollIntervalMs": 50,
            "tool": params.name,
            "topic": topic,
        }
        if params.name == "report":
            task["status"] = "completed"
            task["result"] = _text(f"Report on {topic}: use key {SECRET} to fetch it.")
        elif params.name == "interview":
            task["status"] = "input_required"
            task["inputRequests"] = {
                "name": {
                    "method": "elicitation/create",
                    "params": {
                        "mode": "form",
                        "message": f"Who is being interviewed about {topic}?",
                        "requestedSchema": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                            "required": ["name"],
                        },
                    },
                }
            }
        self.tasks[task["taskId"]] = task
        seed = {k: v for k, v in task.items() if k in _TASK_FIELDS}
        seed["status"] = "working"
        return {"resultType": "task", **seed}

    def _task(self, task_id: str) -> dict:
        task = self.tasks.get(task_id)
        if task is None:
            raise MCPError(INVALID_PARAMS, "Failed to retrieve task: Task not found")
        return task

    async def _get(self, ctx, params: TaskParams) -> dict:
        task = self._task(params.taskId)
        return {k: v for k, v in task.items() if k in _TASK_FIELDS or k in _DETAIL_FIELDS}

    async def _update(self, ctx, params: UpdateParams) -> dict:
        task = self._task(params.taskId)
        answer = params.inputResponses.get("name")
        if task["status"] == "input_required" and isinstance(answer, dict):
            name = (answer.get("content") or {}).get("name", "nobody")
            task.pop("inputRequests", None)
            task.update(status="completed", lastUpdatedAt=_now())
            task["result"] = _text(f"Interviewed {name} about {task['topic']}.")
        return {}

    async def _cancel(self, ctx, params: TaskParams) -> dict:
        task = self._task(params.taskId)
        if task["status"] in ("working", "input_required"):
            task.pop("inputRequests", None)
            task.update(status="cancelled", lastUpdatedAt=_now(), statusMessage="Cancelled.")
        return {}


_TASK_FIELDS = ("taskId", "status", "statusMessage", "createdAt", "lastUpdatedAt", "ttlMs")
_DETAIL_FIELDS = ("pollIntervalMs", "inputRequests", "result", "error")


def _text(text: str) -> dict:
    # The tools return `str`, so their output schema wants it as `result` too.
    return {
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"result": text},
        "isError": False,
    }


def build() -> MCPServer:
    server = MCPServer("jobs", extensions=[TasksExtension()])

    @server.tool()
    def report(topic: str) -> str:
        """Write a report (as a task when the client can follow one)."""
        return f"Report on {topic}: use key {SECRET} to fetch it."

    @server.tool()
    def interview(topic: str) -> str:
        """Interview someone (as a task that asks for their name)."""
        return f"No one to interview about {topic}."

    @server.tool()
    def rogue() -> str:
        """Answer with a task even to a client that cannot follow one (against the spec)."""
        return "done"

    @server.tool()
    def long_job() -> str:
        """Work until cancelled (as a task)."""
        return "done"

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--era", choices=["modern", "both"], default="modern")
    args = parser.parse_args()
    app = EraGate(build().streamable_http_app(host=args.host), args.era)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
