"""Step 4 of the lifecycle: what each assignment offers, and the merged, curated view that
routing looks names up in.

Upstream lists are read page by page (`dataplane/catalog_fetch.py`) and kept per (assignment,
identity) in this process until their time-to-live runs out (the upstream's `ttlMs` when it gives
one), an upstream `list_changed` arrives, or the snapshot changes. One upstream never holds up
the others: an expired entry is served while one background task fetches it again, and only a
first fetch is waited for, at most UPSTREAM_LIST_DEADLINE_SECONDS. An upstream that cannot be
reached drops out of the merged lists and is retried with backoff, off the request path; clients
hear with `list_changed` when an upstream drops out, comes back, or answers late.
The upstream sessions and the caller's identity for each assignment come from step 6
(`dataplane/upstreams.py`); what an upstream sends on its own comes back here
(`on_upstream_event`).

Each fetched tool is fingerprinted and assessed once (`gateways.pinning`,
`gateways.admission`); a pinned tool whose fingerprint no longer matches its pin, and a tool the
admission checks flag in a definition no admin approved, are withheld from the merged view. The
first fetch that finds one writes a `policy.tool_filtered` entry and asks for the server to be
discovered again, so the console and the API can show it awaiting approval.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings

from core import config_events
from dataplane import audit_trail, catalog_fetch, mcp_apps, namespacing, upstreams
from dataplane.catalog_fetch import AssignmentCatalog
from dataplane.snapshot import AssignmentSpec, GatewaySnapshot
from identities.upstream import brokering
from servers.tasks import refresh_catalog_task

logger = logging.getLogger(__name__)

_LIST_CHANGED = {
    "tools": "notifications/tools/list_changed",
    "prompts": "notifications/prompts/list_changed",
    "resources": "notifications/resources/list_changed",
    "templates": "notifications/resources/list_changed",
}


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
    # Tools awaiting an admin's approval (changed since pinned, or flagged by the admission
    # checks): name -> why, in the words of the audit entry.
    withheld_tools: dict[str, str] = field(default_factory=dict)
    # The tools MCP Apps may call by their upstream names (dataplane/mcp_apps.py).
    app_tools: mcp_apps.AppTools = field(default_factory=mcp_apps.AppTools)


async def _identity_or_error(spec, principal, snapshot):
    try:
        return await upstreams.identity_for(spec, principal, snapshot)
    except brokering.IdentityError as exc:
        return exc


def forget(spec: AssignmentSpec, identity: brokering.UpstreamIdentity) -> None:
    """Drop the lists kept for this identity: the next request reads them from the upstream."""
    catalogs.invalidate((spec.id, identity.key))


async def on_upstream_event(
    spec: AssignmentSpec,
    identity: brokering.UpstreamIdentity,
    snapshot: GatewaySnapshot,
    message: dict,
) -> None:
    """What an upstream sends on its own: a `list_changed` drops the lists kept for the identity
    and is passed on to clients; `resources/updated` is passed on with the URI clients know."""
    method = message.get("method", "")
    if method.endswith("/list_changed"):
        forget(spec, identity)
        notify_clients(snapshot.id, {"jsonrpc": "2.0", "method": method})
        return
    params = dict(message.get("params") or {})
    uri = params.get("uri")
    if method == "notifications/resources/updated" and isinstance(uri, str):
        prefixed = spec.resources_prefixed
        params["uri"] = namespacing.resource_uri(spec.namespace, uri, prefixed=prefixed)
        notify_clients(snapshot.id, {"jsonrpc": "2.0", "method": method, "params": params})


def notify_clients(gateway_id: int, message: dict) -> None:
    """Send `message` to every client stream open on the gateway, without waiting (from inside
    the event loop)."""
    asyncio.get_running_loop().create_task(config_events.send_to_streams(gateway_id, message))


def _changed_lists(previous: AssignmentCatalog, fresh: AssignmentCatalog) -> list[str]:
    """The list_changed methods clients need after `fresh` replaced `previous`."""
    if previous.down != fresh.down or previous.pending:
        return list(config_events.LIST_CHANGED)
    methods = {_LIST_CHANGED[k] for k in catalog_fetch.LISTS if previous.lists[k] != fresh.lists[k]}
    return [m for m in config_events.LIST_CHANGED if m in methods]


def _log_failed_refresh(task: asyncio.Task) -> None:
    # A background refresh has no caller to raise to; the entry stays as it was.
    if not task.cancelled() and task.exception() is not None:
        logger.error("a catalog refresh failed", exc_info=task.exception())


class CatalogCache:
    """The lists of each (assignment, identity), fetched in the background and served stale
    while they are fetched again, so that no request waits for an upstream that already
    answered once. Bounded by MCP_CATALOG_MAX_ENTRIES, least recently used first out."""

    def __init__(self):
        self._entries: OrderedDict[tuple, AssignmentCatalog] = OrderedDict()
        self._refreshing: dict[tuple, asyncio.Task] = {}
        self._failures: dict[tuple, int] = {}
        self.generation = 0

    def clear(self) -> None:
        """Forget every list: the next request fetches afresh."""
        self._entries.clear()
        self._failures.clear()
        self.generation += 1

    def invalidate(self, key: tuple) -> None:
        if self._entries.pop(key, None) is not None:
            self.generation += 1

    async def get(
        self, spec: AssignmentSpec, principal, snapshot, identity=None
    ) -> AssignmentCatalog:
        """`identity`: already resolved (an UpstreamIdentity, or the IdentityError it raised).

        An expired entry is returned at once while one background task fetches it again; only
        a first fetch is waited for, and at most UPSTREAM_LIST_DEADLINE_SECONDS."""
        if identity is None:
            identity = await _identity_or_error(spec, principal, snapshot)
        if isinstance(identity, brokering.IdentityError):
            return catalog_fetch.without_identity(identity)
        key = (spec.id, identity.key)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            if time.monotonic() - entry.fetched_at < entry.ttl:
                return entry
            task = self._refresh(key, spec, identity, snapshot, principal)
            if not entry.connector_missing:
                return entry
            # Nothing worth serving stale: the connector may have just started, so the fresh
            # lists are waited for as on a first fetch.
        else:
            task = self._refresh(key, spec, identity, snapshot, principal)
        try:
            deadline = spec.upstream.list_deadline or settings.UPSTREAM_LIST_DEADLINE_SECONDS
            return await asyncio.wait_for(asyncio.shield(task), deadline)
        except TimeoutError:
            # Answered without it; clients hear list_changed when the fetch completes.
            entry = self._entries.get(key)
            if entry is None:
                entry = catalog_fetch.pending(spec)
                self._store(key, entry)
            return entry

    def _refresh(self, key, spec, identity, snapshot, principal) -> asyncio.Task:
        task = self._refreshing.get(key)
        if task is None:
            work = self._fetch_and_store(key, spec, identity, snapshot, principal)
            task = asyncio.get_running_loop().create_task(work)
            task.add_done_callback(_log_failed_refresh)
            self._refreshing[key] = task
        return task

    async def _fetch_and_store(self, key, spec, identity, snapshot, principal):
        try:
            fresh = await catalog_fetch.fetch(
                spec, identity, snapshot, principal, on_upstream_event
            )
            # Read after the fetch: a caller that gave up on it left a pending entry meanwhile.
            previous = self._entries.get(key)
            if fresh.down and fresh.ttl > 0 and not fresh.connector_missing:
                # Backed off; not a missing identity (never kept) nor a missing connector.
                self._failures[key] = self._failures.get(key, 0) + 1
                fresh.ttl = max(fresh.ttl, catalog_fetch.retry_down_after(self._failures[key]))
            else:
                self._failures.pop(key, None)
            known = previous if previous is not None and not previous.pending else None
            await _report_withheld(spec, principal, snapshot, fresh, known)
            self._store(key, fresh)
            if previous is not None:
                for method in _changed_lists(previous, fresh):
                    notify_clients(snapshot.id, {"jsonrpc": "2.0", "method": method})
            return fresh
        finally:
            self._refreshing.pop(key, None)

    def _store(self, key: tuple, entry: AssignmentCatalog) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > settings.MCP_CATALOG_MAX_ENTRIES:
            evicted, _ = self._entries.popitem(last=False)
            self._failures.pop(evicted, None)
        self.generation += 1


catalogs = CatalogCache()

_REDISCOVERY_SECONDS = 60.0
_rediscovered_at: dict[int, float] = {}
_rediscoveries: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks


PIN_CHANGED = "changed upstream since it was pinned"
FLAGGED = "flagged by the admission checks"


def _why_withheld(spec: AssignmentSpec, catalog: AssignmentCatalog, name: str) -> str:
    digest = catalog.digests.get(name, "")
    if spec.withholds(name, digest):
        return PIN_CHANGED
    return FLAGGED if name in catalog.flags and not spec.admits(name, digest) else ""


def _withheld(spec: AssignmentSpec, fetched: AssignmentCatalog | None) -> dict[str, str]:
    """Name -> why, for each tool of the fetch that curation offers and that awaits approval."""
    if fetched is None:
        return {}
    found = {}
    for tool in fetched.lists["tools"]:
        name = tool.get("name") if isinstance(tool, dict) else None
        if isinstance(name, str) and spec.tool_allowed(name, tool.get("annotations")):
            why = _why_withheld(spec, fetched, name)
            if why:
                found[name] = why
    return found


async def _report_withheld(spec, principal, snapshot, fetched, previous) -> None:
    """Log each tool this fetch withholds, and have its server discovered again."""
    changed = _withheld(spec, fetched)
    if previous is not None and set(changed) != set(_withheld(spec, previous)):
        # Clients holding the earlier list learn that a tool left it (or came back).
        notify_clients(
            snapshot.id, {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        )
    if not changed:
        return
    for name, why in changed.items():
        client = namespacing.client_name(spec.namespace, name, prefixed=bool(spec.namespace))
        await audit_trail.tool_withheld(
            snapshot, spec, principal, client, name, why, fetched.flags.get(name, ())
        )
    server_id = spec.upstream.server_id
    now = time.monotonic()
    if now - _rediscovered_at.get(server_id, -_REDISCOVERY_SECONDS) >= _REDISCOVERY_SECONDS:
        _rediscovered_at[server_id] = now
        # Off the request path and off the shared sync thread: discovery may take a while.
        work = database_sync_to_async(_rediscover, thread_sensitive=False)(server_id)
        task = asyncio.get_running_loop().create_task(work)
        _rediscoveries.add(task)
        task.add_done_callback(_rediscoveries.discard)


def _rediscover(server_id: int) -> None:
    try:
        refresh_catalog_task.delay(server_id)
    except Exception:  # a broker outage must not surface in the data plane
        logger.exception("could not ask for server %s to be discovered again", server_id)


_views: dict[tuple, tuple[float, MergedView, GatewaySnapshot]] = {}


def forget_catalogs() -> None:
    """Forget every fetched list and merged view of this process."""
    catalogs.clear()
    _views.clear()


async def _identities(snapshot: GatewaySnapshot, principal) -> list:
    """Each assignment's identity (or IdentityError) for this caller. Those that need none are
    known at once; only the others are resolved, together (a task each costs more than the
    whole answer for the common case)."""
    resolved = [
        brokering.NO_IDENTITY if brokering.needs_no_identity(spec) else None
        for spec in snapshot.assignments
    ]
    unknown = [i for i, identity in enumerate(resolved) if identity is None]
    if unknown:
        found = await asyncio.gather(
            *(_identity_or_error(snapshot.assignments[i], principal, snapshot) for i in unknown)
        )
        for i, identity in zip(unknown, found, strict=True):
            resolved[i] = identity
    return resolved


async def merged_view(snapshot: GatewaySnapshot, principal) -> MergedView:
    """The curated, namespaced union of every assignment's catalog for this caller."""
    resolved = await _identities(snapshot, principal)
    identities = tuple(getattr(r, "key", "missing") for r in resolved)
    key = (id(snapshot), identities, catalogs.generation)
    cached = _views.get(key)
    # The entry holds its snapshot, so that snapshot's id cannot be reused by a newer one while
    # the entry lives; the identity check says so explicitly.
    if cached is not None and cached[2] is snapshot and time.monotonic() < cached[0]:
        return cached[1]
    fetched = await asyncio.gather(
        *(
            catalogs.get(spec, principal, snapshot, identity)
            for spec, identity in zip(snapshot.assignments, resolved, strict=True)
        )
    )
    view = _merge(snapshot, fetched)
    if len(_views) > 1000:
        _views.clear()
    deadline = min((c.fetched_at + c.ttl for c in fetched), default=time.monotonic() + 60)
    _views[(id(snapshot), identities, catalogs.generation)] = (deadline, view, snapshot)
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
        public = (
            public
            and not catalog.private
            and spec.identity_scheme not in ("user_oauth", "manual")
            # Each person's own workstation may offer other tools.
            and not (spec.upstream.kind == "workstation" and spec.upstream.scope == "personal")
        )
        prefixed = spec.resources_prefixed
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
    app_calls: list[tuple[str, tuple | None]] = []
    for spec, catalog in pairs:
        if catalog.down:
            continue
        offers_app = curate and any(mcp_apps.names_app(i) for i in catalog.lists[kind])
        for item in catalog.lists[kind]:
            name = item.get("name")
            if not isinstance(name, str) or not name:
                continue
            app_call = offers_app and mcp_apps.app_callable(item)
            if curate and not spec.tool_allowed(name, item.get("annotations")):
                # Remembered so a call to it is logged as a curation decision.
                view.filtered_tools.add(
                    namespacing.client_name(spec.namespace, name, prefixed=bool(spec.namespace))
                )
                view.filtered_tools.add(name)
                if app_call:
                    app_calls.append((name, None))
                continue
            override = spec.tool_overrides.get(name, {}) if curate else {}
            base = override.get("name") or name
            why = _why_withheld(spec, catalog, name) if curate else ""
            if why:
                # Remembered so a call to it is told why instead of "unknown tool".
                prefixed = bool(spec.namespace)
                client = namespacing.client_name(spec.namespace, base, prefixed=prefixed)
                view.withheld_tools[client] = why
                view.withheld_tools.setdefault(base, why)
                if app_call:
                    app_calls.append((name, None))
                continue
            item = dict(item)
            if override.get("description"):
                item["description"] = override["description"]
            if offers_app:
                item = mcp_apps.with_gateway_uris(
                    item,
                    namespace=spec.namespace,
                    prefixed=spec.resources_prefixed,
                    readable=spec.resources_enabled,
                )
            candidates.append((spec, name, item, base))
            if app_call:
                app_calls.append((name, (spec.id, name)))
    counts: dict[str, int] = {}
    listed: dict[tuple, str] = {}
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
        listed[(spec.id, name)] = client
    # An app calls by the upstream name; the gateway's name is known once the list is merged.
    for name, key in app_calls:
        view.app_tools.add(name, listed.get(key) if key is not None else None)
