"""The 2026-07-28 fixtures of the conformance server: what the 0.2 suite's new scenarios call.

``conformance_server.py`` registers them with :func:`add_modern_fixtures`. The names, input-request
keys and texts are the ones ``@modelcontextprotocol/conformance`` 0.2 asks for:

* ``input-required-result-*`` (SEP-2322): tools and a prompt that answer with an
  ``InputRequiredResult`` until the client retries with the ``inputResponses`` they asked for.
  They are written by hand rather than with ``Resolve`` markers because the scenarios name the
  input-request keys and the ``requestState`` rounds. The SDK seals every ``requestState`` the
  server sends and refuses one that comes back altered, which is what the tampered-state scenario
  checks.
* ``server-stateless`` (SEP-2575): ``test_missing_capability`` (needs sampling, so a client that
  did not declare it gets -32021), ``test_streaming_elicitation``, ``test_logging_tool`` and the
  list-change triggers that notify ``subscriptions/listen`` streams.
* ``http-custom-header-server-validation`` (SEP-2243): ``test_header_param``, whose ``region``
  argument is mirrored in the ``Mcp-Param-Region`` header; the SDK checks the two agree.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve, Sample
from mcp.server.mcpserver.prompts.base import Prompt, UserMessage
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequest,
    InputRequiredResult,
    InputResponse,
    ListRootsRequest,
    ListRootsResult,
    SamplingMessage,
    TextContent,
)
from pydantic import BaseModel, Field

# -- input requests, as the scenarios spell them --------------------------------------------------


def _ask(message: str, field: str, kind: str = "string") -> ElicitRequest:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(prompt: str, max_tokens: int) -> CreateMessageRequest:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    return CreateMessageRequest(
        params=CreateMessageRequestParams(messages=[message], max_tokens=max_tokens)
    )


def _text(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)])


def _answers(ctx: Context) -> dict[str, InputResponse]:
    return dict(ctx.input_responses or {})


def _accepted(answer: InputResponse | None, field: str) -> object | None:
    """The field of an accepted elicitation, or None for anything else."""
    if isinstance(answer, ElicitResult) and answer.action == "accept" and answer.content:
        return answer.content.get(field)
    return None


def _sampled_text(answer: InputResponse | None) -> str | None:
    if isinstance(answer, CreateMessageResult) and isinstance(answer.content, TextContent):
        return answer.content.text
    return None


def _root_uris(answer: InputResponse | None) -> list[str] | None:
    if isinstance(answer, ListRootsResult):
        return [str(root.uri) for root in answer.roots]
    return None


def _check_state(ctx: Context, expected: str) -> None:
    # The SDK has already verified the seal; this checks the round the state says we are in.
    if ctx.request_state != expected:
        raise MCPError(code=INVALID_PARAMS, message="requestState does not match this round")


# -- input-required-result-* tools ----------------------------------------------------------------


async def test_input_required_result_elicitation(
    ctx: Context,
) -> CallToolResult | InputRequiredResult:
    """Asks for the user's name, then greets them (one elicitation round)."""
    name = _accepted(_answers(ctx).get("user_name"), "name")
    if name is None:
        # Missing, declined or wrong keys: ask again rather than fail (SEP-2322 SHOULD).
        return InputRequiredResult(input_requests={"user_name": _ask("What is your name?", "name")})
    return _text(f"Hello, {name}!")


async def test_input_required_result_sampling(
    ctx: Context,
) -> CallToolResult | InputRequiredResult:
    """Asks the client's LLM for the capital of France, then returns its answer."""
    text = _sampled_text(_answers(ctx).get("capital_question"))
    if text is None:
        question = _sample("What is the capital of France?", 100)
        return InputRequiredResult(input_requests={"capital_question": question})
    return _text(f"LLM response: {text}")


async def test_input_required_result_list_roots(
    ctx: Context,
) -> CallToolResult | InputRequiredResult:
    """Asks for the client's roots, then lists them."""
    roots = _root_uris(_answers(ctx).get("client_roots"))
    if roots is None:
        return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})
    return _text(f"Client roots: {', '.join(roots)}")


async def _confirm_with_state(ctx: Context) -> CallToolResult | InputRequiredResult:
    confirmed = _accepted(_answers(ctx).get("confirm"), "ok")
    if confirmed is None:
        return InputRequiredResult(
            input_requests={"confirm": _ask("Please confirm", "ok", "boolean")},
            request_state="awaiting-confirmation",
        )
    _check_state(ctx, "awaiting-confirmation")
    return _text(f"state-ok: confirmed={confirmed}")


async def test_input_required_result_request_state(
    ctx: Context,
) -> CallToolResult | InputRequiredResult:
    """Asks for a confirmation with a requestState it checks on the retry ("state-ok")."""
    return await _confirm_with_state(ctx)


async def test_input_required_result_tampered_state(
    ctx: Context,
) -> CallToolResult | InputRequiredResult:
    """Like the request-state tool; a tampered requestState never reaches it (the SDK refuses)."""
    return await _confirm_with_state(ctx)


