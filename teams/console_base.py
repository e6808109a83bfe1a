"""The scoped base every workspace page of the web console builds on.

`WorkspacePage` resolves the workspace from the URL once (`/w/<workspace>/...`; a workspace the
caller is not a member of is a 404), checks the capability the HTTP method declares in
`required` (the same keys as the API), and answers 403 naming the missing capability. A handler
may refuse later (a capability that depends on the object, or the escalation guard) by raising
`CapabilityRequired`; it gets the same 403 page. Templates get `can.<capability_with_underscores>`
so a control is only shown to people who may use it.

Tenancy is structural, as in the API's `WorkspaceViewSet`: a page may not override `dispatch`
(or `as_view`), where the workspace is resolved, and it looks objects up with `self.access()`,
which puts the workspace in the query, so another workspace's row is the same 404 as a missing
one. Every route under `/w/<ws>/` is a `WorkspacePage`; `tests/teams/test_console_isolation.py`
checks each one from the URLconf.
"""

from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views import View

from core.errors import CapabilityRequired, GatehouseError
from teams.capabilities import ALL_KEYS
from teams.scoping import get_scoped_or_404
from teams.selectors import membership_for, memberships_of

PAGE_SIZE = 25


def capability_flags(membership) -> dict[str, bool]:
    """`{"gateways_manage": True, ...}`: template variables cannot contain dots."""
    held = membership.role.capability_set if membership is not None else frozenset()
    return {key.replace(".", "_"): key in held for key in ALL_KEYS}


# The navigation's groups, by the URL names of their pages: the group of the page shown is
# marked as current.
NAV_GROUPS = {
    "gateways": {
        "gateways", "gateway", "assignment", "servers", "server", "server-new",
        "rules", "rule", "rule-new", "approvals", "approval",
    },
    "access": {
        "members", "member", "teams", "roles", "role", "role-new", "role-duplicate",
        "tokens", "clients", "connections", "connectors", "headless-clients",
    },
    "audit": {
        "logs", "log-call", "changes", "alerts", "alert-webhook", "reports",
        "sinks", "sink", "sink-new",
    },
    "settings": {"sso-settings", "scim-settings", "trusted-idps", "workspace-export"},
}  # fmt: skip


def nav_group(url_name: str | None) -> str:
    return next((group for group, names in NAV_GROUPS.items() if url_name in names), "")


def header_context(request, membership=None) -> dict:
    """What base.html needs on every page: the workspace switcher and the current workspace."""
    memberships = list(memberships_of(request.user)) if request.user.is_authenticated else []
    match = getattr(request, "resolver_match", None)
    return {
        "switcher": memberships,
        "membership": membership,
        "workspace": membership.workspace if membership is not None else None,
        "can": capability_flags(membership),
        "nav_group": nav_group(match.url_name if match else None),
    }


def paginate(request, queryset, per_page: int = PAGE_SIZE):
    """A Django page of `queryset` for `?page=`; out-of-range numbers show the last page."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def show_error(form, exc: GatehouseError) -> None:
    """Put a service error on the form field it names, or on the form as a whole."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


def forbidden(request, capability: str, membership=None):
    context = header_context(request, membership)
    context["capability"] = capability
    return render(request, "console/forbidden.html", context, status=403)


class WorkspacePage(View):
    #: HTTP method -> capability key; methods not listed need only membership.
    required: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("as_view", "dispatch"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} must not override {name}, which resolves the workspace; "
                    "work in the handlers, or name a deliberate bypass dangerously_*."
                )

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        self.membership = membership_for(user=request.user, workspace_slug=kwargs.pop("ws"))
        self.workspace = self.membership.workspace
        capability = self.required.get(request.method)
        if capability and not self.can(capability):
            return forbidden(request, capability, self.membership)
        try:
            return super().dispatch(request, *args, **kwargs)
        except CapabilityRequired as exc:
            return forbidden(request, exc.capability, self.membership)

    def can(self, capability: str) -> bool:
        return self.membership.has(capability)

    def access(self, queryset, **lookup):
        """One row of `queryset` in this page's workspace; any other is the same 404 as a
        missing one."""
        return get_scoped_or_404(queryset, self.workspace, **lookup)

    def require(self, capability: str) -> None:
        if not self.can(capability):
            raise CapabilityRequired(capability)

    def render(self, template: str, context: dict | None = None, *, status: int = 200):
        full = header_context(self.request, self.membership)
        full.update(context or {})
        return render(self.request, template, full, status=status)

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("HX-Request") == "true"
