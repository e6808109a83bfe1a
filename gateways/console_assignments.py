"""Console pages of one assignment: its connection settings, tool curation and removal.

Connection fields need `gateways.manage`, curation (the tool mode and allow-list) needs
`gateways.provision_features`, as in the API. Curation shows the tools discovered on the
assignment's server (`Server.catalog`) with their annotations; the curation card is swapped in
place by htmx and works as a plain form without it. Pinned tools whose discovered definition
changed are listed there with a diff, and tools the admission checks flagged with the reasons;
approving either asks for confirmation on its own page.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import GatehouseError
from gateways import admission, pinning, selectors, services
from gateways.forms import ApprovalSettingsForm, ConnectionForm, CurationForm
from gateways.models import Assignment
from identities import services as identity_services
from identities.upstream import credential_shapes
from servers.discovery import refresh_catalog
from servers.identity_probe import Probe
from servers.platform_addresses import callback_uri
from teams.capabilities import GATEWAYS_MANAGE, GATEWAYS_PROVISION_FEATURES
from teams.console_base import WorkspacePage, show_error
from teams.models import Team


@dataclass(frozen=True)
class ToolRow:
    name: str
    description: str
    read_only: bool
    destructive: bool
    selected: bool
    exposed: bool
    discovered: bool
    withheld: bool = False


def _exposed(mode: str, name: str, allow: set[str], read_only: bool) -> bool:
    # The same decision as the data plane's AssignmentSpec.tool_allowed.
    if mode == Assignment.ToolMode.ALL:
        return True
    if mode == Assignment.ToolMode.SELECTED:
        return name in allow
    if mode == Assignment.ToolMode.READ_ONLY:
        return read_only
    return False


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk" or "same", for styling
    text: str


def diff_lines(change: pinning.PinChange) -> list[DiffLine]:
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    return [DiffLine(kinds.get(line[:1], "same"), line) for line in change.diff.splitlines()]


def pin_changes(assignment: Assignment) -> list[pinning.PinChange]:
    if not assignment.tool_pinning:
        return []
    tools = pinning.discovered_tools(assignment.server.catalog)
    return pinning.changes(assignment.tool_pins, tools)


def tool_rows(assignment: Assignment, holds: list[admission.Hold]) -> list[ToolRow]:
    """The discovered tools, plus allow-listed names the last discovery did not find."""
    allow = set(assignment.tool_allow or [])
    withheld = {change.tool for change in pin_changes(assignment)} | {h.tool for h in holds}
    rows, seen = [], set()
    for tool in (assignment.server.catalog or {}).get("tools", []):
        name = tool.get("name", "")
        annotations = tool.get("annotations") or {}
        read_only = bool(annotations.get("readOnlyHint"))
        seen.add(name)
        rows.append(
            ToolRow(
                name=name,
                description=tool.get("description") or "",
                read_only=read_only,
                destructive=bool(annotations.get("destructiveHint")),
                selected=name in allow,
                exposed=_exposed(assignment.tool_mode, name, allow, read_only),
                discovered=True,
                withheld=name in withheld,
            )
        )
    for name in sorted(allow - seen):
        rows.append(ToolRow(name, "", False, False, True, True, discovered=False))
    return rows


def _curation_form(assignment, data=None):
    names = [row.name for row in tool_rows(assignment, [])]
    initial = {"tool_mode": assignment.tool_mode, "tool_allow": assignment.tool_allow}
    return CurationForm(data, initial=initial, tool_names=names)


def _connection_form(assignment, data=None):
    initial = {
        "namespace": assignment.namespace,
        "prefix_mode": assignment.prefix_mode,
        "identity_scheme": assignment.identity_scheme,
        "max_call_seconds": assignment.max_call_seconds,
        "max_result_bytes": assignment.max_result_bytes,
    }
    return ConnectionForm(data, initial=initial)


def _approval_form(assignment, data=None):
    # Names the server no longer offers stay listed, so saving does not drop them unseen.
    names = [row.name for row in tool_rows(assignment, [])]
    names += [name for name in assignment.approval_tools or () if name not in names]
    initial = {
        "approval_tools": assignment.approval_tools,
        "approval_team": assignment.approval_team.slug if assignment.approval_team else "",
        "approval_timeout_seconds": assignment.approval_timeout_seconds,
    }
    teams = Team.objects.for_workspace(assignment.workspace_id).order_by("name")
    return ApprovalSettingsForm(data, initial=initial, tool_names=names, teams=teams)


def _hold(assignment: Assignment, tool: str) -> admission.Hold | None:
    return next((h for h in selectors.admission_holds(assignment) if h.tool == tool), None)


class AssignmentBase(WorkspacePage):
    def assignment(self, gw, pk) -> Assignment:
        gateway = selectors.access_visible_gateway(self.membership, gw)
        return selectors.access_assignment(gateway, pk)

    def curation(self, assignment, form=None, *, saved=False, error=""):
        holds = selectors.admission_holds(assignment)
        return {
            "assignment": assignment,
            "tools": tool_rows(assignment, holds),
            "admission_holds": holds,
            "curation_form": form or _curation_form(assignment),
            "pin_changes": [(c, diff_lines(c)) for c in pin_changes(assignment)],
            "saved": saved,
            "curation_error": error,
        }

    def page(
        self,
        assignment,
        *,
        connection_form=None,
        curation_form=None,
        approval_form=None,
        status=200,
    ):
        context = self.curation(assignment, curation_form)
        context["approval_form"] = approval_form or _approval_form(assignment)
        form = connection_form or _connection_form(assignment)
        probe = Probe.from_dict(assignment.server.identity_probe)
        oauth_client = assignment.credentials.filter(
            owner__isnull=True, kind=credential_shapes.OAUTH_CLIENT
        ).first()
        context.update(
            gateway=assignment.gateway,
            connection_form=form,
            probe=probe,
            oauth_client=oauth_client,
            show_oauth_client=bool(
                assignment.identity_scheme == Assignment.IdentityScheme.USER_OAUTH
                and (oauth_client or (probe and probe.needs_client))
                or form["oauth_client_id"].value()
                or form["oauth_client_id"].errors
            ),
            redirect_uri=callback_uri(workspace=self.workspace, request=self.request),
        )
        return self.render("gateways/assignment.html", context, status=status)

    def curation_answer(self, assignment, form=None, *, saved=False, error="", status=200):
        """The curation card for htmx, else the whole page (with errors) or a redirect."""
        if self.is_htmx:
            context = self.curation(assignment, form, saved=saved, error=error)
            return self.render("gateways/_curation.html", context, status=status)
        if status >= 400:
            return self.page(assignment, curation_form=form, status=status)
        return redirect(
            "assignment", ws=self.workspace.slug, gw=assignment.gateway.slug, pk=assignment.pk
        )


class AssignmentPage(AssignmentBase):
    required = {"POST": GATEWAYS_MANAGE}

    def get(self, request, gw, pk):
        return self.page(self.assignment(gw, pk))

    def post(self, request, gw, pk):
        assignment = self.assignment(gw, pk)
        form = _connection_form(assignment, request.POST)
        if form.is_valid():
            client = form.oauth_client()
            try:
                with transaction.atomic():
                    assignment = services.update_assignment(
                        assignment=assignment, actor=request.user, **form.connection_fields()
                    )
                    if client is not None:
                        identity_services.set_credential(
                            assignment=assignment, owner=None, data=client, actor=request.user
                        )
            except GatehouseError as exc:
                show_error(form, exc)
            else:
                messages.success(request, "Assignment saved.")
                return redirect("assignment", ws=self.workspace.slug, gw=gw, pk=assignment.pk)
        # A failed save leaves the instance with the refused values; show the stored ones.
        return self.page(self.assignment(gw, pk), connection_form=form, status=400)


class CurationPage(AssignmentBase):
    required = {"POST": GATEWAYS_PROVISION_FEATURES}

    def post(self, request, gw, pk):
        assignment = self.assignment(gw, pk)
        form = _curation_form(assignment, request.POST)
        if not form.is_valid():
            return self.curation_answer(assignment, form, status=400)
        mode = form.cleaned_data["tool_mode"]
        changes = {"tool_mode": mode}
        if mode == Assignment.ToolMode.SELECTED:
            changes["tool_allow"] = form.cleaned_data["tool_allow"]
        try:
            assignment = services.update_assignment(
                assignment=assignment, actor=request.user, **changes
            )
        except GatehouseError as exc:
            show_error(form, exc)
            return self.curation_answer(self.assignment(gw, pk), form, status=400)
        if not self.is_htmx:
            messages.success(request, "Tool curation saved.")
        return self.curation_answer(assignment, saved=True)


class ApprovalSettingsPage(AssignmentBase):
    """Save which tools need approval (docs/approvals.md); the card is on the assignment page."""

    required = {"POST": GATEWAYS_PROVISION_FEATURES}

    def post(self, request, gw, pk):
        assignment = self.assignment(gw, pk)
        form = _approval_form(assignment, request.POST)
        if form.is_valid():
            try:
                services.update_assignment(
                    assignment=assignment, actor=request.user, **form.cleaned_data
                )
            except GatehouseError as exc:
                show_error(form, exc)
            else:
                messages.success(request, "Approval settings saved.")
                return redirect("assignment", ws=self.workspace.slug, gw=gw, pk=pk)
        return self.page(self.assignment(gw, pk), approval_form=form, status=400)


class CatalogRefreshPage(AssignmentBase):
    """Discover the assignment's server again, so curation shows its current tools."""

    required = {"POST": GATEWAYS_PROVISION_FEATURES}

    def post(self, request, gw, pk):
        assignment = self.assignment(gw, pk)
        server = refresh_catalog(server=assignment.server)
        error = ""
        if server.health == server.Health.DOWN:
            error = f"{server.name} could not be reached: {server.health_detail}"
        if not self.is_htmx:
            if error:
                messages.error(request, error)
            else:
                messages.success(request, f"The catalog of {server.name} was refreshed.")
        return self.curation_answer(assignment, error=error)


