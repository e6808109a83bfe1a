"""MCP protocol vocabulary the data plane needs: revisions, eras, JSON-RPC errors."""

from typing import Any

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

MODERN_VERSIONS: tuple[str, ...] = tuple(MODERN_PROTOCOL_VERSIONS)
HANDSHAKE_VERSIONS: tuple[str, ...] = tuple(HANDSHAKE_PROTOCOL_VERSIONS)
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[-1]
LATEST_MODERN = MODERN_VERSIONS[-1]
# Revisions a client may name in MCP-Protocol-Version after the handshake.
STREAMABLE_HANDSHAKE_VERSIONS = tuple(v for v in HANDSHAKE_VERSIONS if v >= "2025-03-26")
# What server/discover lists, and what an unsupported version's error names.
SUPPORTED_VERSIONS = (*MODERN_VERSIONS, *STREAMABLE_HANDSHAKE_VERSIONS)
# Handshake-era methods 2026-07-28 removed: a 2026-07-28 client calling one gets -32601.
REMOVED_IN_MODERN = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)
# Log levels by severity (RFC 5424 order), for the 2026-07-28 per-request logLevel.
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

HEADER_SESSION = "mcp-session-id"
HEADER_PROTOCOL = "mcp-protocol-version"
HEADER_METHOD = "mcp-method"
HEADER_NAME = "mcp-name"

# JSON-RPC and MCP error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Implementation-defined server errors (-32000..-32099).
UPSTREAM_UNAVAILABLE = -32001
UPSTREAM_TIMEOUT = -32002
UPSTREAM_BAD_REPLY = -32003
TOOL_NOT_ALLOWED = -32004
SESSION_REQUIRED = -32005
RATE_LIMITED = -32029  # a gateway limit refused the request; data names it and when to retry
AUDIT_BEHIND = -32030  # the audit log could not record the call in time; retry later
RESOURCE_NOT_FOUND = -32002  # spec-assigned for resources/read of an unknown URI
REQUEST_CANCELLED = -32800
HEADER_MISMATCH = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021  # e.g. tasks/* from a client without the extension
UNSUPPORTED_PROTOCOL_VERSION = -32022
URL_ELICITATION_REQUIRED = -32042  # the client must open a page first (2025-11-25)

NAME_BEARING_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


class RpcError(Exception):
    """A JSON-RPC error to answer the client with."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error(self) -> dict:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def error_response(request_id, error: RpcError) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_error()}


def result_response(request_id, result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def is_modern(version: str | None) -> bool:
    return version in MODERN_VERSIONS


def negotiate_handshake_version(requested: Any) -> str:
    if isinstance(requested, str) and requested in HANDSHAKE_VERSIONS:
        return requested
    return LATEST_HANDSHAKE
