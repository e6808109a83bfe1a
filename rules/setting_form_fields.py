"""A detector's or an action's settings as console form fields, and back.

The fields only parse what a person typed into the value the setting takes (a list from lines,
a number, JSON for structured settings); whether the value is allowed is checked once, for every
way in, by `rules.setting_fields.clean_settings` through `clean_rule`.
"""

import json

from django import forms

from rules.setting_fields import (
    BOOL,
    CHOICE,
    JSON,
    MULTI_CHOICE,
    NUMBER,
    REGEX,
    STRINGS,
    Setting,
)

#: Up to this many choices show as checkboxes; more as a list to pick several from.
_CHECKBOXES = 12
_NOT_GIVEN = object()


class _AnyChoice(forms.ChoiceField):
    """A choice whose value is checked by the setting, like a JSON one, not by the form."""

    def valid_value(self, value):
        return True


class _AnyChoices(forms.MultipleChoiceField):
    def valid_value(self, value):
        return True


def form_field(setting: Setting) -> forms.Field:
    common = {"label": setting.label, "help_text": setting.help, "required": False}
    kind = setting.kind
    if kind == BOOL:
        field = forms.BooleanField(**common)
    elif kind == NUMBER:
        attrs = {"min": setting.minimum, "max": setting.maximum}
        widget = forms.NumberInput(attrs={k: v for k, v in attrs.items() if v is not None})
        field = forms.IntegerField(widget=widget, **common)
    elif kind == CHOICE:
        field = _AnyChoice(choices=setting.choices, **common)
    elif kind == MULTI_CHOICE:
        many = len(setting.choices) > _CHECKBOXES
        widget = forms.SelectMultiple(attrs={"size": 8}) if many else forms.CheckboxSelectMultiple()
        field = _AnyChoices(choices=setting.choices, widget=widget, **common)
    elif kind in (STRINGS, JSON):
        rows = 4 if kind == STRINGS else 3
        field = forms.CharField(widget=forms.Textarea(attrs={"rows": rows}), strip=False, **common)
    else:
        attrs = {"class": "mono", "spellcheck": "false"} if kind == REGEX else {}
        field = forms.CharField(widget=forms.TextInput(attrs=attrs), strip=False, **common)
    # The template marks a setting optional by the setting, not by the form field.
    field.setting = setting
    return field


def initial_value(setting: Setting, value):
    """What the field shows for a setting's stored (or default) value."""
    if value is None:
        return None
    if setting.kind == STRINGS:
        return "\n".join(value)
    if setting.kind == JSON:
        return json.dumps(value) if value else ""
    return value


def setting_value(setting: Setting, raw):
    """The setting's value from the field's cleaned value, `_NOT_GIVEN` for an empty field
    (so the setting's default applies, as when JSON leaves it out). Raises ValueError with a
    message for JSON that does not parse."""
    kind = setting.kind
    if kind == BOOL:
        return bool(raw)
    if kind == MULTI_CHOICE:
        return list(raw or [])
    if kind == STRINGS:
        return [line.strip() for line in (raw or "").splitlines() if line.strip()]
    if kind == NUMBER:
        return _NOT_GIVEN if raw is None else raw
    if kind == JSON:
        if not (raw or "").strip():
            return _NOT_GIVEN
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"This is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    # Text: empty leaves an optional setting to its default; a required one gets it empty.
    if not raw and not setting.required:
        return _NOT_GIVEN
    return raw or ""


def typed_config(settings: tuple[Setting, ...], values: dict) -> tuple[dict, dict]:
    """`(config, errors)` from the fields' cleaned values, keyed by setting name."""
    config: dict = {}
    errors: dict = {}
    for setting in settings:
        if setting.name not in values:
            continue
        try:
            value = setting_value(setting, values[setting.name])
        except ValueError as exc:
            errors[setting.name] = str(exc)
            continue
        if value is not _NOT_GIVEN:
            config[setting.name] = value
    return config, errors
