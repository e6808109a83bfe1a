"""Console pages of the rules app: the list in evaluation order, the editor, quick toggles,
reordering, removal, the default rule set, and "try it" on a sample or on logged calls.

Choosing another detector or action swaps its settings' fields in (`RuleSettingsPage`, an htmx
fragment); without JavaScript, the editor's "Show the settings of this detector" button posts
the form back and gets it with the new fields, saving nothing.

Any member may read the rules; every change and "try it" need `rules.manage`, as in the API.
A rule of another workspace is the same 404 as a missing one.
"""

import json

from django.contrib import messages
from django.db.models import Max
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import GatehouseError
from rules import preview as previews
from rules import selectors, services
from rules.detectors import REGISTRY
from rules.forms import (
    PARTS,
    RuleForm,
    TryForm,
    refreshed_initial,
    scope_targets,
    show_rule_error,
)
from teams.capabilities import RULES_MANAGE
from teams.console_base import WorkspacePage

TOGGLES = {
    "enable": {"enabled": True},
    "disable": {"enabled": False},
    "enforce": {"mode": "enforce"},
    "monitor": {"mode": "monitor"},
}


def rule_groups(rules) -> list[dict]:
    """Rules grouped by scope in the order they run: the workspace's, then each gateway's
    followed by its servers'. Within a group `rules_of` already gives evaluation order."""
    groups: dict[tuple, dict] = {}
    for rule in rules:
        detector = REGISTRY.get(rule.detector)
        rule.detector_label = detector.label if detector else rule.detector
        key = (rule.gateway_id, rule.assignment_id)
        if key not in groups:
            if rule.assignment_id is not None:
                # The rule's gateway is the assignment's, already loaded with the rule.
                where = rule.assignment.namespace or f"assignment {rule.assignment_id}"
                title = f"Server {rule.gateway.slug} / {where}"
                sort = (1, rule.gateway.slug, 1, rule.assignment.namespace, rule.assignment_id)
            elif rule.gateway_id is not None:
                title = f"Gateway {rule.gateway.name}"
                sort = (1, rule.gateway.slug, 0, "", 0)
            else:
                title = "Workspace: every gateway"
                sort = (0, "", 0, "", 0)
            groups[key] = {"title": title, "scope": rule.scope, "sort": sort, "rules": []}
        groups[key]["rules"].append(rule)
    return sorted(groups.values(), key=lambda g: g["sort"])


def next_order(workspace, *, gateway=None, assignment=None) -> int:
    """An order that puts a new rule last in its scope (the list reads top to bottom)."""
    key = (
        assignment.gateway_id if assignment else (gateway.pk if gateway else None),
        assignment.pk if assignment else None,
    )
    last = (
        selectors.rules_of(workspace)
        .filter(gateway_id=key[0], assignment_id=key[1])
        .aggregate(last=Max("order"))["last"]
    )
    return (last or 0) + 10


def moved(ids: list[int], rule_id: int, step: int) -> list[int] | None:
    """`ids` with `rule_id` moved one place (`step` -1 or 1), or None at either end."""
    at = ids.index(rule_id)
    to = at + step
    if not 0 <= to < len(ids):
        return None
    ids = list(ids)
    ids[at], ids[to] = ids[to], ids[at]
    return ids


def groups_partial(page):
    """The list's groups alone, for htmx to swap after a toggle or a move."""
    rules = selectors.rules_of(page.workspace)
    return page.render("rules/_groups.html", {"groups": rule_groups(rules)})


class RulesPage(WorkspacePage):
    def get(self, request):
        rules = list(selectors.rules_of(self.workspace))
        return self.render(
            "rules/list.html",
            {"groups": rule_groups(rules), "count": len(rules)},
        )


