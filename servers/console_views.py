"""Console pages of the servers app: the list with health, adding, testing, the catalog, and the
identity probe (which identity a remote server asks for), run when one is added and on demand.

Which capability a write needs depends on the server's kind (remote: `servers.manage`, managed:
`servers.deploy_managed`, workstation: `servers.deploy_workstation`), the same map as the API.
Members without `servers.view_all` see the servers of the gateways they can use, and any other
server is a 404.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from core.errors import GatehouseError
from gateways.selectors import servers_visible_to
from identities import connectors
from servers import services
from servers.discovery import refresh_catalog
from servers.forms import FORMS
from servers.identity_probe import Probe
from servers.models import KIND_CAPABILITY, Server
from servers.platform_addresses import callback_uri, platform_url
from teams.capabilities import SERVERS_MANAGE
from teams.console_base import WorkspacePage, paginate, show_error
from teams.scoping import get_scoped_or_404

CATALOG_SECTIONS = (
    ("tools", "Tools"),
    ("prompts", "Prompts"),
    ("resources", "Resources"),
    ("resource_templates", "Resource templates"),
)


@dataclass(frozen=True)
class CatalogItem:
    name: str
    uri: str
    description: str
    read_only: bool = False
    destructive: bool = False


def catalog_items(items) -> list[CatalogItem]:
    """Catalog entries as the template shows them; upstreams omit any optional field."""
    rows = []
    for item in items or []:
        annotations = item.get("annotations") or {}
        rows.append(
            CatalogItem(
                name=item.get("name") or "",
                uri=item.get("uri") or item.get("uriTemplate") or "",
                description=item.get("description") or "",
                read_only=bool(annotations.get("readOnlyHint")),
                destructive=bool(annotations.get("destructiveHint")),
            )
        )
    return rows


class ServersPage(WorkspacePage):
    def get(self, request):
        page = paginate(request, servers_visible_to(self.membership))
        return self.render("servers/list.html", {"page": page})


class ServerNewPage(WorkspacePage):
    """Add a remote (`?kind=remote`) or a managed (`?kind=managed`) server."""

    def _kind(self, request) -> str:
        kind = request.POST.get("kind") or request.GET.get("kind") or Server.Kind.REMOTE
        if kind not in FORMS:
            kind = Server.Kind.REMOTE
        self.require(KIND_CAPABILITY[kind])
        return kind

    def _render(self, kind, form, status=200):
        kinds = [(k, Server.Kind(k).label, self.can(KIND_CAPABILITY[k])) for k in FORMS]
        return self.render(
            "servers/new.html", {"form": form, "kind": kind, "kinds": kinds}, status=status
        )

    def get(self, request):
        kind = self._kind(request)
        return self._render(kind, FORMS[kind]())

    def post(self, request):
        kind = self._kind(request)
        form = FORMS[kind](request.POST)
        if form.is_valid():
            try:
                server = services.create_server(
                    workspace=self.workspace, kind=kind, actor=request.user, **form.service_fields()
                )
            except GatehouseError as exc:
                show_error(form, exc)
            else:
                messages.success(request, f"Server {server.name} was added.")
                if server.kind == Server.Kind.REMOTE:
                    show_probe(request, services.probe_identity(server=server))
                return redirect("server", ws=self.workspace.slug, name=server.name)
        return self._render(kind, form, status=400)


def show_probe(request, probe) -> None:
    """The probe's finding, as a warning when it learnt nothing (not beside a success)."""
    show = messages.warning if probe.failed else messages.info
    show(request, f"{probe.label}: {probe.message}")


class ServerBase(WorkspacePage):
    def server(self, name) -> Server:
        return get_scoped_or_404(servers_visible_to(self.membership), self.workspace, name=name)


class ServerPage(ServerBase):
    def get(self, request, name):
        server = self.server(name)
        catalog = server.catalog or {}
        sections = [
            (key, title, catalog_items(catalog.get(key))) for key, title in CATALOG_SECTIONS
        ]
        probe = Probe.from_dict(server.identity_probe)
        return self.render(
            "servers/detail.html",
            {
                "server": server,
                "sections": sections,
                "server_info": catalog.get("server_info") or {},
                "protocol_version": catalog.get("protocol_version") or "",
                "env_names": sorted(server.env or {}),
                "can_change": self.can(KIND_CAPABILITY[server.kind]),
                "probe": probe,
                "redirect_uri": callback_uri(workspace=self.workspace, request=request)
                if probe and probe.needs_client
                else "",
                **self._workstation_context(request, server),
            },
        )

    def _workstation_context(self, request, server) -> dict:
        if server.kind != Server.Kind.WORKSTATION:
            return {}
        # One connector serves everyone a shared server: who it is concerns every caller.
        see_all = self.can(SERVERS_MANAGE) or server.scope == Server.Scope.SHARED
        visible = connectors.connectors_visible_to(self.membership, see_all=see_all)
        live = connectors.live(connectors.serving(visible, server.name))
        return {
            "connector_rows": [(connector, True) for connector in live[:100]],
            "platform_url": platform_url(request),
        }


class ServerRefreshPage(ServerBase):
    """Test the connection: discover the server now and record its catalog and health."""

    def post(self, request, name):
        server = self.server(name)
        self.require(KIND_CAPABILITY[server.kind])
        server = refresh_catalog(server=server)
        if server.health == Server.Health.UP:
            tools = len((server.catalog or {}).get("tools") or [])
            messages.success(request, f"Connected to {server.name}: {tools} tools discovered.")
        else:
            messages.error(request, f"{server.name} could not be reached: {server.health_detail}")
        return redirect("server", ws=self.workspace.slug, name=server.name)


class ServerProbePage(ServerBase):
    """Probe again: ask the remote server which identity it needs and keep the answer."""

    def post(self, request, name):
        server = self.server(name)
        self.require(KIND_CAPABILITY[server.kind])
        try:
            probe = services.probe_identity(server=server)
        except GatehouseError as exc:
            messages.error(request, exc.message)
        else:
            show_probe(request, probe)
        return redirect("server", ws=self.workspace.slug, name=server.name)


class ServerDeletePage(ServerBase):
    def get(self, request, name):
        server = self.server(name)
        self.require(KIND_CAPABILITY[server.kind])
        return self.render(
            "console/confirm.html",
            {
                "title": f"Delete the server {server.name}?",
                "body": "It is removed from every gateway it is assigned to, at once.",
                "action": "Delete server",
                "cancel_url": reverse("server", kwargs={"ws": self.workspace.slug, "name": name}),
            },
        )

    def post(self, request, name):
        server = self.server(name)
        self.require(KIND_CAPABILITY[server.kind])
        services.delete_server(server=server, actor=request.user)
        messages.success(request, f"Server {server.name} was deleted.")
        return redirect("servers", ws=self.workspace.slug)
