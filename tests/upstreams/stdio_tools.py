"""A small stdio MCP server the supervisor tests run as a managed server's child.

Tools: echo, add, instance, env, slow (with progress), log, crash (exits the process), ask
(elicitation), think (sampling), grow (adds a tool and announces tools/list_changed).
"""

import asyncio
import os
import secrets
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import SamplingMessage, TextContent
from pydantic import BaseModel

server = MCPServer("stdio-tools")
# Tells processes apart: in the supervisor's sandbox each one has its own PID namespace, where
# every server's pid is the same small number.
INSTANCE = secrets.token_hex(8)


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def instance() -> str:
    """A token that names this process: a new process has a new one."""
    return INSTANCE


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable, or an empty string."""
    return os.environ.get(name, "")


@server.tool()
async def slow(ctx: Context, seconds: float = 1.0, steps: int = 4, progress: bool = True) -> str:
    """Sleep, reporting progress after each step when asked to."""
    for step in range(1, steps + 1):
        await asyncio.sleep(seconds / steps)
        if progress:
            await ctx.report_progress(step, steps, f"step {step}")
    return f"slept {seconds}"


@server.tool()
async def log(ctx: Context, text: str) -> str:
    """Send a logging notification, then answer."""
    await ctx.info(text)
    return "logged"


@server.tool()
def crash(code: int = 3) -> str:
    """Exit the process without answering."""
    sys.stdout.flush()
    os._exit(code)


class Answer(BaseModel):
    answer: str


@server.tool()
async def ask(ctx: Context, question: str) -> str:
    """Ask the user through elicitation."""
    result = await ctx.elicit(question, Answer)
    if result.action == "accept":
        return f"user said {result.data.answer}"
    return f"user chose {result.action}"


@server.tool()
async def think(ctx: Context, prompt: str) -> str:
    """Ask the client's model through sampling."""
    result = await ctx.session.create_message(
        [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=50,
    )
    return f"model said {result.content.text}"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool `extra` and tell the client the tool list changed."""
    server.add_tool(lambda: "extra", name="extra", description="Added at run time.")
    await ctx.session.send_tool_list_changed()
    return "grown"


if __name__ == "__main__":
    print("stdio-tools starting", file=sys.stderr, flush=True)
    server.run("stdio")
