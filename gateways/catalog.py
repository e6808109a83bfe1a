"""Step 3 of the lifecycle, part one: what each assignment offers, and the merged, curated view.

Upstream lists are read page by page and kept per (assignment, identity) in this process until
their time-to-live runs out (the upstream's `ttlMs` when it gives one), an upstream
`list_changed` arrives, or the snapshot changes. An upstream that cannot be reached drops out of
the merged lists and is retried with backoff; clients hear about both with `list_changed`.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field

from channels.layers import get_channel_layer
from django.conf import settings

from gateways import config_events, namespacing
from gateways.snapshot import AssignmentSpec, GatewaySnapshot
from servers.upstream import (
    UpstreamError,
    UpstreamSession,
    UpstreamTimeout,
    UpstreamUnavailable,
    read_all_pages,
)
from servers.upstream_pool import pool

logger = logging.getLogger(__name__)

LISTS = {
    "tools": ("tools/list", "tools"),
    "prompts": ("prompts/list", "prompts"),
    "resources": ("resources/list", "resources"),
    "templates": ("resources/templates/list", "resourceTemplates"),
}
_CAPABILITY = {
    "tools": "tools",
    "prompts": "prompts",
    "resources": "resources",
    "templates": "resources",
}
_RETRY_DOWN_SECONDS = 5.0


@dataclass
class AssignmentCatalog:
    lists: dict[str, list[dict]]
    fetched_at: float
    ttl: float
    private: bool
    error: str = ""

    @property
    def down(self) -> bool:
        return bool(self.error)


@dataclass(frozen=True)
class Entry:
    """One curated entry as the client sees it, and where it goes upstream."""

    assignment: AssignmentSpec
    upstream_name: str
    item: dict


@dataclass
class MergedView:
    tools: dict[str, Entry] = field(default_factory=dict)
    prompts: dict[str, Entry] = field(default_factory=dict)
    resources: list[tuple[AssignmentSpec, dict]] = field(default_factory=list)
    templates: list[tuple[AssignmentSpec, dict]] = field(default_factory=list)
    ttl_ms: int = 0
    public: bool = False
    filtered_tools: set[str] = field(default_factory=set)


def identity_key(spec: AssignmentSpec, principal) -> str:
    # Shared identities share one upstream session and catalog; per-person ones do not.
    if spec.identity_scheme == "user_oauth":
        return f"user:{principal.user_id}"
    return "shared"


def upstream_session(spec: AssignmentSpec, principal, snapshot: GatewaySnapshot) -> UpstreamSession:
    key = (spec.id, identity_key(spec, principal))

    async def on_event(message: dict) -> None:
        method = message.get("method", "")
        if method.endswith("/list_changed"):
            catalogs.invalidate(key)
            config_events_announce(snapshot.id, {"jsonrpc": "2.0", "method": method})
            return
        params = dict(message.get("params") or {})
        uri = params.get("uri")
        if method == "notifications/resources/updated" and isinstance(uri, str):
            prefixed = spec.prefix_mode != "never" and bool(spec.namespace)
            params["uri"] = namespacing.resource_uri(spec.namespace, uri, prefixed=prefixed)
            config_events_announce(
                snapshot.id, {"jsonrpc": "2.0", "method": method, "params": params}
            )

    return pool.get(
        key,
        spec.upstream.url,
        dict(spec.upstream.headers),
        transport=spec.upstream.transport,
        on_event=on_event,
    )


def config_events_announce(gateway_id: int, message: dict) -> None:
    """Send `message` to every client stream open on the gateway, without waiting."""
    asyncio.get_running_loop().create_task(_announce(gateway_id, message))


async def _announce(gateway_id: int, message: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            config_events.group_name(gateway_id), {"type": "mcp.notify", "message": message}
        )


class CatalogCache:
    def __init__(self):
        self._entries: dict[tuple, AssignmentCatalog] = {}
        self._locks: dict[tuple, asyncio.Lock] = {}
        self.generation = 0

    def invalidate(self, key: tuple) -> None:
        if self._entries.pop(key, None) is not None:
            self.generation += 1

    async def get(self, spec: AssignmentSpec, principal, snapshot) -> AssignmentCatalog:
        key = (spec.id, identity_key(spec, principal))
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and now - entry.fetched_at < entry.ttl:
            return entry
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry.fetched_at < entry.ttl:
                return entry
            was_down = entry.down if entry is not None else None
            fresh = await self._fetch(spec, principal, snapshot)
            self._entries[key] = fresh
            self.generation += 1
            if was_down is not None and was_down != fresh.down:
                for method in config_events.LIST_CHANGED:
                    config_events_announce(snapshot.id, {"jsonrpc": "2.0", "method": method})
            return fresh

    async def _fetch(self, spec, principal, snapshot) -> AssignmentCatalog:
        session = upstream_session(spec, principal, snapshot)
        timeout = min(spec.timeout, 30)
        try:
            info = await session.ensure_ready(timeout=timeout)
            lists: dict[str, list[dict]] = {}
            ttls, private = [], False
            for kind, (method, field_name) in LISTS.items():
                if _CAPABILITY[kind] not in info.capabilities:
                    lists[kind] = []
                    continue
                if kind in ("prompts",) and not spec.prompts_enabled:
                    lists[kind] = []
                    continue
                if kind in ("resources", "templates") and not spec.resources_enabled:
                    lists[kind] = []
                    continue
                items, ttl_ms, scope = await read_all_pages(
                    session, method, field_name, timeout=timeout
                )
                lists[kind] = items
                if ttl_ms is not None:
                    ttls.append(ttl_ms / 1000)
                private = private or scope == "private"
        except (UpstreamUnavailable, UpstreamTimeout, UpstreamError, TimeoutError) as exc:
            logger.warning("upstream %s is unavailable: %s", spec.upstream.server_name, exc)
            session.reset()
            return AssignmentCatalog(
                lists={k: [] for k in LISTS},
                fetched_at=time.monotonic(),
                ttl=_RETRY_DOWN_SECONDS,
                private=False,
                error=str(exc) or type(exc).__name__,
            )
        ttl = settings.MCP_CATALOG_TTL_SECONDS
        if ttls:
            ttl = min(ttl, *ttls)
        return AssignmentCatalog(lists=lists, fetched_at=time.monotonic(), ttl=ttl, private=private)


catalogs = CatalogCache()


_views: dict[tuple, tuple[float, MergedView]] = {}


async def merged_view(snapshot: GatewaySnapshot, principal) -> MergedView:
    """The curated, namespaced union of every assignment's catalog for this caller."""
    identities = tuple(identity_key(spec, principal) for spec in snapshot.assignments)
    key = (id(snapshot), identities, catalogs.generation)
    cached = _views.get(key)
    if cached is not None and time.monotonic() < cached[0]:
        return cached[1]
    fetched = await asyncio.gather(
        *(catalogs.get(spec, principal, snapshot) for spec in snapshot.assignments)
    )
    view = _merge(snapshot, fetched)
    if len(_views) > 1000:
        _views.clear()
    deadline = min((c.fetched_at + c.ttl for c in fetched), default=time.monotonic() + 60)
    _views[(id(snapshot), identities, catalogs.generation)] = (deadline, view)
    return view


