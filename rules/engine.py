"""The rules engine: compile rule definitions once per snapshot, evaluate them on every call.

Order (documented in docs/rules.md): for a direction, workspace-scoped rules run first, then the
gateway's, then the assignment's; within a scope by `order`, then by id. A blocking rule in
enforce mode stops evaluation; rewriting rules chain (each sees the previous one's output);
monitor mode reports what the rule would have done and changes nothing. `evaluate` never copies
a payload nothing changed in: containers are copied only along the path to a rewritten string.
Events name the rule, detector, action and the kinds matched with their counts, never the text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rules import actions
from rules.definitions import RuleDefinition
from rules.detectors import REGISTRY
from rules.detectors.base import Call, Detector, Match
from rules.detectors.tool_matcher import glob_regex

logger = logging.getLogger(__name__)

_SCOPE_RANK = {"workspace": 0, "gateway": 1, "assignment": 2}
# Binary content (base64) is not text a person wrote; scanning it costs time and finds noise.
_BINARY_KEYS = frozenset({"blob"})
MAX_PATHS = 10


@dataclass(frozen=True)
class RuleContext:
    """Who and where, for scoping and for the webhook detector's request."""

    workspace_id: int | None = None
    workspace_slug: str = ""
    gateway_id: int | None = None
    gateway_slug: str = ""
    assignment_id: int | None = None
    user_id: int | None = None
    correlation_id: str = ""


@dataclass(frozen=True)
class BlockedBy:
    rule_id: int | None
    rule: str
    reason: str = ""

    @property
    def message(self) -> str:
        text = f"Blocked by rule '{self.rule}'."
        return f"{text} {self.reason}" if self.reason else text

    def error_data(self) -> dict:
        return {"rule": self.rule, "rule_id": self.rule_id}


@dataclass
class Evaluation:
    blocked_by: BlockedBy | None
    payload: Any
    events: list[dict] = field(default_factory=list)
    modified: bool = False

    @property
    def alert(self) -> bool:
        return any(e["alert"] for e in self.events)


class CompiledRule:
    """One rule ready to run: its detector built, its conditions compiled."""

    def __init__(self, definition: RuleDefinition):
        self.definition = definition
        self.id = definition.id
        self.name = definition.name
        self.scope = definition.scope
        self.mode = definition.mode
        self.enforce = definition.mode == "enforce"
        self.action = definition.action
        self.action_config = definition.action_config
        self.detector_key = definition.detector
        self.detector = REGISTRY[definition.detector](definition.detector_config)
        self.hash_key = actions.hash_key(definition.workspace_id)
        conditions = definition.conditions or {}
        self._tools = glob_regex(conditions.get("tools"))
        self._servers = frozenset(conditions.get("servers") or ())
        self._teams = frozenset(conditions.get("teams") or ())
        self._people = frozenset(p.lower() for p in conditions.get("people") or ())
        self._methods = frozenset(conditions.get("methods") or ())
        self.unconditional = not conditions
        # Only a detector that overrides the base gate can skip a payload in one step.
        self.gated = type(self.detector).gate is not Detector.gate

    def applies(self, method, tool_name, server_name, team_slugs, person_email) -> bool:
        if self.unconditional:
            return True
        if self._methods and method not in self._methods:
            return False
        if self._tools is not None and not (tool_name and self._tools.match(tool_name)):
            return False
        if self._servers and server_name not in self._servers:
            return False
        if self._teams and self._teams.isdisjoint(team_slugs or ()):
            return False
        return not (self._people and (person_email or "").lower() not in self._people)

    def event(self, direction: str, kinds: dict, paths: list, applied: bool, **extra) -> dict:
        event = {
            "rule_id": self.id,
            "rule": self.name,
            "scope": self.scope,
            "detector": self.detector_key,
            "action": self.action,
            "mode": self.mode,
            "direction": direction,
            "applied": applied,
            "kinds": kinds,
            "count": sum(kinds.values()),
            "paths": paths[:MAX_PATHS],
            "alert": self.definition.alert,
        }
        event.update(extra)
        return event


