"""Server-sent events: reading a stream and writing frames; bounded reads of upstream bodies."""

import json
from collections.abc import AsyncIterator

from servers.http_client import ReplyTooLarge

_CHUNK = 64 * 1024
SETTING = "UPSTREAM_MAX_REPLY_BYTES"


def _too_large(limit: int) -> ReplyTooLarge:
    message = f"the upstream's reply exceeds {limit} bytes"
    return ReplyTooLarge(message, limit=limit, setting=SETTING)


async def read_body(content, limit: int) -> bytes:
    """All of a body (an aiohttp or asyncio StreamReader), or ReplyTooLarge past `limit` bytes
    without reading further."""
    chunks, size = [], 0
    while chunk := await content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _lines(content, limit: int) -> AsyncIterator[bytes]:
    """The stream's lines, read by chunks: no line grows past `limit` in memory."""
    partial: list[bytes] = []
    size = 0
    while chunk := await content.read(_CHUNK):
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if partial:
                partial.append(chunk[start:end])
                line = b"".join(partial)
                partial, size = [], 0
            else:
                line = chunk[start:end]
            yield line
            start = end + 1
        if start < len(chunk):
            partial.append(chunk[start:])
            size += len(chunk) - start
            if size > limit:
                raise _too_large(limit)
    if partial:
        yield b"".join(partial)


async def read_events(
    content, *, limit: int, per_event: bool = False
) -> AsyncIterator[tuple[str, str]]:
    """Yield (event, data) from a StreamReader carrying text/event-stream.

    ReplyTooLarge past `limit` bytes: of the whole stream (one call's answer), or of each event
    when `per_event` (a session's stream, which lives as long as the session)."""
    event, data_lines = "message", []
    seen = 0
    async for raw in _lines(content, limit):
        seen += len(raw) + 1
        if seen > limit:
            raise _too_large(limit)
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        if not line:
            if data_lines:
                yield event, "\n".join(data_lines)
            event, data_lines = "message", []
            if per_event:
                seen = 0
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
