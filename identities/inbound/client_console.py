"""Console pages of client apps: the OAuth clients holding tokens for the workspace's gateways,
and switching one off or on, for the whole workspace or one gateway.

Every member sees the list, as in the API; switching needs `clients.toggle`. Switching off asks
for confirmation first (the app's callers are refused from their next request on); switching
back on does not.
"""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import ValidationFailed
from gateways.models import Gateway
from identities.inbound import client_access
from teams.capabilities import CLIENTS_TOGGLE
from teams.console_base import WorkspacePage, paginate

CLIENTS_PER_PAGE = 25


def gateways_of(workspace):
    """The workspace's gateways, for the switch's choice."""
    return Gateway.objects.for_workspace(workspace).order_by("slug").only("slug", "name")


def _state(switches: list) -> dict:
    return {
        "off_everywhere": None in switches,
        "off_gateways": sorted(slug for slug in switches if slug),
    }


class ClientsPage(WorkspacePage):
    def get(self, request):
        page = paginate(
            request, client_access.client_apps_of(self.workspace), per_page=CLIENTS_PER_PAGE
        )
        switches = client_access.switches_of(self.workspace, [app.pk for app in page])
        rows = [{"app": app, **_state(switches.get(app.pk, []))} for app in page]
        can_toggle = self.can(CLIENTS_TOGGLE)
        return self.render(
            "identities/clients.html",
            {
                "page": page,
                "rows": rows,
                "gateways": list(gateways_of(self.workspace)) if can_toggle else [],
            },
        )


def _back(workspace):
    return redirect(reverse("clients", kwargs={"ws": workspace.slug}))


class ClientOffPage(WorkspacePage):
    """Switch an app off for the workspace or `?gateway=<slug>`, after a confirmation."""

    required = {"GET": CLIENTS_TOGGLE, "POST": CLIENTS_TOGGLE}

    def _where(self, gateway_slug: str) -> str:
        return (
            f"on the gateway {gateway_slug}"
            if gateway_slug
            else "on every gateway of the workspace"
        )

    def get(self, request, app_id):
        app = client_access.access_client_app(self.workspace, app_id)
        gateway_slug = request.GET.get("gateway", "")
        if gateway_slug and not gateways_of(self.workspace).filter(slug=gateway_slug).exists():
            messages.error(request, f"Unknown gateway '{gateway_slug}'.")
            return _back(self.workspace)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Switch {app.name or app.client_id} off {self._where(gateway_slug)}?",
                "body": "Its callers are refused from their next request on, until it is "
                "switched on again. Its tokens are not revoked.",
                "action": "Switch off",
                "cancel_url": reverse("clients", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, app_id):
        app = client_access.access_client_app(self.workspace, app_id)
        gateway_slug = request.GET.get("gateway", "") or request.POST.get("gateway", "")
        try:
            client_access.disable_client(
                workspace=self.workspace,
                app=app,
                gateway_slug=gateway_slug or None,
                actor=request.user,
            )
        except ValidationFailed as exc:
            messages.error(request, exc.message)
            return _back(self.workspace)
        messages.success(
            request, f"{app.name or app.client_id} is off {self._where(gateway_slug)}."
        )
        return _back(self.workspace)


class ClientOnPage(WorkspacePage):
    """Switch an app back on for one gateway, or (no gateway) everywhere it was off."""

    required = {"POST": CLIENTS_TOGGLE}

    def post(self, request, app_id):
        app = client_access.access_client_app(self.workspace, app_id)
        gateway_slug = request.POST.get("gateway", "")
        try:
            client_access.enable_client(
                workspace=self.workspace,
                app=app,
                gateway_slug=gateway_slug or None,
                actor=request.user,
            )
        except ValidationFailed as exc:
            messages.error(request, exc.message)
            return _back(self.workspace)
        where = f"on the gateway {gateway_slug}" if gateway_slug else "everywhere"
        messages.success(request, f"{app.name or app.client_id} is on again {where}.")
        return _back(self.workspace)
