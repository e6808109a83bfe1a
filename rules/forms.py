"""Console forms of the rules app: the rule editor and the "try it" panel.

The forms only parse what a person typed (lists, JSON) into the shape `clean_rule` takes; the
rule itself is validated by `rules.definitions.clean_rule`, through the services or the preview,
and its errors are put back on the field they name.
"""

import json
import re

from django import forms

from gateways.models import Assignment, Gateway
from rules.definitions import CONDITION_KEYS
from rules.detectors import REGISTRY
from rules.models import Rule

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
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    action = forms.ChoiceField(choices=Rule.Action.choices)
    action_config = forms.CharField(
        required=False,
        label="Action settings (JSON)",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=" · ".join(f"{k}: {v}" for k, v in ACTION_EXAMPLES.items())
        + ". The other actions take none.",
    )
    alert = forms.BooleanField(required=False, label="Also raise an alert when it acts")

    def __init__(self, *args, gateways, assignments, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["gateway"].choices = [("", "—")] + [(g.slug, g.name) for g in gateways]
        self.fields["assignment"].choices = [("", "—")] + [
            (str(a.pk), assignment_label(a)) for a in assignments
        ]
        self._gateways = {g.slug: g for g in gateways}
        self._assignments = {str(a.pk): a for a in assignments}
        self.fields["detector_config"].help_text = " · ".join(
            f"{key}: {example}" for key, example in DETECTOR_EXAMPLES.items()
        )
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
            "detector_config": json.dumps(rule.detector_config) if rule.detector_config else "",
            "action": rule.action,
            "action_config": json.dumps(rule.action_config) if rule.action_config else "",
            "alert": rule.alert,
        }
        for field, key in CONDITION_FIELDS.items():
            initial[field] = ", ".join(rule.conditions.get(key, []))
        return initial

    def clean(self):
        data = super().clean()
        data["detector_config_value"] = _json_object(self, "detector_config")
        data["action_config_value"] = _json_object(self, "action_config")
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


def show_rule_error(form: RuleForm, exc) -> None:
    """Put a rule validation error on the form field it names (conditions go to the tools box)."""
    field = {"conditions": "tools_condition", "rule": None}.get(exc.field, exc.field)
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
