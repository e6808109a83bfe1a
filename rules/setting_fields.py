"""The settings a detector or an action takes, declared as typed fields, and their one check.

Each plug-in lists its settings as `Setting`s. The console renders one field per setting, and
`clean_settings` validates a configuration against them wherever it comes from (the typed form,
the JSON box, the API, `apply`), naming the setting in its error so the form can show it next to
its field. What a kind cannot say (a URL's address, an expression that matches the empty string)
the plug-in checks after this, in its `clean_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rules.errors import InvalidRule
from rules.patterns import PatternError, compile_pattern

TEXT = "text"
REGEX = "regex"
CHOICE = "choice"
MULTI_CHOICE = "multi-choice"
NUMBER = "number"
BOOL = "bool"
STRINGS = "strings"  # a list of strings, one per line in the form
JSON = "json"  # structured values the plug-in checks itself, edited as JSON
KINDS = (TEXT, REGEX, CHOICE, MULTI_CHOICE, NUMBER, BOOL, STRINGS, JSON)
_SHOWN_CHOICES = 20  # an error lists the known values when there are no more than this


@dataclass(frozen=True)
class Setting:
    """One setting: its key in the configuration, how the form shows it, and its bounds.

    `minimum`/`maximum` bound a number; `max_length` bounds text (characters) or a list
    (entries), `min_length` text; `choices` are `(value, label)` pairs; `missing` is the
    sentence for a required setting left out."""

    name: str
    label: str
    kind: str
    help: str = ""
    default: Any = None
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[tuple[str, str], ...] = ()
    missing: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Unknown setting kind {self.kind!r}.")


class SettingsChecker:
    """Checks one plug-in's configuration; errors carry `field` (the rule's field, such as
    `detector_config`) and the setting they are about."""

    def __init__(self, field: str, owner: str):
        self.field = field
        self.owner = owner

    def fail(self, message: str, setting: str | None = None) -> InvalidRule:
        return InvalidRule(message, field=self.field, setting=setting)

    def clean(self, settings: tuple[Setting, ...], config: Any) -> dict:
        """The configuration with every setting checked and normalised, defaults filled in."""
        if config in (None, ""):
            config = {}
        if not isinstance(config, dict):
            raise self.fail(f"The {self.owner} configuration must be an object.")
        names = [s.name for s in settings]
        unknown = sorted(set(config) - set(names))
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            raise self.fail(
                f"Unknown {self.owner} settings: {', '.join(unknown)} (allowed: {known})."
            )
        return {s.name: self.value(s, config.get(s.name)) for s in settings}

    def value(self, setting: Setting, value: Any) -> Any:
        if value is None:
            if setting.required:
                raise self.fail(
                    setting.missing or f"'{setting.name}' is required: {setting.label.lower()}.",
                    setting.name,
                )
            value = setting.default
            if value is None:
                return None
        check = getattr(self, "_" + setting.kind.replace("-", "_"))
        return check(setting, value)

    def _text(self, setting: Setting, value: Any) -> str:
        name = setting.name
        low, high = setting.min_length, setting.max_length
        if not isinstance(value, str):
            raise self.fail(f"'{name}' must be text.", name)
        if setting.required and not value and low != 0:
            raise self.fail(
                setting.missing or f"'{name}' is required: {setting.label.lower()}.", name
            )
        if low is not None and high == low and len(value) != low:
            raise self.fail(f"'{name}' must be {low} character{'s' if low != 1 else ''}.", name)
        if low is not None and len(value) < low:
            raise self.fail(f"'{name}' must be at least {low} characters.", name)
        if high is not None and len(value) > high:
            raise self.fail(f"'{name}' is longer than {high} characters.", name)
        return value

    def _regex(self, setting: Setting, value: Any) -> str:
        value = self._text(setting, value)
        try:
            compile_pattern(value)
        except PatternError as exc:
            raise self.fail(f"'{setting.name}' {exc}", setting.name) from exc
        return value

    def _choice(self, setting: Setting, value: Any) -> str:
        known = [v for v, _ in setting.choices]
        if value not in known:
            options = " or ".join(f"'{v}' ({label.lower()})" for v, label in setting.choices)
            raise self.fail(f"'{setting.name}' must be {options}.", setting.name)
        return value

    def _multi_choice(self, setting: Setting, value: Any) -> list[str]:
        values = self._strings(setting, value)
        known = {v for v, _ in setting.choices}
        unknown = [v for v in dict.fromkeys(values) if v not in known]
        if unknown:
            listed = ""
            if len(setting.choices) <= _SHOWN_CHOICES:
                listed = f" (known: {', '.join(v for v, _ in setting.choices)})"
            label = setting.label
            if not label[:2].isupper():  # "PII kinds" keeps its capitals
                label = label[0].lower() + label[1:]
            raise self.fail(
                f"Unknown {label} in '{setting.name}': {', '.join(unknown)}{listed}.",
                setting.name,
            )
        return list(dict.fromkeys(values))

    def _number(self, setting: Setting, value: Any) -> int:
        low, high = setting.minimum, setting.maximum
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise self.fail(
                f"'{setting.name}' must be an integer from {low} to {high}.", setting.name
            )
        return value

    def _bool(self, setting: Setting, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(f"'{setting.name}' must be true or false.", setting.name)
        return value

    def _strings(self, setting: Setting, value: Any) -> list[str]:
        name = setting.name
        if value == [] and not setting.required:
            return []
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise self.fail(f"'{name}' must be a non-empty list of non-empty strings.", name)
        if setting.max_length is not None and len(value) > setting.max_length:
            raise self.fail(f"'{name}' may hold at most {setting.max_length} entries.", name)
        return [v.strip() for v in value]

    def _json(self, setting: Setting, value: Any) -> Any:
        return value


def clean_settings(settings: tuple[Setting, ...], config: Any, *, field: str, owner: str) -> dict:
    """`config` checked against `settings`; raises `InvalidRule` naming the setting."""
    return SettingsChecker(field, owner).clean(settings, config)
