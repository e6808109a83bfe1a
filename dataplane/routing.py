"""Step 3 of the lifecycle: answer each MCP method as one server.

Lists are merged (step 4, `dataplane/catalog.py`) and paginated with the gateway's own cursors.
A call is routed to exactly one assignment and its upstream: through the request rules (step 5,
`dataplane/policy.py`) to the upstream call (step 7, `dataplane/upstream_call.py`). Both client
eras reach here in one internal shape (`CallContext` of `dataplane/context.py`, method, params);
the reply (step 8, `dataplane/reply.py`) adapts the results to the client's era.
"""

import base64
import json
from typing import Any

from django.conf import settings

from dataplane import (
    approval,
    audit_trail,
    caching,
    catalog,
    namespacing,
    param_headers,
    policy,
    protocol,
    request_state,
    tasks,
    upstream_call,
    upstreams,
)
from dataplane.context import CallContext
from dataplane.protocol import RpcError
from dataplane.snapshot import AssignmentSpec, GatewaySnapshot
from gateways.server_cards import GATEWAY_VERSION, capabilities
from identities.upstream.brokering import IdentityError
from servers.upstream import (
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)


def server_info(snapshot: GatewaySnapshot) -> dict:
    return {"name": snapshot.name or snapshot.slug, "version": GATEWAY_VERSION}


def instructions(snapshot: GatewaySnapshot) -> str:
    names = ", ".join(
        f"{a.upstream.server_name} (as '{a.namespace}')" if a.namespace else a.upstream.server_name
        for a in snapshot.assignments
    )
    text = f"Gatehouse gateway '{snapshot.name}'."
    if names:
        text += f" Tools, prompts and resources come from: {names}."
    if snapshot.description:
        text += f" {snapshot.description}"
    return text


async def handle(ctx: CallContext, method: str, params: dict) -> dict:
    handler = _HANDLERS.get(method)
    if handler is None or (ctx.modern and method in protocol.REMOVED_IN_MODERN):
        raise RpcError(protocol.METHOD_NOT_FOUND, f"Method not found: {method}")
    if not isinstance(params, dict):
        raise RpcError(protocol.INVALID_PARAMS, "params must be an object")
    return await handler(ctx, params)


# -- lists -------------------------------------------------------------------------------------


def _decode_cursor(params: dict) -> int:
    cursor = params.get("cursor")
    if cursor is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(cursor) + "==="))["o"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError) as exc:
        raise RpcError(protocol.INVALID_PARAMS, "Invalid cursor") from exc
    return offset


def _page(items: list, params: dict, field: str, view: catalog.MergedView, ctx) -> dict:
    offset = _decode_cursor(params)
    size = settings.MCP_LIST_PAGE_SIZE
    result: dict[str, Any] = {field: items[offset : offset + size]}
    if offset + size < len(items):
        cursor = json.dumps({"o": offset + size}).encode()
        result["nextCursor"] = base64.urlsafe_b64encode(cursor).decode().rstrip("=")
    if ctx.modern:
        result["ttlMs"] = view.ttl_ms
        result["cacheScope"] = "public" if view.public else "private"
    return result


async def _tools_list(ctx: CallContext, params: dict) -> dict:
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    return _page([e.item for e in view.tools.values()], params, "tools", view, ctx)


async def _prompts_list(ctx: CallContext, params: dict) -> dict:
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    return _page([e.item for e in view.prompts.values()], params, "prompts", view, ctx)


async def _resources_list(ctx: CallContext, params: dict) -> dict:
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    return _page([item for _, item in view.resources], params, "resources", view, ctx)


async def _templates_list(ctx: CallContext, params: dict) -> dict:
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    items = [item for _, item in view.templates]
    return _page(items, params, "resourceTemplates", view, ctx)


# -- routed calls ------------------------------------------------------------------------------


def _down_assignment(ctx: CallContext, name: str) -> AssignmentSpec | None:
    namespace, sep, _rest = name.partition(namespacing.SEPARATOR)
    if not sep:
        return None
    for spec in ctx.snapshot.assignments:
        if spec.namespace == namespace:
            return spec
    return None


async def resolve_app_call(ctx: CallContext, method: str, params):
    """The params of a call, with a tool name an MCP App's HTML used (the upstream's own) in
    the gateway's form (`dataplane/mcp_apps.py`); before rate limits, rules and the audit
    trail, which all know the tool by that name. Any other call is returned as it is."""
    name = params.get("name") if method == "tools/call" and isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        return params
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    if name in view.tools:
        return params
    resolved = view.app_tools.resolve(name)
    if resolved is None:
        return params
    ctx.tool = resolved
    return dict(params, name=resolved)


