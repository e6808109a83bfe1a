"""Rules in tests: build rule definitions, run the engine on a payload, make fake secrets."""

import asyncio
import random

from rules.definitions import RuleDefinition, clean_rule
from rules.engine import RuleContext, compile_rules, evaluate


def rule(name="r", detector="secrets", action="redact", *, id=None, **fields) -> RuleDefinition:
    """A validated definition, as the services would store it."""
    scope = {k: fields.pop(k) for k in ("gateway_id", "assignment_id") if k in fields}
    cleaned = clean_rule({"name": name, "detector": detector, "action": action, **fields})
    return RuleDefinition(id=id, workspace_id=fields.get("workspace_id", 1), **cleaned, **scope)


def run(definitions, payload, *, direction="response", assignment_id=None, **call):
    """Compile `definitions` and evaluate them once on `payload`."""
    compiled = compile_rules(definitions)
    call.setdefault("method", "tools/call")
    call.setdefault("tool_name", "github__search")
    call.setdefault("server_name", "github")
    call.setdefault("team_slugs", ("eng",))
    call.setdefault("person_email", "bob@acme.test")
    context = call.pop("context", None) or RuleContext(workspace_id=1, assignment_id=assignment_id)
    return asyncio.run(
        evaluate(compiled, direction=direction, payload=payload, context=context, **call)
    )


def fake_parts(parts, seed: str) -> tuple[str, list[str]]:
    """A fresh value from a sample recipe (literal strings and (alphabet, length) pairs), and
    the random pieces in it: the part that must not survive redaction."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    pieces, randoms = [], []
    for p in parts:
        if isinstance(p, str):
            pieces.append(p)
        else:
            piece = "".join(rng.choice(p[0]) for _ in range(p[1]))
            pieces.append(piece)
            randoms.append(piece)
    return "".join(pieces), randoms


def fake(parts, seed: str) -> str:
    return fake_parts(parts, seed)[0]


def text_result(text: str) -> dict:
    return {"content": [{"type": "text", "text": text}], "isError": False}
