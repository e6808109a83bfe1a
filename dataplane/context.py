"""The one internal shape of a client call that every step of the lifecycle reads and fills:
the gateway snapshot, the caller, the protocol era, the relays back to the client, and the fields
the audit trail shares across the call's hops."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from audit.trace_context import TraceContext
from dataplane import protocol
from dataplane.authentication import Principal
from dataplane.snapshot import GatewaySnapshot


@dataclass
class CallContext:
    snapshot: GatewaySnapshot
    principal: Principal
    protocol_version: str
    client_capabilities: dict
    notify: Callable[[dict], Awaitable[None]] | None = None
    # Relays a request to the client and returns its answer; an optional timeout in seconds.
    ask: Callable[..., Awaitable[dict]] | None = None
    # For the audit trail: who called what, under which correlation id.
    session_id: str = ""
    client_name: str = ""
    client_version: str = ""
    correlation_id: str = ""
    method: str = ""
    rpc_id: Any = None
    tool: str = ""
    # The client's checked W3C trace context and baggage from `params._meta` (SEP-414).
    trace: TraceContext | None = None
    baggage: str = ""
    # The called tool's declared `outputSchema`, for the response rules to keep its types.
    output_schema: dict | None = None
    outcome: str = ""
    # Which credential the upstream call presented ("shared", "personal", "none"), for the audit.
    upstream_identity: str = ""
    # The digest of the arguments an approval was given for, carried by the call's input rounds.
    approved: str = ""
    # A workstation call: the connector that served it ({"id", "host"}), for the audit.
    upstream_connector: dict | None = None
    # The client.request entry, held until the request rules have rewritten the arguments.
    pending_request: dict | None = None
    # The fields all audit entries of the call share, once the call is named (`audit_trail`).
    audit_base: dict | None = None
    # The result the upstream.response entry recorded, for client.response to share it.
    audit_upstream_result: object = None
    # The origin the client reached, to make links in answers absolute.
    origin: str = ""
    # A 2026-07-28 request: its `Mcp-Param-*` headers, and the least severe log level it asked
    # to receive (None: no notifications/message at all).
    param_headers: dict = field(default_factory=dict)
    log_level: str | None = None

    @property
    def modern(self) -> bool:
        return protocol.is_modern(self.protocol_version)

    @property
    def team_slugs(self) -> frozenset[str]:
        """The caller's teams, for rule conditions (from the snapshot: no query per call)."""
        return self.snapshot.team_slugs(self.principal.user_id)