class RuleEditor(WorkspacePage):
    """The editor's rendering, shared by creating, editing and trying a rule."""

    required = {"GET": RULES_MANAGE, "POST": RULES_MANAGE}

    def forms(self, rule=None, data=None, *, refreshed=None):
        """The rule form and the "try it" form; `refreshed` (posted data) fills an unbound
        form instead, to show the fields of a newly chosen detector or action."""
        gateways, assignments = scope_targets(self.workspace)
        if rule is not None:
            initial = RuleForm.initial_for(rule)
        else:
            initial = {
                "scope": "workspace",
                "direction": "both",
                "enabled": True,
                "mode": "monitor",
            }
        if refreshed is not None:
            initial = refreshed_initial(initial, refreshed)
        form = RuleForm(
            data,
            initial=initial,
            gateways=gateways,
            assignments=assignments,
            editing=rule is not None,
            settings_url=reverse("rule-settings", kwargs={"ws": self.workspace.slug}),
        )
        try_form = TryForm(data, gateways=gateways, initial={"limit": 20})
        return form, try_form

    def refresh(self, request, rule=None):
        """The editor again with the posted values, for the detector or action now chosen."""
        form, try_form = self.forms(rule, refreshed=request.POST)
        return self.editor(rule, form, try_form)

    def editor(self, rule, form, try_form, *, result=None, status=200, trying=False):
        return self.render(
            "rules/edit.html",
            {
                "rule": rule,
                "form": form,
                "try_form": try_form,
                "result": result,
                "trying": trying,
            },
            status=status,
        )


class RuleSettingsPage(WorkspacePage):
    """The fields of one detector's or action's settings (`?detector=regex`, `?action=mask`),
    for htmx to swap in when another is chosen in the editor. Without either, those of the
    detector a new rule starts with."""

    required = {"GET": RULES_MANAGE}

    def get(self, request):
        part = next((p for p in PARTS if p in request.GET), "detector")
        gateways, assignments = scope_targets(self.workspace)
        form = RuleForm(
            initial={part: request.GET.get(part)}, gateways=gateways, assignments=assignments
        )
        key = form.chosen[part]
        if key not in dict(form.fields[part].choices):
            return HttpResponseBadRequest(f"Unknown {part} '{key}'.", content_type="text/plain")
        return self.render("rules/_settings.html", {"part": form.settings_part(part)})


class RuleNewPage(RuleEditor):
    def get(self, request):
        form, try_form = self.forms()
        return self.editor(None, form, try_form)

    def post(self, request):
        if "refresh" in request.POST:
            return self.refresh(request)
        form, try_form = self.forms(data=request.POST)
        if form.is_valid():
            scope = form.scope_objects()
            try:
                rule = services.create_rule(
                    workspace=self.workspace,
                    actor=request.user,
                    order=next_order(self.workspace, **scope),
                    **scope,
                    **form.rule_data(),
                )
            except GatehouseError as exc:
                show_rule_error(form, exc)
            else:
                messages.success(request, f"Rule {rule.name} was created.")
                return redirect("rules", ws=self.workspace.slug)
        return self.editor(None, form, try_form, status=400)


class RulePage(RuleEditor):
    def get(self, request, pk):
        rule = selectors.access_rule(self.workspace, pk)
        form, try_form = self.forms(rule)
        return self.editor(rule, form, try_form)

    def post(self, request, pk):
        rule = selectors.access_rule(self.workspace, pk)
        if "refresh" in request.POST:
            return self.refresh(request, rule)
        form, try_form = self.forms(rule, data=request.POST)
        if form.is_valid():
            try:
                services.update_rule(rule=rule, actor=request.user, **form.rule_data())
            except GatehouseError as exc:
                show_rule_error(form, exc)
            else:
                messages.success(request, f"Rule {rule.name} was saved.")
                return redirect("rules", ws=self.workspace.slug)
        return self.editor(rule, form, try_form, status=400)


