"""Console page of the admin audit log: configuration changes, newest first.

It needs `logs.view`; the detail of each change is shown only with `logs.view_payloads`, as in
the API. The log of MCP traffic has its own pages.
"""

from audit.selectors import changes_of
from teams.capabilities import LOGS_VIEW, LOGS_VIEW_PAYLOADS
from teams.console_base import WorkspacePage, paginate

CHANGES_PER_PAGE = 50


class ChangesPage(WorkspacePage):
    required = {"GET": LOGS_VIEW}

    def get(self, request):
        page = paginate(request, changes_of(self.workspace), per_page=CHANGES_PER_PAGE)
        return self.render(
            "audit/changes.html", {"page": page, "with_detail": self.can(LOGS_VIEW_PAYLOADS)}
        )
