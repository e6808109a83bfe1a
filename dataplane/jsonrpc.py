"""The JSON-RPC 2.0 shape of one inbound message, checked once before any step reads it.

Every transport (Streamable HTTP in both eras, the legacy HTTP+SSE transport) turns a decoded
body into an `Inbound` here, so no later step meets a `method` that is not a string, an `id`
that is not a string or an integer, or `params` (or their `_meta`) that are not an object.
A request that breaks the shape is answered with -32600 (not a valid request) or -32602
(params are valid JSON-RPC but MCP wants an object); a notification that breaks it is dropped,
since a notification is never answered; a response that breaks it is refused.
"""

from dataclasses import dataclass, field
from typing import Any

from dataplane import protocol
from dataplane.protocol import RpcError

REQUEST, NOTIFICATION, RESPONSE = "request", "notification", "response"
# Deeper than any MCP message needs; the audit writer, the rules and the upstream SDKs walk
# values recursively, and a message nested hundreds deep would break them.
MAX_DEPTH = 64


@dataclass(frozen=True)
class Inbound:
    kind: str
    method: str = ""
    id: Any = None
    # An object for requests; for a notification, None when its params were malformed.
    params: dict | None = field(default_factory=dict)


class InvalidMessage(RpcError):
    """The message is not one JSON-RPC 2.0 request, notification or response; `id` is the
    request's own when it was readable, so the error can name it."""

    def __init__(self, code: int, message: str, request_id=None):
        super().__init__(code, message)
        self.id = request_id


def _integer(value) -> bool:
    # bool is an int to Python but not to JSON.
    return isinstance(value, int) and not isinstance(value, bool)


def valid_id(value) -> bool:
    """MCP ids are strings or integers, never null."""
    return isinstance(value, str) or _integer(value)


def _params(message: dict, request_id) -> dict:
    params = message.get("params")
    if params is None:
        return {}
    if isinstance(params, list):
        raise InvalidMessage(protocol.INVALID_PARAMS, "params must be an object", request_id)
    if not isinstance(params, dict):
        raise InvalidMessage(
            protocol.INVALID_REQUEST, "params must be an object when present", request_id
        )
    if "_meta" in params and not isinstance(params["_meta"], dict | None):
        raise InvalidMessage(protocol.INVALID_PARAMS, "params._meta must be an object", request_id)
    return params


def _response(message: dict) -> Inbound:
    answer_id = message.get("id")
    has_result, has_error = "result" in message, "error" in message
    error = message.get("error")
    well_formed = (
        "id" in message
        and (valid_id(answer_id) or (answer_id is None and has_error))
        and has_result != has_error
        and (isinstance(message.get("result"), dict) if has_result else True)
        and (not has_error or (isinstance(error, dict) and _integer(error.get("code"))))
    )
    if not well_formed:
        raise InvalidMessage(
            protocol.INVALID_REQUEST,
            "The body must be one JSON-RPC 2.0 message: a request or notification with a "
            "method, or a response with an id and one result or error object.",
        )
    return Inbound(kind=RESPONSE, id=answer_id)


def _too_deep(body: bytes, message) -> bool:
    # Fewer brackets than the limit cannot nest deeper than it: most bodies skip the walk.
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    stack = [(message, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse(message: Any, body: bytes) -> Inbound:
    """The message decoded from `body` as the data plane reads it; raises InvalidMessage."""
    if not isinstance(message, dict):
        raise InvalidMessage(protocol.INVALID_REQUEST, "The body must be one JSON-RPC 2.0 message.")
    is_request = "id" in message and "method" in message
    request_id = message["id"] if is_request and valid_id(message["id"]) else None
    if _too_deep(body, message):
        raise InvalidMessage(
            protocol.INVALID_REQUEST,
            f"The message is nested deeper than {MAX_DEPTH} levels.",
            request_id,
        )
    if message.get("jsonrpc") != "2.0":
        raise InvalidMessage(
            protocol.INVALID_REQUEST, "The body must be one JSON-RPC 2.0 message.", request_id
        )
    if "method" not in message:
        return _response(message)
    method = message["method"]
    if not isinstance(method, str) or not method:
        raise InvalidMessage(
            protocol.INVALID_REQUEST, "The method must be a non-empty string.", request_id
        )
    if not is_request:
        try:
            params = _params(message, None)
        except InvalidMessage:
            params = None
        return Inbound(kind=NOTIFICATION, method=method, params=params)
    if request_id is None:
        raise InvalidMessage(
            protocol.INVALID_REQUEST, "The id of a request must be a string or an integer."
        )
    return Inbound(kind=REQUEST, method=method, id=request_id, params=_params(message, request_id))