class CompiledRuleSet:
    """The rules of one gateway (and its assignments), ordered, ready to evaluate."""

    def __init__(self, rules: list[CompiledRule], errors: list[str]):
        self.rules = tuple(rules)
        self.errors = tuple(errors)
        assignment_ids = {r.definition.assignment_id for r in rules} - {None}
        self._lists: dict[tuple[str, int | None], tuple[CompiledRule, ...]] = {}
        for direction in ("request", "response"):
            for assignment_id in (None, *assignment_ids):
                self._lists[(direction, assignment_id)] = tuple(
                    r
                    for r in rules
                    if r.definition.direction in (direction, "both")
                    and r.definition.assignment_id in (None, assignment_id)
                )

    def rules_for(self, direction: str, assignment_id: int | None) -> tuple[CompiledRule, ...]:
        found = self._lists.get((direction, assignment_id))
        return found if found is not None else self._lists.get((direction, None), ())

    def __len__(self):
        return len(self.rules)


EMPTY = CompiledRuleSet([], [])


def _sort_key(d: RuleDefinition):
    return (_SCOPE_RANK[d.scope], d.order, d.id if d.id is not None else 0, d.name)


def compile_rules(definitions: Iterable[RuleDefinition]) -> CompiledRuleSet:
    """Compile enabled rules once (per snapshot). A rule that cannot be built is left out and
    named in `errors` (validation at save time makes that an upgrade accident, not a habit)."""
    compiled, errors = [], []
    for definition in sorted((d for d in definitions if d.enabled), key=_sort_key):
        try:
            compiled.append(CompiledRule(definition))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not take the gateway down
            logger.error("rule %s (%s) does not compile: %s", definition.id, definition.name, exc)
            errors.append(f"{definition.name}: {exc}")
    return CompiledRuleSet(compiled, errors)


# -- Evaluation --------------------------------------------------------------------------------


