"""The frames of the tunnel: JSON text, one object per WebSocket message, keyed by `type`."""

import json
from typing import Any

# Close codes the platform uses.
TOKEN_INVALID = 4401
TOKEN_FORBIDDEN = 4403
HEARTBEAT_LOST = 4408
REPLACED = 4409
REVOKED = 4410

# Closes after which trying again cannot help: the token is refused.
TOKEN_REFUSED = frozenset({TOKEN_INVALID, TOKEN_FORBIDDEN, REVOKED})


class FrameError(ValueError):
    """A frame that is not a JSON object with a string `type`."""


def parse(text: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(text)
    except ValueError as error:
        raise FrameError(f"not JSON: {error}") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("not an object with a string 'type'")
    return frame


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


def hello(*, version: str, host: str, servers: list[str]) -> dict[str, Any]:
    return {"type": "hello", "version": version, "host": host, "servers": sorted(servers)}


def ping() -> dict[str, Any]:
    return {"type": "ping"}


def pong() -> dict[str, Any]:
    return {"type": "pong"}


def opened(session: str) -> dict[str, Any]:
    return {"type": "opened", "session": session}


def closed(session: str, reason: str, *, exit_code: int | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "closed", "session": session, "reason": reason}
    if exit_code is not None:
        frame["exit_code"] = exit_code
    return frame


def message(session: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "session": session, "message": payload}