class RuleTryPage(RuleEditor):
    """Runs the rule as the form describes it, saved or not, and shows what it would do.
    htmx swaps the result panel; without JavaScript the whole editor comes back with it."""

    required = {"POST": RULES_MANAGE}

    def post(self, request, pk=None):
        rule = selectors.access_rule(self.workspace, pk) if pk is not None else None
        form, try_form = self.forms(rule, data=request.POST)
        result = None
        if form.is_valid() and try_form.is_valid():
            try:
                result = self.run(request.POST.get("run"), form, try_form)
            except GatehouseError as exc:
                if exc.field in ("sample", "direction"):
                    try_form.add_error("sample", exc.message)
                else:
                    show_rule_error(form, exc)
        status = 200 if result is not None else 400
        if self.is_htmx:
            return self.render(
                "rules/_try.html",
                {
                    "rule": rule,
                    "form": form,
                    "try_form": try_form,
                    "result": result,
                    "trying": True,
                },
                status=status,
            )
        return self.editor(rule, form, try_form, result=result, status=status, trying=True)

    def run(self, run, form, try_form):
        data = try_form.cleaned_data
        if run == "logged":
            slug = data.get("logged_gateway")
            if not slug:
                try_form.add_error("logged_gateway", "Choose a gateway whose calls to try.")
                return None
            calls = previews.preview_logged(
                workspace=self.workspace,
                rule_data=form.rule_data(),
                gateway_slug=slug,
                limit=data.get("limit") or 20,
            )
            return {"run": "logged", "gateway": slug, "calls": calls}
        sample = try_form.sample_value()
        if sample is None:
            return None
        outcome = previews.preview(
            workspace=self.workspace,
            rule_data=form.rule_data(),
            sample=sample,
            direction=data["sample_direction"],
            tool_name=data.get("tool") or None,
        )
        return {
            "run": "sample",
            **outcome,
            "payload_json": json.dumps(outcome["payload"], indent=2, ensure_ascii=False),
        }


class RuleTogglePage(WorkspacePage):
    """Enable or disable a rule, or switch it between enforce and monitor."""

    required = {"POST": RULES_MANAGE}

    def post(self, request, pk):
        rule = selectors.access_rule(self.workspace, pk)
        change = TOGGLES.get(request.POST.get("set", ""))
        if change is None:
            messages.error(request, "Choose enable, disable, enforce or monitor.")
            return redirect("rules", ws=self.workspace.slug)
        services.update_rule(rule=rule, actor=request.user, **change)
        if self.is_htmx:
            return groups_partial(self)
        messages.success(request, f"Rule {rule.name} was updated.")
        return redirect("rules", ws=self.workspace.slug)


class RuleMovePage(WorkspacePage):
    """Move a rule one place up or down among the rules of its scope."""

    required = {"POST": RULES_MANAGE}

    def post(self, request, pk):
        rule = selectors.access_rule(self.workspace, pk)
        step = {"up": -1, "down": 1}.get(request.POST.get("to", ""))
        rules = list(selectors.rules_of(self.workspace))
        siblings = [
            r.pk
            for r in rules
            if (r.gateway_id, r.assignment_id) == (rule.gateway_id, rule.assignment_id)
        ]
        order = moved(siblings, rule.pk, step) if step else None
        if order is not None:
            services.reorder_rules(workspace=self.workspace, actor=request.user, rule_ids=order)
        if self.is_htmx:
            return groups_partial(self)
        return redirect("rules", ws=self.workspace.slug)


class RuleDeletePage(WorkspacePage):
    required = {"GET": RULES_MANAGE, "POST": RULES_MANAGE}

    def get(self, request, pk):
        rule = selectors.access_rule(self.workspace, pk)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Delete the rule {rule.name}?",
                "body": "Gateways stop applying it at once. Its past actions stay in the log.",
                "action": "Delete rule",
                "cancel_url": reverse("rules", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, pk):
        rule = selectors.access_rule(self.workspace, pk)
        services.delete_rule(rule=rule, actor=request.user)
        messages.success(request, f"Rule {rule.name} was deleted.")
        return redirect("rules", ws=self.workspace.slug)


class RuleDefaultsPage(WorkspacePage):
    required = {"POST": RULES_MANAGE}

    def post(self, request):
        created = services.install_default_rules(workspace=self.workspace, actor=request.user)
        if created:
            names = ", ".join(rule.name for rule in created)
            messages.success(request, f"Installed {len(created)} rules: {names}.")
        else:
            messages.success(request, "The default rules are already installed.")
        return redirect("rules", ws=self.workspace.slug)
