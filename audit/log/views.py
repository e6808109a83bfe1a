"""Console pages of the audit app: the log viewer, one call's timeline, log exports, the
admin audit log of configuration changes, and the 31-day report with its daily CSV.

Viewing needs `logs.view`; payloads (and the detail of configuration changes) are shown only
with `logs.view_payloads`, exports need `logs.export`, as in the API; the report needs
`reports.view`. Filters are parsed by `audit.log.selectors.parse_filter`, the same code the API
and `export_logs` use.
"""

import csv

from django.http import Http404, HttpResponse

from audit.log.call_pages import calls_page
from audit.log.export import FORMATS, export_logs
from audit.log.forms import LogFilterForm
from audit.log.selectors import (
    LogFilter,
    call_timeline,
    entries_page,
    filter_choices,
    filtered_entries,
    parse_filter,
)
from audit.models import Outcome
from audit.reports.summary import daily_rows, workspace_report
from core.errors import NotFound, ValidationFailed
from core.streaming import streamed_download
from teams.capabilities import LOGS_EXPORT, LOGS_VIEW, LOGS_VIEW_PAYLOADS, REPORTS_VIEW
from teams.changes import changes_of
from teams.console_base import WorkspacePage, paginate, show_error

CHANGES_PER_PAGE = 50
ENTRIES_PER_PAGE = 50
CALLS_PER_PAGE = 50
# The flat view, one row per hop; the viewer groups hops by call unless asked for this.
HOPS_VIEW = "hops"
FILTER_NAMES = ("since", "until", "gateway", "person", "server", "tool", "hop", "outcome", "q")


class ChangesPage(WorkspacePage):
    required = {"GET": LOGS_VIEW}

    def get(self, request):
        page = paginate(request, changes_of(self.workspace), per_page=CHANGES_PER_PAGE)
        return self.render(
            "audit/changes.html", {"page": page, "with_detail": self.can(LOGS_VIEW_PAYLOADS)}
        )


def _filter_query(request) -> str:
    """The filters in use as a query string (no cursor), for export and paging links."""
    query = request.GET.copy()
    for name in list(query):
        if name not in FILTER_NAMES or not query.get(name):
            del query[name]
    return query.urlencode()


class LogsPage(WorkspacePage):
    """The log viewer: one row per call (its hops inline), or with `view=hops` one row per hop;
    newest first, filtered, in keyset pages."""

    required = {"GET": LOGS_VIEW}

    def get(self, request):
        form = LogFilterForm(request.GET, **filter_choices(self.workspace))
        form.is_valid()
        try:
            log_filter = parse_filter(request.GET)
        except ValidationFailed as exc:
            show_error(form, exc)
            log_filter = None
        with_payloads = self.can(LOGS_VIEW_PAYLOADS)
        by_hop = request.GET.get("view") == HOPS_VIEW
        entries, calls, next_cursor = [], [], ""
        if log_filter is not None:
            queryset = filtered_entries(self.workspace, log_filter)
            cursor = request.GET.get("after", "")
            if by_hop:
                if not with_payloads:
                    queryset = queryset.defer("payload")
                entries, next_cursor = entries_page(queryset, cursor=cursor, size=ENTRIES_PER_PAGE)
            else:
                calls, next_cursor = calls_page(
                    self.workspace,
                    queryset,
                    cursor=cursor,
                    size=CALLS_PER_PAGE,
                    with_payloads=with_payloads,
                )
        query = _filter_query(request)
        view = HOPS_VIEW if by_hop else ""
        return self.render(
            "audit/logs.html",
            {
                "form": form,
                "by_hop": by_hop,
                "view": view,
                "entries": entries,
                "calls": calls,
                "next_cursor": next_cursor,
                "paged": bool(request.GET.get("after")),
                "query": query,
                "page_query": "&".join(p for p in (query, f"view={view}" if view else "") if p),
                "filtered": log_filter is not None and log_filter != LogFilter(),
                "with_payloads": with_payloads,
            },
            status=200 if log_filter is not None else 400,
        )


class CallPage(WorkspacePage):
    """One client call as a timeline of its hops."""

    required = {"GET": LOGS_VIEW}

    def get(self, request, correlation):
        try:
            call = call_timeline(self.workspace, correlation)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        longest = call.duration_ms or 1
        hops = []
        for entry, offset in zip(call.hops, call.offsets_ms, strict=True):
            # A waterfall on one axis: a response's latency ends where the response was logged.
            took = min(entry.latency_ms or 0, offset)
            hops.append(
                {
                    "entry": entry,
                    "offset_ms": offset,
                    "left_pct": min(round(100 * (offset - took) / longest, 2), 100),
                    "width_pct": min(round(100 * took / longest, 2), 100),
                }
            )
        return self.render(
            "audit/call.html",
            {
                "call": call,
                "outcome_label": Outcome(call.outcome).label,
                "hops": hops,
                "with_payloads": self.can(LOGS_VIEW_PAYLOADS),
            },
        )


class LogExportPage(WorkspacePage):
    """The viewer's filtered log as a streamed CSV or JSON Lines download (recorded)."""

    required = {"GET": LOGS_EXPORT}

    def get(self, request):
        export_format = request.GET.get("format", "csv")
        if export_format not in FORMATS:
            raise Http404("Unknown export format.")
        try:
            log_filter = parse_filter(request.GET)
        except ValidationFailed:
            # The viewer shows the same error next to the field it names.
            return LogsPage.as_view()(request, ws=self.workspace.slug)
        lines = export_logs(
            workspace=self.workspace,
            actor=request.user,
            log_filter=log_filter,
            export_format=export_format,
            with_payloads=self.can(LOGS_VIEW_PAYLOADS),
            via="console",
        )
        return streamed_download(
            request,
            lines,
            content_type=FORMATS[export_format],
            filename=f"{self.workspace.slug}-logs.{export_format}",
        )


class ReportsPage(WorkspacePage):
    """A summary of the last 31 days (calls, errors, blocked and redacted, people, tools,
    latency, the busiest day, the top tools and people) and the days something happened."""

    required = {"GET": REPORTS_VIEW}

    def get(self, request):
        report = workspace_report(self.workspace)
        scale = max((day.calls for day in report.days), default=0)
        days = [
            {"day": day, "pct": round(100 * day.calls / scale, 1) if scale else 0.0}
            for day in report.days
        ]
        return self.render("audit/reports.html", {"report": report, "days": days})


class ReportCsvPage(WorkspacePage):
    """The report's daily table as a CSV download (31 rows)."""

    required = {"GET": REPORTS_VIEW}

    def get(self, request):
        report = workspace_report(self.workspace)
        response = HttpResponse(content_type="text/csv")
        filename = f"{self.workspace.slug}-report-{report.last_day.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        csv.writer(response).writerows(daily_rows(report))
        return response
