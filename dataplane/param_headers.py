"""`Mcp-Param-*` headers of 2026-07-28 `tools/call` requests (SEP-2243, custom headers).

A tool's input schema may mark arguments with `x-mcp-header`; a 2026-07-28 client mirrors
those arguments into `Mcp-Param-<name>` headers so intermediaries can route on them. The
gateway checks the client's headers against the arguments, as the SDK's own server does, and
derives the upstream's headers afresh from the arguments the request rules left: a header the
client sent is never copied upstream, so it cannot say something the body does not.
"""

from mcp.shared.inbound import (
    MCP_PARAM_HEADER_PREFIX,
    find_invalid_x_mcp_header,
    mcp_param_headers,
    validate_mcp_param_headers,
    x_mcp_header_map,
)

from dataplane import protocol
from dataplane.protocol import RpcError

PREFIX = MCP_PARAM_HEADER_PREFIX.lower()


def from_request(headers: dict) -> dict:
    """The request's `Mcp-Param-*` headers (names lowercased)."""
    return {name: value for name, value in headers.items() if name.startswith(PREFIX)}


def check(input_schema, arguments: dict, headers: dict) -> None:
    """Refuse (-32020, HTTP 400) a call whose headers disagree with its arguments."""
    rejection = validate_mcp_param_headers(input_schema, arguments, headers)
    if rejection is not None:
        raise RpcError(protocol.HEADER_MISMATCH, rejection.message)


def derive(input_schema, arguments: dict) -> dict:
    """The headers a 2026-07-28 upstream expects for these arguments; none for a schema whose
    annotations are invalid (conforming clients drop such a tool)."""
    if not isinstance(input_schema, dict) or find_invalid_x_mcp_header(input_schema) is not None:
        return {}
    return mcp_param_headers(x_mcp_header_map(input_schema), arguments)
