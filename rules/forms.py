"""Console forms of the rules app: the rule editor and the "try it" panel.

The forms only parse what a person typed (lists, JSON) into the shape `clean_rule` takes; the
rule itself is validated by `rules.definitions.clean_rule`, through the services or the preview,
and its errors are put back on the field they name.

The chosen detector's and action's settings are typed fields (`<part>__<setting>`, built from the
plug-in's declared settings); each part also has an "Edit as JSON" box, used instead of the
fields when its `<part>_as_json` box is ticked. Both give `clean_rule` the same configuration.
"""

import json
import re

from django import forms

from gateways.models import Assignment, Gateway
from rules.actions import SETTINGS as ACTION_SETTINGS
from rules.definitions import CONDITION_KEYS
from rules.detectors import REGISTRY
from rules.models import Rule
from rules.setting_fields import BOOL, Setting
from rules.setting_form_fields import form_field, initial_value, typed_config

_SPLIT = re.compile(r"[,\n]")

#: What each detector's settings look like, shown beside the JSON box.
DETECTOR_EXAMPLES = {
    "secrets": '{} or {"kinds": ["aws", "github"], "exclude": []}',
    "pii": '{"kinds": ["email", "phone", "card", "ssn", "iban", "ip"]}',
    "regex": '{"pattern": "ACME-[0-9]{6}", "kind": "ticket", "ignore_case": false}',
    "keywords": '{"words": ["project falcon"], "whole_word": true}',
    "tool": '{"match": "github__delete_*"}',
    "size": '{"max_bytes": 1048576}',
    "injection": '{} or {"extra_phrases": ["disregard the rules"]}',
    "webhook": '{"url": "https://decide.example.com/mcp", "timeout_ms": 1000, "fail": "closed"}',
}
ACTION_EXAMPLES = {
    "replace": '{"text": "[removed]"}',
    "mask": '{"keep": 4, "char": "*"}',
    "hash": '{"length": 10}',
}

# The form's field for each key of `conditions`, and the reverse.
CONDITION_FIELDS = {f"{key}_condition": key for key in CONDITION_KEYS if key != "methods"}
PARTS = ("detector", "action")


def part_settings(part: str, key: str | None) -> tuple[Setting, ...]:
    """The settings the detector or action `key` declares (none for an unknown key)."""
    if part == "detector":
        detector = REGISTRY.get(key) if isinstance(key, str) else None
        return detector.settings if detector else ()
    return ACTION_SETTINGS.get(key, ()) if isinstance(key, str) else ()


def setting_field_name(part: str, setting: str) -> str:
    return f"{part}__{setting}"


def settings_initial(part: str, key: str, config: dict) -> dict:
    """The typed fields' initial values for `config` of the detector or action `key`."""
    return {
        setting_field_name(part, s.name): initial_value(s, config.get(s.name, s.default))
        for s in part_settings(part, key)
    }


def pretty_json(config: dict) -> str:
    return json.dumps(config, indent=2, ensure_ascii=False) if config else ""


def scope_targets(workspace) -> tuple[list, list]:
    """The workspace's gateways and assignments a rule can be scoped to (two queries)."""
    gateways = list(Gateway.objects.for_workspace(workspace).order_by("slug").only("slug", "name"))
    assignments = list(
        Assignment.objects.for_workspace(workspace)
        .select_related("gateway", "server")
        .order_by("gateway__slug", "namespace", "id")
    )
    return gateways, assignments


def assignment_label(assignment) -> str:
    return f"{assignment.gateway.slug} / {assignment.namespace or assignment.server.name}"


def split_list(text: str) -> list[str]:
    """Comma- or line-separated values, blanks dropped."""
    return [part.strip() for part in _SPLIT.split(text or "") if part.strip()]


