"""Reading one assignment's lists from its upstream, for the catalog (`dataplane/catalog.py`).

A failed handshake or `tools/list` marks the assignment down, to be fetched again after a
backoff. Prompts, resources and templates are read each on its own: one the upstream cannot
give (a JSON-RPC error such as -32601, a timeout, an HTTP 4xx) leaves only that list empty, with
a note logged once, and the upstream stays up. Outcomes count toward the assignment's circuit
breaker (`dataplane/circuit_breaker.py`).
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings

from dataplane import circuit_breaker, upstreams
from dataplane.snapshot import AssignmentSpec
from gateways import pinning
from identities.upstream import brokering
from servers.upstream import (
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
    read_all_pages,
)
from servers.workstation.session import ConnectorMissing

logger = logging.getLogger(__name__)

# How soon a workstation server's catalog is fetched again while no connector serves it.
CONNECTOR_RETRY_SECONDS = 2.0

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


@dataclass
class AssignmentCatalog:
    lists: dict[str, list[dict]]
    fetched_at: float
    ttl: float
    private: bool
    error: str = ""
    # Set when the caller has no identity for this upstream: where to set one, and whether
    # that is a page to open in a browser (URL-mode elicitation).
    connect_url: str = ""
    url_mode: bool = False
    # Tool name -> fingerprint of its definition as fetched.
    digests: dict[str, str] = field(default_factory=dict)
    # Tool name -> what the admission checks found in its definition (gateways/admission.py);
    # withheld unless an admin approved that fingerprint, which the merge compares.
    flags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # What the upstream could not list although it is up (an optional list that failed).
    notes: list[str] = field(default_factory=list)
    # The first fetch is still running: nothing to offer yet, and not known to be down.
    pending: bool = False
    # A workstation server no connector serves for the caller: fetched again soon, not backed
    # off, so tools appear as soon as the person starts their connector.
    connector_missing: bool = False

    @property
    def down(self) -> bool:
        return bool(self.error)


def without_identity(error: brokering.IdentityError) -> AssignmentCatalog:
    # Not cached: it lasts only until the caller sets a credential.
    return AssignmentCatalog(
        lists={k: [] for k in LISTS},
        fetched_at=time.monotonic(),
        ttl=0,
        private=True,
        error=error.message,
        connect_url=getattr(error, "connect_url", ""),
        url_mode=getattr(error, "url_mode", False),
    )


def pending(spec: AssignmentSpec) -> AssignmentCatalog:
    # Expired from the start: a request that finds it joins the running fetch or starts one.
    return AssignmentCatalog(
        lists={k: [] for k in LISTS},
        fetched_at=time.monotonic(),
        ttl=0,
        private=False,
        notes=[f"'{spec.upstream.server_name}' has not answered yet"],
        pending=True,
    )


def _down(spec, identity, session, exc) -> AssignmentCatalog:
    logger.warning("upstream %s is unavailable: %s", spec.upstream.server_name, exc)
    upstreams.upstream_failed(spec, identity, session)
    return AssignmentCatalog(
        lists={k: [] for k in LISTS},
        fetched_at=time.monotonic(),
        ttl=retry_down_after(1),
        private=False,
        error=str(exc) or type(exc).__name__,
    )


def retry_down_after(failures: int) -> float:
    """Backoff of a down upstream: the interval doubles with each failure in a row, up to a cap."""
    base = settings.UPSTREAM_RETRY_DOWN_SECONDS
    return min(base * 2 ** max(failures - 1, 0), settings.UPSTREAM_RETRY_DOWN_MAX_SECONDS)


def _assess(spec: AssignmentSpec, tools: list) -> tuple[dict, dict]:
    """Each tool's fingerprint, and what the admission checks flag, by name."""
    digests, flags = {}, {}
    for tool in tools:
        if isinstance(tool, dict) and isinstance(tool.get("name"), str):
            digests[tool["name"]] = pinning.fingerprint(tool)
            found = spec.admission_flags(tool)
            if found:
                flags[tool["name"]] = found
    return digests, flags


_noted: dict[tuple, str] = {}


def _note_once(spec: AssignmentSpec, kind: str, note: str) -> None:
    """Log a degraded list the first time, not on every fetch that finds it so."""
    key = (spec.upstream.server_id, kind)
    if _noted.get(key) != note:
        if len(_noted) > 10_000:
            _noted.clear()
        _noted[key] = note
        logger.warning("upstream %s: %s", spec.upstream.server_name, note)


async def fetch(spec, identity, snapshot, principal, on_event, retry=True) -> AssignmentCatalog:
    """Read every list the assignment offers over its pooled session (`on_event` hears what the
    upstream sends on its own). Never raises for the upstream's faults: a failed handshake or
    tools list gives a down catalog, a failed optional list an empty one and a note."""
    breaker = circuit_breaker.breaker_for(spec, identity)
    session = upstreams.upstream_session(spec, identity, snapshot, on_event)
    timeout = min(spec.timeout, settings.UPSTREAM_DISCOVERY_TIMEOUT_SECONDS)
    handshake = min(
        timeout, spec.upstream.handshake_timeout or settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS
    )
    lists: dict[str, list[dict]] = {}
    ttls, private, notes = [], False, []
    try:
        info = await session.ensure_ready(timeout=handshake)
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
            try:
                items, ttl_ms, scope = await read_all_pages(
                    session, method, field_name, timeout=timeout
                )
            except (UpstreamError, UpstreamTimeout, UpstreamRejected) as exc:
                if kind == "tools" or isinstance(exc, UpstreamUnauthorized):
                    raise
                # An optional list the upstream cannot give leaves only that list empty.
                note = f"{method} failed: {exc}"
                _note_once(spec, kind, note)
                lists[kind] = []
                notes.append(note)
                continue
            lists[kind] = items
            if ttl_ms is not None:
                ttls.append(ttl_ms / 1000)
            private = private or scope == "private"
    except UpstreamUnauthorized as exc:
        # A person's refused OAuth token is refreshed once, and the catalog read with it.
        try:
            fresh = await upstreams.identity_after_refusal(spec, principal, snapshot, identity)
        except brokering.IdentityError as missing:
            return without_identity(missing)
        if fresh is not None and retry:
            return await fetch(spec, fresh, snapshot, principal, on_event, retry=False)
        breaker.failed(call=False)
        return _down(spec, identity, session, exc)
    except ConnectorMissing as exc:
        return AssignmentCatalog(
            lists={k: [] for k in LISTS},
            fetched_at=time.monotonic(),
            ttl=CONNECTOR_RETRY_SECONDS,
            private=True,
            error=str(exc),
            connector_missing=True,
        )
    except (UpstreamUnavailable, UpstreamTimeout, UpstreamError, TimeoutError) as exc:
        breaker.failed(call=False)
        return _down(spec, identity, session, exc)
    breaker.reachable()
    ttl = settings.MCP_CATALOG_TTL_SECONDS
    if ttls:
        ttl = min(ttl, *ttls)
    # Fingerprints and checks read every definition: on a large list that is CPU time the
    # worker's other requests must not wait behind.
    digests, flags = await asyncio.to_thread(_assess, spec, lists["tools"])
    return AssignmentCatalog(
        lists=lists,
        fetched_at=time.monotonic(),
        ttl=ttl,
        private=private,
        digests=digests,
        flags=flags,
        notes=notes,
    )
