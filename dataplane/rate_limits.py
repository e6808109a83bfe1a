"""Before a request is answered: the gateway's rate limits (gateways/rate_limits.py), compiled
into the snapshot and counted with the async API of `limits` in the shared storage
(core/rate_limiting.py), so every worker counts against the same window.

person, token and gateway limits count every request answered through the call pipeline
(`tools/list`, `tools/call`...; not `initialize`, nor notifications); a tool limit counts the
`tools/call` of its tool. The first limit that refuses stops the request: the endpoint answers
HTTP 429 with Retry-After, or, on an open stream, a JSON-RPC error naming the limit.
"""

from dataclasses import dataclass

import limits

from core import rate_limiting
from dataplane import protocol
from dataplane.protocol import RpcError


@dataclass(frozen=True)
class CompiledLimit:
    scope: str
    rate: str
    item: limits.RateLimitItem
    tool: str = ""

    @property
    def name(self) -> str:
        if self.scope == "tool":
            return f"{self.rate} for tool {self.tool}"
        return f"{self.rate} per {self.scope}"


def compile_limits(stored) -> tuple[CompiledLimit, ...]:
    """The gateway's stored limits, parsed once per snapshot."""
    return tuple(
        CompiledLimit(
            scope=limit["scope"],
            rate=limit["rate"],
            item=rate_limiting.parse_rate(limit["rate"]),
            tool=limit.get("tool", ""),
        )
        for limit in stored or ()
    )


@dataclass(frozen=True)
class Exceeded:
    limit: CompiledLimit
    retry_after: int

    def error(self) -> RpcError:
        return RpcError(
            protocol.RATE_LIMITED,
            f"Rate limit exceeded: {self.limit.name}. Retry in {self.retry_after} seconds.",
            {
                "limit": self.limit.name,
                "scope": self.limit.scope,
                "rate": self.limit.rate,
                "retryAfter": self.retry_after,
            },
        )

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"retry-after", str(self.retry_after).encode())]


def _identity(limit: CompiledLimit, ctx, method: str, params) -> str | None:
    """Whose count the request goes to under `limit`; None when the limit does not apply."""
    if limit.scope == "person":
        return f"p{ctx.principal.user_id}"
    if limit.scope == "token":
        return ctx.principal.key
    if limit.scope == "gateway":
        return "all"
    name = params.get("name") if isinstance(params, dict) else None
    if method == "tools/call" and name == limit.tool:
        return limit.tool
    return None


async def check(ctx, method: str, params, *, tools: bool) -> Exceeded | None:
    """Count the request against each limit that applies, of tools (`tools`) or of everything
    else; the first refusal, if any. The two are counted apart so that a caller over a person,
    token or gateway limit is refused before its tool's name is resolved."""
    snapshot = ctx.snapshot
    for limit in snapshot.limits:
        if (limit.scope == "tool") != tools:
            continue
        identity = _identity(limit, ctx, method, params)
        if identity is None:
            continue
        retry_after = await rate_limiting.ahit(
            # The rate is part of the key too (`limits` adds it): a changed rate counts afresh.
            limit.item,
            "mcp",
            str(snapshot.id),
            limit.scope,
            identity,
        )
        if retry_after is not None:
            return Exceeded(limit, retry_after)
    return None