def _format_path(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _TextPass:
    """One text rule's walk over a payload: collects kinds and paths, rewrites if asked."""

    __slots__ = ("find", "rewrite", "rule", "kinds", "paths")

    def __init__(self, rule: CompiledRule, rewrite: bool):
        self.find = rule.detector.find
        self.rule = rule
        self.rewrite = rewrite
        self.kinds: dict[str, int] = {}
        self.paths: list[str] = []

    def visit(self, node, key, path):
        kind = type(node)
        if kind is str:
            if not node:
                return node
            matches = self.find(node, key)
            if not matches:
                return node
            return self._found(node, matches, path)
        if kind is dict:
            changed = None
            for k, v in node.items():
                if type(v) not in (str, dict, list) or k in _BINARY_KEYS:
                    continue
                if k == "data" and "mimeType" in node:
                    continue
                new = self.visit(v, k, (*path, k))
                if new is not v:
                    if changed is None:
                        changed = dict(node)
                    changed[k] = new
            return node if changed is None else changed
        if kind is list:
            changed = None
            for i, v in enumerate(node):
                if type(v) not in (str, dict, list):
                    continue
                new = self.visit(v, key, (*path, i))
                if new is not v:
                    if changed is None:
                        changed = list(node)
                    changed[i] = new
            return node if changed is None else changed
        return node

    def _found(self, text: str, matches: list[Match], path) -> str:
        kinds = self.kinds
        for m in matches:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        if len(self.paths) < MAX_PATHS:
            self.paths.append(_format_path(path))
        if not self.rewrite:
            return text
        rule = self.rule
        return actions.rewrite(text, matches, rule.action, rule.action_config, rule.hash_key)


class _Joined:
    """Every string of a payload joined once per evaluation, for the detectors' gates: one
    cheap pass that lets most rules skip a clean payload without walking it."""

    __slots__ = ("payload", "text", "lowered")

    def __init__(self, payload):
        self.payload = payload
        parts: list[str] = []
        _collect(payload, None, parts)
        self.text = "\n".join(parts)
        self.lowered = self.text.lower()


def _collect(node, key, parts: list[str]) -> None:
    kind = type(node)
    if kind is str:
        parts.append(f"{key}={node}" if key is not None else node)
    elif kind is dict:
        for k, v in node.items():
            if type(v) not in (str, dict, list) or k in _BINARY_KEYS:
                continue
            if k == "data" and "mimeType" in node:
                continue
            _collect(v, k, parts)
    elif kind is list:
        for v in node:
            if type(v) in (str, dict, list):
                _collect(v, key, parts)


def _envelope(rule, direction, method, tool_name, server_name, email, payload, ctx) -> dict:
    ctx = ctx or RuleContext()
    return {
        "rule": {"id": rule.id, "name": rule.name},
        "workspace": {"id": ctx.workspace_id, "slug": ctx.workspace_slug},
        "gateway": {"id": ctx.gateway_id, "slug": ctx.gateway_slug},
        "assignment": {"id": ctx.assignment_id},
        "person": {"id": ctx.user_id, "email": email},
        "correlation_id": ctx.correlation_id,
        "direction": direction,
        "method": method,
        "tool": tool_name,
        "server": server_name,
        "body": payload if rule.detector.send_body else None,
    }


async def evaluate(
    compiled: CompiledRuleSet,
    *,
    direction: str,
    method: str,
    tool_name: str | None,
    server_name: str | None,
    team_slugs: Iterable[str] = (),
    person_email: str | None = None,
    payload: Any,
    context: RuleContext | None = None,
) -> Evaluation:
    """Run the rules that apply to this call on `payload` (request params or response result)."""
    rules = compiled.rules_for(direction, context.assignment_id if context else None)
    if not rules:
        return Evaluation(None, payload)
    current = payload
    events: list[dict] = []
    joined: _Joined | None = None
    for rule in rules:
        if not rule.applies(method, tool_name, server_name, team_slugs, person_email):
            continue
        detector = rule.detector
        if detector.is_async:
            envelope = _envelope(
                rule, direction, method, tool_name, server_name, person_email, current, context
            )
            verdict = await detector.consult(envelope)
            if verdict.decision == "pass" and not verdict.error:
                continue
            label = "webhook_error" if verdict.error else f"webhook_{verdict.decision}"
            acts = rule.enforce and rule.action == "block" and verdict.decision != "pass"
            extra = {"error": verdict.error} if verdict.error else {}
            events.append(rule.event(direction, {label: 1}, [], acts, **extra))
            if acts and verdict.decision == "block":
                reason = verdict.reason or verdict.error
                return Evaluation(BlockedBy(rule.id, rule.name, reason), current, events, False)
            if acts and verdict.decision == "modify":
                current = verdict.body
            continue
        if detector.scope == "call":
            call = Call(direction, method, tool_name, server_name, current)
            matches = detector.inspect(call)
            if not matches:
                continue
            kinds: dict[str, int] = {}
            for m in matches:
                kinds[m.kind] = kinds.get(m.kind, 0) + 1
            paths = [m.path for m in matches if m.path]
            blocks = rule.enforce and rule.action == "block"
            events.append(rule.event(direction, kinds, paths, blocks))
            if blocks:
                return Evaluation(
                    BlockedBy(rule.id, rule.name), current, events, current is not payload
                )
            continue
        if rule.gated:
            if joined is None or joined.payload is not current:
                joined = _Joined(current)
            if not detector.gate(joined.text, joined.lowered):
                continue
        rewrite = rule.enforce and rule.action in actions.REWRITING
        walk = _TextPass(rule, rewrite)
        result = walk.visit(current, None, ())
        if not walk.kinds:
            continue
        blocks = rule.enforce and rule.action == "block"
        events.append(rule.event(direction, walk.kinds, walk.paths, blocks or rewrite))
        if blocks:
            return Evaluation(
                BlockedBy(rule.id, rule.name), current, events, current is not payload
            )
        current = result
    return Evaluation(None, current, events, current is not payload)