async def _tools_call(ctx: CallContext, params: dict) -> dict:
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise RpcError(protocol.INVALID_PARAMS, "tools/call needs a tool name")
    arguments = params.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        raise RpcError(protocol.INVALID_PARAMS, "Tool arguments must be an object")
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    entry = view.tools.get(name)
    if entry is None:
        view.app_tools.refuse_ambiguous(name)
    if entry is None and name in view.withheld_tools:
        ctx.outcome = "blocked"
        why = view.withheld_tools[name]
        await audit_trail.tool_filtered(ctx, name, why)
        if why == catalog.FLAGGED:
            # The reasons quote the suspect text, so they go to the audit log, not to the model.
            raise RpcError(
                protocol.TOOL_NOT_ALLOWED,
                f"The tool {name} was flagged by the gateway's admission checks and is withheld "
                "until an admin approves its definition.",
            )
        raise RpcError(
            protocol.TOOL_NOT_ALLOWED,
            f"The tool {name} changed upstream since an admin approved it and is withheld "
            "until an admin approves the change.",
        )
    if entry is None and name in view.filtered_tools:
        ctx.outcome = "blocked"
        await audit_trail.tool_filtered(ctx, name, "not curated on this gateway")
        raise RpcError(protocol.INVALID_PARAMS, f"Unknown tool: {name}")
    if entry is None:
        spec = _down_assignment(ctx, name)
        if spec is not None:
            cat = await catalog.catalogs.get(spec, ctx.principal, ctx.snapshot)
            if cat.connector_missing:
                ctx.outcome = "error"
                return upstream_call.connector_missing(cat.error)
            if cat.connect_url:
                return upstream_call.identity_required(
                    ctx, "tools/call", cat.error, cat.connect_url, url_mode=cat.url_mode
                )
            if cat.down:
                raise RpcError(
                    protocol.UPSTREAM_UNAVAILABLE,
                    f"The server '{spec.upstream.server_name}' is unavailable: {cat.error}",
                )
        raise RpcError(protocol.INVALID_PARAMS, f"Unknown tool: {name}")
    schema = entry.item.get("inputSchema")
    if ctx.modern:
        param_headers.check(schema, arguments or {}, ctx.param_headers)
    arguments = await policy.check_request(ctx, entry.assignment, name, arguments or {})
    ctx.output_schema = entry.item.get("outputSchema")
    upstream_params = dict(params, name=entry.upstream_name, arguments=arguments)
    if approval.needed(entry.assignment, entry.upstream_name):
        answer = await approval.check(ctx, entry.assignment, name, upstream_params)
        if answer is not None:
            return answer
        if not request_state.issued(upstream_params.get("requestState")):
            # The approval's round was the gateway's own: the upstream never sees it.
            upstream_params.pop("inputResponses", None)
            upstream_params.pop("requestState", None)
    timeout = entry.assignment.tool_overrides.get(entry.upstream_name, {}).get("timeout")
    result = await upstream_call.call_upstream(
        ctx,
        entry.assignment,
        "tools/call",
        upstream_params,
        timeout=timeout,
        param_headers=param_headers.derive(schema, arguments),
    )
    if result.get("resultType") == "task":
        return await tasks.created(ctx, entry.assignment, result)
    return result


async def _prompts_get(ctx: CallContext, params: dict) -> dict:
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise RpcError(protocol.INVALID_PARAMS, "prompts/get needs a prompt name")
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    entry = view.prompts.get(name)
    if entry is None:
        raise RpcError(protocol.INVALID_PARAMS, f"Unknown prompt: {name}")
    return await upstream_call.call_upstream(
        ctx, entry.assignment, "prompts/get", dict(params, name=entry.upstream_name)
    )


def _route_uri(ctx: CallContext, uri: Any) -> tuple[AssignmentSpec, str]:
    if not isinstance(uri, str) or not uri:
        raise RpcError(protocol.INVALID_PARAMS, "A resource URI is required")
    split = namespacing.split_resource_uri(uri)
    if split is not None:
        namespace, upstream_uri = split
        for spec in ctx.snapshot.assignments:
            if spec.namespace == namespace and spec.resources_enabled and spec.resources_prefixed:
                return spec, upstream_uri
    unprefixed = [
        s
        for s in ctx.snapshot.assignments
        if s.resources_enabled and (s.prefix_mode == "never" or not s.namespace)
    ]
    if len(unprefixed) == 1:
        return unprefixed[0], uri
    raise RpcError(protocol.RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})


