"""Tasks (`io.modelcontextprotocol/tasks`, SEP-2663) through the gateway.

An upstream may answer a `tools/call` with a task instead of a result when the client declared
the extension on its request. The client gets a task id of the gateway's own: the upstream's
id sealed (AES-GCM, a key derived from SECRET_KEY) with the gateway, the assignment, the tool
and the person who created it. So `tasks/get`, `tasks/update` and `tasks/cancel` reach the
owning upstream from any worker without shared state, and an id that is forged, too old, of
another gateway or of another person is refused exactly as an unknown one.

`tasks/get` relays the upstream's task (its `inputRequests` included); the response rules run
on a completed task's result before it is logged or returned (`dataplane/policy.py`). Each
status a task reaches is written once to the audit trail (`task.status`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache as shared_cache
from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value

from core import sealing
from dataplane import audit_trail, catalog, protocol, upstream_call
from dataplane.context import CallContext
from dataplane.protocol import RpcError
from dataplane.snapshot import AssignmentSpec
from gateways.server_cards import TASKS_EXTENSION

# How long a task id the gateway gave out is honoured; upstreams drop tasks sooner (ttlMs).
TASK_ID_MAX_AGE_SECONDS = 7 * 24 * 3600
# Each status a task reaches is audited once: the marker stays this long in the shared cache.
_SEEN_SECONDS = 24 * 3600
_SEEN_PREFIX = "mcp:task-status:"
NOT_FOUND = "Failed to retrieve task: Task not found"
STATUSES = frozenset({"working", "input_required", "completed", "failed", "cancelled"})
# The task requests name their task in `Mcp-Name` too (SEP-2663), so a balancer can route
# them; the SDK's header check covers only the core methods.
METHODS = frozenset({"tasks/get", "tasks/update", "tasks/cancel"})


def name_header_mismatch(method, params, headers) -> RpcError | None:
    """HeaderMismatch (-32020) for a 2026-07-28 task request whose `Mcp-Name` is not its
    `taskId`, as the spec has a server refuse it."""
    if method not in METHODS or not isinstance(params, dict):
        return None
    task_id = params.get("taskId")
    if task_id is None or decode_header_value(headers.get(MCP_NAME_HEADER)) == task_id:
        return None
    return RpcError(
        protocol.HEADER_MISMATCH,
        f"{MCP_NAME_HEADER} header does not match the request body's 'taskId' parameter",
    )


@dataclass(frozen=True)
class TaskBinding:
    """What a gateway task id holds."""

    gateway_id: int
    user_id: int
    assignment_id: int
    tool: str
    upstream_task_id: str
    issued_at: int = 0


_PURPOSE, _AAD = b"mcp-task-id", b"mcp-task"


def seal(binding: TaskBinding) -> str:
    values = [
        binding.gateway_id,
        binding.user_id,
        binding.assignment_id,
        binding.tool,
        binding.upstream_task_id,
        binding.issued_at or int(time.time()),
    ]
    return sealing.seal(values, purpose=_PURPOSE, aad=_AAD)


def unseal(task_id: str) -> TaskBinding | None:
    """The binding sealed in `task_id`, or None if it is forged, garbled or too old."""
    try:
        gateway_id, user_id, assignment_id, tool, upstream_id, issued = sealing.unseal(
            task_id, purpose=_PURPOSE, aad=_AAD
        )
    except (ValueError, TypeError):
        return None
    if time.time() - issued > TASK_ID_MAX_AGE_SECONDS:
        return None
    return TaskBinding(gateway_id, user_id, assignment_id, tool, upstream_id, issued)


def declared(capabilities) -> bool:
    """Whether the client declared the extension (per request, or in its session)."""
    extensions = capabilities.get("extensions") if isinstance(capabilities, dict) else None
    return isinstance(extensions, dict) and TASKS_EXTENSION in extensions


def _require_declared(ctx: CallContext) -> None:
    if not declared(ctx.client_capabilities):
        raise RpcError(
            protocol.MISSING_REQUIRED_CLIENT_CAPABILITY,
            "Missing required client capability",
            {"requiredCapabilities": {"extensions": {TASKS_EXTENSION: {}}}},
        )


async def created(ctx: CallContext, spec: AssignmentSpec, result: dict) -> dict:
    """The client's view of a task an upstream created for a `tools/call`: the gateway's id
    in place of the upstream's."""
    upstream_id = result.get("taskId")
    if not declared(ctx.client_capabilities) or not isinstance(upstream_id, str) or not upstream_id:
        # The spec forbids a task to a client that did not declare the extension.
        ctx.outcome = "error"
        raise RpcError(
            protocol.UPSTREAM_BAD_REPLY,
            f"The server '{spec.upstream.server_name}' answered with a task it may not create.",
        )
    binding = TaskBinding(
        gateway_id=ctx.snapshot.id,
        user_id=ctx.principal.user_id,
        assignment_id=spec.id,
        tool=ctx.tool,
        upstream_task_id=upstream_id,
    )
    await _audit_status(ctx, spec, binding, result)
    return dict(result, taskId=seal(binding))