async def test_input_required_result_multiple_inputs(
    ctx: Context,
) -> CallToolResult | InputRequiredResult:
    """Asks for an elicitation, a sampling and the roots at once; completes when all are in."""
    answers = _answers(ctx)
    name = _accepted(answers.get("user_name"), "name")
    greeting = _sampled_text(answers.get("greeting"))
    roots = _root_uris(answers.get("client_roots"))
    if name is None or greeting is None or roots is None:
        return InputRequiredResult(
            input_requests={
                "user_name": _ask("What is your name?", "name"),
                "greeting": _sample("Generate a greeting", 50),
                "client_roots": ListRootsRequest(),
            },
            request_state="awaiting-all-inputs",
        )
    _check_state(ctx, "awaiting-all-inputs")
    return _text(f"{greeting} {name} (roots: {', '.join(roots)})")


async def test_input_required_result_multi_round(
    ctx: Context,
) -> CallToolResult | InputRequiredResult:
    """Two elicitation rounds, each with its own requestState, then a complete result."""
    answers = _answers(ctx)
    if ctx.request_state is None:
        return InputRequiredResult(
            input_requests={"step1": _ask("Step 1: What is your name?", "name")},
            request_state="round-1",
        )
    if ctx.request_state == "round-1":
        name = _accepted(answers.get("step1"), "name")
        if name is None:
            raise MCPError(code=INVALID_PARAMS, message="step1 needs an accepted name")
        return InputRequiredResult(
            input_requests={"step2": _ask("Step 2: What is your favorite color?", "color")},
            # The name rides in the (sealed) state, so the server keeps nothing between rounds.
            request_state=f"round-2:{name}",
        )
    name = ctx.request_state.removeprefix("round-2:")
    color = _accepted(answers.get("step2"), "color")
    if not ctx.request_state.startswith("round-2:") or color is None:
        raise MCPError(code=INVALID_PARAMS, message="step2 needs an accepted color")
    return _text(f"{name} likes {color}")


async def test_input_required_result_capabilities(
    ctx: Context,
) -> CallToolResult | InputRequiredResult:
    """Asks only for the kinds of input the client declared it can give."""
    capabilities = ctx.client_capabilities
    requests: dict[str, InputRequest] = {}
    if capabilities is not None and capabilities.sampling is not None:
        requests["summary"] = _sample("Summarize the capabilities test", 50)
    if capabilities is not None and capabilities.elicitation is not None:
        requests["user_name"] = _ask("What is your name?", "name")
    if capabilities is not None and capabilities.roots is not None:
        requests["client_roots"] = ListRootsRequest()
    answers = _answers(ctx)
    if not requests or all(key in answers for key in requests):
        return _text(f"Answered: {sorted(answers)}")
    return InputRequiredResult(input_requests=requests)


def test_input_required_result_prompt(ctx: Context) -> list[UserMessage] | InputRequiredResult:
    """A prompt that asks which context to use before it is rendered."""
    context = _accepted(_answers(ctx).get("user_context"), "context")
    if context is None:
        question = _ask("What context should the prompt use?", "context")
        return InputRequiredResult(input_requests={"user_context": question})
    return [UserMessage(content=f"Use this context: {context}")]


# -- server-stateless diagnostics -----------------------------------------------------------------


def _ask_llm() -> Sample:
    message = SamplingMessage(role="user", content=TextContent(type="text", text="Say hello"))
    return Sample([message], max_tokens=20)


async def test_missing_capability(
    sampled: Annotated[CreateMessageResult, Resolve(_ask_llm)],
) -> str:
    """Needs sampling: a client that did not declare it gets -32021 before the tool runs."""
    text = sampled.content.text if isinstance(sampled.content, TextContent) else ""
    return f"LLM response: {text}"


class Confirmation(BaseModel):
    confirmed: bool = Field(description="Whether to go on")


def _ask_to_confirm() -> Elicit[Confirmation]:
    return Elicit("Go on?", Confirmation)


async def test_streaming_elicitation(
    answer: Annotated[ElicitationResult[Confirmation], Resolve(_ask_to_confirm)],
) -> str:
    """Elicits a confirmation: on 2026-07-28 an InputRequiredResult, never a request mid-stream."""
    return f"action={answer.action}"


async def test_logging_tool(ctx: Context) -> str:
    """Logs at info level; a request without a logLevel in its _meta receives none of it."""
    await ctx.info("test_logging_tool ran")
    return "logged"


async def test_trigger_tool_change(ctx: Context) -> str:
    """Announces that the tool list changed, to clients listening for it."""
    await ctx.notify_tools_changed()
    return "tools/list_changed sent"


async def test_trigger_prompt_change(ctx: Context) -> str:
    """Announces that the prompt list changed, to clients listening for it."""
    await ctx.notify_prompts_changed()
    return "prompts/list_changed sent"


# -- http-custom-header-server-validation ---------------------------------------------------------


def test_header_param(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
) -> str:
    """Echoes the region, which clients also send in the Mcp-Param-Region header."""
    return f"region={region}"


MODERN_TOOLS = (
    test_input_required_result_elicitation,
    test_input_required_result_sampling,
    test_input_required_result_list_roots,
    test_input_required_result_request_state,
    test_input_required_result_tampered_state,
    test_input_required_result_multiple_inputs,
    test_input_required_result_multi_round,
    test_input_required_result_capabilities,
    test_missing_capability,
    test_streaming_elicitation,
    test_logging_tool,
    test_trigger_tool_change,
    test_trigger_prompt_change,
    test_header_param,
)


def add_modern_fixtures(server: MCPServer) -> None:
    """Register every 2026-07-28 fixture on ``server``."""
    for tool in MODERN_TOOLS:
        server.add_tool(tool)
    server.add_prompt(Prompt.from_function(test_input_required_result_prompt))
