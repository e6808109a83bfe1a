"""The stdio MCP server a test connector runs: says whose workstation it is on (`WS_MARK`)."""

import asyncio
import os

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel


class Confirmation(BaseModel):
    ok: bool


server = MCPServer("workstation")


@server.tool()
def whoami() -> str:
    """Whose workstation runs this server, and which process."""
    return f"{os.environ.get('WS_MARK', '(unset)')} pid={os.getpid()}"


@server.tool()
async def wait(seconds: float) -> str:
    """Sleep for a while."""
    await asyncio.sleep(seconds)
    return "waited"


@server.tool()
def die() -> str:
    """Exit at once, mid-call."""
    os._exit(3)


@server.tool()
def big(size: int) -> str:
    """A reply of `size` characters."""
    return "x" * size


@server.tool()
async def confirm(question: str, ctx: Context) -> str:
    """Ask the person through elicitation."""
    answer = await ctx.elicit(question, Confirmation)
    if answer.action != "accept":
        return f"not confirmed ({answer.action})"
    return f"confirmed: {answer.data.ok}"


if __name__ == "__main__":
    server.run("stdio")
