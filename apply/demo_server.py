"""The demo's remote MCP server: world time over Streamable HTTP, for `make run`.

`manage.py run_demo_server` serves it at http://127.0.0.1:9001/mcp, where `examples/demo.yaml`
points its `time` server, so the demo's remote assignment answers from the first minute. Its
tools need nothing but the standard library's time zone database.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)

server = MCPServer(
    "gatehouse-demo-time",
    instructions="Current time in any IANA time zone, and conversions between zones.",
)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(
            f"Unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'."
        ) from exc


@server.tool(annotations=READ_ONLY)
def current_time(timezone: str = "UTC") -> dict:
    """The current date and time in an IANA time zone (for example 'America/New_York')."""
    now = datetime.now(_zone(timezone))
    return {
        "timezone": timezone,
        "datetime": now.isoformat(timespec="seconds"),
        "utc_offset": now.strftime("%z"),
        "is_dst": bool(now.dst()),
    }


@server.tool(annotations=READ_ONLY)
def convert_time(time: str, source_timezone: str, target_timezone: str) -> dict:
    """Convert a time of today (24-hour 'HH:MM') from one IANA time zone to another."""
    try:
        hours, minutes = (int(part) for part in time.split(":"))
        today = datetime.now(UTC).astimezone(_zone(source_timezone)).date()
        source = datetime(
            today.year, today.month, today.day, hours, minutes, tzinfo=_zone(source_timezone)
        )
    except ValueError as exc:
        raise ToolError(f"{time!r} is not a time of day as 'HH:MM' (24-hour).") from exc
    target = source.astimezone(_zone(target_timezone))
    return {
        "source": {"timezone": source_timezone, "datetime": source.isoformat(timespec="minutes")},
        "target": {"timezone": target_timezone, "datetime": target.isoformat(timespec="minutes")},
    }


def build_app(*, host: str):
    """The ASGI app serving the demo server at /mcp."""
    return server.streamable_http_app(host=host)