async def _open(ctx: CallContext, params: dict) -> tuple[TaskBinding, AssignmentSpec]:
    """The binding and assignment of the caller's task; anything else is an unknown task."""
    _require_declared(ctx)
    task_id = params.get("taskId")
    binding = unseal(task_id) if isinstance(task_id, str) and task_id else None
    if (
        binding is None
        or binding.gateway_id != ctx.snapshot.id
        or binding.user_id != ctx.principal.user_id
    ):
        raise RpcError(protocol.INVALID_PARAMS, NOT_FOUND)
    # The tool must still be the caller's on this gateway, through the same assignment.
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    entry = view.tools.get(binding.tool)
    if entry is None or entry.assignment.id != binding.assignment_id:
        raise RpcError(protocol.INVALID_PARAMS, NOT_FOUND)
    ctx.tool = binding.tool
    ctx.output_schema = entry.item.get("outputSchema")
    return binding, entry.assignment


async def get(ctx: CallContext, params: dict) -> dict:
    binding, spec = await _open(ctx, params)
    upstream = dict(params, taskId=binding.upstream_task_id)
    result = await upstream_call.call_upstream(ctx, spec, "tasks/get", upstream)
    await _audit_status(ctx, spec, binding, result)
    return dict(result, taskId=params["taskId"])


async def update(ctx: CallContext, params: dict) -> dict:
    binding, spec = await _open(ctx, params)
    responses = params.get("inputResponses")
    if not isinstance(responses, dict):
        raise RpcError(protocol.INVALID_PARAMS, "tasks/update needs inputResponses (an object)")
    upstream = dict(params, taskId=binding.upstream_task_id)
    return await upstream_call.call_upstream(ctx, spec, "tasks/update", upstream)


async def cancel(ctx: CallContext, params: dict) -> dict:
    binding, spec = await _open(ctx, params)
    upstream = dict(params, taskId=binding.upstream_task_id)
    return await upstream_call.call_upstream(ctx, spec, "tasks/cancel", upstream)


async def _audit_status(ctx, spec, binding: TaskBinding, task: dict) -> None:
    """Write a `task.status` entry the first time any worker sees this state of the task."""
    status = task.get("status")
    if status not in STATUSES:
        return
    task_key = f"{binding.assignment_id}:{binding.upstream_task_id}"
    digest = hashlib.sha256(task_key.encode()).hexdigest()[:32]
    # A state is its status and when it was reached: working again after input is new.
    marker = f"{_SEEN_PREFIX}{digest}:{status}:{task.get('lastUpdatedAt', '')}"
    if not await shared_cache.aadd(marker, 1, _SEEN_SECONDS):
        return
    await audit_trail.task_status(
        ctx, spec, binding.upstream_task_id, status, str(task.get("statusMessage", ""))
    )
