"""The rules engine: compile rule definitions once per snapshot, evaluate them on every call.

Order (documented in docs/rules.md): for a direction, workspace-scoped rules run first, then the
gateway's, then the assignment's; within a scope by `order`, then by id. A blocking rule in
enforce mode stops evaluation; rewriting rules chain (each sees the previous one's output);
monitor mode reports what the rule would have done and changes nothing. `evaluate` never copies
a payload nothing changed in: containers are copied only along the path to a rewritten string.
Events name the rule, detector, action and the kinds matched with their counts, never the text.

Inside the data of a call (`arguments`, `structuredContent`) numbers are scanned as their decimal
text and object keys as strings of their own (`rules/documents.py`); a string that holds a JSON
document is rewritten so that it stays one (`rules/json_text.py`).
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import accumulate, repeat
from operator import add
from typing import Any

from rules import actions, json_text, prefilter
from rules.budget import Budget, Exhausted, scan
from rules.definitions import RuleDefinition
from rules.detectors import REGISTRY
from rules.detectors.base import CALL_ACTIONS, Call, Detector, Match, non_overlapping
from rules.detectors.tool_matcher import glob_regex
from rules.documents import KEY, NUMBER, STRING, KeyName, collect, renamed_paths, replaced

logger = logging.getLogger(__name__)

_SCOPE_RANK = {"workspace": 0, "gateway": 1, "assignment": 2}
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


@dataclass(frozen=True)
class OverBudget(BlockedBy):
    """The call's rules took longer than `RULES_CALL_BUDGET_MS`: refused, not half-checked."""

    budget_ms: float = 0

    @property
    def message(self) -> str:
        return (
            f"Refused: the rules on this call took longer than their {self.budget_ms:g} ms "
            f"budget (last rule run: '{self.rule}')."
        )

    def error_data(self) -> dict:
        return {
            **super().error_data(),
            "reason": "rules_budget_exceeded",
            "budget_ms": self.budget_ms,
        }


@dataclass
class Evaluation:
    blocked_by: BlockedBy | None
    payload: Any
    events: list[dict] = field(default_factory=list)
    modified: bool = False
    #: Numbers a rule rewrote into strings: their paths in `payload`, each with the index of
    #: the event of the rule that did it (the caller may have a schema that wants a number).
    retyped: dict[tuple, int] = field(default_factory=dict)

    @property
    def alert(self) -> bool:
        return any(e["alert"] for e in self.events)


class CompiledRule:
    """One rule ready to run: its detector built, its conditions compiled."""

    def __init__(self, definition: RuleDefinition, detector: Detector | None = None):
        self.definition = definition
        self.id = definition.id
        self.name = definition.name
        self.scope = definition.scope
        self.mode = definition.mode
        self.enforce = definition.mode == "enforce"
        self.action = definition.action
        self.action_config = definition.action_config
        self.detector_key = definition.detector
        self.detector = detector or REGISTRY[definition.detector](definition.detector_config)
        self.hash_key = actions.hash_key(definition.workspace_id)
        conditions = definition.conditions or {}
        self._tools = glob_regex(conditions.get("tools"))
        self._servers = frozenset(conditions.get("servers") or ())
        self._teams = frozenset(conditions.get("teams") or ())
        self._people = frozenset(p.lower() for p in conditions.get("people") or ())
        self._methods = frozenset(conditions.get("methods") or ())
        self.unconditional = not conditions
        #: Its place in the rule set's multi-pattern scan (`CompiledRuleSet.prefilter`).
        self.slot = -1

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

    def __init__(self, rules: list[CompiledRule], errors: list[str], multi_pattern: bool = True):
        self.rules = tuple(rules)
        self.errors = tuple(errors)
        # The text rules' `locate` as one multi-pattern scan per payload, where it can be.
        text_rules = [r for r in rules if r.detector.scope == "text" and not r.detector.is_async]
        for slot, rule in enumerate(text_rules):
            rule.slot = slot
        self.prefilter = prefilter.Prefilter(
            [r.detector for r in text_rules] if multi_pattern else []
        )
        assignment_ids = {r.definition.assignment_id for r in rules} - {None}
        self._directions = frozenset(
            d
            for d in ("request", "response")
            if any(r.definition.direction in (d, "both") for r in rules)
        )
        self._lists: dict[tuple[str, int | None], tuple[CompiledRule, ...]] = {}
        for direction in ("request", "response"):
            for assignment_id in (None, *assignment_ids):
                self._lists[(direction, assignment_id)] = tuple(
                    r
                    for r in rules
                    if r.definition.direction in (direction, "both")
                    and r.definition.assignment_id in (None, assignment_id)
                )

    def has(self, direction: str) -> bool:
        """Whether any rule, of any scope, runs in `direction` (one lookup per call)."""
        return direction in self._directions

    def rules_for(self, direction: str, assignment_id: int | None) -> tuple[CompiledRule, ...]:
        found = self._lists.get((direction, assignment_id))
        return found if found is not None else self._lists.get((direction, None), ())

    def __len__(self):
        return len(self.rules)


