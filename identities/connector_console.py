"""Console pages of connectors: the Connectors page (a person's own connectors, everyone's with
`servers.manage`) and revoking one, which revokes its token and closes its socket."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from identities import connectors
from servers.platform_addresses import platform_url
from teams.capabilities import SERVERS_MANAGE
from teams.console_base import WorkspacePage, paginate


class ConnectorBase(WorkspacePage):
    def see_all(self) -> bool:
        return self.can(SERVERS_MANAGE)

    def connector(self, connector_id):
        return connectors.access_connector(self.membership, connector_id, see_all=self.see_all())


class ConnectorsPage(ConnectorBase):
    def get(self, request):
        visible = connectors.connectors_visible_to(self.membership, see_all=self.see_all())
        page = paginate(request, visible)
        rows = [(connector, connectors.is_live(connector)) for connector in page]
        return self.render(
            "identities/connectors.html",
            {
                "page": page,
                "rows": rows,
                "see_all": self.see_all(),
                "platform_url": platform_url(request),
            },
        )


class ConnectorRevokePage(ConnectorBase):
    def get(self, request, connector_id):
        connector = self.connector(connector_id)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Revoke the connector on {connector.host_name or 'an unnamed host'} "
                f"({connector.user.email})?",
                "body": f"Its token {connector.token.name} ({connector.token.prefix}…) is revoked "
                "and its connection closes now; the servers it runs stop answering until a new "
                "connector token is issued. This cannot be undone.",
                "action": "Revoke connector",
                "cancel_url": reverse("connectors", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, connector_id):
        connector = connectors.revoke(self.connector(connector_id), self.membership)
        messages.success(
            request,
            f"The connector on {connector.host_name or 'an unnamed host'} was revoked.",
        )
        return redirect("connectors", ws=self.workspace.slug)
