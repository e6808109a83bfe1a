"""Discovering what a server offers, kept on the server row for the console and the API.

The data plane keeps its own short-lived catalog per worker; this is the durable copy,
refreshed on demand, by the periodic Celery task and when a server changes.
"""

import asyncio
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from servers import gateway_notice, health
from servers.legacy_upstream import LegacySseSession
from servers.locations import upstream_endpoint
from servers.models import Server
from servers.upstream import (
    UpstreamError,
    UpstreamRejected,
    UpstreamSession,
    UpstreamTimeout,
    UpstreamUnavailable,
    close_http_session,
    read_all_pages,
)
from servers.workstation import registry

logger = logging.getLogger(__name__)

_LISTS = (
    ("tools", "tools/list", "tools", "tools"),
    ("prompts", "prompts/list", "prompts", "prompts"),
    ("resources", "resources/list", "resources", "resources"),
    ("resource_templates", "resources/templates/list", "resourceTemplates", "resources"),
)


async def discover(
    url: str,
    headers: dict[str, str],
    *,
    transport: str = "streamable_http",
    timeout: float | None = None,
    handshake_timeout: float | None = None,
    supervised: bool = False,
) -> dict:
    """Connect, read every list the server supports, and return the catalog.

    An optional list (prompts, resources, templates) the server cannot give is left empty and
    named in the catalog's `notes`; only the handshake and the tools decide that it is down."""
    timeout = timeout or settings.UPSTREAM_DISCOVERY_TIMEOUT_SECONDS
    kind = LegacySseSession if transport == "sse" else UpstreamSession
    session = UpstreamSession(url, headers, supervised=True) if supervised else kind(url, headers)
    try:
        handshake = min(timeout, handshake_timeout or settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS)
        info = await session.ensure_ready(timeout=handshake)
        catalog = {
            "era": info.era,
            "protocol_version": info.protocol_version,
            "server_info": info.server_info,
            "capabilities": info.capabilities,
            "instructions": info.instructions,
        }
        notes = []
        for key, method, field_name, capability in _LISTS:
            items = []
            if capability in info.capabilities:
                try:
                    items, _, _ = await read_all_pages(session, method, field_name, timeout=timeout)
                except (UpstreamError, UpstreamTimeout, UpstreamRejected) as exc:
                    if key == "tools":
                        raise
                    notes.append(f"{method} failed: {exc}")
            catalog[key] = items
        catalog["notes"] = notes
        return catalog
    finally:
        await session.close()


async def _discover_and_close(url, headers, transport, timeout, handshake_timeout, supervised):
    try:
        return await discover(
            url,
            headers,
            transport=transport,
            timeout=timeout,
            handshake_timeout=handshake_timeout,
            supervised=supervised,
        )
    finally:
        await close_http_session()


def refresh_catalog(
    *, server: Server, timeout: float | None = None, deadline: float | None = None
) -> Server:
    """Discover `server` now and record its catalog and health (sync; for tasks and views).
    `deadline` bounds the whole discovery, handshake and every list together."""
    if server.kind == Server.Kind.WORKSTATION:
        return _workstation_health(server)
    url, headers = upstream_endpoint(server_id=server.pk, kind=server.kind, url=server.url)
    now = timezone.now()
    discovery = _discover_and_close(
        url,
        headers,
        server.transport,
        timeout,
        server.handshake_timeout_seconds,
        server.kind != Server.Kind.REMOTE,
    )
    try:
        catalog = asyncio.run(asyncio.wait_for(discovery, deadline) if deadline else discovery)
    except (UpstreamError, UpstreamUnavailable, UpstreamTimeout, TimeoutError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        # The update that moves the row to down is the one that tells, in the alert's
        # transaction: a console click and a scheduled check finding the same outage raise one
        # alert, not two, and an alert that could not be written leaves the row as it was.
        with transaction.atomic():
            went_down = (
                Server.objects.filter(pk=server.pk)
                .exclude(health=Server.Health.DOWN)
                .update(
                    health=Server.Health.DOWN, health_detail=detail[:500], health_checked_at=now
                )
            )
            if went_down:
                health.server_went_down(server=server, detail=detail)
        if not went_down:
            Server.objects.filter(pk=server.pk).update(
                health_detail=detail[:500], health_checked_at=now
            )
        server.refresh_from_db()
        return server
    # Up, with what it could not list (an optional list that failed) as the detail.
    detail = "; ".join(catalog["notes"])[:500]
    if detail:
        logger.warning("server %s is up but %s", server.pk, detail)
    fields = {
        "catalog": catalog,
        "catalog_updated_at": now,
        "health": Server.Health.UP,
        "health_detail": detail,
        "health_checked_at": now,
    }
    with transaction.atomic():
        rows = Server.objects.select_for_update().filter(pk=server.pk)
        before = _tool_names(rows.values_list("catalog", flat=True).first())
        came_back = rows.filter(health=Server.Health.DOWN).update(**fields)
        if came_back:
            health.server_came_back(server=server)
        else:
            rows.update(**fields)
        if _tool_names(catalog) != before:
            # The gateways serving it check its tools' names against their other servers'
            # (shadowing): their snapshots must see the new names, not wait for a config change.
            gateway_notice.tell_gateways_of(server)
    server.refresh_from_db()
    return server


def _tool_names(catalog: dict | None) -> set[str]:
    tools = (catalog or {}).get("tools") or []
    return {t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)}


def _workstation_health(server: Server) -> Server:
    """The platform cannot reach a workstation server, so it is never connected to: Up while a
    connector serves it, else Unknown ("no connector connected"), which raises no alert."""
    if registry.served(server.pk):
        health_now, detail = Server.Health.UP, ""
    else:
        health_now, detail = Server.Health.UNKNOWN, "no connector connected"
    Server.objects.filter(pk=server.pk).update(
        health=health_now, health_detail=detail, health_checked_at=timezone.now()
    )
    server.refresh_from_db()
    return server