EMPTY = CompiledRuleSet([], [])


def _sort_key(d: RuleDefinition):
    return (_SCOPE_RANK[d.scope], d.order, d.id if d.id is not None else 0, d.name)


class _CannotRun(Detector):
    """Stands in for the detector of a rule that does not compile: it finds every call."""

    scope = "call"
    actions = CALL_ACTIONS

    def inspect(self, call: Call) -> list[Match]:
        return [Match("rule_cannot_run")]


def _refusing(definition: RuleDefinition) -> CompiledRule | None:
    """What stands for a rule that does not compile. One that would block or rewrite (in
    enforce mode) refuses every call it applies to, rather than let through what it was
    written to stop; one that only flags, or monitors, is left out."""
    if definition.mode != "enforce" or definition.action == "flag":
        return None
    blocking = replace(definition, action="block", action_config={})
    try:
        return CompiledRule(blocking, _CannotRun({}))
    except Exception:  # noqa: BLE001 - its conditions do not compile either: every call
        return CompiledRule(replace(blocking, conditions={}), _CannotRun({}))


def compile_rules(
    definitions: Iterable[RuleDefinition], *, multi_pattern: bool = prefilter.AVAILABLE
) -> CompiledRuleSet:
    """Compile enabled rules once (per snapshot). A rule that cannot be built (say, a pattern
    saved before patterns ran on RE2) is named in `errors` and logged; if it would block or
    rewrite, it refuses the calls it applies to (`_refusing`), else it is left out. Without
    `multi_pattern`, each rule locates its candidates alone (the reference way)."""
    compiled, errors = [], []
    for definition in sorted((d for d in definitions if d.enabled), key=_sort_key):
        try:
            compiled.append(CompiledRule(definition))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not take the gateway down
            refusing = _refusing(definition)
            logger.error(
                "rule %s (%s) does not compile, so it %s: %s",
                definition.id,
                definition.name,
                "refuses the calls it applies to" if refusing else "is left out",
                exc,
            )
            errors.append(f"{definition.name}: {exc}")
            if refusing is not None:
                compiled.append(refusing)
    return CompiledRuleSet(compiled, errors, multi_pattern)


# -- Evaluation --------------------------------------------------------------------------------


