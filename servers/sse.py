"""Server-sent events: reading a stream and writing frames."""

import json
from collections.abc import AsyncIterator


async def read_events(content) -> AsyncIterator[tuple[str, str]]:
    """Yield (event, data) from an aiohttp StreamReader carrying text/event-stream."""
    event, data_lines = "message", []
    async for raw in content:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data_lines:
                yield event, "\n".join(data_lines)
            event, data_lines = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data_lines.append(value)
    if data_lines:
        yield event, "\n".join(data_lines)


def frame(message: dict, *, event: str = "message") -> bytes:
    return f"event: {event}\ndata: {json.dumps(message, separators=(',', ':'))}\n\n".encode()


PING = b": ping\n\n"
