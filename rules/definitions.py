"""A rule as plain data (`RuleDefinition`), its validation, and the default rule set.

Everything that writes a rule (services, `apply`, the preview) goes through `clean_rule`, which
checks the detector's configuration with the detector itself, so an admin hears about a bad
pattern or an unknown PII kind when saving, never at traffic time. The engine compiles
`RuleDefinition`s, which carry no ORM state and can be built without the database.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from rules.actions import clean_action_config
from rules.detectors import REGISTRY
from rules.errors import InvalidRule
from rules.patterns import PatternError, compile_globs

MODES = ("enforce", "monitor")
DIRECTIONS = ("request", "response", "both")
ACTIONS = ("block", "redact", "replace", "mask", "hash", "flag")
SCOPES = ("workspace", "gateway", "assignment")
CONDITION_KEYS = ("tools", "servers", "teams", "people", "methods")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,99}$")


@dataclass(frozen=True)
class RuleDefinition:
    """One rule as the engine compiles it; `id` is None for a rule not saved (a preview)."""

    name: str
    detector: str
    action: str = "flag"
    id: int | None = None
    workspace_id: int | None = None
    enabled: bool = True
    order: int = 0
    mode: str = "enforce"
    direction: str = "both"
    gateway_id: int | None = None
    assignment_id: int | None = None
    conditions: dict = field(default_factory=dict)
    detector_config: dict = field(default_factory=dict)
    action_config: dict = field(default_factory=dict)
    alert: bool = False
    description: str = ""

    @property
    def scope(self) -> str:
        if self.assignment_id is not None:
            return "assignment"
        if self.gateway_id is not None:
            return "gateway"
        return "workspace"

    def as_dict(self) -> dict:
        return asdict(self)


def _choice(data: dict, key: str, choices, default) -> str:
    value = data.get(key, default)
    if value is None:
        value = default
    if value not in choices:
        raise InvalidRule(f"'{key}' must be one of: {', '.join(choices)}.", field=key)
    return value


def clean_conditions(conditions: Any) -> dict:
    if conditions in (None, ""):
        return {}
    if not isinstance(conditions, dict):
        raise InvalidRule("'conditions' must be an object.", field="conditions")
    unknown = sorted(set(conditions) - set(CONDITION_KEYS))
    if unknown:
        raise InvalidRule(
            f"Unknown conditions: {', '.join(unknown)} (allowed: {', '.join(CONDITION_KEYS)}).",
            field="conditions",
        )
    out = {}
    for key in CONDITION_KEYS:
        value = conditions.get(key)
        if value in (None, []):
            continue
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise InvalidRule(f"conditions.{key} must be a list of strings.", field="conditions")
        values = [v.strip() for v in value]
        if key == "tools":
            try:
                compile_globs(values)
            except PatternError as exc:
                raise InvalidRule(f"conditions.tools {exc}", field="conditions") from exc
        out[key] = sorted({v.lower() for v in values} if key == "people" else set(values))
    return out


def clean_rule(data: dict) -> dict:
    """Validate a rule's fields (as stored on the model) and return them normalised."""
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name.strip()):
        raise InvalidRule(
            "A rule name is 1-100 letters, digits, spaces and . _ : -, starting with a letter "
            "or digit.",
            field="name",
        )
    detector_key = data.get("detector")
    detector = REGISTRY.get(detector_key) if isinstance(detector_key, str) else None
    if detector is None:
        raise InvalidRule(
            f"Unknown detector '{detector_key}' (known: {', '.join(REGISTRY)}).", field="detector"
        )
    action = _choice(data, "action", ACTIONS, "flag")
    if action not in detector.actions:
        raise InvalidRule(
            f"The {detector.key} detector supports these actions: "
            f"{', '.join(a for a in ACTIONS if a in detector.actions)}.",
            field="action",
        )
    order = data.get("order", 0)
    if order is None:
        order = 0
    if (
        isinstance(order, bool)
        or not isinstance(order, int)
        or not -1_000_000 <= order <= 1_000_000
    ):
        raise InvalidRule("'order' must be an integer.", field="order")
    for flag in ("enabled", "alert"):
        if flag in data and not isinstance(data[flag], bool):
            raise InvalidRule(f"'{flag}' must be true or false.", field=flag)
    description = data.get("description") or ""
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidRule(
            "'description' must be text of at most 2000 characters.", field="description"
        )
    return {
        "name": name.strip(),
        "description": description,
        "enabled": data.get("enabled", True),
        "order": order,
        "mode": _choice(data, "mode", MODES, "enforce"),
        "direction": _choice(data, "direction", DIRECTIONS, "both"),
        "conditions": clean_conditions(data.get("conditions")),
        "detector": detector.key,
        "detector_config": detector.clean_config(data.get("detector_config")),
        "action": action,
        "action_config": clean_action_config(action, data.get("action_config")),
        "alert": data.get("alert", False),
    }


def default_rules() -> list[dict]:
    """The rule set a new workspace can enable in one step: redact secrets both ways, flag PII
    and prompt-injection phrases. Plain data, ready for `create_rule(**rule)` or `clean_rule`."""
    return [
        {
            "name": "redact-secrets",
            "description": "Redact credentials, keys and tokens in requests and responses.",
            "order": 10,
            "direction": "both",
            "detector": "secrets",
            "detector_config": {},
            "action": "redact",
        },
        {
            "name": "flag-pii",
            "description": "Log email addresses, phone numbers, cards, SSNs and IBANs.",
            "order": 20,
            "direction": "both",
            "detector": "pii",
            "detector_config": {"kinds": ["email", "phone", "card", "ssn", "iban"]},
            "action": "flag",
        },
        {
            "name": "flag-prompt-injection",
            "description": "Log tool results that try to give the model instructions.",
            "order": 30,
            "direction": "response",
            "detector": "injection",
            "detector_config": {},
            "action": "flag",
        },
    ]
