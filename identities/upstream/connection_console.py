"""Console pages of "My upstream connections": each `user_oauth` assignment of the gateways the
person may use, with their connection's status, and connecting, reconnecting or disconnecting it;
and each `manual` one, with the person's own credential (set, replaced or removed here, as the
API does) or the shared one standing in for it.

A connection is the person's own, so using a gateway is all it needs (as setting one's own
manual credential is); the list shows only assignments of gateways provisioned to them, and any
other assignment is the same 404 as a missing one. Connecting sends the person to the upstream's
authorization server with PKCE; the pending state (the verifier among it) waits in their session
until the server sends them back to the callback. Disconnecting, or removing one's own
credential, asks for a confirmation first. A credential is write-only: only its masked hint is
ever shown.

Connect and setting a credential may name the page to come back to (`next`, as the OAuth
consent page does, so the person connects while a client waits); only a relative path on this
site is kept, never another host.

Outside any workspace: the platform's client ID metadata document (identities/
upstream_client_document.py), and its one redirect URI, which sends the person on to the
callback of the workspace their pending connection belongs to.
"""

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from core.errors import GatehouseError
from identities import selectors, services
from identities.forms import ManualCredentialForm
from identities.upstream import client_document as client_document
from identities.upstream import connections, manual_status
from servers import platform_addresses
from teams.console_base import PAGE_SIZE, WorkspacePage, paginate

_PENDING = "upstream_oauth_pending"
_MAX_PENDING = 5
_MAX_RETURN_PATH = 4000


def _return_path(request, value) -> str:
    """`value` if it is a path on this site to come back to, else "" (no open redirect)."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > _MAX_RETURN_PATH:
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//") or "\\" in value:
        return ""
    if any(ord(c) <= 32 or ord(c) == 127 for c in value):
        return ""
    if not url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return ""
    return value


def _back(workspace, next_path: str = ""):
    return redirect(next_path or reverse("connections", kwargs={"ws": workspace.slug}))


def manual_anchor(workspace, assignment_id) -> str:
    """The connections page, showing only this `manual` assignment, at its form."""
    path = reverse("connections", kwargs={"ws": workspace.slug})
    return f"{path}?assignment={assignment_id}#manual-{assignment_id}"


def _credential_form(assignment_id, data=None) -> ManualCredentialForm:
    # Several forms share the page: the ids must not collide.
    return ManualCredentialForm(data, auto_id=f"manual-{assignment_id}-%s")


class ConnectionsPage(WorkspacePage):
    def get(self, request):
        return self.page(next_path=_return_path(request, request.GET.get("next")))

    def page(self, *, next_path: str, bound=None, status: int = 200):
        """The page; `bound`, a form with errors, shows only its assignment (and the errors)."""
        request = self.request
        page = paginate(request, selectors.oauth_assignments_for(self.membership))
        rows = [{"assignment": a, "connection": a.mine[0] if a.mine else None} for a in page]
        manual = selectors.manual_assignments_for(self.membership)
        focus = bound[0] if bound else request.GET.get("assignment", "")
        if str(focus).isdigit():
            manual = manual.filter(pk=int(focus))
        manual_page = Paginator(manual, PAGE_SIZE).get_page(request.GET.get("tokens_page"))
        manual_rows = [
            {
                "assignment": a,
                "status": manual_status.status_of(a),
                "mine": manual_status.own_credential(a),
                "form": bound[1] if bound else _credential_form(a.pk),
            }
            for a in manual_page
        ]
        context = {
            "page": page,
            "rows": rows,
            "manual_page": manual_page,
            "manual_rows": manual_rows,
            "focused": str(focus).isdigit(),
            "next": next_path,
        }
        return self.render("identities/connections.html", context, status=status)


class ManualCredentialPage(ConnectionsPage):
    """Set or replace one's own credential for a `manual` assignment."""

    http_method_names = ["post"]

    def post(self, request, assignment_id):
        assignment = selectors.access_manual_assignment(self.membership, assignment_id)
        next_path = _return_path(request, request.POST.get("next"))
        form = _credential_form(assignment.pk, request.POST)
        if form.is_valid():
            try:
                _credential, created = services.set_credential(
                    assignment=assignment,
                    owner=request.user,
                    data=form.credential_data(),
                    actor=request.user,
                )
            except GatehouseError as exc:
                field = (exc.field or "").split(".")[0]  # "headers.X-Key" is the headers field
                form.add_error(field if field in ("token", "headers") else None, exc.message)
            else:
                done = "set" if created else "replaced"
                messages.success(
                    request,
                    f"Your own token for {assignment.server.name} on {assignment.gateway.name} "
                    f"is {done}.",
                )
                return redirect(next_path or manual_anchor(self.workspace, assignment.pk))
        return self.page(next_path=next_path, bound=(assignment.pk, form), status=400)


