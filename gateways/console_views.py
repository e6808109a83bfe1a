"""Console pages of the gateways app: the dashboard, gateways, provisioning and client set-up.

A gateway the member may not use is the same 404 as a missing one, as in the API. The
assignment pages (servers on a gateway, tool curation) are in `gateways/console_assignments.py`.
"""

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse

from audit.alerts.selectors import alerts_visible_to
from audit.reports import dashboard
from audit.reports.activity import WINDOWS, gateway_activity, workspace_activity
from audit.reports.charts import activity_charts
from core.errors import GatehouseError
from gateways import rate_limits, selectors, services
from gateways.client_setup import TOKEN_ENV, client_setups
from gateways.forms import AssignmentForm, GatewayForm, LimitsForm, ProvisionForm
from gateways.models import Assignment
from identities import services as identity_services
from servers.identity_probe import Probe
from servers.models import Server
from servers.platform_addresses import callback_uri
from teams.capabilities import GATEWAYS_MANAGE, GATEWAYS_PROVISION_TEAMS, LOGS_VIEW
from teams.changes import changes_of
from teams.console_base import WorkspacePage, paginate, show_error
from teams.models import Team

RECENT_CHANGES = 10
SERVERS_DOWN_SHOWN = 10


def gateway_url(request, gateway) -> str:
    return request.build_absolute_uri(f"/mcp/{gateway.workspace.slug}/{gateway.slug}")


def client_name(gateway) -> str:
    return f"gatehouse-{gateway.slug}"


def _gateways_with_counts(membership):
    # distinct: visibility joins through teams, which would otherwise multiply the count.
    return selectors.gateways_visible_to(membership).annotate(
        assignment_count=Count("assignments", distinct=True)
    )


class DashboardPage(WorkspacePage):
    """Charts of the workspace's calls over a period (`?period=24h|7d|30d`), the servers down
    now, gateways with their traffic, recent policy actions and configuration changes. Calls
    come from the log, so they are shown only to people who may read the log."""

    def get(self, request):
        gateways = list(_gateways_with_counts(self.membership)[:RECENT_CHANGES])
        context = {"gateways": gateways, "changes": [], "activity": None, "actions": []}
        context["open_alerts"] = (
            alerts_visible_to(self.membership).filter(acknowledged_at__isnull=True).count()
        )
        context["servers_down"] = list(
            selectors.servers_down_visible_to(self.membership)[:SERVERS_DOWN_SHOWN]
        )
        if self.can(LOGS_VIEW):
            by_gateway = dashboard.traffic_by_gateway(self.workspace, gateways)
            for gateway in gateways:
                gateway.traffic = by_gateway.get(gateway.pk, dashboard.NO_TRAFFIC)
            activity = workspace_activity(self.workspace, window=request.GET.get("period", ""))
            context.update(
                changes=list(changes_of(self.workspace)[:RECENT_CHANGES]),
                activity=activity,
                charts=activity_charts(activity),
                periods=[(key, label) for key, (label, *_) in WINDOWS.items()],
                actions=dashboard.recent_policy_actions(self.workspace),
            )
        return self.render("gateways/dashboard.html", context)


class GatewaysPage(WorkspacePage):
    required = {"POST": GATEWAYS_MANAGE}

    def get(self, request, form=None):
        page = paginate(request, _gateways_with_counts(self.membership))
        return self.render(
            "gateways/list.html",
            {"page": page, "form": form or GatewayForm()},
            status=400 if form is not None else 200,
        )

    def post(self, request):
        form = GatewayForm(request.POST)
        if not form.is_valid():
            return self.get(request, form)
        try:
            gateway = services.create_gateway(
                workspace=self.workspace, actor=request.user, **form.cleaned_data
            )
        except GatehouseError as exc:
            show_error(form, exc)
            return self.get(request, form)
        messages.success(request, f"Gateway {gateway.name} was created.")
        return redirect("gateway", ws=self.workspace.slug, gw=gateway.slug)


def _teams(workspace):
    return Team.objects.for_workspace(workspace).order_by("name")


def _servers(workspace):
    return Server.objects.for_workspace(workspace).order_by("name").only("name", "identity_probe")


def _probe_of(servers, name) -> Probe | None:
    server = next((s for s in servers if s.name == name), None)
    return Probe.from_dict(server.identity_probe) if server is not None else None


