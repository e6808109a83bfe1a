"""Era translation, every way: clients of three revisions x upstreams of both eras x each kind of
side traffic a tool call can carry.

Each cell calls one tool of tests/upstreams/era_server.py through the gateway with a real SDK
client and records what happened. The last test writes the table to docs/era-matrix.md and fails
when the page committed differs from the run, so the page always says what the gateway does.
"""

import asyncio
import time
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp_types import (
    ClientCapabilities,
    CreateMessageResult,
    ElicitationCapability,
    ElicitResult,
    FormElicitationCapability,
    Implementation,
    InitializedNotification,
    InitializeRequest,
    InitializeRequestParams,
    InitializeResult,
    ListRootsResult,
    Root,
    RootsCapability,
    SamplingCapability,
    TextContent,
    UrlElicitationCapability,
)

from gateways import services as gateway_services
from servers import services as server_services

CLIENTS = ("2025-06-18", "2025-11-25", "2026-07-28")
UPSTREAMS = ("handshake", "stateless")
KINDS = (
    "sampling",
    "elicitation form",
    "elicitation URL",
    "roots",
    "progress",
    "logging",
    "cancellation",
)
NAMESPACE = {"handshake": "hs", "stateless": "sl"}
PAGE = Path(__file__).resolve().parents[2] / "docs" / "era-matrix.md"
INFO = Implementation(name="era-matrix", version="1")
# A 2025-06-18 client has no URL mode: it cannot have declared it.
NO_URL_MODE = (
    "refused ({code}): The calling client did not declare the elicitation.url capability "
    "that elicitation/create needs."
)
# What each cell must do; anything else is a failure, and the page says the same.
EXPECTED = {
    (client, upstream, kind): "works"
    for client in CLIENTS
    for upstream in UPSTREAMS
    for kind in KINDS
}
# A handshake upstream hears the refusal as the answer to its request (-32601) and, as the SDK
# does, fails the call with it; the gateway refuses a 2026-07-28 upstream's request itself.
EXPECTED["2025-06-18", "handshake", "elicitation URL"] = NO_URL_MODE.format(code=-32601)
EXPECTED["2025-06-18", "stateless", "elicitation URL"] = NO_URL_MODE.format(code=-32600)

outcomes: dict[tuple[str, str, str], str] = {}


@pytest.fixture
def gateway(deployment, alice, upstream_servers):
    for upstream, era in (("handshake", "handshake"), ("stateless", "modern")):
        url = upstream_servers.start("era_server.py", "--era", era)
        server = server_services.create_server(
            workspace=deployment.acme, name=f"era-{era}", url=url, actor=alice
        )
        gateway_services.assign_server(
            gateway=deployment.gateway, server=server, namespace=NAMESPACE[upstream], actor=alice
        )
    return deployment


class Seen:
    """What the client was asked and told during one cell."""

    def __init__(self):
        self.asked: list[str] = []
        self.progress: list[float] = []
        self.logs: list[str] = []

    async def sampling(self, context, params):
        self.asked.append("sampling")
        return CreateMessageResult(
            role="assistant", content=TextContent(type="text", text="hi"), model="m"
        )

    async def elicitation(self, context, params):
        self.asked.append(f"elicitation:{getattr(params, 'mode', None) or 'form'}")
        if getattr(params, "mode", None) == "url":
            return ElicitResult(action="accept")
        return ElicitResult(action="accept", content={"name": "ada"})

    async def roots(self, context):
        self.asked.append("roots")
        return ListRootsResult(roots=[Root(uri="file:///work", name="work")])

    async def logged(self, params):
        self.logs.append(str(params.data))

    async def on_progress(self, progress, total, message):
        self.progress.append(progress)


def _capabilities(version: str) -> ClientCapabilities:
    """What a client of `version` declares: URL-mode elicitation came with 2025-11-25."""
    elicitation = (
        ElicitationCapability()
        if version == "2025-06-18"
        else ElicitationCapability(form=FormElicitationCapability(), url=UrlElicitationCapability())
    )
    return ClientCapabilities(
        sampling=SamplingCapability(), elicitation=elicitation, roots=RootsCapability()
    )


