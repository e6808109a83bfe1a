"""The compiled, immutable view of one gateway that the data plane works from.

Built once per configuration version (the gateway's token and its workspace's epoch in the
shared cache) and shared by every request of the process, so a request never touches the ORM.
"""

import asyncio
import secrets
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from core import config_events
from dataplane import near_cache
from dataplane.rate_limits import CompiledLimit, compile_limits
from gateways import admission, pinning
from gateways.models import Assignment, Gateway
from gateways.selectors import members_provisioned_to
from identities import selectors as identity_selectors
from identities.upstream import brokering
from rules.engine import EMPTY, CompiledRuleSet, compile_rules
from rules.selectors import definitions_for_gateway
from servers.locations import upstream_endpoint
from servers.upstream_pool import pool
from teams.models import Team, Workspace


@dataclass(frozen=True)
class UpstreamSpec:
    server_id: int
    server_name: str
    kind: str
    transport: str
    url: str
    headers: tuple[tuple[str, str], ...]
    max_reply_bytes: int | None = None  # None: UPSTREAM_MAX_REPLY_BYTES
    handshake_timeout: float | None = None  # None: UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS
    list_deadline: float | None = None  # None: UPSTREAM_LIST_DEADLINE_SECONDS
    scope: str = "personal"  # workstation servers: whose connector serves a call
    workspace_id: int = 0
    # Workstation servers: what the connector runs (or the URL it relays to, in `url`).
    command: str = ""
    args: tuple[str, ...] = ()
    env_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssignmentSpec:
    id: int
    namespace: str
    prefix_mode: str
    identity_scheme: str
    tool_mode: str
    tool_allow: frozenset[str]
    tool_overrides: dict
    prompts_enabled: bool
    resources_enabled: bool
    timeout: float
    upstream: UpstreamSpec
    # The shared credential (service account), decrypted once per snapshot.
    credential: brokering.SharedCredential | None = None
    # Upstream tool name -> digest of its approved definition; compared only when pinning is on.
    tool_pinning: bool = False
    tool_pins: dict = field(default_factory=dict)
    # The longest one call may run, progress or not (MCP_MAX_CALL_SECONDS unless set).
    max_call_seconds: float = 600.0
    # The bound on one reply; None: the server's, else UPSTREAM_MAX_REPLY_BYTES
    # (dataplane/upstreams.py `result_cap`).
    max_result_bytes: int | None = None
    # Admission checks (gateways/admission.py): the hosts of the server's own links, the other
    # servers' tool names on this gateway, and name -> fingerprint of each approved flagged tool.
    known_hosts: frozenset[str] = frozenset()
    other_tools: dict = field(default_factory=dict)
    tool_admissions: dict = field(default_factory=dict)
    # Upstream tool names whose calls need approval, who approves (None: the caller), and how
    # long a call waits for the decision (dataplane/approval.py).
    approval_tools: frozenset[str] = frozenset()
    approval_team_id: int | None = None
    approval_timeout: float = 120.0

    @property
    def bare(self) -> bool:
        """Whether tools reach clients under their own names, where another server's collide."""
        return not self.namespace or self.prefix_mode == Assignment.PrefixMode.NEVER

    def admission_flags(self, tool: dict) -> tuple[str, ...]:
        """What the admission checks find in a fetched tool's definition."""
        reasons = admission.assess(
            tool, other_tools=self.other_tools, known_hosts=self.known_hosts, bare=self.bare
        )
        return tuple(r.text for r in reasons)

    def admits(self, name: str, digest: str) -> bool:
        """Whether an admin approved this flagged definition of the tool."""
        return self.tool_admissions.get(name) == digest

    @property
    def resources_prefixed(self) -> bool:
        """Whether its resource URIs carry its namespace (`dataplane/namespacing.py`)."""
        return self.prefix_mode != "never" and bool(self.namespace)

    def withholds(self, name: str, digest: str) -> bool:
        """Whether a pinned tool changed upstream since an admin approved it."""
        if not self.tool_pinning:
            return False
        pinned = self.tool_pins.get(name)
        return pinned is not None and pinned != digest

    def tool_allowed(self, name: str, annotations: dict | None) -> bool:
        if self.tool_mode == Assignment.ToolMode.ALL:
            return True
        if self.tool_mode == Assignment.ToolMode.SELECTED:
            return name in self.tool_allow
        if self.tool_mode == Assignment.ToolMode.READ_ONLY:
            return bool((annotations or {}).get("readOnlyHint"))
        return False