def format_path(path: tuple, hidden: set[tuple] | None = None) -> str:
    """`content[0].text`; an object key a rule matched (it may be the very secret) is shown
    as `<key>`, in its own path and in the paths below it."""
    out = ""
    for depth, part in enumerate(path):
        if hidden and path[: depth + 1] in hidden:
            part = "<key>"
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Strings:
    """Every string of a payload, collected in one walk per evaluation and shared by its text
    rules: each rule locates its candidates in the joined text, so it neither walks the payload
    again nor calls its detector on strings that cannot match. Numbers and object keys of the
    call's data are collected too, as their text (`roles` tells them apart)."""

    __slots__ = (
        "payload", "values", "keys", "paths", "roles", "raw", "parts", "_starts", "text",
        "_lowered", "_prefilter", "_found",
    )  # fmt: skip

    def __init__(self, payload, prefilter: prefilter.Prefilter):
        self.payload = payload
        self._prefilter = prefilter
        self.values, self.keys, self.paths, self.roles, self.raw = collect(payload)
        self.parts = [
            v if k is None else f"{k}={v}" for v, k in zip(self.values, self.keys, strict=True)
        ]
        self._join()

    def _join(self):
        # Each string as the detectors' `locate` sees it (`key=value` under a mapping key), one
        # a line.
        self.text = "\n".join(self.parts)
        self._starts = None
        self._lowered = None
        self._found = False  # not scanned yet

    @property
    def starts(self) -> list[int]:
        """Where each part starts in the text (and, last, the text's length plus one): only a
        payload with candidates needs them, so they are counted on first use, in C."""
        if self._starts is None:
            self._starts = list(accumulate(map(add, map(len, self.parts), repeat(1)), initial=0))
        return self._starts

    @property
    def lowered(self) -> str:
        if self._lowered is None:
            self._lowered = self.text.lower()
        return self._lowered

    def locate(self, rule: CompiledRule) -> tuple[Any, object]:
        """The rule's `locate` on the text, and its narrowing for `find_near`: from the rule set's
        one multi-pattern scan of the text when that covers the rule and the text, else the
        detector's own `locate` (and no narrowing)."""
        detector = rule.detector
        if rule.slot in self._prefilter.covered:
            if self._found is False:
                self._found = self._prefilter.scan(self.text)
            if self._found is not None:
                found = self._found[rule.slot]
                return detector.located(self.text, found), detector.narrowing(found)
        return detector.locate(self.text, self.lowered), None

    def unreported(self, rule: CompiledRule) -> bool:
        """Whether the rule set's scan of the text, already made, reported nothing of the
        rule's expressions: then its detector has no candidate here and need not be called."""
        found = self._found
        return bool(found) and rule.slot in self._prefilter.covered and not found[rule.slot]

    def _relative(self, offset: int) -> tuple[int, int]:
        starts = self.starts
        i = bisect_right(starts, offset) - 1
        # The value ends its part, which ends one before the next part starts.
        return i, offset - (starts[i + 1] - 1 - len(self.values[i]))

    def candidates(self, offsets) -> dict[int, list[int]]:
        """The strings whose part of the text holds an offset, by index in payload order, each
        with those offsets made relative to the string (negative inside its `key=` prefix)."""
        found: dict[int, list[int]] = {}
        starts, values = self.starts, self.values
        end = -1  # the newline after the part of the last string found
        into: list[int] = []
        base = 0
        for o in sorted(offsets):
            if o > end:
                i = bisect_right(starts, o) - 1
                end = starts[i + 1] - 1
                base = end - len(values[i])
                into = found[i] = []
            into.append(o - base)
        return found  # in payload order: the offsets were sorted

    def spans(self, matches) -> dict[int, list[Match]]:
        """Matches given in the joined text, each made relative to the one value it lies in."""
        found: dict[int, list[Match]] = {}
        for m in matches:
            i, start = self._relative(m.start)
            if start >= 0 and start + m.end - m.start <= len(self.values[i]):
                found.setdefault(i, []).append(Match(m.kind, start, start + m.end - m.start))
        return found

    def replace(self, updates: dict[int, str], retyped: dict[tuple, int], event: int):
        """The payload with these values rewritten (numbers become strings, keys are renamed),
        copied only along their paths. Numbers rewritten are noted in `retyped`."""
        renames: list[tuple[tuple, str]] = []
        changes = []
        for i, value in updates.items():
            path, role = self.paths[i], self.roles[i]
            if role == KEY:
                path = (*path[:-1], KeyName(path[-1]))
            elif role == NUMBER:
                retyped[path] = event
                self.roles[i] = STRING
            self.values[i] = json_text.scannable(value)
            key = self.keys[i]
            self.parts[i] = self.values[i] if key is None else f"{key}={self.values[i]}"
            if self.values[i] is value:
                self.raw.pop(i, None)
            else:
                self.raw[i] = value
            changes.append((path, value))
        self.payload = replaced(self.payload, changes, 0, renames)
        if renames:
            # Keys changed: every path below them did too.
            for path in list(retyped):
                retyped[renamed_paths(path, renames)] = retyped.pop(path)
            self.__init__(self.payload, self._prefilter)
        else:
            self._join()
        return self.payload


