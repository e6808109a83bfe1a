"""The stdio MCP server the workstation acceptance tests run behind `gatehouse-connect`.

Tools: whoami (the WHOAMI_LABEL it was started with, so a call shows whose machine answered),
env_names (the names in its environment), slow (sleeps, reporting progress), ask (sampling or
elicitation through the calling client), crash (exits at once, without answering).
"""

import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import SamplingMessage, TextContent
from pydantic import BaseModel

server = MCPServer("whoami")


class Answer(BaseModel):
    answer: str


@server.tool()
def whoami() -> str:
    """The label of the workstation that runs this server."""
    return os.environ.get("WHOAMI_LABEL", "(unlabelled)")


@server.tool()
def env_names() -> list[str]:
    """The sorted names of this server's environment variables."""
    return sorted(os.environ)


@server.tool()
async def slow(ctx: Context, seconds: float = 1.0, steps: int = 10) -> str:
    """Sleep for `seconds`, reporting progress after each of `steps` steps."""
    for step in range(1, steps + 1):
        await asyncio.sleep(seconds / steps)
        await ctx.report_progress(step, steps, f"step {step}")
    return f"slept {seconds}"


@server.tool()
async def ask(ctx: Context, question: str, how: str = "elicit") -> str:
    """Ask the calling client: `how` is "sample" (its model) or "elicit" (its user)."""
    if how == "sample":
        result = await ctx.session.create_message(
            [SamplingMessage(role="user", content=TextContent(type="text", text=question))],
            max_tokens=50,
        )
        return f"model said {result.content.text}"
    answer = await ctx.elicit(question, Answer)
    if answer.action == "accept":
        return f"user said {answer.data.answer}"
    return f"user chose {answer.action}"


@server.tool()
def crash() -> str:
    """Exit the process without answering."""
    sys.stdout.flush()
    os._exit(3)


if __name__ == "__main__":
    server.run("stdio")
