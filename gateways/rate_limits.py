"""A gateway's rate limits: what an admin may write, checked the same way for the console, the
API and `apply`, and stored normalised on the gateway (`Gateway.limits`).

One limit is `{"scope": ..., "rate": "60/minute"}`, plus `"tool"` for the tool scope:

* `person`: each person's requests, whatever token or client they use;
* `token`: each API token (or each OAuth client a person signed in to);
* `gateway`: every caller's requests together;
* `tool`: calls of the one namespaced tool named, every caller together.

person, token and gateway limits count every MCP request (a tools/list too, since each one
costs the platform); tool limits count `tools/call` of that tool. Rates are `limits` strings.
"""

from core.rate_limiting import InvalidRate, parse_rate
from gateways.errors import InvalidLimits

SCOPES = ("person", "token", "gateway", "tool")
_KEYS = {"scope", "rate", "tool"}


def clean_limits(value) -> list[dict]:
    """The limits normalised (`rate` as written, `tool` only for the tool scope); InvalidLimits
    naming the first problem and which limit has it otherwise."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidLimits("Limits are a list of {scope, rate[, tool]}.", field="limits")
    cleaned = []
    for index, item in enumerate(value, start=1):
        try:
            limit = clean_limit(item)
        except InvalidLimits as exc:
            raise InvalidLimits(f"Limit {index}: {exc.message}", field="limits") from exc
        if limit in cleaned:
            raise InvalidLimits(f"Limit {index}: the same limit is listed twice.", field="limits")
        cleaned.append(limit)
    return cleaned


def clean_limit(item) -> dict:
    """One limit normalised, or InvalidLimits saying what is wrong with it."""
    if not isinstance(item, dict):
        raise InvalidLimits("write {scope, rate[, tool]}.", field="limits")
    unknown = sorted(k for k, v in item.items() if k not in _KEYS)
    if unknown:
        raise InvalidLimits(
            f"unknown key '{unknown[0]}' (allowed: scope, rate, tool).", field="limits"
        )
    scope = item.get("scope")
    if scope not in SCOPES:
        raise InvalidLimits(
            f"scope must be one of {', '.join(SCOPES)}, not {scope!r}.", field="limits"
        )
    try:
        parse_rate(item.get("rate"))
    except InvalidRate as exc:
        raise InvalidLimits(str(exc), field="limits") from exc
    limit = {"scope": scope, "rate": item["rate"].strip()}
    tool = item.get("tool")
    if scope == "tool":
        if not isinstance(tool, str) or not tool.strip():
            raise InvalidLimits(
                "a tool limit names its tool (the namespaced name, e.g. 'time__now').",
                field="limits",
            )
        limit["tool"] = tool.strip()
    elif tool:
        raise InvalidLimits("'tool' is for the tool scope only.", field="limits")
    return limit


def describe(limit: dict) -> str:
    """`10/minute per tool time__now`, as the console and errors name a limit."""
    if limit["scope"] == "tool":
        return f"{limit['rate']} for tool {limit['tool']}"
    return f"{limit['rate']} per {limit['scope']}"