@dataclass(frozen=True)
class GatewaySnapshot:
    id: int
    workspace_id: int
    workspace_slug: str
    slug: str
    name: str
    description: str
    config_version: int
    assignments: tuple[AssignmentSpec, ...]
    allowed_user_ids: frozenset[int]
    # The workspace's, the gateway's and its assignments' rules, compiled once per snapshot.
    rules: CompiledRuleSet = EMPTY
    # Rule conditions on teams need the caller's teams without a query per call.
    team_slugs_by_user: dict[int, frozenset[str]] = field(default_factory=dict)
    # The gateway's rate limits, parsed once (dataplane/rate_limits.py counts them).
    limits: tuple[CompiledLimit, ...] = ()

    def team_slugs(self, user_id: int) -> frozenset[str]:
        return self.team_slugs_by_user.get(user_id, frozenset())

    def assignment(self, assignment_id: int) -> AssignmentSpec | None:
        for spec in self.assignments:
            if spec.id == assignment_id:
                return spec
        return None


def _upstream(server) -> UpstreamSpec:
    if server.kind == "workstation":
        # Reached through its connector's socket (servers/workstation/session.py).
        url, headers = server.url, {}
    else:
        url, headers = upstream_endpoint(server_id=server.pk, kind=server.kind, url=server.url)
    transport = server.transport if server.kind == "remote" else "streamable_http"
    return UpstreamSpec(
        server.pk,
        server.name,
        server.kind,
        transport,
        url,
        tuple(sorted(headers.items())),
        server.max_reply_bytes,
        server.handshake_timeout_seconds,
        server.list_deadline_seconds,
        server.scope,
        server.workspace_id,
        server.command,
        tuple(str(a) for a in server.args or ()),
        tuple(str(k) for k in server.env_keys or ()),
    )


def build(workspace_id: int, slug: str) -> GatewaySnapshot | None:
    """Read one gateway from the database and compile it (sync; run in a thread)."""
    gateway = (
        Gateway.objects.for_workspace(workspace_id)
        .select_related("workspace")
        .filter(slug=slug)
        .first()
    )
    if gateway is None:
        return None
    assignments = (
        Assignment.objects.for_workspace(workspace_id)
        .filter(gateway=gateway)
        .select_related("server")
        .order_by("position", "id")
    )
    default_timeout = settings.MCP_UPSTREAM_TIMEOUT_SECONDS
    assignments = list(assignments)
    catalogs = [(a.server_id, a.server.name, a.server.catalog) for a in assignments]
    shared = identity_selectors.shared_credentials(workspace_id, [a.pk for a in assignments])
    specs = tuple(
        AssignmentSpec(
            id=a.pk,
            namespace=a.namespace,
            prefix_mode=a.prefix_mode,
            identity_scheme=a.identity_scheme,
            tool_mode=a.tool_mode,
            tool_allow=frozenset(a.tool_allow or ()),
            tool_overrides=dict(a.tool_overrides or {}),
            prompts_enabled=a.prompts_enabled,
            resources_enabled=a.resources_enabled,
            timeout=a.timeout_seconds or default_timeout,
            upstream=_upstream(a.server),
            credential=brokering.compile_shared(shared[a.pk]) if a.pk in shared else None,
            tool_pinning=a.tool_pinning,
            tool_pins=pinning.digests(a.tool_pins),
            max_call_seconds=a.max_call_seconds or settings.MCP_MAX_CALL_SECONDS,
            max_result_bytes=a.max_result_bytes,
            known_hosts=admission.known_hosts(a.server.url),
            other_tools=admission.other_tools(a.server_id, catalogs),
            tool_admissions=admission.approved_digests(a.tool_admissions),
            approval_tools=frozenset(a.approval_tools or ()),
            approval_team_id=a.approval_team_id,
            approval_timeout=float(a.approval_timeout_seconds),
        )
        for a in assignments
    )
    allowed = members_provisioned_to(gateway).values_list("user_id", flat=True)
    teams_by_user: dict[int, set[str]] = {}
    for user_id, team_slug in (
        Team.objects.for_workspace(workspace_id)
        .filter(memberships__active=True)
        .values_list("memberships__user_id", "slug")
    ):
        teams_by_user.setdefault(user_id, set()).add(team_slug)
    rules = compile_rules(definitions_for_gateway(workspace_id=workspace_id, gateway_id=gateway.pk))
    return GatewaySnapshot(
        id=gateway.pk,
        workspace_id=workspace_id,
        workspace_slug=gateway.workspace.slug,
        slug=gateway.slug,
        name=gateway.name,
        description=gateway.description,
        config_version=gateway.config_version,
        assignments=specs,
        allowed_user_ids=frozenset(allowed),
        rules=rules,
        team_slugs_by_user={u: frozenset(t) for u, t in teams_by_user.items()},
        limits=compile_limits(gateway.limits),
    )