async def _route_ui_uri(ctx: CallContext, uri: Any) -> tuple[AssignmentSpec, str]:
    """`_route_uri`, but a `ui://` URI whose first segment names a prefixed assignment may also
    be an unprefixed upstream's own (`ui://weather/app.html`): the listings decide, so one
    server's app is never read from another."""
    spec, upstream_uri = _route_uri(ctx, uri)
    if not (
        uri.startswith(namespacing.UI_SCHEME)
        and spec.resources_prefixed
        and any(s.resources_enabled and not s.resources_prefixed for s in ctx.snapshot.assignments)
    ):
        return spec, upstream_uri
    view = await catalog.merged_view(ctx.snapshot, ctx.principal)
    listed = {s.id for s, item in view.resources if item.get("uri") == uri}
    unprefixed = [
        s for s in ctx.snapshot.assignments if s.id in listed and not s.resources_prefixed
    ]
    if len(unprefixed) == 1 and spec.id not in listed:
        return unprefixed[0], uri
    if unprefixed and spec.id in listed:
        raise RpcError(
            protocol.INVALID_PARAMS,
            f"Two servers offer the resource {uri}; give one of them a namespace prefix.",
            {"uri": uri},
        )
    return spec, upstream_uri


async def _resources_read(ctx: CallContext, params: dict) -> dict:
    spec, upstream_uri = await _route_ui_uri(ctx, params.get("uri"))
    result = await upstream_call.call_upstream(
        ctx, spec, "resources/read", dict(params, uri=upstream_uri)
    )
    if ctx.modern:
        result = caching.with_hints(result)
    contents = result.get("contents")
    if spec.resources_prefixed and isinstance(contents, list):
        result = dict(
            result,
            contents=[
                dict(c, uri=namespacing.resource_uri(spec.namespace, c["uri"], prefixed=True))
                if isinstance(c, dict) and isinstance(c.get("uri"), str)
                else c
                for c in contents
            ],
        )
    return result


async def _resources_subscribe(ctx: CallContext, params: dict, method: str) -> dict:
    spec, upstream_uri = _route_uri(ctx, params.get("uri"))
    return await upstream_call.call_upstream(ctx, spec, method, dict(params, uri=upstream_uri))


async def _completion(ctx: CallContext, params: dict) -> dict:
    ref = params.get("ref")
    if not isinstance(ref, dict):
        raise RpcError(protocol.INVALID_PARAMS, "completion/complete needs a ref")
    if ref.get("type") == "ref/prompt":
        view = await catalog.merged_view(ctx.snapshot, ctx.principal)
        name = ref.get("name")
        entry = view.prompts.get(name) if isinstance(name, str) else None
        if entry is None:
            raise RpcError(protocol.INVALID_PARAMS, f"Unknown prompt: {ref.get('name')}")
        upstream_ref = dict(ref, name=entry.upstream_name)
        spec = entry.assignment
    elif ref.get("type") == "ref/resource":
        spec, upstream_uri = _route_uri(ctx, ref.get("uri"))
        upstream_ref = dict(ref, uri=upstream_uri)
    else:
        raise RpcError(protocol.INVALID_PARAMS, "ref.type must be ref/prompt or ref/resource")
    return await upstream_call.call_upstream(
        ctx, spec, "completion/complete", dict(params, ref=upstream_ref)
    )


async def _set_level(ctx: CallContext, params: dict) -> dict:
    if not isinstance(params.get("level"), str):
        raise RpcError(protocol.INVALID_PARAMS, "logging/setLevel needs a level")
    for spec in ctx.snapshot.assignments:
        cat = await catalog.catalogs.get(spec, ctx.principal, ctx.snapshot)
        if cat.down:
            continue
        try:
            identity = await upstreams.identity_for(spec, ctx.principal, ctx.snapshot)
        except IdentityError:
            continue
        session = upstreams.upstream_session(
            spec, identity, ctx.snapshot, catalog.on_upstream_event
        )
        if session.info is None or "logging" not in session.info.capabilities:
            continue
        if session.info.era == "handshake":
            try:
                await session.request("logging/setLevel", params, timeout=spec.timeout)
            except (UpstreamError, UpstreamTimeout, UpstreamUnavailable):
                continue
    return {}


async def _ping(ctx: CallContext, params: dict) -> dict:
    return {}


async def _discover(ctx: CallContext, params: dict) -> dict:
    return {
        "supportedVersions": list(protocol.SUPPORTED_VERSIONS),
        "capabilities": capabilities(),
        "instructions": instructions(ctx.snapshot),
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": {protocol.META_SERVER_INFO: server_info(ctx.snapshot)},
    }


_HANDLERS = {
    "ping": _ping,
    "server/discover": _discover,
    "tools/list": _tools_list,
    "tools/call": _tools_call,
    "prompts/list": _prompts_list,
    "prompts/get": _prompts_get,
    "resources/list": _resources_list,
    "resources/templates/list": _templates_list,
    "resources/read": _resources_read,
    "resources/subscribe": lambda ctx, p: _resources_subscribe(ctx, p, "resources/subscribe"),
    "resources/unsubscribe": lambda ctx, p: _resources_subscribe(ctx, p, "resources/unsubscribe"),
    "completion/complete": _completion,
    "logging/setLevel": _set_level,
    "tasks/get": tasks.get,
    "tasks/update": tasks.update,
    "tasks/cancel": tasks.cancel,
}