def _merge(snapshot: GatewaySnapshot, fetched) -> MergedView:
    view = MergedView()
    ttls, public = [], True
    pairs = list(zip(snapshot.assignments, fetched, strict=True))
    _merge_named(view.tools, pairs, "tools", view, curate=True)
    _merge_named(view.prompts, pairs, "prompts", view, curate=False)
    for spec, catalog in pairs:
        if catalog.down:
            continue
        ttls.append(catalog.ttl)
        public = public and not catalog.private and spec.identity_scheme != "user_oauth"
        prefixed = spec.prefix_mode != "never" and bool(spec.namespace)
        for item in catalog.lists["resources"]:
            uri = item.get("uri")
            if isinstance(uri, str):
                mapped = dict(
                    item, uri=namespacing.resource_uri(spec.namespace, uri, prefixed=prefixed)
                )
                view.resources.append((spec, mapped))
        for item in catalog.lists["templates"]:
            template = item.get("uriTemplate")
            if isinstance(template, str):
                mapped = dict(
                    item,
                    uriTemplate=namespacing.resource_uri(
                        spec.namespace, template, prefixed=prefixed
                    ),
                )
                view.templates.append((spec, mapped))
    view.ttl_ms = int(min(ttls) * 1000) if ttls else 0
    view.public = public and bool(ttls)
    return view


def _merge_named(target: dict, pairs, kind: str, view: MergedView, *, curate: bool) -> None:
    candidates: list[tuple[AssignmentSpec, str, dict, str]] = []
    for spec, catalog in pairs:
        if catalog.down:
            continue
        for item in catalog.lists[kind]:
            name = item.get("name")
            if not isinstance(name, str) or not name:
                continue
            if curate and not spec.tool_allowed(name, item.get("annotations")):
                # Remembered so a call to it is logged as a curation decision.
                view.filtered_tools.add(
                    namespacing.client_name(spec.namespace, name, prefixed=bool(spec.namespace))
                )
                view.filtered_tools.add(name)
                continue
            override = spec.tool_overrides.get(name, {}) if curate else {}
            base = override.get("name") or name
            item = dict(item)
            if override.get("description"):
                item["description"] = override["description"]
            candidates.append((spec, name, item, base))
    counts: dict[str, int] = {}
    for _spec, _name, _item, base in candidates:
        counts[base] = counts.get(base, 0) + 1
    for spec, name, item, base in candidates:
        if spec.prefix_mode == "always":
            prefixed = bool(spec.namespace)
        elif spec.prefix_mode == "conditional":
            prefixed = counts[base] > 1 and bool(spec.namespace)
        else:
            prefixed = False
        client = namespacing.client_name(spec.namespace, base, prefixed=prefixed)
        if client in target:
            # Two unprefixed names collide: the earlier assignment keeps it.
            logger.warning("%s name %s is offered twice; keeping the first", kind, client)
            continue
        item["name"] = client
        target[client] = Entry(assignment=spec, upstream_name=name, item=item)
