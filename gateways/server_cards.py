"""What a gateway says about itself before a client connects: its Server Card, its `server.json`
for registry clients, and its entry in the MCP catalog.

The shapes are the published ones: the Server Card of SEP-2127 (schema
`https://static.modelcontextprotocol.io/schemas/v1/server-card.schema.json`), the MCP Catalog
(`specVersion` "draft", modelcontextprotocol/experimental-ext-server-card docs/discovery.md), and
the registry's `server.json` (schema 2025-12-11). None of them lists tools, resources or prompts:
a client learns those by connecting. Everything here is built from plain values, so the data
plane (from its snapshot) and the control plane (from the database) answer alike.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

# What `serverInfo.version` says in every handshake; cards and registry entries repeat it.
GATEWAY_VERSION = "0.1.0"

CARD_SCHEMA = "https://static.modelcontextprotocol.io/schemas/v1/server-card.schema.json"
CARD_MEDIA_TYPE = "application/mcp-server-card+json"
CARD_SUFFIX = "server-card"  # `<streamable-http-url>/server-card`, the location SEP-2127 reserves
SERVER_SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
CATALOG_SPEC_VERSION = "draft"
OFFICIAL_META = "io.modelcontextprotocol.registry/official"
AUTHORIZATION_META = "gatehouse/authorization"
CAPABILITIES_META = "gatehouse/capabilities"

# The gateway URL speaks Streamable HTTP from 2025-03-26 on (both eras); `/sse`, 2024-11-05.
STREAMABLE_VERSIONS = tuple(v for v in HANDSHAKE_PROTOCOL_VERSIONS if v >= "2025-03-26") + tuple(
    MODERN_PROTOCOL_VERSIONS
)
LEGACY_SSE_VERSIONS = tuple(v for v in HANDSHAKE_PROTOCOL_VERSIONS if v < "2025-03-26")

# The schemas cap these at 100 characters.
TEXT_LIMIT = 100
_NOT_A_LABEL = re.compile(r"[^a-zA-Z0-9-]+")


# Tasks (SEP-2663): relayed from upstreams that create them (dataplane/tasks.py).
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"


def capabilities() -> dict:
    """The capabilities every gateway declares, whatever is assigned to it."""
    return {
        "tools": {"listChanged": True},
        "prompts": {"listChanged": True},
        "resources": {"listChanged": True, "subscribe": True},
        "completions": {},
        "logging": {},
        "extensions": {TASKS_EXTENSION: {}},
    }


@dataclass(frozen=True)
class GatewayFacts:
    """One gateway as the request's origin reaches it."""

    origin: str  # scheme://host[:port], as the caller reached this platform
    workspace_slug: str
    slug: str
    name: str
    description: str = ""

    @property
    def host(self) -> str:
        return urlsplit(self.origin).hostname or "localhost"

    @property
    def url(self) -> str:
        return f"{self.origin}/mcp/{self.workspace_slug}/{self.slug}"

    @property
    def card_url(self) -> str:
        return f"{self.url}/{CARD_SUFFIX}"

    @property
    def resource_metadata_url(self) -> str:
        path = f"/mcp/{self.workspace_slug}/{self.slug}"
        return f"{self.origin}/.well-known/oauth-protected-resource{path}"

    @property
    def server_name(self) -> str:
        return f"{namespace(self.origin, self.workspace_slug)}/{self.slug}"

    @property
    def title(self) -> str:
        return _clip(self.name or self.slug)


def namespace(origin: str, workspace_slug: str) -> str:
    """The reverse-DNS namespace of a workspace's servers: the host reversed, then the
    workspace (`gatehouse.example.com`, `acme` -> `com.example.gatehouse.acme`)."""
    host = urlsplit(origin).hostname or "localhost"
    # An IP address or IPv6 literal is no domain; its characters are folded into labels.
    labels = [_NOT_A_LABEL.sub("-", label) for label in host.split(".") if label]
    return ".".join([*reversed(labels), workspace_slug])


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1].rstrip() + "…"


def description(facts: GatewayFacts, *, detailed: bool) -> str:
    """The gateway's own description for a caller who may use it; for anyone else, only what
    its name already says."""
    if detailed and facts.description.strip():
        return _clip(facts.description)
    return _clip(f"MCP gateway {facts.title}")


def _authorization_header() -> dict:
    return {
        "name": "Authorization",
        "description": "Bearer and a gateway token; without one, the client signs in with OAuth.",
        "isRequired": False,
        "isSecret": True,
        "placeholder": "Bearer gth_...",
    }


def remotes(facts: GatewayFacts, *, with_versions: bool) -> list[dict]:
    """The gateway URL (Streamable HTTP) and its legacy HTTP+SSE endpoint. The registry's
    `server.json` has no protocol versions field, so only cards carry them."""
    streamable = {"type": "streamable-http", "url": facts.url, "headers": [_authorization_header()]}
    legacy = {"type": "sse", "url": f"{facts.url}/sse", "headers": [_authorization_header()]}
    if with_versions:
        streamable["supportedProtocolVersions"] = list(STREAMABLE_VERSIONS)
        legacy["supportedProtocolVersions"] = list(LEGACY_SSE_VERSIONS)
    return [streamable, legacy]


def card(facts: GatewayFacts, *, detailed: bool) -> dict:
    """The gateway's Server Card. `detailed`: the caller may use the gateway."""
    return {
        "$schema": CARD_SCHEMA,
        "name": facts.server_name,
        "version": GATEWAY_VERSION,
        "title": facts.title,
        "description": description(facts, detailed=detailed),
        "remotes": remotes(facts, with_versions=True),
        "_meta": {
            # The card schema has no field for these; the 401 and the resource metadata say the
            # same to anyone who knows the URL.
            AUTHORIZATION_META: {
                "schemes": ["oauth2", "bearer"],
                "protectedResourceMetadata": facts.resource_metadata_url,
            },
            CAPABILITIES_META: capabilities(),
        },
    }


def catalog_entry(facts: GatewayFacts) -> dict:
    """The gateway in an MCP catalog: a URN anchored on the host, and where its card is."""
    return {
        "identifier": f"urn:air:{facts.host}:{facts.workspace_slug}:{facts.slug}",
        "displayName": facts.title,
        "type": CARD_MEDIA_TYPE,
        "url": facts.card_url,
    }


def catalog(entries: list[dict]) -> dict:
    return {"specVersion": CATALOG_SPEC_VERSION, "entries": entries}


def server_json(facts: GatewayFacts) -> dict:
    """The gateway as the registry's `server.json`: a remote server at the gateway URL."""
    return {
        "$schema": SERVER_SCHEMA,
        "name": facts.server_name,
        "title": facts.title,
        "description": description(facts, detailed=True),
        "version": GATEWAY_VERSION,
        "remotes": remotes(facts, with_versions=False),
    }


def registry_entry(facts: GatewayFacts, *, published_at: str, updated_at: str) -> dict:
    """A registry API `ServerResponse`: the `server.json` and the registry's own metadata.
    A gateway has one version, the live one, so it is always the latest."""
    return {
        "server": server_json(facts),
        "_meta": {
            OFFICIAL_META: {
                "status": "active",
                "publishedAt": published_at,
                "updatedAt": updated_at,
                "isLatest": True,
            }
        },
    }