class GatewayDetail(WorkspacePage):
    """The gateway page's rendering, shared by the pages that re-show it with form errors."""

    def activity(self, gateway) -> dict:
        """The charts of the gateway's calls, for people who may read its log."""
        if not self.can(LOGS_VIEW):
            return {}
        activity = gateway_activity(
            self.workspace,
            gateway_id=gateway.pk,
            gateway_slug=gateway.slug,
            window=self.request.GET.get("window", ""),
        )
        return {
            "activity": activity,
            "charts": activity_charts(activity),
            "windows": [(key, label) for key, (label, *_) in WINDOWS.items()],
            "tops": [
                ("Top tools", activity.top_tools, "tool"),
                ("Top people", activity.top_people, "person"),
            ],
        }

    def detail(
        self,
        request,
        gw,
        *,
        assignment_form=None,
        provision_form=None,
        limits_form=None,
        status=200,
    ):
        gateway = selectors.access_visible_gateway(self.membership, gw)
        if limits_form is None:
            limits_form = LimitsForm(initial={"limits": LimitsForm.text_of(gateway.limits)})
        url = gateway_url(request, gateway)
        if provision_form is None:
            provision_form = ProvisionForm(
                initial={"teams": [t.slug for t in gateway.teams.all()]},
                teams=_teams(self.workspace),
            )
        servers = list(_servers(self.workspace))
        if assignment_form is None:
            assignment_form = self.assignment_form(request, servers)
        # The proposal of the server the form shows; htmx swaps the identity part when it changes.
        probe = _probe_of(servers, assignment_form["server"].value())
        assignment_form.fields["server"].widget.attrs.update(
            {
                "hx-get": reverse("gateway", kwargs={"ws": self.workspace.slug, "gw": gw}),
                "hx-trigger": "change",
                "hx-target": "#assign-identity",
                "hx-select": "#assign-identity",
                "hx-swap": "outerHTML",
            }
        )
        return self.render(
            "gateways/detail.html",
            {
                **self.activity(gateway),
                "gateway": gateway,
                "gateway_url": url,
                "client_setups": client_setups(name=client_name(gateway), url=url),
                "token_env": TOKEN_ENV,
                "assignments": selectors.assignments_of(gateway),
                "provision_form": provision_form,
                "limits_form": limits_form,
                "limit_names": [rate_limits.describe(limit) for limit in gateway.limits],
                "assignment_form": assignment_form,
                "probe": probe,
                "show_oauth_client": bool(
                    (probe and probe.needs_client)
                    or assignment_form["oauth_client_id"].value()
                    or assignment_form["oauth_client_id"].errors
                ),
                "redirect_uri": callback_uri(workspace=self.workspace, request=request),
            },
            status=status,
        )

    def assignment_form(self, request, servers) -> AssignmentForm:
        """The empty form, on the server `?server=` names (else the first) with the identity
        scheme its last probe proposed already chosen."""
        names = [s.name for s in servers]
        chosen = request.GET.get("server", "")
        chosen = chosen if chosen in names else (names[0] if names else "")
        initial = {"prefix_mode": Assignment.PrefixMode.ALWAYS, "server": chosen}
        probe = _probe_of(servers, chosen)
        if probe is not None and probe.proposed_scheme:
            initial["identity_scheme"] = probe.proposed_scheme
        return AssignmentForm(initial=initial, servers=servers)


class GatewayPage(GatewayDetail):
    """The gateway: its URL, client set-up, teams and assignments."""

    def get(self, request, gw):
        return self.detail(request, gw)


class GatewayTeamsPage(GatewayDetail):
    """Provisioning: which teams may use the gateway. htmx swaps the card in place."""

    required = {"POST": GATEWAYS_PROVISION_TEAMS}

    def post(self, request, gw):
        gateway = selectors.access_visible_gateway(self.membership, gw)
        form = ProvisionForm(request.POST, teams=_teams(self.workspace))
        saved = False
        if form.is_valid():
            try:
                services.provision_teams(
                    gateway=gateway, team_slugs=form.cleaned_data["teams"], actor=request.user
                )
                saved = True
            except GatehouseError as exc:
                show_error(form, exc)
        if self.is_htmx:
            return self.render(
                "gateways/_provisioning.html",
                {"gateway": gateway, "provision_form": form, "saved": saved},
                status=200 if saved else 400,
            )
        if not saved:
            return self.detail(request, gw, provision_form=form, status=400)
        messages.success(request, "Teams saved.")
        return redirect("gateway", ws=self.workspace.slug, gw=gateway.slug)


class GatewayLimitsPage(GatewayDetail):
    """The gateway's rate limits."""

    required = {"POST": GATEWAYS_MANAGE}

    def post(self, request, gw):
        gateway = selectors.access_visible_gateway(self.membership, gw)
        form = LimitsForm(request.POST)
        if form.is_valid():
            try:
                services.update_gateway(
                    gateway=gateway, limits=form.cleaned_data["limits"], actor=request.user
                )
            except GatehouseError as exc:
                show_error(form, exc)
            else:
                messages.success(request, "Limits saved.")
                return redirect("gateway", ws=self.workspace.slug, gw=gateway.slug)
        return self.detail(request, gw, limits_form=form, status=400)


class AssignmentsPage(GatewayDetail):
    """Adding a server to a gateway."""

    required = {"POST": GATEWAYS_MANAGE}

    def post(self, request, gw):
        gateway = selectors.access_visible_gateway(self.membership, gw)
        form = AssignmentForm(request.POST, servers=_servers(self.workspace))
        if form.is_valid():
            data = form.connection_fields()
            server = Server.objects.for_workspace(self.workspace).get(name=data.pop("server"))
            client = form.oauth_client()
            try:
                with transaction.atomic():
                    assignment = services.assign_server(
                        gateway=gateway, server=server, actor=request.user, **data
                    )
                    if client is not None:
                        identity_services.set_credential(
                            assignment=assignment, owner=None, data=client, actor=request.user
                        )
            except GatehouseError as exc:
                show_error(form, exc)
            else:
                messages.success(request, f"{server.name} was added as '{assignment.namespace}'.")
                return redirect(
                    "assignment", ws=self.workspace.slug, gw=gateway.slug, pk=assignment.pk
                )
        return self.detail(request, gw, assignment_form=form, status=400)


class GatewayDeletePage(WorkspacePage):
    required = {"GET": GATEWAYS_MANAGE, "POST": GATEWAYS_MANAGE}

    def get(self, request, gw):
        gateway = selectors.access_visible_gateway(self.membership, gw)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Delete the gateway {gateway.name}?",
                "body": f"Clients of /mcp/{self.workspace.slug}/{gateway.slug} stop working "
                "at once, and its tokens scoped to it are deleted.",
                "action": "Delete gateway",
                "cancel_url": reverse("gateway", kwargs={"ws": self.workspace.slug, "gw": gw}),
            },
        )

    def post(self, request, gw):
        gateway = selectors.access_visible_gateway(self.membership, gw)
        services.delete_gateway(gateway=gateway, actor=request.user)
        messages.success(request, f"Gateway {gateway.name} was deleted.")
        return redirect("gateways", ws=self.workspace.slug)
