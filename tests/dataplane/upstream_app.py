"""A small upstream MCP server built with the SDK, served in-process for gateway tests."""

import asyncio

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel


class Confirmation(BaseModel):
    ok: bool


def build(name: str = "notes") -> MCPServer:
    server = MCPServer(name)
    state = {"cancelled": False, "waiting": 0}

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    @server.tool(annotations=ToolAnnotations(destructiveHint=True))
    def delete_note(note_id: int) -> str:
        """Delete a note."""
        return f"deleted {note_id}"

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The Authorization header this upstream received."""
        request = getattr(ctx.request_context, "request", None)
        return request.headers.get("authorization", "(none)") if request is not None else "(none)"

    @server.tool()
    async def slow(steps: int, ctx: Context) -> str:
        """Report progress for a few steps."""
        for step in range(steps):
            await ctx.report_progress(step + 1, steps, f"step {step + 1}")
        return f"done after {steps}"

    @server.tool()
    async def confirm(question: str, ctx: Context) -> str:
        """Ask the person a yes/no question through elicitation."""
        answer = await ctx.elicit(question, Confirmation)
        if answer.action != "accept":
            return f"not confirmed ({answer.action})"
        return f"confirmed: {answer.data.ok}"

    @server.tool()
    async def wait(seconds: float) -> str:
        """Sleep; remembers whether it was cancelled."""
        state["cancelled"] = False
        state["waiting"] += 1
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise
        finally:
            state["waiting"] -= 1
        return "woke up"

    @server.tool()
    def was_cancelled() -> str:
        """Whether the latest wait was cancelled ("waiting" while one is still asleep)."""
        if state["waiting"]:
            return "waiting"
        return "yes" if state["cancelled"] else "no"

    @server.prompt()
    def greet(name: str) -> str:
        """Greet someone."""
        return f"Hello, {name}!"

    @server.resource("notes://all")
    def all_notes() -> str:
        return "note one\nnote two"

    return server


def redescribe(server: MCPServer, tool: str, description: str) -> None:
    """Change what one tool tells the model, as an upstream poisoning it would."""
    # The SDK offers no public way to edit a registered tool; tests reach into its manager.
    server._tool_manager.get_tool(tool).description = description
