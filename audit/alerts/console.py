"""Console pages of alerts: the list (open or acknowledged, by kind) and acknowledging one.

Alerts live in the audit app; who sees which is decided by `audit.alerts.api.alerts_visible_to`
(every alert with `raising.view_all`, else those of the gateways the member reaches), so these
pages live here, where that rule is. Whoever sees an alert may acknowledge it, as in the API;
an alert the member cannot see is the same 404 as a missing one.
"""

from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect
from django.urls import reverse

from audit.alerts import raising
from audit.alerts.selectors import alerts_visible_to
from audit.models import Alert
from teams.console_base import WorkspacePage, paginate

ALERTS_PER_PAGE = 25
STATES = {"open": "Open", "acknowledged": "Acknowledged", "all": "All"}
DEFAULT_STATE = "open"


def _choice(value, choices, default: str) -> str:
    return value if value in choices else default


def alerts_listed(membership, *, state: str, kind: str):
    """The alerts `membership` sees in one state ("open", "acknowledged", "all") and kind."""
    found = alerts_visible_to(membership)
    if state == "open":
        found = found.filter(acknowledged_at__isnull=True)
    elif state == "acknowledged":
        found = found.filter(acknowledged_at__isnull=False)
    if kind:
        found = found.filter(kind=kind)
    return found


def _listing_query(data) -> str:
    """The state and kind of a listing as a query string, with unknown values left out."""
    query = QueryDict(mutable=True)
    state = _choice(data.get("state"), STATES, DEFAULT_STATE)
    if state != DEFAULT_STATE:
        query["state"] = state
    kind = _choice(data.get("kind"), Alert.Kind.values, "")
    if kind:
        query["kind"] = kind
    return query.urlencode()


def _state_query(state: str, kind: str) -> str:
    return _listing_query({"state": state, "kind": kind})


class AlertsPage(WorkspacePage):
    def get(self, request):
        state = _choice(request.GET.get("state"), STATES, DEFAULT_STATE)
        kind = _choice(request.GET.get("kind"), Alert.Kind.values, "")
        listed = alerts_listed(self.membership, state=state, kind=kind)
        return self.render(
            "audit/alerts.html",
            {
                "page": paginate(request, listed, per_page=ALERTS_PER_PAGE),
                "state": state,
                "states": [(key, label, _state_query(key, kind)) for key, label in STATES.items()],
                "kind": kind,
                "kinds": Alert.Kind.choices,
                "query": _listing_query(request.GET),
            },
        )


class AlertAcknowledgePage(WorkspacePage):
    def post(self, request, pk):
        alert = self.access(alerts_visible_to(self.membership), pk=pk)
        raising.acknowledge(alert=alert, user=request.user)
        messages.success(request, f"Acknowledged: {alert.title}")
        url = reverse("alerts", kwargs={"ws": self.workspace.slug})
        back = _listing_query(QueryDict(request.POST.get("back", "")))
        return redirect(f"{url}?{back}" if back else url)