class ManualCredentialRemovePage(WorkspacePage):
    def _credential(self, assignment_id):
        assignment = selectors.access_manual_assignment(self.membership, assignment_id)
        return assignment, manual_status.own_credential(assignment)

    def get(self, request, assignment_id):
        assignment, credential = self._credential(assignment_id)
        if credential is None:
            return redirect(manual_anchor(self.workspace, assignment.pk))
        fallback = (
            "the shared credential instead"
            if assignment.shared
            else "nothing, and will ask you to set a token"
        )
        return self.render(
            "console/confirm.html",
            {
                "title": f"Remove your own token for {assignment.server.name}?",
                "body": f"Calls to {assignment.server.name} through {assignment.gateway.name} "
                f"will present {fallback}. The platform forgets your token.",
                "action": "Remove",
                "cancel_url": manual_anchor(self.workspace, assignment.pk),
            },
        )

    def post(self, request, assignment_id):
        assignment, credential = self._credential(assignment_id)
        if credential is not None:
            services.delete_credential(credential=credential, actor=request.user)
            messages.success(request, f"Your own token for {assignment.server.name} is removed.")
        return redirect(manual_anchor(self.workspace, assignment.pk))


class ConnectPage(WorkspacePage):
    def post(self, request, assignment_id):
        assignment = selectors.access_oauth_assignment(self.membership, assignment_id)
        next_path = _return_path(request, request.POST.get("next"))
        redirect_uri = platform_addresses.callback_uri(workspace=self.workspace, request=request)
        try:
            url, pending = connections.start_connection(
                assignment=assignment,
                redirect_uri=redirect_uri,
                connection=assignment.mine[0] if assignment.mine else None,
            )
        except GatehouseError as exc:
            messages.error(request, f"Could not connect to {assignment.server.name}: {exc.message}")
            return _back(self.workspace, next_path)
        pending["next"] = next_path
        waiting = dict(request.session.get(_PENDING) or {})
        # Only the latest few attempts are kept: an abandoned one must not pile up.
        for state in list(waiting)[: max(0, len(waiting) - _MAX_PENDING + 1)]:
            waiting.pop(state)
        waiting[pending["state"]] = {**pending, "ws": self.workspace.slug}
        request.session[_PENDING] = waiting
        return redirect(url)


class ConnectionCallbackPage(WorkspacePage):
    """Where the upstream's authorization server sends the person back."""

    def get(self, request):
        waiting = dict(request.session.get(_PENDING) or {})
        pending = waiting.pop(request.GET.get("state", ""), None)
        request.session[_PENDING] = waiting
        if pending is None or pending["workspace"] != self.workspace.pk:
            messages.error(request, "That connection attempt is unknown or expired; start again.")
            return _back(self.workspace)
        assignment = selectors.access_oauth_assignment(self.membership, pending["assignment"])
        next_path = _return_path(request, pending.get("next"))
        if "code" not in request.GET:
            reason = request.GET.get("error_description") or request.GET.get("error") or "none"
            messages.error(
                request, f"{assignment.server.name} did not grant access ({reason[:200]})."
            )
            return _back(self.workspace, next_path)
        try:
            connections.finish_connection(
                assignment=assignment,
                pending=pending,
                code=request.GET["code"],
                issuer=request.GET.get("iss", ""),
                actor=request.user,
            )
        except GatehouseError as exc:
            messages.error(request, f"Could not connect to {assignment.server.name}: {exc.message}")
            return _back(self.workspace, next_path)
        messages.success(
            request,
            f"Your account at {assignment.server.name} is connected to {assignment.gateway.name}.",
        )
        return _back(self.workspace, next_path)


class DisconnectPage(WorkspacePage):
    def _connection(self, assignment_id):
        assignment = selectors.access_oauth_assignment(self.membership, assignment_id)
        connection = assignment.mine[0] if assignment.mine else None
        return assignment, connection

    def get(self, request, assignment_id):
        assignment, connection = self._connection(assignment_id)
        if connection is None:
            return _back(self.workspace)
        return self.render(
            "console/confirm.html",
            {
                "title": f"Disconnect your account at {assignment.server.name}?",
                "body": f"Calls to {assignment.server.name} through {assignment.gateway.name} "
                "will ask you to connect again. The platform forgets your tokens.",
                "action": "Disconnect",
                "cancel_url": reverse("connections", kwargs={"ws": self.workspace.slug}),
            },
        )

    def post(self, request, assignment_id):
        assignment, connection = self._connection(assignment_id)
        if connection is not None:
            connections.disconnect(connection=connection, actor=request.user)
            messages.success(request, f"Your account at {assignment.server.name} is disconnected.")
        return _back(self.workspace)


class ClientDocumentView(View):
    """The platform's client ID metadata document: public, what authorization servers fetch."""

    def get(self, request):
        if not platform_addresses.document_url():
            raise Http404("OAUTH_ISSUER is not set, so the platform publishes no client document.")
        response = JsonResponse(client_document.document())
        response["Cache-Control"] = "public, max-age=3600"
        return response


class ClientDocumentCallbackView(View):
    """The document's one redirect URI: on to the callback of the pending connection's
    workspace, with the authorization server's answer as it came."""

    def get(self, request):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        pending = (request.session.get(_PENDING) or {}).get(request.GET.get("state", ""))
        if pending is None or "ws" not in pending:
            messages.error(request, "That connection attempt is unknown or expired; start again.")
            return redirect("home")
        path = reverse("connection-callback", kwargs={"ws": pending["ws"]})
        return redirect(f"{path}?{request.META.get('QUERY_STRING', '')}")