def _scan(rule: CompiledRule, strings: _Strings, rewrite: bool):
    """One text rule over the strings of a payload: kinds and paths found, rewritten strings."""
    detector = rule.detector
    offsets, narrowing = strings.locate(rule)
    kinds: dict[str, int] = {}
    paths: list[str] = []
    updates: dict[int, str] = {}
    if offsets is not None and not offsets:
        return kinds, paths, updates
    values, keys, roles = strings.values, strings.keys, strings.roles
    if offsets is None:
        find = detector.find
        found = ((i, find(values[i], keys[i])) for i in range(len(values)))
    else:
        find_near = detector.find_near
        found = (
            (i, find_near(values[i], keys[i], near, narrowing))
            for i, near in strings.candidates(offsets).items()
        )
    # What only a value's neighbours reveal (a secret key beside its key id in a list).
    beside = strings.spans(detector.find_beside(strings.text, offsets))
    if beside:
        found = _merged(found, beside)
    hidden: set[tuple] = set()
    for i, matches in found:
        if not matches:
            continue
        text = strings.raw.get(i, values[i])  # rewritten as it is, found as detectors see it
        path = strings.paths[i]
        if roles[i] == KEY:
            hidden.add(path)
        for m in matches:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        if len(paths) < MAX_PATHS:
            paths.append(format_path(path, hidden))
        if rewrite:
            updates[i] = _rewritten(rule, text, matches, roles[i])
    return kinds, paths, updates


def _merged(found, beside: dict[int, list[Match]]):
    for i, matches in found:
        extra = beside.pop(i, None)
        # A value both judged alone and beside its neighbours is one finding, not two.
        yield i, (non_overlapping(matches + extra) if extra else matches)
    yield from sorted(beside.items())


def _rewritten(rule: CompiledRule, text: str, matches: list[Match], role: int) -> str:
    def replace(match: Match, value: str) -> str:
        return actions.replacement(rule.action, rule.action_config, match, value, rule.hash_key)

    if role == STRING and json_text.looks_like_json(text):
        # A JSON document in a string (a tool's text content) must stay one.
        document = json_text.rewrite(text, matches, replace)
        if document is not None:
            return document
    return actions.rewrite(text, matches, rule.action, rule.action_config, rule.hash_key)


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
    budget_ms: float | None = None,
) -> Evaluation:
    """Run the rules that apply to this call on `payload` (request params or response result).
    With `budget_ms`, a call whose rules (webhooks aside) take longer is refused (`OverBudget`)."""
    rules = compiled.rules_for(direction, context.assignment_id if context else None)
    if not rules:
        return Evaluation(None, payload)
    current = payload
    events: list[dict] = []
    retyped: dict[tuple, int] = {}
    strings: _Strings | None = None
    budget = Budget(budget_ms)
    last: CompiledRule | None = None
    for rule in rules:
        if last is not None and budget.exceeded():
            return _over_budget(last, direction, budget_ms, current, events, payload)
        if not rule.applies(method, tool_name, server_name, team_slugs, person_email):
            continue
        last = rule
        detector = rule.detector
        if detector.is_async:
            envelope = _envelope(
                rule, direction, method, tool_name, server_name, person_email, current, context
            )
            verdict = await budget.wait(detector.consult(envelope))
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
                retyped.clear()  # the service's body is its own: no path of ours holds there
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
        if strings is None or strings.payload is not current:
            strings = _Strings(current, compiled.prefilter)
        elif strings.unreported(rule):
            continue
        rewrite = rule.enforce and rule.action in actions.REWRITING
        try:
            kinds, paths, updates = await scan(
                budget, len(strings.text), _scan, rule, strings, rewrite
            )
        except Exhausted:
            return _over_budget(rule, direction, budget_ms, current, events, payload)
        if not kinds:
            continue
        blocks = rule.enforce and rule.action == "block"
        events.append(rule.event(direction, kinds, paths, blocks or rewrite))
        if blocks:
            return Evaluation(
                BlockedBy(rule.id, rule.name), current, events, current is not payload
            )
        if updates:
            current = strings.replace(updates, retyped, len(events) - 1)
    if last is not None and budget.exceeded():
        return _over_budget(last, direction, budget_ms, current, events, payload)
    return Evaluation(None, current, events, current is not payload, retyped)


def _over_budget(rule, direction, budget_ms, current, events, payload) -> Evaluation:
    # Logged as the last rule that ran, and as a block whatever its action and mode: the call
    # is refused.
    event = rule.event(direction, {"budget_exceeded": 1}, [], True, error="budget exceeded")
    event["action"] = "block"
    refusal = OverBudget(rule.id, rule.name, budget_ms=budget_ms)
    return Evaluation(refusal, current, [*events, event], current is not payload)