class _ToolApprovalPage(AssignmentBase):
    """Approve one tool's definition on a page that shows it again: GET shows, POST approves.
    Each page defines `_answer(assignment, tool, *, error, status)`, which renders it, and
    `approve(assignment, reviewed)`, which calls its service. The form posts the digest of
    the definition shown, so a definition that changed since is refused, not approved unread."""

    required = {"GET": GATEWAYS_PROVISION_FEATURES, "POST": GATEWAYS_PROVISION_FEATURES}
    approved = ""  # the message after approval, with {tool}

    def get(self, request, gw, pk):
        assignment = self.assignment(gw, pk)
        tool = request.GET.get("tool", "")
        return self._answer(assignment, tool, status=200 if tool else 400)

    def post(self, request, gw, pk):
        assignment = self.assignment(gw, pk)
        tool = request.POST.get("tool", "")
        reviewed = [{"name": tool, "digest": request.POST.get("digest", "")}]
        try:
            self.approve(assignment, reviewed)
        except GatehouseError as exc:
            return self._answer(self.assignment(gw, pk), tool, error=str(exc), status=400)
        messages.success(request, self.approved.format(tool=tool))
        return redirect("assignment", ws=self.workspace.slug, gw=gw, pk=pk)


class PinApprovePage(_ToolApprovalPage):
    """Approve the changed definition of one pinned tool, after seeing the difference again."""

    approved = "The new definition of {tool} was approved."

    def _answer(self, assignment, tool, *, error="", status=200):
        change = next((c for c in pin_changes(assignment) if c.tool == tool), None)
        context = {
            "assignment": assignment,
            "gateway": assignment.gateway,
            "tool": tool,
            "change": change,
            "lines": diff_lines(change) if change else [],
            "hold": _hold(assignment, tool),
            "error": error,
        }
        return self.render("gateways/pin_approve.html", context, status=status)

    def approve(self, assignment, reviewed):
        services.approve_pin_changes(assignment=assignment, actor=self.request.user, tools=reviewed)


