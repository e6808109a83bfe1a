"""An upstream with one tool per kind of side traffic, for the era-translation matrix.

Run it with ``python tests/upstreams/era_server.py --port N --era handshake|modern``. Sampling,
form elicitation and roots go through the SDK's ``Resolve`` markers, so the same tool asks
mid-call on the handshake era and answers ``input_required`` on 2026-07-28; URL elicitation
has no marker, so ``open_page`` does either by hand. ``slow`` reports progress, ``chatty``
logs, ``wait`` sleeps until cancelled and ``was_cancelled`` tells whether it was;
``ask_and_remember`` and ``asking`` do the same for a call left waiting for its answer.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Annotated

import uvicorn
from mcp.server.mcpserver import (
    Context,
    Elicit,
    ElicitationResult,
    ListRoots,
    MCPServer,
    Resolve,
    Sample,
)
from mcp_types import (
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestURLParams,
    InputRequiredResult,
    ListRootsResult,
    SamplingMessage,
    TextContent,
)
from pydantic import BaseModel

server = MCPServer("era-upstream")
state = {"cancelled": "no"}


def _ask_llm(prompt: str) -> Sample:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    return Sample([message], max_tokens=50)


@server.tool()
async def sample(prompt: str, sampled: Annotated[CreateMessageResult, Resolve(_ask_llm)]) -> str:
    """Asks the client's model (sampling/createMessage)."""
    content = sampled.content
    return f"sampled: {content.text if isinstance(content, TextContent) else content}"


class Answer(BaseModel):
    name: str


def _ask_user(question: str) -> Elicit[Answer]:
    return Elicit(question, Answer)


@server.tool()
async def ask_form(
    question: str, answer: Annotated[ElicitationResult[Answer], Resolve(_ask_user)]
) -> str:
    """Asks the person a form (elicitation/create, form mode)."""
    if answer.action != "accept":
        return f"form: {answer.action}"
    return f"form: {answer.data.name}"


def _roots() -> ListRoots:
    return ListRoots()


@server.tool()
async def list_roots(roots: Annotated[ListRootsResult, Resolve(_roots)]) -> str:
    """Asks the client for its roots (roots/list)."""
    return "roots: " + ", ".join(str(root.uri) for root in roots.roots)


@server.tool()
async def open_page(url: str, ctx: Context) -> str | InputRequiredResult:
    """Asks the person to open a page (elicitation/create, URL mode)."""
    if ctx.protocol_version is not None and ctx.protocol_version >= "2026":
        answer = (ctx.input_responses or {}).get("page")
        if answer is None:
            request = ElicitRequest(
                params=ElicitRequestURLParams(message="Open the page", url=url, elicitation_id="p")
            )
            return InputRequiredResult(input_requests={"page": request})
        return f"page: {answer.action}"
    result = await ctx.elicit_url("Open the page", url, "p")
    return f"page: {result.action}"


@server.tool()
async def slow(ctx: Context) -> str:
    """Reports progress 1, 2 and 3 of 3."""
    for step in (1, 2, 3):
        await ctx.report_progress(step, 3, f"step {step}")
    return "slow: done"


@server.tool()
async def chatty(ctx: Context) -> str:
    """Logs two messages while it runs."""
    await ctx.info("first")
    await ctx.info("second")
    return "chatty: done"


@server.tool()
async def wait(seconds: float) -> str:
    """Sleeps; remembers whether it was cancelled."""
    state["cancelled"] = "waiting"
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        state["cancelled"] = "yes"
        raise
    state["cancelled"] = "no"
    return "wait: woke up"


@server.tool()
async def ask_and_remember(question: str, ctx: Context) -> str:
    """Asks a form mid-call (handshake era); remembers whether the call was cancelled while the
    question was open."""
    state["asking"] = "asking"
    try:
        answer = await ctx.elicit(question, Answer)
    except asyncio.CancelledError:
        state["asking"] = "cancelled"
        raise
    state["asking"] = "answered"
    return f"form: {answer.data.name if answer.action == 'accept' else answer.action}"


@server.tool()
async def two_questions(ctx: Context) -> str:
    """Asks two forms mid-call (handshake era), logging between them."""
    first = await ctx.elicit("First name?", Answer)
    await ctx.info(f"got {first.data.name}")
    second = await ctx.elicit("Last name?", Answer)
    return f"names: {first.data.name} {second.data.name}"


@server.tool()
def asking() -> str:
    """Whether the latest ask_and_remember is asking, was answered or was cancelled."""
    return state.get("asking", "never")


@server.tool()
def was_cancelled() -> str:
    """Whether the latest wait was cancelled ("waiting" while it sleeps)."""
    return state["cancelled"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--era", choices=["handshake", "modern", "both"], default="handshake")
    args = parser.parse_args()
    from catalog_server import EraGate  # a sibling script, run from this folder

    app = EraGate(server.streamable_http_app(host=args.host), args.era)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