def _json_object(form, name: str) -> dict:
    text = (form.cleaned_data.get(name) or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        form.add_error(name, f"This is not valid JSON: {exc.msg} (line {exc.lineno}).")
        return {}
    if not isinstance(value, dict):
        form.add_error(name, 'Write a JSON object, for example {"key": "value"}.')
        return {}
    return value


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    scope = forms.ChoiceField(
        choices=[
            ("workspace", "Every gateway of the workspace"),
            ("gateway", "One gateway"),
            ("assignment", "One server on a gateway"),
        ],
        help_text="Workspace rules run first, then the gateway's, then the server's.",
    )
    gateway = forms.ChoiceField(required=False, help_text="For a gateway-scoped rule.")
    assignment = forms.ChoiceField(
        required=False, label="Server on a gateway", help_text="For a server-scoped rule."
    )
    direction = forms.ChoiceField(choices=Rule.Direction.choices)
    mode = forms.ChoiceField(choices=Rule.Mode.choices)
    enabled = forms.BooleanField(required=False)
    tools_condition = forms.CharField(
        required=False,
        label="Only tools matching",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Tool-name globs such as github__delete_*, separated by commas or lines. "
        "Empty: every tool.",
    )
    servers_condition = forms.CharField(
        required=False,
        label="Only servers",
        widget=forms.Textarea(attrs={"rows": 1}),
        help_text="Server names. Empty: every server.",
    )
    teams_condition = forms.CharField(
        required=False,
        label="Only teams",
        widget=forms.Textarea(attrs={"rows": 1}),
        help_text="Team slugs. Empty: everyone.",
    )
    people_condition = forms.CharField(
        required=False,
        label="Only people",
        widget=forms.Textarea(attrs={"rows": 1}),
        help_text="E-mail addresses. Empty: everyone.",
    )
    detector = forms.ChoiceField(
        choices=[(key, cls.label) for key, cls in REGISTRY.items()],
    )
    detector_config = forms.CharField(
        required=False,
        label="Detector settings (JSON)",
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
    )
    detector_as_json = forms.BooleanField(
        required=False, label="Save the detector settings from this JSON, not the fields"
    )
    action = forms.ChoiceField(choices=Rule.Action.choices)
    action_config = forms.CharField(
        required=False,
        label="Action settings (JSON)",
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        help_text=" · ".join(f"{k}: {v}" for k, v in ACTION_EXAMPLES.items())
        + ". The other actions take none.",
    )
    action_as_json = forms.BooleanField(
        required=False, label="Save the action settings from this JSON, not the fields"
    )
    alert = forms.BooleanField(required=False, label="Also raise an alert when it acts")

    def __init__(self, *args, gateways, assignments, editing=False, settings_url=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.chosen = {part: self._chosen(part) for part in PARTS}
        for part, key in self.chosen.items():
            for setting in part_settings(part, key):
                name = setting_field_name(part, setting.name)
                self.fields[name] = form_field(setting)
                if not self.is_bound:
                    self.initial.setdefault(name, initial_value(setting, setting.default))
            if settings_url:
                # Choosing another detector or action swaps its settings in (htmx).
                self.fields[part].widget.attrs.update(
                    {
                        "hx-get": settings_url,
                        "hx-target": f"#{part}-settings",
                        "hx-swap": "outerHTML",
                    }
                )
        self.fields["gateway"].choices = [("", "—")] + [(g.slug, g.name) for g in gateways]
        self.fields["assignment"].choices = [("", "—")] + [
            (str(a.pk), assignment_label(a)) for a in assignments
        ]
        self._gateways = {g.slug: g for g in gateways}
        self._assignments = {str(a.pk): a for a in assignments}
        example = DETECTOR_EXAMPLES.get(self.chosen["detector"])
        self.fields["detector_config"].help_text = f"For example {example}." if example else ""
        if editing:
            # A rule's scope is fixed once saved: moving it would change which traffic it sees.
            for name in ("scope", "gateway", "assignment"):
                self.fields[name].disabled = True
                self.fields[name].required = False

    @classmethod
    def initial_for(cls, rule: Rule) -> dict:
        initial = {
            "name": rule.name,
            "description": rule.description,
            "scope": rule.scope,
            "gateway": rule.gateway.slug if rule.gateway_id else "",
            "assignment": str(rule.assignment_id or ""),
            "direction": rule.direction,
            "mode": rule.mode,
            "enabled": rule.enabled,
            "detector": rule.detector,
            "detector_config": pretty_json(rule.detector_config),
            "action": rule.action,
            "action_config": pretty_json(rule.action_config),
            "alert": rule.alert,
            **settings_initial("detector", rule.detector, rule.detector_config),
            **settings_initial("action", rule.action, rule.action_config),
        }
        for field, key in CONDITION_FIELDS.items():
            initial[field] = ", ".join(rule.conditions.get(key, []))
        return initial

    def _chosen(self, part: str) -> str | None:
        source = self.data if self.is_bound else self.initial
        return source.get(part) or self.fields[part].choices[0][0]

    def setting_fields(self, part: str) -> list[str]:
        return [setting_field_name(part, s.name) for s in part_settings(part, self.chosen[part])]

    def settings_part(self, part: str) -> dict:
        """What the template shows of one part: its typed fields and its JSON box."""
        as_json = self[f"{part}_as_json"]
        config = self[f"{part}_config"]
        return {
            "name": part,
            "key": self.chosen[part],
            "fields": [self[name] for name in self.setting_fields(part)],
            "as_json": as_json,
            "config": config,
            "open": bool(as_json.value() or config.errors),
        }

    def labelled_errors(self) -> list[tuple[str, str]]:
        """Every error with the label of its field ("" for the form's own), for "try it"."""
        return [
            (self[name].label if name in self.fields else "", error)
            for name, errors in self.errors.items()
            for error in errors
        ]

    @property
    def detector_settings(self) -> dict:
        return self.settings_part("detector")

    @property
    def action_settings(self) -> dict:
        return self.settings_part("action")

    def _part_config(self, part: str) -> dict:
        if self.cleaned_data.get(f"{part}_as_json"):
            # The fields are not used: what they hold cannot be wrong.
            for name in self.setting_fields(part):
                self._errors.pop(name, None)
            return _json_object(self, f"{part}_config")
        prefix = f"{part}__"
        values = {
            name.removeprefix(prefix): value
            for name, value in self.cleaned_data.items()
            if name.startswith(prefix)
        }
        config, errors = typed_config(part_settings(part, self.chosen[part]), values)
        for setting, message in errors.items():
            self.add_error(setting_field_name(part, setting), message)
        return config

    def clean(self):
        data = super().clean()
        data["detector_config_value"] = self._part_config("detector")
        data["action_config_value"] = self._part_config("action")
        if self.fields["scope"].disabled:
            return data
        scope = data.get("scope")
        if scope == "gateway" and not data.get("gateway"):
            self.add_error("gateway", "Choose the gateway this rule applies to.")
        if scope == "assignment" and not data.get("assignment"):
            self.add_error("assignment", "Choose the server on a gateway this rule applies to.")
        return data

    def scope_objects(self) -> dict:
        """`{"gateway": ..., "assignment": ...}` for `create_rule`."""
        scope = self.cleaned_data.get("scope")
        gateway = assignment = None
        if scope == "gateway":
            gateway = self._gateways[self.cleaned_data["gateway"]]
        elif scope == "assignment":
            assignment = self._assignments[self.cleaned_data["assignment"]]
        return {"gateway": gateway, "assignment": assignment}

    def rule_data(self) -> dict:
        """The rule's fields as the services and `clean_rule` take them."""
        data = self.cleaned_data
        conditions = {}
        for field, key in CONDITION_FIELDS.items():
            values = split_list(data.get(field, ""))
            if values:
                conditions[key] = values
        return {
            "name": data["name"],
            "description": data.get("description", ""),
            "direction": data["direction"],
            "mode": data["mode"],
            "enabled": bool(data.get("enabled")),
            "conditions": conditions,
            "detector": data["detector"],
            "detector_config": data["detector_config_value"],
            "action": data["action"],
            "action_config": data["action_config_value"],
            "alert": bool(data.get("alert")),
        }


def refreshed_initial(base: dict, posted) -> dict:
    """`base` updated with the posted values (lists kept as lists). Where the detector or
    action changed (`<part>_shown` names the one whose fields were posted), its typed fields
    and JSON box are dropped: they describe the old one."""
    initial = {**base}
    initial.update(
        (key, values if len(values) > 1 else values[0]) for key, values in posted.lists()
    )
    for key in ("enabled", "alert"):
        initial[key] = key in posted  # an unticked box is not posted at all
    for part in PARTS:
        initial[f"{part}_as_json"] = f"{part}_as_json" in posted
        if posted.get(f"{part}_shown") != posted.get(part):
            initial[f"{part}_as_json"] = False
            initial.pop(f"{part}_config", None)
            prefix = setting_field_name(part, "")
            for key in [k for k in initial if k.startswith(prefix)]:
                del initial[key]
            continue
        for setting in part_settings(part, posted.get(part)):
            if setting.kind == BOOL:
                name = setting_field_name(part, setting.name)
                initial[name] = name in posted
    return initial


def show_rule_error(form: RuleForm, exc) -> None:
    """Put a rule validation error on the form field it names (conditions go to the tools box,
    a setting's error beside its typed field unless the part was written as JSON)."""
    field = {"conditions": "tools_condition", "rule": None}.get(exc.field, exc.field)
    setting = getattr(exc, "setting", None)
    part = (exc.field or "").removesuffix("_config")
    if setting and part in PARTS and not form.cleaned_data.get(f"{part}_as_json"):
        typed = setting_field_name(part, setting)
        if typed in form.fields:
            field = typed
    form.add_error(field if field in form.fields else None, exc.message)


class TryForm(forms.Form):
    """What to try the rule on: a sample payload, or a gateway's recent logged calls."""

    sample = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="The tools/call params (request) or result (response), as JSON.",
    )
    sample_direction = forms.ChoiceField(
        label="Direction", choices=[("request", "Request"), ("response", "Response")]
    )
    tool = forms.CharField(
        required=False, max_length=200, help_text="The namespaced tool name, e.g. github__search."
    )
    logged_gateway = forms.ChoiceField(required=False, label="Gateway")
    limit = forms.IntegerField(
        required=False, min_value=1, max_value=200, initial=20, label="Last N calls"
    )

    def __init__(self, *args, gateways, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["logged_gateway"].choices = [(g.slug, g.name) for g in gateways]

    def sample_value(self):
        """The sample as a JSON object, or None with the error put on the field."""
        text = (self.cleaned_data.get("sample") or "").strip()
        if not text:
            self.add_error("sample", "Paste a JSON payload to try the rule on.")
            return None
        value = _json_object(self, "sample")
        return value if "sample" not in self.errors else None