@asynccontextmanager
async def open_client(deployment, token, version, seen: Seen):
    """An SDK session of `version` on the gateway, answering with `seen`; (call, session)."""
    callbacks = {
        "sampling_callback": seen.sampling,
        "elicitation_callback": seen.elicitation,
        "list_roots_callback": seen.roots,
        "logging_callback": seen.logged,
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        transport = streamable_http_client(deployment.url, http_client=http)
        if version.startswith("2026"):
            async with Client(
                transport, mode=version, cache=None, client_info=INFO, log_level="info", **callbacks
            ) as client:
                yield client
            return
        async with (
            transport as (read, write),
            ClientSession(
                dispatcher=JSONRPCDispatcher(read, write), client_info=INFO, **callbacks
            ) as session,
        ):
            request = InitializeRequest(
                params=InitializeRequestParams(
                    protocol_version=version, capabilities=_capabilities(version), client_info=INFO
                )
            )
            session.adopt(await session.send_request(request, InitializeResult))
            await session.send_notification(InitializedNotification())
            yield session


def _text(result) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


async def _cell(client, ns: str, kind: str, seen: Seen) -> str:
    """Run one kind of side traffic; "works" when the client saw it and the call completed."""
    if kind == "sampling":
        result = await client.call_tool(f"{ns}__sample", {"prompt": "hello"})
        return _verdict(result, "sampled: hi", seen.asked == ["sampling"])
    if kind == "elicitation form":
        result = await client.call_tool(f"{ns}__ask_form", {"question": "Name?"})
        return _verdict(result, "form: ada", seen.asked == ["elicitation:form"])
    if kind == "elicitation URL":
        result = await client.call_tool(f"{ns}__open_page", {"url": "https://example.com/p"})
        return _verdict(result, "page: accept", seen.asked == ["elicitation:url"])
    if kind == "roots":
        result = await client.call_tool(f"{ns}__list_roots", {})
        return _verdict(result, "roots: file:///work", seen.asked == ["roots"])
    if kind == "progress":
        result = await client.call_tool(f"{ns}__slow", {}, progress_callback=seen.on_progress)
        return _verdict(result, "slow: done", seen.progress == [1, 2, 3])
    if kind == "logging":
        result = await client.call_tool(f"{ns}__chatty", {})
        return _verdict(result, "chatty: done", seen.logs == ["first", "second"])
    return await _cancelled(client, ns)


def _verdict(result, text: str, seen_ok: bool) -> str:
    got = _text(result)
    if result.is_error:
        return "refused: " + got
    if got != text:
        return f"wrong result: {got!r}"
    return "works" if seen_ok else "completed, but the client did not see its side traffic"


async def _cancelled(client, ns: str) -> str:
    """The call is cancelled by the client; the upstream must hear of it."""
    call = asyncio.ensure_future(client.call_tool(f"{ns}__wait", {"seconds": 30}))
    deadline = time.monotonic() + 60
    while _text(await client.call_tool(f"{ns}__was_cancelled", {})) != "waiting":
        assert time.monotonic() < deadline, "the call never reached the upstream"
    call.cancel()
    with suppress(asyncio.CancelledError, MCPError):
        await call
    while (state := _text(await client.call_tool(f"{ns}__was_cancelled", {}))) == "waiting":
        if time.monotonic() > deadline:
            return "the upstream was not told"
    return "works" if state == "yes" else f"the upstream finished the call ({state})"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("version", CLIENTS)
def test_each_cell_works_or_refuses_precisely(gateway, bob, settings, version, upstream, kind):
    # A 2026-07-28 client cancels by closing its request, which the gateway notices on the
    # stream's next heartbeat.
    settings.MCP_SSE_HEARTBEAT_SECONDS = 1
    token = gateway.token_for(bob)
    seen = Seen()

    async def scenario():
        async with open_client(gateway, token, version, seen) as client:
            try:
                return await _cell(client, NAMESPACE[upstream], kind, seen)
            except MCPError as exc:
                return f"refused ({exc.error.code}): {exc.error.message}"

    outcome = asyncio.run(scenario())
    outcomes[version, upstream, kind] = outcome
    assert outcome == EXPECTED[version, upstream, kind]


def render() -> str:
    """The page: one table per upstream era, a row per kind, a column per client revision."""
    lines = [
        "# Era translation matrix",
        "",
        "Generated by `tests/dataplane/test_era_matrix.py`, which fails when this page differs",
        "from its run: what a call carrying each kind of side traffic does through the gateway,",
        "for clients of each revision and upstreams of each era. The rules are in",
        "[dataplane.md](dataplane.md#era-translation).",
        "",
    ]
    for upstream in UPSTREAMS:
        era = "handshake-era (2025-11-25 session)" if upstream == "handshake" else "2026-07-28"
        lines += [f"## {era} upstream", ""]
        lines.append("| | " + " | ".join(f"{v} client" for v in CLIENTS) + " |")
        lines.append("|---" * (len(CLIENTS) + 1) + "|")
        for kind in KINDS:
            cells = [EXPECTED[v, upstream, kind] for v in CLIENTS]
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def test_the_matrix_page_is_what_the_run_found():
    if len(outcomes) != len(EXPECTED):
        pytest.skip("only part of the matrix ran")
    assert outcomes == EXPECTED
    page = render()
    if not PAGE.exists() or PAGE.read_text() != page:
        PAGE.write_text(page)
        pytest.fail(f"{PAGE.name} was out of date and has been rewritten; commit it")