class AdmissionApprovePage(_ToolApprovalPage):
    """Approve a definition the admission checks flagged, after reading the reasons again."""

    approved = "The definition of {tool} was approved."

    def _answer(self, assignment, tool, *, error="", status=200):
        hold = _hold(assignment, tool)
        context = {
            "assignment": assignment,
            "gateway": assignment.gateway,
            "tool": tool,
            "hold": hold,
            "definition": pinning.pretty(hold.definition) if hold else "",
            "error": error,
        }
        return self.render("gateways/admission_approve.html", context, status=status)

    def approve(self, assignment, reviewed):
        services.admit_tools(assignment=assignment, actor=self.request.user, tools=reviewed)


class AssignmentRemovePage(AssignmentBase):
    required = {"GET": GATEWAYS_MANAGE, "POST": GATEWAYS_MANAGE}

    def get(self, request, gw, pk):
        assignment = self.assignment(gw, pk)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Remove {assignment.server.name} from {assignment.gateway.name}?",
                "body": f"Its tools ('{assignment.namespace}__…') disappear from the gateway at "
                "once. The server itself is kept.",
                "action": "Remove from gateway",
                "cancel_url": reverse(
                    "assignment", kwargs={"ws": self.workspace.slug, "gw": gw, "pk": pk}
                ),
            },
        )

    def post(self, request, gw, pk):
        assignment = self.assignment(gw, pk)
        services.unassign_server(assignment=assignment, actor=request.user)
        messages.success(request, f"{assignment.server.name} was removed from the gateway.")
        return redirect("gateway", ws=self.workspace.slug, gw=gw)