def _workspace_id(slug: str) -> int | None:
    return Workspace.objects.filter(slug=slug).values_list("pk", flat=True).first()


class SnapshotRegistry:
    """Per-process snapshots, keyed by (workspace slug, gateway slug)."""

    def __init__(self):
        self._snapshots: dict[tuple[str, str], tuple[tuple, GatewaySnapshot | None]] = {}
        self._workspaces: dict[str, int | None] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def workspace_id(self, slug: str) -> int | None:
        if slug not in self._workspaces:
            found = await sync_to_async(_workspace_id)(slug)
            if found is None:
                return None  # not remembered: the workspace may be created later
            self._workspaces[slug] = found
        return self._workspaces[slug]

    async def fresh_workspace_id(self, slug: str) -> int | None:
        """The workspace's id read again: it may have been deleted and created under its slug."""
        self._workspaces.pop(slug, None)
        return await self.workspace_id(slug)

    def version_keys(self, workspace_id: int, slug: str) -> list[str]:
        return [
            config_events.version_key(workspace_id, slug),
            config_events.epoch_key(workspace_id),
        ]

    async def get(
        self, workspace_slug: str, slug: str, versions: dict | None = None
    ) -> GatewaySnapshot | None:
        """The current snapshot; `versions` are the version keys already fetched from the cache."""
        snapshot = await self._get(workspace_slug, slug, versions)
        if snapshot is None and workspace_slug in self._workspaces:
            # The workspace may have been deleted and created again under the same slug.
            self._workspaces.pop(workspace_slug, None)
            self._snapshots.pop((workspace_slug, slug), None)
            snapshot = await self._get(workspace_slug, slug, None)
        return snapshot

    async def _get(self, workspace_slug: str, slug: str, versions: dict | None):
        workspace_id = await self.workspace_id(workspace_slug)
        if workspace_id is None:
            return None
        keys = self.version_keys(workspace_id, slug)
        if versions is None:
            versions = await near_cache.get_many(keys)
        token = tuple(versions.get(k) for k in keys)
        entry = self._snapshots.get((workspace_slug, slug))
        if entry is not None and entry[0] == token and None not in token:
            return entry[1]
        lock = self._locks.setdefault((workspace_slug, slug), asyncio.Lock())
        async with lock:
            entry = self._snapshots.get((workspace_slug, slug))
            if entry is not None and entry[0] == token and None not in token:
                return entry[1]
            token = await self._ensure_tokens(keys, token)
            snapshot = await sync_to_async(build)(workspace_id, slug)
            self._snapshots[(workspace_slug, slug)] = (token, snapshot)
            if entry is not None:
                _close_sessions_of_removed(entry[1], snapshot)
            return snapshot

    async def _ensure_tokens(self, keys: list[str], token: tuple) -> tuple:
        values = list(token)
        for i, key in enumerate(keys):
            if values[i] is None:
                fresh = secrets.token_hex(8)
                # add() keeps a token another worker set first; read back whichever won.
                await cache.aadd(key, fresh, None)
                values[i] = await cache.aget(key) or fresh
        return tuple(values)


def _close_sessions_of_removed(old: GatewaySnapshot | None, new: GatewaySnapshot | None) -> None:
    """People the gateway no longer serves (suspended, removed, or out of its teams) keep no
    upstream session of their own open in this process."""
    if old is None:
        return
    gone = old.allowed_user_ids - (new.allowed_user_ids if new is not None else frozenset())
    if gone:
        pool.close_sessions(
            {
                (spec.id, brokering.person_slot(user_id))
                for spec in old.assignments
                for user_id in gone
            }
        )


registry = SnapshotRegistry()
